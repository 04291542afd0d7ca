"""Any message text, however malformed, is either taken as a question or refused with a clear reason,
and the record is complete either way: never a crash, never a half-written record. Likewise any value
of any setting, and any transcripts file: taken, or refused with a line that names it.

(The FAQ parsers get the same treatment in tests/retrieval/test_faq_properties.py; 40,000-character
and empty messages through Slack in tests/slack/test_conversations.py.)
"""

from __future__ import annotations

import itertools
import json
import os
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlalchemy import func, select

from bot.db.models import Conversation, Message
from bot.services.answer import QuestionError
from bot.services.transcripts import TranscriptFormatError, load_jsonl
from bot.settings import Settings, describe_errors
from bot.slack.answering import MENTION

pytestmark = pytest.mark.reliability
_ts = itertools.count(1)

texts = st.one_of(
    st.text(max_size=300),  # any unicode, control characters and surrogates excluded by hypothesis' default
    st.text(alphabet=st.characters(codec="utf-8"), max_size=300),
    st.text(alphabet=st.sampled_from("\x00\x07\x1b\u200b\u202e\ufeff \t\n\r#<@>"), max_size=100),
    st.builds(
        lambda c, n: c * n,
        st.sampled_from(["a", "é", "字", "🙂", " ", "\n", "<@U1>"]),
        st.integers(0, 45_000),
    ),
)


@given(text=texts)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_message_is_recorded_whole_as_a_question_or_a_refusal(container, text):
    answers = container.answers
    ts = f"{next(_ts)}.0001"
    with container.sessions() as s:
        before = s.scalar(select(func.count(Message.id)))
    received = answers.receive(
        MENTION.sub("", text).strip(),
        user_id="UPROP",
        source="slack",
        channel_id="D0PROP",
        thread_ts=ts,
        dedup_key=f"slack:D0PROP:{ts}",
        slack_ts=ts,
    )
    with container.sessions() as s:
        rows = s.scalars(select(Message).where(Message.id > before).order_by(Message.id)).all()
        question = s.get(Message, received.message_id)
        assert s.get(Conversation, received.conversation_id) is not None
    if received.error:
        # Refused: the question (a bounded preview) and the bot's reason, and nothing waits for an answer.
        assert [m.role for m in rows] == ["user", "bot"] and rows[1].text == received.error
        assert len(question.text) <= 600 and question.answer_lease_until is None
        with pytest.raises(QuestionError):
            answers.respond(received)
    else:
        # Taken: stored as validated, printable, within the limit, and leased for answering.
        assert [m.role for m in rows] == ["user"] and question.text == received.question
        assert 0 < len(question.text) <= container.settings.max_question_chars
        assert all(ch in "\n\t" or ch.isprintable() for ch in question.text)
        assert question.answer_lease_until is not None


# ---- settings and import files: any value is taken or refused with a line naming it -------------------

SETTING_NAMES = sorted(Settings.model_fields)
env_values = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=60),
    st.sampled_from(
        ["-1", "0", "1e309", "nan", "inf", "70000", "x" * 5000, "/", "/etc/passwd", ":", "a:b,c"]
    ),
    st.integers(-(2**70), 2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
)


AWKWARD = [
    "",
    " ",
    "-1",
    "0",
    "1e309",
    "nan",
    "-inf",
    "70000",
    "9" * 30,
    "x" * 5000,
    "/",
    "/etc/passwd",
    "/dev/null",
]
AWKWARD += [
    "a:b,c",
    ",",
    "'",
    '"',
    "[",
    "{}",
    "null",
    "true",
    "\u2028",
    "é字🙂",
    "http://",
    "C1:all,",
    "~",
    "../..",
]


def _settings_with(var: str, value: str) -> list[str]:
    """The lines describing what is wrong with ``var=value``; [] when it is taken."""
    saved = os.environ.get(var)
    os.environ[var] = value  # an environment variable cannot hold NUL; anything else it can
    try:
        Settings()
        return []
    except ValidationError as exc:  # and nothing else: no OSError, TypeError, OverflowError...
        lines = describe_errors(exc)
        assert lines, exc
        return lines
    finally:
        if saved is None:
            del os.environ[var]
        else:
            os.environ[var] = saved


@pytest.mark.slow
def test_every_setting_takes_or_names_every_awkward_value():
    for name in SETTING_NAMES:
        var = f"SUPPORTBOT_{name.upper()}"
        for value in AWKWARD:
            lines = _settings_with(var, value)
            cross = name in ("max_new_tokens", "model_context_length")  # a rule naming both
            assert all(line.startswith(var) or cross for line in lines), (var, value, lines)


@given(name=st.sampled_from(SETTING_NAMES), value=env_values)
@settings(max_examples=400, deadline=None)
def test_any_value_of_any_setting_is_taken_or_refused_naming_it(name, value):
    var = f"SUPPORTBOT_{name.upper()}"
    lines = _settings_with(var, value)
    cross = name in ("max_new_tokens", "model_context_length")
    assert all(line.startswith(var) or cross for line in lines), lines


transcript_values = st.one_of(
    st.text(max_size=50),
    st.text(alphabet=st.sampled_from("\x00\x07\x1b\u200b\ufeff\u2028 \t\n\r\ud800é"), max_size=20),
    st.integers(),
    st.none(),
    st.lists(st.text(max_size=10), max_size=3),
)


@given(
    lines=st.lists(
        st.one_of(
            st.dictionaries(
                st.sampled_from(["question", "answer", "faq_ids", "extra"]), transcript_values, max_size=4
            ).map(lambda d: json.dumps(d)),
            st.text(max_size=40),
        ),
        max_size=6,
    ),
    raw=st.binary(max_size=60),
)
@settings(max_examples=200, deadline=None)
def test_any_transcripts_file_is_imported_clean_or_refused_whole(tmp_path_factory, lines, raw):
    path = tmp_path_factory.mktemp("t") / "t.jsonl"
    path.write_bytes("\n".join(lines).encode("utf-8", "surrogatepass") + b"\n" + raw)
    try:
        rows = load_jsonl(path)
    except TranscriptFormatError as exc:
        assert str(exc) and all(str(path) in p for p in exc.problems)
        return
    for row in rows:
        for key in ("question", "answer"):
            text = row[key]
            assert text.strip() and len(text) <= 20_000
            assert all(
                ch in "\t\n\r"
                or not unicodedata.category(ch).startswith("C")
                or unicodedata.category(ch) == "Cf"
                for ch in text
            )
            text.encode("utf-8")  # storable: no lone surrogates
        assert all(isinstance(i, str) for i in row["faq_ids"])
