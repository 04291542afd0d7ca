"""Slack's text formatting both ways (bot.slack.blocks), on any text: what the server tests rely on."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from bot.slack import blocks
from bot.slack.blocks import Mrkdwn, clip, escape, mrkdwn, plain

ENTITY = re.compile("&(amp|lt|gt);")


def shown(text: str) -> str:
    """What a Slack client displays for mrkdwn without controls: the three entities decoded."""
    return ENTITY.sub(lambda m: {"amp": "&", "lt": "<", "gt": ">"}[m.group(1)], text)


@given(st.text())
def test_escaped_text_has_no_controls_and_shows_as_written(text):
    out = escape(text)
    assert "<" not in out and ">" not in out
    assert shown(out) == text
    assert escape(out) is out  # escaped once, never twice


@given(st.text(), st.text(), st.text())
def test_composing_escapes_only_what_the_bot_did_not_build(a, b, c):
    built = mrkdwn("{} said {} to {}", blocks.user("UASKER"), a, Mrkdwn("*") + b)
    assert built.startswith("<@UASKER> said ")
    assert shown(built) == f"<@UASKER> said {a} to *{b}"
    assert "<" not in built.removeprefix("<@UASKER>")
    joined = Mrkdwn(" · ").join([a, c])
    assert shown(joined) == f"{a} · {c}" and "<" not in joined


@given(st.text(min_size=1), st.integers(2, 60))
def test_clipping_never_cuts_an_entity_or_a_control_in_two(text, limit):
    out = clip(Mrkdwn("<@UASKER> ") + text, limit)
    assert len(out) <= limit
    body = str(out).removesuffix("…")
    assert not re.search(r"&[a-z]*$", body) and body.count("<") == body.count(">")
    assert (Mrkdwn("<@UASKER> ") + text).startswith(body)


def test_only_http_links_are_composed_and_their_url_cannot_end_them_early():
    assert blocks.link("javascript:alert(1)", "x") == "x"
    assert (
        blocks.link("https://a.example/p?q=1&r=<2>|x y", "A|B")
        == "<https://a.example/p?q=1&amp;r=%3C2%3E%7Cx%20y|A|B>"
    )
    assert blocks.user("not an id <!here>") == "not an id &lt;!here&gt;"


def test_slack_text_is_decoded_to_the_words_its_author_sees():
    assert plain("<!channel> <!here|here> <!everyone> <@U123> <@U123|ann> <#C1|general> <#C2>") == (
        "@channel @here @everyone @U123 @ann #general #C2"
    )
    assert plain("<https://x.example|click> <https://y.example> <mailto:a@b.example|a@b.example>") == (
        "click (https://x.example) https://y.example a@b.example"
    )
    assert plain("<!subteam^S1|@team> <!date^1392734382^{date}|Feb 18> AT&amp;T &lt;b&gt; &amp;lt;") == (
        "@team Feb 18 AT&T <b> &lt;"
    )


@given(st.text())
def test_decoding_what_slack_would_send_for_typed_text_gives_it_back(text):
    """Slack sends typed text with &, < and > as entities: decoding undoes exactly that."""
    assert plain(escape(text)) == text
