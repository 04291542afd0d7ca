"""Feedback from whoever presses is kept; only the asker's counts (figures and metrics), on SQLite
and the real PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.container import Container
from bot.db import migrate
from bot.db.models import Answer, Conversation, Feedback, Message
from bot.settings import Settings


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def container(request, data_dir) -> Container:
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    if url:
        migrate.upgrade(url)  # (the container migrates SQLite itself, PostgreSQL only when told to)
    c = Container(Settings(data_dir=data_dir, database_url=url))
    c.ensure_schema()
    return c


def _answer(c: Container, asker: str | None = "UASKER") -> int:
    with c.sessions() as s:
        convo = Conversation(source="slack", user_id=asker, channel_id="C1", thread_ts=f"{id(s)}.1")
        question = Message(conversation=convo, role="user", user_id=asker, text="How do I reset my VPN?")
        answer = Answer(question=question, text="Like this.", mode="faq", latency_ms=1.0, sources=[])
        s.add_all([convo, question, answer])
        s.commit()
        return answer.id


def _counted(c: Container, kind: str) -> float:
    return c.metrics.registry.get_sample_value("supportbot_feedback_total", {"kind": kind}) or 0.0


def test_others_presses_are_stored_flagged_and_not_counted(container):
    c = container
    answer_id = _answer(c)
    assert c.feedback.record(answer_id, "UMALLORY", "not_helpful").by_asker is False
    assert c.feedback.record(answer_id, "UMALLORY", "helpful").by_asker is False
    assert c.feedback.record(answer_id, "UASKER", "helpful").by_asker is True
    assert c.feedback.record(answer_id, "UASKER", "helpful") is None  # a double click counts once
    assert c.handoffs.open(answer_id, "UMALLORY", "requested") is not None

    with c.sessions() as s:
        rows = [(f.user_id, f.kind, f.by_asker) for f in s.scalars(select(Feedback).order_by(Feedback.id))]
    assert rows == [
        ("UMALLORY", "not_helpful", False),
        ("UMALLORY", "helpful", False),
        ("UASKER", "helpful", True),
        ("UMALLORY", "escalate", False),
    ]
    stats = c.stats.summary(days=1)
    assert (stats.helpful, stats.not_helpful, stats.others_feedback) == (1, 0, 3)
    assert stats.to_json()["others_feedback"] == 3
    assert (_counted(c, "helpful"), _counted(c, "not_helpful")) == (1, 0)


def test_a_question_without_a_known_asker_counts_its_feedback(container):
    """Nobody can be told apart from an unknown asker: such feedback counts, as it did before."""
    answer_id = _answer(container, asker=None)
    assert container.feedback.record(answer_id, "USOMEONE", "helpful").by_asker is True
    with container.sessions() as s:
        assert s.scalar(select(Feedback.by_asker)) is None
    assert container.stats.summary(days=1).helpful == 1


def test_feedback_on_a_missing_answer_is_refused(container):
    with pytest.raises(LookupError, match="no answer 404"):
        container.feedback.record(404, "UASKER", "helpful")
    with container.sessions() as s:
        assert s.scalars(select(Feedback)).all() == []
