"""What the bot posts cannot ping a channel, mention a stranger or carry a disguised link.

Slack reads ``<!channel>``, ``<@U…>`` and ``<https://…|label>`` as controls in a message's ``text``
and in every mrkdwn block. Text from askers, agents, admins, FAQ files and the model must arrive
escaped; only the bot's own mentions (the asker in a hand-off, the reviewer) and links (the cited
FAQ entry, a permalink) may be live. Real Bolt app over signed HTTP, the local Slack peer recording
every Web API call, the bot's real ``openai`` backend against a scripted model.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot.db.models import Answer, Message
from bot.slack.blocks import HANDOFF_TEXT
from bot.slack.webhook import Webhook
from retrieval.faq import FaqItem
from tests.slack.harness import ADMIN, AGENT, ASKER, REVIEW, SUPPORT
from tests.slack.scripted_model import ScriptedModel, faq_answer
from tests.slack.slack_peer import Call, button_click, dm

OUT_OF_SCOPE = "who won the football world cup in 1954?"
IN_SCOPE = "my vpn password stopped working, what now?"
# Links the bot composes itself: permalinks (from the peer) and the FAQ's own source URLs.
# Links the bot means: Slack permalinks, and the sample FAQ's entry URLs (its Sources line).
OWN_LINKS = (
    "https://acme.slack.com/archives/",
    "https://intranet.brightwater.example/",
    "https://it.brightwater.example",
)
CONTROL = re.compile(r"<([^<>]*)>")
SHOWN = ("chat.postMessage", "chat.postEphemeral", "chat.update", "views.publish", "views.open")
HOSTILE_FAQ = FaqItem(
    id="all-hands",
    question="How do I announce an all-hands meeting?",
    answer="Post in #announcements, start with <!channel> & add the agenda <https://evil.example|here>.",
    url="https://intranet.brightwater.example/comms?team=all&page=<2>|x",
)


@pytest.fixture
def model():
    with ScriptedModel() as m:
        yield m


@pytest.fixture
def slack_settings(slack_settings, model):
    """The harness's settings, with the bot's openai backend pointed at the scripted model."""
    return slack_settings.model_copy(update={"model_backend": "openai", "openai_base_url": model.url})


def shown_texts(call: Call) -> list[str]:
    """Every string of a call that Slack reads as mrkdwn: the ``text``, and mrkdwn text objects."""
    out = [call.args["text"]] if isinstance(call.args.get("text"), str) else []

    def walk(value) -> None:
        if isinstance(value, dict):
            if value.get("type") == "mrkdwn" and isinstance(value.get("text"), str):
                out.append(value["text"])
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(call.args.get("blocks"))
    walk(call.args.get("view"))
    return out


def live_controls(calls: list[Call], users: set[str], links: tuple[str, ...] = OWN_LINKS) -> list[str]:
    """Controls Slack would act on that the bot did not mean: any <!…>, a mention of someone not in
    ``users``, a link to anywhere but the bot's own."""
    bad = []
    for call in calls:
        if call.method not in SHOWN:
            continue
        for text in shown_texts(call):
            for m in CONTROL.finditer(text):
                target = m.group(1).split("|", 1)[0]
                ok = (
                    (target.startswith("@") and target[1:] in users)
                    or (target.startswith("#C") and re.fullmatch(r"#C[A-Z0-9]+", target))
                    or (not target.startswith(("@", "#", "!")) and target.startswith(links))
                )
                if not ok:
                    bad.append(f"{call.method}: {m.group(0)} in {text[:200]!r}")
    return bad


def double_escaped(calls: list[Call]) -> list[str]:
    return [
        t for c in calls if c.method in SHOWN for t in shown_texts(c) if re.search(r"&amp;(amp|lt|gt);", t)
    ]


def _answer_id(slack, channel: str, ts: str) -> int:
    with slack.container.sessions() as s:
        return s.scalar(
            select(Answer.id)
            .join(Message, Message.id == Answer.question_message_id)
            .where(Message.slack_channel == channel, Message.slack_ts == ts, Answer.mode != "human")
        )


def _ask(slack, text: str, ts: str, channel: str) -> tuple[int, Call]:
    assert slack.send.event(dm(ASKER, text, ts=ts, channel=channel)).status_code == 200
    final = slack.peer.wait_for(lambda: slack.peer.final_answers(channel, ts), what=f"the answer to {text!r}")
    return _answer_id(slack, channel, ts), final[0]


def _review_post(slack, answer_id: int) -> Call:
    return slack.peer.wait_for(
        lambda: [
            c
            for c in slack.peer.calls_to("chat.postMessage", channel=REVIEW)
            if any(b.get("block_id") == f"review-{answer_id}" for b in c.args["blocks"])
        ],
        what="the review post",
    )[0]


def _handoff_post(slack, channel: str) -> Call:
    """The support-channel post for the asker's thread in ``channel`` (its permalink names it).

    Returned once the asker has been told too: the bot records the support thread between the two
    posts, and an agent's reply that arrived before that would, rightly, belong to no hand-off."""
    post = slack.peer.wait_for(
        lambda: [
            c
            for c in slack.peer.calls_to("chat.postMessage", channel=SUPPORT)
            if not c.args.get("thread_ts") and f"/archives/{channel}/" in json.dumps(c.args.get("blocks"))
        ],
        what="the hand-off post",
    )[0]
    slack.peer.wait_for(
        lambda: [
            c
            for c in slack.peer.calls_to("chat.postMessage", channel=channel)
            if c.args.get("text") == HANDOFF_TEXT
        ],
        what="the asker told of the hand-off",
    )
    return post


def _submit_edit(slack, opened: Call, text: str):
    view = opened.args["view"]
    return slack.send.interaction(
        {
            "type": "view_submission",
            "team": {"id": "T0001"},
            "user": {"id": ADMIN},
            "api_app_id": "A0001",
            "trigger_id": "t",
            "view": {
                "id": "V1",
                "type": "modal",
                "callback_id": view["callback_id"],
                "private_metadata": view["private_metadata"],
                "state": {"values": {"edited_answer": {"edited_answer_input": {"value": text}}}},
            },
        }
    )


@pytest.fixture
def ticketing(slack):
    """A ticketing system behind the hand-off webhook, keeping what it receives."""
    received: list[dict] = []

    class Ticketing(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
            self.send_response(200)
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Ticketing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    slack.bot.webhook = Webhook(f"http://127.0.0.1:{server.server_address[1]}/hook", "secret")
    yield received
    server.shutdown()
    server.server_close()


@pytest.mark.slow
def test_an_askers_broadcasts_and_links_reach_hand_off_and_review_as_plain_words(slack, ticketing):
    question = f"<!channel> <!here> <!everyone> AT&amp;T says 1 &lt; 2. {OUT_OF_SCOPE} <https://evil.example|click here>"
    answer_id, final = _ask(slack, question, "3000.0001", "D0ESC1")
    # (it abstains and is handed off; if retrieval ever found an entry, the asker asks for a human)
    slack.send.interaction(button_click("handoff_request", str(answer_id), ASKER, "D0ESC1", final.args["ts"]))
    with slack.container.sessions() as s:  # stored as the words the asker saw, not Slack's encoding
        stored = s.scalar(select(Message.text).where(Message.slack_ts == "3000.0001"))
    assert stored == (
        f"@channel @here @everyone AT&T says 1 < 2. {OUT_OF_SCOPE} click here (https://evil.example)"
    )

    handoff = _handoff_post(slack, "D0ESC1")
    assert handoff.args["text"].startswith(f"<@{ASKER}> needs help: ")  # the one mention the bot means
    assert "@channel @here @everyone AT&amp;T says 1 &lt; 2." in handoff.args["text"]
    assert "click here (https://evil.example)" in json.dumps(handoff.args["blocks"])
    # The ticketing system gets data, not Slack text: the asker's words, neither encoded nor escaped.
    slack.peer.wait_for(lambda: ticketing, timeout=30, what="the webhook")
    assert ticketing[0]["question"] == stored

    post = _review_post(slack, answer_id)
    assert post.args["text"].startswith("Review: @channel @here @everyone AT&amp;T")
    slack.send.interaction(button_click("review_reject", str(answer_id), ADMIN, REVIEW, post.ts))
    done = slack.peer.wait_for(
        lambda: slack.peer.calls_to("chat.update", channel=REVIEW, ts=post.ts), what="the review-done update"
    )[0]
    assert done.args["text"].startswith("reject: @channel @here")

    # The rejected question is now a knowledge gap: App Home lists it, escaped once like everywhere.
    slack.send.event({"type": "app_home_opened", "user": ADMIN, "channel": "D0ADMIN", "tab": "home"})
    home = slack.peer.wait_for(lambda: slack.peer.calls_to("views.publish", user_id=ADMIN), what="App Home")
    shown = shown_texts(home[0])
    assert any(t.startswith("*Knowledge gaps:* 1") for t in shown)
    assert any("\n• @channel @here @everyone AT&amp;T says 1 &lt; 2." in t for t in shown)

    assert live_controls(slack.peer.calls, {ASKER, ADMIN}) == []
    assert double_escaped(slack.peer.calls) == []


@pytest.mark.slow
def test_model_text_is_never_shown_before_the_guard_and_is_escaped_after(slack, model):
    # The model streams, slowly, an answer the FAQ does not support: the asker must never see it.
    model.reply = lambda prompt: (
        "Sure! Ping <!channel> and call 555-0199, or see <https://evil.example|this>."
    )
    model.pause_s = 0.12  # ~1.3 s of streaming at stream_update_interval_s=0.3: several drafts
    answer_id, final = _ask(slack, IN_SCOPE, "3100.0001", "D0ESC2")
    updates = slack.peer.calls_to("chat.update", channel="D0ESC2", ts=final.args["ts"])
    drafts = updates[: updates.index(final)]
    assert drafts, "no progress was shown while the model wrote"
    for d in drafts:
        shown = " ".join(shown_texts(d))
        assert "drafting" in shown and not any(w in shown for w in ("Sure", "555", "evil", "Ping"))
    with slack.container.sessions() as s:
        a = s.get(Answer, answer_id)
        assert (a.mode, a.grounded) == ("faq", True)  # the guard refused it: the FAQ's answer instead
    assert "single sign-on" in final.args["text"] and "555" not in json.dumps(final.args)

    # A faithful answer that repeats its entry's controls passes the guard: it is shown, escaped.
    slack.container.index.import_items([HOSTILE_FAQ])
    model.reply = faq_answer
    model.pause_s = 0.0
    answer_id, final = _ask(slack, HOSTILE_FAQ.question, "3100.0002", "D0ESC3")
    with slack.container.sessions() as s:
        assert s.get(Answer, answer_id).mode == "generated"
    assert "start with &lt;!channel&gt; &amp; add the agenda" in final.args["text"]
    assert live_controls(slack.peer.calls, {ASKER}) == []


@pytest.mark.slow
def test_faq_text_admin_text_and_agent_text_are_escaped(slack):
    slack.container.index.import_items([HOSTILE_FAQ])
    slack.container.settings.direct_answer_score = 0.85  # the entry's own question: its answer as written
    answer_id, final = _ask(slack, "How do I announce an all-hands meeting?", "3200.0001", "D0ESC4")
    assert (
        "start with &lt;!channel&gt; &amp; add the agenda &lt;https://evil.example|here&gt;"
        in final.args["text"]
    )
    source = json.dumps(final.args["blocks"])
    # The bot's own link to the entry: its URL cannot close the link early or smuggle a label.
    assert (
        "<https://intranet.brightwater.example/comms?team=all&amp;page=%3C2%3E%7Cx|How do I announce"
        in source
    )

    # The asker asks for a human; the agent's reply and the admin's edit carry controls too.
    slack.send.interaction(button_click("handoff_request", str(answer_id), ASKER, "D0ESC4", final.args["ts"]))
    handoff = _handoff_post(slack, "D0ESC4")
    slack.send.event(
        {
            "type": "message",
            "channel": SUPPORT,
            "channel_type": "channel",
            "user": AGENT,
            "text": "<!here> fixed, see <https://evil.example/login|the intranet> &amp; <@UOTHER>",
            "ts": "3200.0100",
            "thread_ts": handoff.ts,
        }
    )
    relayed = slack.peer.wait_for(
        lambda: [
            c for c in slack.peer.calls_to("chat.postMessage", channel="D0ESC4") if "fixed" in c.args["text"]
        ],
        what="the relayed reply",
    )[0]
    assert relayed.args["text"] == (
        f"*<@{AGENT}>* (from the support team):\n@here fixed, see the intranet (https://evil.example/login) &amp; @UOTHER"
    )

    post = _review_post(slack, answer_id)
    slack.send.interaction(button_click("review_edit", str(answer_id), ADMIN, REVIEW, post.ts))
    opened = slack.peer.wait_for(lambda: slack.peer.calls_to("views.open"), what="the edit modal")[0]
    assert (
        _submit_edit(slack, opened, "Use <!everyone> & <@UOTHER> <https://evil.example|here>").status_code
        == 200
    )
    done = slack.peer.wait_for(
        lambda: slack.peer.calls_to("chat.update", channel=REVIEW, ts=post.ts), what="the review-done update"
    )[0]
    assert "Use &lt;!everyone&gt; &amp; &lt;@UOTHER&gt; &lt;https://evil.example|here&gt;" in json.dumps(
        done.args["blocks"]
    )
    slack.send.event({"type": "app_home_opened", "user": ADMIN, "channel": "D0ADMIN", "tab": "home"})
    slack.peer.wait_for(lambda: slack.peer.calls_to("views.publish", user_id=ADMIN), what="App Home")

    assert live_controls(slack.peer.calls, {ASKER, ADMIN, AGENT}) == []
    assert double_escaped(slack.peer.calls) == []


def test_text_that_skips_the_builders_is_escaped_at_the_web_api(slack):
    """The gate itself: a plain string (not built as Mrkdwn) cannot reach Slack with live controls."""
    slack.bot.client.chat_postMessage(
        channel="CANY",
        text="<!channel> & <@UOTHER>",
        blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "<https://evil.example|x>"}}],
    )
    (call,) = slack.peer.calls_to("chat.postMessage", channel="CANY")
    assert call.args["text"] == "&lt;!channel&gt; &amp; &lt;@UOTHER&gt;"
    assert call.args["blocks"][0]["text"]["text"] == "&lt;https://evil.example|x&gt;"


# ------------------------------------------------------------------------------------------ property
TOKENS = [
    "<!channel>",
    "<!here|here>",
    "<!here>",
    "<!everyone>",
    "<@UOTHER>",
    "<@UOTHER|bob>",
    "<https://evil.example|x>",
    "<https://evil.example>",
    "<http://evil.example/a?b=1&amp;c=2|docs>",
    "&amp;",
    "&lt;!channel&gt;",
    "<!subteam^S0EVIL|@admins>",
    "<#C0SECRET|secret>",
    "<mailto:a@evil.example|mail me>",
    "<!date^1392734382^{date}|Feb 18>",
]
# What people type in a plain-text box (the edit modal) and what a model writes: raw characters.
PLAIN_TOKENS = [
    "<!channel>",
    "<!here>",
    "<@UOTHER>",
    "<https://evil.example|x>",
    "a & b",
    "1 < 2 > 0",
    "<#C0SECRET>",
]
words = st.text(st.characters(codec="utf-8", categories=("L", "N", "P", "S", "Zs")), min_size=1, max_size=12)


def _mixed(tokens: list[str]) -> st.SearchStrategy[str]:
    return st.lists(st.one_of(st.sampled_from(tokens), words), min_size=1, max_size=6).map(" ".join)


slack_encoded = _mixed(TOKENS)  # what Slack sends for a message: controls and entities
plain = _mixed(PLAIN_TOKENS)
EXAMPLES = itertools.count(1)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    question=slack_encoded,
    topic=st.sampled_from([OUT_OF_SCOPE, "How do I reset my VPN password?"]),
    model_echo=plain,
    agent_reply=slack_encoded,
    edit=plain,
    decision=st.sampled_from(["approve", "edit", "reject"]),
)
@pytest.mark.slow
def test_no_call_of_a_hostile_conversation_carries_a_control_the_bot_did_not_mean(
    slack, model, question, topic, model_echo, agent_reply, edit, decision
):
    n = next(EXAMPLES)
    channel, ts = f"D0PROP{n}", f"{4000 + n}.0001"
    model.reply = lambda prompt: f"{faq_answer(prompt)} {model_echo}"
    first = len(slack.peer.calls)

    answer_id, final = _ask(slack, f"{question} {topic}", ts, channel)
    slack.send.interaction(
        button_click("feedback_not_helpful", str(answer_id), ASKER, channel, final.args["ts"])
    )
    slack.send.interaction(button_click("handoff_request", str(answer_id), ASKER, channel, final.args["ts"]))
    handoff = _handoff_post(slack, channel)
    slack.send.event(
        {
            "type": "message",
            "channel": SUPPORT,
            "channel_type": "channel",
            "user": AGENT,
            "text": f"{agent_reply} (agent {n})",
            "ts": f"{4000 + n}.0100",
            "thread_ts": handoff.ts,
        }
    )
    slack.peer.wait_for(
        lambda: [
            c
            for c in slack.peer.calls_to("chat.postMessage", channel=channel)
            if f"(agent {n})" in c.args["text"]
        ],
        what="the relayed reply",
    )

    post = _review_post(slack, answer_id)
    told = len(slack.peer.calls_to("chat.postEphemeral", user=ADMIN))
    if decision == "edit":
        opens = len(slack.peer.calls_to("views.open"))
        slack.send.interaction(button_click("review_edit", str(answer_id), ADMIN, REVIEW, post.ts))
        opened = slack.peer.wait_for(lambda: slack.peer.calls_to("views.open")[opens:], what="the modal")[0]
        _submit_edit(slack, opened, edit)
    else:
        slack.send.interaction(button_click(f"review_{decision}", str(answer_id), ADMIN, REVIEW, post.ts))
    slack.peer.wait_for(
        lambda: len(slack.peer.calls_to("chat.postEphemeral", user=ADMIN)) > told, what="the reviewer told"
    )
    homes = len(slack.peer.calls_to("views.publish"))
    slack.send.event({"type": "app_home_opened", "user": ADMIN, "channel": "D0ADMIN", "tab": "home"})
    slack.peer.wait_for(lambda: len(slack.peer.calls_to("views.publish")) > homes, what="App Home")

    calls = slack.peer.calls[first:]
    assert live_controls(calls, {ASKER, ADMIN, AGENT}) == []
    # An entity is shown once escaped; only text that itself spelled an entity may show one doubled.
    if not re.search(r"&amp;(amp|lt|gt);", question + agent_reply) and not re.search(
        r"&(amp|lt|gt);", model_echo + edit
    ):
        assert double_escaped(calls) == []
