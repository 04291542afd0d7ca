"""Knowledge gaps: what people ask that the FAQ does not answer, grouped into topics for admins.

A question is in a gap when the bot abstained on it, an admin rejected its answer, its asker
marked the answer not helpful, or it was handed to the support team, and no admin has since taught
the bot its answer (approve, edit, correct, attach) or decided about its topic here. Gap questions
are embedded with the index's embedder and grouped by average-linkage agglomerative clustering on
cosine distance (scikit-learn): no number of topics to guess, and a topic's questions are all
about as close to one another as ``GAP_DISTANCE`` allows. Topics are ranked by how many people
asked. Each carries a draft entry: its most central question, and the human replies its hand-offs
got. Publishing a topic makes the draft a curated entry and every question of the topic one of its
phrasings (searchable at once, like an approval); dismissing it takes its questions out of the
gaps. A topic's id is its oldest question's message id, stable while its questions stay.

Embedding and clustering every gap question is the costly part, and App Home runs it for each admin
view: a service keeps its last topics and computes them again only when what they are made of has
moved (``_inputs``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import Answer, Feedback, GapDecision, Handoff, IndexState, Message, Review
from retrieval.index import FaqIndex

__all__ = ["GAP_DISTANCE", "Gap", "GapError", "GapQuestion", "GapService"]

# Cosine distance under which two questions are one topic (average linkage). MiniLM puts two
# phrasings of one need at ~0.2-0.45 and unrelated questions at ~0.8-1.0; bench/knowledge_gaps.py
# measures the purity of the topics it gives on a public set with known intents.
GAP_DISTANCE = 0.55
RESOLVED = ("approve", "edit", "correct", "attach")


class GapError(ValueError):
    pass


@dataclass
class GapQuestion:
    message_id: int
    text: str
    asker: str | None
    reasons: set[str] = field(default_factory=set)  # abstained | rejected | not_helpful | handoff
    human_replies: list[str] = field(default_factory=list)


@dataclass
class Gap:
    id: int
    questions: list[GapQuestion]
    draft_question: str
    draft_answer: str | None  # a human reply from the topic's hand-offs, if any

    @property
    def askers(self) -> int:
        return len({q.asker or f"message {q.message_id}" for q in self.questions})

    @property
    def reasons(self) -> Counter:
        return Counter(r for q in self.questions for r in q.reasons)

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "askers": self.askers,
            "questions": [q.text for q in self.questions],
            "reasons": dict(self.reasons),
            "draft_question": self.draft_question,
            "draft_answer": self.draft_answer,
            "human_replies": [r for q in self.questions for r in q.human_replies],
        }


class GapService:
    def __init__(self, sessions: sessionmaker[Session], index: FaqIndex, *, distance: float = GAP_DISTANCE):
        self.sessions = sessions
        self.index = index
        self.distance = distance
        self._topics: tuple[tuple, list[Gap]] | None = None  # (the _inputs they were made of, topics)

    # ---- reading ------------------------------------------------------------------------------
    def open_questions(self) -> list[GapQuestion]:
        """Questions in a gap, oldest first (see the module docstring for what counts)."""
        found: dict[int, GapQuestion] = {}
        with self.sessions() as session:

            def mark(message_ids, reason: str) -> None:
                for mid in message_ids:
                    if mid not in found:
                        msg = session.get(Message, mid)
                        if msg is None or msg.role != "user":
                            continue
                        found[mid] = GapQuestion(mid, msg.text, msg.user_id)
                    found[mid].reasons.add(reason)

            mark(session.scalars(select(Answer.question_message_id).where(Answer.abstained)), "abstained")
            mark(
                session.scalars(
                    select(Answer.question_message_id)
                    .join(Review, Review.answer_id == Answer.id)
                    .where(Review.action == "reject")
                ),
                "rejected",
            )
            mark(
                session.scalars(
                    select(Answer.question_message_id)
                    .join(Feedback, Feedback.answer_id == Answer.id)
                    .where(Feedback.kind == "not_helpful", Feedback.by_asker.is_not(False))
                ),
                "not_helpful",
            )
            mark(session.scalars(select(Handoff.question_message_id)), "handoff")
            resolved = set(
                session.scalars(
                    select(Answer.question_message_id)
                    .join(Review, Review.answer_id == Answer.id)
                    .where(Review.action.in_(RESOLVED))
                )
            )
            decided = set(session.scalars(select(GapDecision.question_message_id)))
            for mid in resolved | decided:
                found.pop(mid, None)
            if found:
                replies = session.execute(
                    select(Answer.question_message_id, Answer.text)
                    .where(Answer.mode == "human", Answer.question_message_id.in_(list(found)))
                    .order_by(Answer.id)
                ).all()
                for mid, text in replies:
                    found[mid].human_replies.append(text)
        return [found[m] for m in sorted(found)]

    def _inputs(self) -> tuple:
        """What the topics are made of, in one query: the index's revision and embedder (the vectors),
        and the newest id and row count of each table open_questions reads. Those rows are only ever
        added, or deleted with their conversation, so an unchanged tuple means unchanged topics
        (message texts never change)."""
        newest = [
            q.scalar_subquery()
            for table in (Answer, Review, Feedback, Handoff, GapDecision)
            for q in (select(func.max(table.id)), select(func.count(table.id)))
        ]
        index = [
            select(col).where(IndexState.id == 1).scalar_subquery()
            for col in (IndexState.revision, IndexState.embedder_path)
        ]
        with self.sessions() as session:
            return tuple(session.execute(select(*index, *newest)).one())

    def topics(self) -> list[Gap]:
        """The gap questions grouped into topics, most askers first (then most questions, oldest)."""
        # Read before computing: a signal that lands meanwhile leaves a stale key, so the next call
        # computes again rather than keeping topics that miss it.
        inputs = self._inputs()
        cached = self._topics
        if cached is not None and cached[0] == inputs:
            return list(cached[1])
        gaps = self._compute()
        self._topics = (inputs, gaps)
        return list(gaps)

    def _compute(self) -> list[Gap]:
        questions = self.open_questions()
        if not questions:
            return []
        vectors = self.index.embedder.encode([q.text for q in questions])
        labels = self._cluster(vectors)
        gaps = []
        for label in sorted(set(labels)):
            rows = [i for i, lab in enumerate(labels) if lab == label]
            members = [questions[i] for i in rows]
            centre = vectors[rows] @ vectors[rows].T
            medoid = members[int(np.argmax(centre.sum(axis=1)))]
            replies = [r for q in [medoid, *members] for r in q.human_replies]
            gaps.append(Gap(members[0].message_id, members, medoid.text, replies[0] if replies else None))
        gaps.sort(key=lambda g: (-g.askers, -len(g.questions), g.id))
        return gaps

    def _cluster(self, vectors: np.ndarray) -> list[int]:
        if len(vectors) < 2:
            return [0] * len(vectors)
        from sklearn.cluster import AgglomerativeClustering

        model = AgglomerativeClustering(
            n_clusters=None, metric="cosine", linkage="average", distance_threshold=self.distance
        )
        return [int(x) for x in model.fit_predict(vectors)]

    def get(self, gap_id: int) -> Gap:
        for gap in self.topics():
            if gap.id == gap_id:
                return gap
        raise GapError(f"no open knowledge gap {gap_id} (see: supportbot gaps list)")

    # ---- deciding -----------------------------------------------------------------------------
    def publish(
        self, gap_id: int, admin: str, *, question: str | None = None, answer: str | None = None
    ) -> str:
        """Make the topic a curated FAQ entry (the draft, or the given question and answer) and its
        questions the entry's phrasings; returns the entry id."""
        gap = self.get(gap_id)
        question = " ".join((question or gap.draft_question).split())
        answer = (answer or gap.draft_answer or "").strip()
        if not answer:
            raise GapError(f"gap {gap_id} has no human reply to publish as its answer: give one (--answer)")
        entry_id = self.index.add_curated_entry(question, answer, approved_by=admin)
        for q in gap.questions:
            if " ".join(q.text.split()) != question:
                self.index.learn_phrasing(entry_id, q.text, approved_by=admin)
        self._decide(gap, "published", admin, entry_id)
        return entry_id

    def dismiss(self, gap_id: int, admin: str) -> int:
        """Take the topic's questions out of the gaps (not something the FAQ should answer)."""
        gap = self.get(gap_id)
        self._decide(gap, "dismissed", admin, None)
        return len(gap.questions)

    def _decide(self, gap: Gap, decision: str, admin: str, entry_id: str | None) -> None:
        with self.sessions() as session:
            for q in gap.questions:
                session.add(
                    GapDecision(
                        question_message_id=q.message_id,
                        decision=decision,
                        entry_id=entry_id,
                        decided_by=admin,
                    )
                )
            try:
                session.commit()
            except IntegrityError:  # another admin decided about (some of) these questions first
                session.rollback()
                raise GapError(f"gap {gap.id} was decided by someone else meanwhile") from None
