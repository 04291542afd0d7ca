"""Askers' feedback on answers, and the day's figures support leads ask for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import Answer, Feedback, Handoff, Message, ModelVersion, Review
from bot.observability.metrics import BotMetrics

KINDS = ("helpful", "not_helpful", "escalate")


class FeedbackService:
    def __init__(self, sessions: sessionmaker[Session], *, metrics: BotMetrics | None = None):
        self.sessions = sessions
        self.metrics = metrics or BotMetrics()

    def record(self, answer_id: int, user_id: str, kind: str) -> bool:
        """Record one vote; a repeated click by the same person counts once. False if seen before."""
        if kind not in KINDS:
            raise ValueError(f"unknown feedback {kind!r}")
        with self.sessions() as session:
            if session.get(Answer, answer_id) is None:
                raise LookupError(f"no answer {answer_id}")
            seen = session.scalar(
                select(Feedback.id).where(
                    Feedback.answer_id == answer_id, Feedback.user_id == user_id, Feedback.kind == kind
                )
            )
            if seen:
                return False
            session.add(Feedback(answer_id=answer_id, user_id=user_id, kind=kind))
            session.commit()
            self.metrics.feedback.labels(kind).inc()
            return True

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
