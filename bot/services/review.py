"""Admin review: approve, edit-and-approve or reject an answer.

Approval teaches retrieval at once: the asker's question becomes a learned phrasing of the entry
the answer cited, or, when the bot had no good entry and an admin wrote the answer, a new curated
entry. Approved answers are also what the nightly fine-tune learns from.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import Answer, Message, Review, ReviewPost
from bot.observability.metrics import BotMetrics
from bot.services.transcripts import TranscriptService
from retrieval.index import FaqIndex

log = logging.getLogger(__name__)


class NotAuthorized(PermissionError):
    pass


class ReviewError(ValueError):
    pass


@dataclass(frozen=True)
class ReviewOutcome:
    review_id: int
    action: str
    learned_entry: str | None  # entry id that now knows the asker's phrasing
    curated_entry: str | None  # new entry created from the admin's text


class ReviewService:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        index: FaqIndex,
        admins: list[str],
        group_members: Callable[[], set[str]] | None = None,
        *,
        metrics: BotMetrics | None = None,
    ):
        """``group_members``: members of the admin user group (looked up by the Slack transport)."""
        self.sessions = sessions
        self.metrics = metrics or BotMetrics()
        self.index = index
        self.admins = set(admins)
        self.group_members = group_members
        self.transcripts = TranscriptService(sessions)

    def is_admin(self, user_id: str) -> bool:
        if user_id in self.admins:
            return True
        if self.group_members is None:
            return False
        try:
            return user_id in self.group_members()
        except Exception:  # an unreachable directory grants nothing
            log.exception("could not read the admin group; treating %s as not an admin", user_id)
            return False

    def _check(self, reviewer: str, trusted: bool) -> None:
        if not trusted and not self.is_admin(reviewer):
            log.warning("review refused: %s is not an admin", reviewer)
            raise NotAuthorized(f"{reviewer} is not allowed to review answers")

    def approve(
        self, answer_id: int, reviewer: str, *, edited_text: str | None = None, trusted: bool = False
    ) -> ReviewOutcome:
        """``trusted``: the caller already knows the reviewer is an operator (the local CLI)."""
        self._check(reviewer, trusted)
        edited_text = (edited_text or "").strip() or None
        with self.sessions() as session:
            answer = session.get(Answer, answer_id)
            if answer is None:
                raise ReviewError(f"no answer {answer_id}")
            self._not_yet_reviewed(session, answer_id)
            question = session.get(Message, answer.question_message_id).text
            if answer.abstained and not edited_text:
                raise ReviewError(
                    "the bot abstained on this question: approve it with the answer to give (edit)"
                )
            review = Review(
                answer_id=answer_id,
                reviewer_id=reviewer,
                action="edit" if edited_text else "approve",
                edited_text=edited_text,
            )
            session.add(review)
            session.commit()
            self.metrics.reviews.labels(review.action).inc()
            review_id, sources, abstained = review.id, answer.sources, answer.abstained
            final_text = edited_text or answer.text
            origin = "handoff" if answer.mode == "human" else "review"
        learned = curated = None
        if not abstained and sources:
            learned = sources[0]["id"]
            self.index.learn_phrasing(learned, question, answer_id=answer_id, approved_by=reviewer)
        else:  # the bot had no entry for it: a human's answer becomes a new curated entry
            curated = self.index.add_curated_entry(question, final_text, approved_by=reviewer)
        # What the nightly fine-tune learns from: the question, the approved text, the entry behind it.
        self.transcripts.add(question, final_text, [learned or curated], origin, answer_id=answer_id)
        return ReviewOutcome(review_id, "edit" if edited_text else "approve", learned, curated)

    def reject(self, answer_id: int, reviewer: str, *, trusted: bool = False) -> ReviewOutcome:
        self._check(reviewer, trusted)
        with self.sessions() as session:
            if session.get(Answer, answer_id) is None:
                raise ReviewError(f"no answer {answer_id}")
            self._not_yet_reviewed(session, answer_id)
            review = Review(answer_id=answer_id, reviewer_id=reviewer, action="reject")
            session.add(review)
            session.commit()
            self.metrics.reviews.labels("reject").inc()
            return ReviewOutcome(review.id, "reject", None, None)

    @staticmethod
    def _not_yet_reviewed(session: Session, answer_id: int) -> None:
        done = session.scalar(select(Review).where(Review.answer_id == answer_id).limit(1))
        if done is not None:
            raise ReviewError(
                f"answer {answer_id} was already reviewed ({done.action}) by {done.reviewer_id}"
            )

    def describe(self, answer_id: int) -> tuple[str, str]:
        """(question, answer text) of an answer."""
        with self.sessions() as session:
            answer = session.get(Answer, answer_id)
            if answer is None:
                raise ReviewError(f"no answer {answer_id}")
            return session.get(Message, answer.question_message_id).text, answer.text

    def reviewed(self, answer_id: int) -> Review | None:
        with self.sessions() as session:
            return session.scalar(select(Review).where(Review.answer_id == answer_id).limit(1))

    def pending(self, limit: int = 50) -> list[tuple[Answer, str]]:
        """Answers nobody has reviewed yet, newest first, with their questions."""
        with self.sessions() as session:
            reviewed = select(Review.answer_id)
            rows = session.execute(
                select(Answer, Message.text)
                .join(Message, Message.id == Answer.question_message_id)
                .where(Answer.id.not_in(reviewed))
                .order_by(Answer.id.desc())
                .limit(limit)
            ).all()
            return [(a, q) for a, q in rows]

    # ---- review posts (the Slack transport posts; the records live here) -------------------------
    def claim_post(self, answer_id: int, reason: str, channel: str) -> int | None:
        """Record that ``answer_id`` goes to the review channel; None if it was posted already (the
        unique answer id makes it once, ever, across processes)."""
        with self.sessions() as session:
            post = ReviewPost(answer_id=answer_id, reason=reason, channel=channel)
            session.add(post)
            try:
                session.commit()
            except IntegrityError:
                return None
            return post.id

    def post_sent(self, post_id: int, ts: str) -> None:
        with self.sessions() as session:
            session.get(ReviewPost, post_id).ts = ts
            session.commit()

    def context(self, answer_id: int) -> tuple[str, str, list[dict], str | None]:
        """(question, answer text, sources, asker) for a review post."""
        with self.sessions() as session:
            answer = session.get(Answer, answer_id)
            if answer is None:
                raise ReviewError(f"no answer {answer_id}")
            question = session.get(Message, answer.question_message_id)
            return question.text, answer.text, list(answer.sources or []), question.user_id
