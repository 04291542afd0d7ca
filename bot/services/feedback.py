"""Askers' feedback on answers, and the day's figures support leads ask for."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import Answer, Feedback, Handoff, Message, ModelVersion, Review
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

    def today(self, now: datetime | None = None) -> dict[str, int]:
        now = now or datetime.now(UTC)
        start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return self.window(start, start + timedelta(days=1))

    def window(self, start: datetime, end: datetime) -> dict[str, int]:
        with self.sessions() as session:

            def count(stmt) -> int:
                return session.scalar(stmt) or 0

            bot_answers = select(func.count(Answer.id)).where(
                Answer.created_at >= start, Answer.created_at < end, Answer.mode != "human"
            )
            return {
                "questions": count(
                    select(func.count(Message.id)).where(
                        Message.role == "user", Message.created_at >= start, Message.created_at < end
                    )
                ),
                "answered": count(bot_answers.where(Answer.abstained.is_(False))),
                "abstained": count(bot_answers.where(Answer.abstained.is_(True))),
                "escalations": count(
                    select(func.count(Handoff.id)).where(
                        Handoff.created_at >= start, Handoff.created_at < end
                    )
                ),
                "approvals": count(
                    select(func.count(Review.id)).where(
                        Review.action.in_(("approve", "edit")),
                        Review.created_at >= start,
                        Review.created_at < end,
                    )
                ),
            }

    def active_model(self) -> dict | None:
        with self.sessions() as session:
            v = session.scalar(select(ModelVersion).where(ModelVersion.status == "active").limit(1))
            return {"name": v.name, "eval_scores": dict(v.eval_scores or {})} if v else None
