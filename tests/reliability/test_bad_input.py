"""Any message text, however malformed, is either taken as a question or refused with a clear reason,
and the record is complete either way: never a crash, never a half-written record.

(The FAQ parsers get the same treatment in tests/retrieval/test_faq_properties.py; 40,000-character
and empty messages through Slack in tests/slack/test_conversations.py.)
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.db.models import Conversation, Message
from bot.services.answer import QuestionError
from bot.slack.bot import MENTION

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
