"""Askers' feedback on answers, and the day's figures support leads ask for."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import Answer, Feedback, Message
from bot.observability.metrics import BotMetrics

KINDS = ("helpful", "not_helpful", "escalate")


@dataclass(frozen=True)
class Recorded:
    kind: str
    by_asker: bool  # False: someone else pressed it, so it is kept but not counted


def by_asker(session: Session, answer: Answer, user_id: str) -> bool | None:
    """Whether ``user_id`` asked the question ``answer`` answers (None: its asker is not known)."""
    asker = session.scalar(select(Message.user_id).where(Message.id == answer.question_message_id))
    return None if asker is None else asker == user_id


class FeedbackService:
    def __init__(self, sessions: sessionmaker[Session], *, metrics: BotMetrics | None = None):
        self.sessions = sessions
        self.metrics = metrics or BotMetrics()

    def record(self, answer_id: int, user_id: str, kind: str) -> Recorded | None:
        """Record one press by ``user_id``; a repeated click by the same person counts once (None).
        Anyone's press is stored; only the asker's counts (metrics here, figures in StatsService).
        LookupError if there is no such answer."""
        if kind not in KINDS:
            raise ValueError(f"unknown feedback {kind!r}")
        with self.sessions() as session:
            answer = session.get(Answer, answer_id)
            if answer is None:
                raise LookupError(f"no answer {answer_id}")
            seen = session.scalar(
                select(Feedback.id).where(
                    Feedback.answer_id == answer_id, Feedback.user_id == user_id, Feedback.kind == kind
                )
            )
            if seen:
                return None
            mine = by_asker(session, answer, user_id)
            session.add(Feedback(answer_id=answer_id, user_id=user_id, kind=kind, by_asker=mine))
            session.commit()
        if mine is not False:
            self.metrics.feedback.labels(kind).inc()
        return Recorded(kind, by_asker=mine is not False)
