"""Replaying past questions to measure what the bot learns from its admins (`supportbot eval learning`).

A labelled stream of questions (``{"query", "expected_id" or null}``) is asked day by day through the
real answer service, as employees would; a simulated admin then reviews every answer of the day as
its label says, through the real review service (so what is measured is what the product learns:
learned phrasings at once, hard negatives and transcripts for the night); then the nightly job
runs. After each day (and once before the first) a test file is measured with the index as it then
serves.

The admin works through the day's review queue after the day's questions, not between them: that is
how a queue is worked, and it costs one rebuild of the index's in-memory snapshot per day instead of
one per question (every learned phrasing changes the index's revision).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import ModelVersion, utcnow
from bot.llm.registry import sha256_file
from bot.services.answer import AnswerResult, AnswerService, QuestionError
from bot.services.review import ReviewService
from retrieval.evaluate import EvalQuery, evaluate, index_searcher
from retrieval.index import FaqIndex

__all__ = [
    "ACTIONS",
    "DayReport",
    "LearningReport",
    "SimulatedAdmin",
    "measure",
    "register_model",
    "replay",
]

# What the simulated admin does with one answer; "none": an out-of-scope question rightly refused
# (nothing to teach); "refused": the bot would not take the question (empty or too long).
ACTIONS = ("approve", "correct", "attach", "reject", "none", "refused")
# The figures measured on the test file before the first day and after each day.
FIGURES = ("answer_precision", "coverage", "oos_abstain", "hit@1", "hit@5", "n_answers")
REVIEWER = "simulated-admin"

Progress = Callable[[str, int, int], None]  # (stage, done, total), as FinetunePipeline reports


class SimulatedAdmin:
    """Reviews an answer as the question's label says: approve the right entry, correct a wrong one,
    attach an in-scope abstention to its entry, reject an answer to an out-of-scope question."""

    def __init__(self, reviews: ReviewService, reviewer: str = REVIEWER):
        self.reviews = reviews
        self.reviewer = reviewer

    def review(self, result: AnswerResult, expected_id: str | None) -> str:
        cited = None if result.abstained or not result.sources else result.sources[0]["id"]
        if expected_id is None:
            if cited is None:
                return "none"
            return self.reviews.reject(result.answer_id, self.reviewer, trusted=True).action
        if cited == expected_id:
            return self.reviews.approve(result.answer_id, self.reviewer, trusted=True).action
        # "correct" when it cited another entry, "attach" when it abstained (ReviewService decides).
        return self.reviews.correct(result.answer_id, self.reviewer, expected_id, trusted=True).action


@dataclass
class DayReport:
    day: int
    figures: dict  # FIGURES on the test file, after the day's reviews and the nightly job
    actions: dict[str, int]
    asked: int
    live: dict  # answer_precision and coverage of the day's own questions, as employees got them
    nightly: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "day": self.day,
            **self.figures,
            "actions": self.actions,
            "asked": self.asked,
            "live": self.live,
            "nightly": self.nightly,
        }


@dataclass
class LearningReport:
    before: dict
    days: list[DayReport]

    def to_json(self) -> dict:
        return {"before": self.before, "days": [d.to_json() for d in self.days]}


def measure(
    index: FaqIndex, test: Sequence[EvalQuery], k: int, progress: Callable[[int], None] | None = None
) -> dict:
    """FIGURES of ``test`` on the index as it serves now (nothing is recorded or learned)."""
    index.retrieve("warm up")  # a new revision's snapshot and calibration are built here, not timed
    data = evaluate(test, index_searcher(index, k), progress=progress).to_json()
    return {key: data[key] for key in FIGURES} | {"threshold": round(index.threshold(), 4)}


def replay(
    answers: AnswerService,
    reviews: ReviewService,
    stream: Sequence[EvalQuery],
    test: Sequence[EvalQuery],
    *,
    days: int,
    per_day: int,
    nightly: Callable[[], dict],
    k: int = 5,
    progress: Progress | None = None,
) -> LearningReport:
    """Measure ``test``, then for each day ask the next ``per_day`` questions of ``stream`` (days the
    stream has no questions left for are not run), review every answer, run ``nightly`` (the
    caller's nightly job: it lives above the services) and measure ``test`` again."""
    progress = progress or (lambda stage, done, total: None)
    index = answers.index
    admin = SimulatedAdmin(reviews)

    def measured(stage: str) -> dict:
        done = [0]

        def tick(n: int) -> None:
            done[0] += n
            progress(stage, done[0], len(test))

        progress(stage, 0, len(test))
        return measure(index, test, k, tick)

    before = measured("before: measuring")
    report = LearningReport(before, [])
    for day in range(1, days + 1):
        todays = stream[(day - 1) * per_day : day * per_day]
        if not todays:
            break
        stage = f"day {day}/{days}"
        asked: list[tuple[AnswerResult | None, EvalQuery]] = []
        for i, q in enumerate(todays):
            try:
                result = answers.ask(q.query, user_id=f"employee-{day}-{i}", source="cli")
            except QuestionError:
                result = None
            asked.append((result, q))
            progress(f"{stage}: employees asking", i + 1, len(todays))
        actions = Counter(dict.fromkeys(ACTIONS, 0))
        for i, (result, q) in enumerate(asked):
            actions["refused" if result is None else admin.review(result, q.expected_id)] += 1
            progress(f"{stage}: admin reviewing", i + 1, len(asked))
        progress(f"{stage}: nightly job", 0, 1)
        night = nightly()
        progress(f"{stage}: nightly job", 1, 1)
        figures = measured(f"{stage}: measuring")
        report.days.append(
            DayReport(day, figures, dict(actions), len(todays), _live(asked), _nightly_summary(night))
        )
    return report


def _live(asked: list[tuple[AnswerResult | None, EvalQuery]]) -> dict:
    """How the day's own questions were answered, before the admin saw them."""
    given = [(r, q) for r, q in asked if r is not None and not r.abstained and r.sources]
    right = sum(r.sources[0]["id"] == q.expected_id for r, q in given)  # right ones are in scope
    in_scope = sum(q.expected_id is not None for _, q in asked)
    return {
        "answer_precision": round(right / len(given), 4) if given else None,
        "coverage": round(right / in_scope, 4) if in_scope else None,
    }


def _nightly_summary(night: dict) -> dict:
    """What the nightly job did, in the report: whether the embedder was re-tuned, the fine-tune's
    status when it ran."""
    summary = {"embedder_retuned": bool(night.get("embedder_retuned"))}
    if "status" in night:
        summary["finetune"] = night["status"]
        summary["promoted"] = bool(night.get("promoted"))
    return summary


def register_model(sessions: sessionmaker[Session], name: str, path) -> None:
    """Serve the model file at ``path`` as the active version of a (throwaway) database, so that the
    nightly fine-tune there trains from it; the file is checksummed as `model install` records it."""
    with sessions() as session:
        session.add(
            ModelVersion(
                name=name,
                path=str(path),
                checksum=sha256_file(path),
                status="active",
                promoted_at=utcnow(),
                eval_scores={},
            )
        )
        session.commit()
