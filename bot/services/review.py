"""Admin review: approve, edit-and-approve, reject, correct (wrong entry -> the right one) or attach
(an abstention -> an existing entry).

Each decision teaches at once. Approve, correct and attach make the asker's question a learned
phrasing of the right entry (the one the answer cited, or the one the admin chose) and an approved
transcript for the nightly fine-tune; when the bot had no good entry and an admin wrote the answer,
it becomes a new curated entry. Reject and correct record the question and the entry it wrongly
cited as a hard negative (retrieval/negatives.py) for the next embedder tuning.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import Answer, FaqEntry, Message, Review, ReviewPost
from bot.observability.metrics import BotMetrics
from bot.services.transcripts import TranscriptService
from retrieval.index import FaqIndex
from retrieval.negatives import record_hard_negative

log = logging.getLogger(__name__)


class NotAuthorized(PermissionError):
    pass


class ReviewError(ValueError):
    pass


class AlreadyReviewed(ReviewError):
    def __init__(self, answer_id: int, action: str, reviewer: str, entry_id: str | None = None):
        self.answer_id, self.action, self.reviewer, self.entry_id = answer_id, action, reviewer, entry_id
        what = f"{action} to {entry_id}" if entry_id else action
        super().__init__(f"answer {answer_id} was already reviewed ({what}) by {reviewer}")


# Options in Slack's entry picker: at most 100, as Slack allows.
MAX_CHOICES = 100
NEAREST = 3  # entries the picker offers before anything is typed


@dataclass(frozen=True)
class ReviewOutcome:
    review_id: int
    action: str
    learned_entry: str | None  # entry id that now knows the asker's phrasing
    curated_entry: str | None  # new entry created from the admin's text
    wrong_entry: str | None = None  # entry recorded as not answering the question (hard negative)


class ReviewContext(NamedTuple):
    question: str
    text: str
    sources: list[dict]
    asker: str | None
    abstained: bool
    mode: str  # generated | faq | abstain
    why: str  # why that mode (the guard's verdict, the model's faithfulness bar, ...)


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
            self._record(session, review)
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
        """The answer was wrong: kept out of training; the entry it cited is recorded as a hard
        negative for its question, and the question is kept as an off-topic neighbour: questions
        like it are not answered from now on (retrieval/offtopic.py)."""
        self._check(reviewer, trusted)
        with self.sessions() as session:
            answer = session.get(Answer, answer_id)
            if answer is None:
                raise ReviewError(f"no answer {answer_id}")
            self._not_yet_reviewed(session, answer_id)
            question = session.get(Message, answer.question_message_id).text
            wrong = _cited(answer)
            review = Review(answer_id=answer_id, reviewer_id=reviewer, action="reject")
            self._record(session, review)
            self.metrics.reviews.labels("reject").inc()
            review_id = review.id
        if wrong:
            self.index.reject_question(question, wrong, answer_id=answer_id, reviewer_id=reviewer)
        return ReviewOutcome(review_id, "reject", None, None, wrong)

    def correct(
        self, answer_id: int, reviewer: str, entry_id: str, *, trusted: bool = False
    ) -> ReviewOutcome:
        """``entry_id`` is the entry that answers this question. On an answer that cited another
        entry: "correct" (that entry becomes a hard negative); on an abstention or a human's reply:
        "attach". Either way the question becomes a phrasing of ``entry_id`` and an approved
        transcript with its answer."""
        self._check(reviewer, trusted)
        entry_id = (entry_id or "").strip()
        with self.sessions() as session:
            answer = session.get(Answer, answer_id)
            if answer is None:
                raise ReviewError(f"no answer {answer_id}")
            entry = session.get(FaqEntry, entry_id) if entry_id else None
            if entry is None:
                raise ReviewError(f"no FAQ entry {entry_id!r}")
            self._not_yet_reviewed(session, answer_id)
            wrong = _cited(answer)
            if wrong == entry_id:
                raise ReviewError(f"answer {answer_id} already cites {entry_id}: approve it instead")
            action = "correct" if wrong else "attach"
            question = session.get(Message, answer.question_message_id).text
            entry_answer = entry.answer
            review = Review(answer_id=answer_id, reviewer_id=reviewer, action=action, entry_id=entry_id)
            self._record(session, review)
            self.metrics.reviews.labels(action).inc()
            review_id = review.id
        self.index.learn_phrasing(entry_id, question, answer_id=answer_id, approved_by=reviewer)
        self.transcripts.add(question, entry_answer, [entry_id], "review", answer_id=answer_id)
        if wrong:
            record_hard_negative(
                self.sessions, question, wrong, action="correct", answer_id=answer_id, reviewer_id=reviewer
            )
        return ReviewOutcome(review_id, action, entry_id, None, wrong)

    def entry_choices(self, query: str, answer_id: int | None = None) -> list[tuple[str, str]]:
        """(entry id, question) for the entry picker, at most MAX_CHOICES. Nothing typed: the entries
        retrieval finds nearest to the answer's question (not the one it cited). Typed: entries whose
        id or question contains it, then the entries search ranks first for it."""
        query = " ".join((query or "").split())
        with self.sessions() as session:
            questions = dict(session.execute(select(FaqEntry.id, FaqEntry.question)).all())
            if not query:
                if answer_id is None or (answer := session.get(Answer, answer_id)) is None:
                    return []
                asked = session.get(Message, answer.question_message_id).text
                cited = _cited(answer)
                hits = [h.id for h in self.index.search(asked, NEAREST + 1) if h.id != cited]
                return [(i, questions[i]) for i in hits[:NEAREST] if i in questions]
        needle = query.lower()
        ids = [i for i, q in sorted(questions.items()) if needle in i.lower() or needle in q.lower()]
        ids += [h.id for h in self.index.search(query, 10)]
        chosen = list(dict.fromkeys(i for i in ids if i in questions))[:MAX_CHOICES]
        return [(i, questions[i]) for i in chosen]

    def _record(self, session: Session, review: Review) -> None:
        """Commit ``review``; if another reviewer's review of the same answer committed first (the
        unique answer_id), say so as ``_not_yet_reviewed`` would have."""
        session.add(review)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            self._not_yet_reviewed(session, review.answer_id)
            raise

    @staticmethod
    def _not_yet_reviewed(session: Session, answer_id: int) -> None:
        done = session.scalar(select(Review).where(Review.answer_id == answer_id).limit(1))
        if done is not None:
            raise AlreadyReviewed(answer_id, done.action, done.reviewer_id, done.entry_id)

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

    def context(self, answer_id: int) -> ReviewContext:
        """What a review post shows of an answer."""
        with self.sessions() as session:
            answer = session.get(Answer, answer_id)
            if answer is None:
                raise ReviewError(f"no answer {answer_id}")
            question = session.get(Message, answer.question_message_id)
            return ReviewContext(
                question.text,
                answer.text,
                list(answer.sources or []),
                question.user_id,
                answer.abstained,
                answer.mode,
                answer.why or "",
            )


def _cited(answer: Answer) -> str | None:
    """The entry an answer was based on (None for an abstention or a human's reply)."""
    if answer.abstained or not answer.sources:
        return None
    first = answer.sources[0]
    return first.get("id") if isinstance(first, dict) else None
