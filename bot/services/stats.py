"""The figures support leads ask for, computed from the SQL record (`supportbot stats`, App Home).

Definitions (days are UTC days; a *question* is one the bot took and answered or abstained on,
so refused input and the asker's messages inside a hand-off thread are not questions):

- **deflection**: share of questions answered from the FAQ with no human involved: the bot did not
  abstain and the question was never handed to the support team;
- **top unanswered topics**: questions the FAQ did not cover, grouped by their content words (so
  "VPN broken?" and "the vpn is broken" are one topic), with the FAQ entry that came closest;
- **approval rate**: share of the bot's reviewed answers that admins approved, as is or edited (or,
  for an abstention, attached to an entry); a correction to another entry counts as a rejection;
- **helpful / not helpful**: the askers' own presses under their answers. Anyone in a channel can press
  the buttons; others' presses are recorded and flagged (``Feedback.by_asker``), not counted.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import Answer, Feedback, Handoff, Message, Review
from bot.services.faithfulness import content_tokens
from retrieval.language import detect_language, is_cjk


@dataclass
class Day:
    day: date
    questions: int = 0
    answered: int = 0  # from the FAQ: not abstained
    abstained: int = 0
    escalated: int = 0  # handed to the support team (abstained, or the asker asked for a human)
    deflected: int = 0  # answered and never handed to a human
    approvals: int = 0  # review decisions on the bot's answers made that day
    rejections: int = 0


@dataclass
class Topic:
    example: str  # the most frequent wording
    questions: int
    closest_entry: str | None  # the FAQ entry retrieval ranked first, not close enough to answer
    last_asked: datetime


@dataclass
class SupportStats:
    start: datetime
    end: datetime
    days: list[Day]
    edited: int = 0  # approvals whose text an admin changed first
    helpful: int = 0  # the askers' own feedback only
    not_helpful: int = 0
    others_feedback: int = 0  # presses by people other than the asker: recorded, not counted above
    top_unanswered: list[Topic] = field(default_factory=list)

    def total(self, name: str) -> int:
        return sum(getattr(d, name) for d in self.days)

    @property
    def deflection(self) -> float | None:
        questions = self.total("questions")
        return self.total("deflected") / questions if questions else None

    @property
    def approval_rate(self) -> float | None:
        reviewed = self.total("approvals") + self.total("rejections")
        return self.total("approvals") / reviewed if reviewed else None

    def to_json(self) -> dict:
        totals = {
            name: self.total(name)
            for name in (
                "questions",
                "answered",
                "abstained",
                "escalated",
                "deflected",
                "approvals",
                "rejections",
            )
        }
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            **totals,
            "edited": self.edited,
            "helpful": self.helpful,
            "not_helpful": self.not_helpful,
            "others_feedback": self.others_feedback,
            "deflection": _round(self.deflection),
            "approval_rate": _round(self.approval_rate),
            "days": [{**asdict(d), "day": d.day.isoformat()} for d in self.days],
            "top_unanswered": [
                {**asdict(t), "last_asked": t.last_asked.isoformat()} for t in self.top_unanswered
            ],
        }


def topic_key(question: str) -> str:
    """Content words in the question's language (Unicode, stemmed, stop words dropped), de-duplicated
    and sorted: word order and filler don't split a topic. Chinese and Japanese words count by
    character: their segmentation shifts with word order (年假我有多少天 / 我有多少天年假)."""
    words: set[str] = set()
    for token in content_tokens(question, detect_language(question, fallback="en")):
        words.update(token if any(is_cjk(c) for c in token) else (token,))
    return " ".join(sorted(words)) or " ".join(question.lower().split())


class StatsService:
    def __init__(self, sessions: sessionmaker[Session]):
        self.sessions = sessions

    def summary(self, days: int = 7, *, top: int = 5, now: datetime | None = None) -> SupportStats:
        """The last ``days`` UTC days, today included."""
        now = now or datetime.now(UTC)
        first = now.date() - timedelta(days=days - 1)
        start = datetime.combine(first, time(), UTC)
        end = datetime.combine(now.date() + timedelta(days=1), time(), UTC)
        by_day = {first + timedelta(days=i): Day(first + timedelta(days=i)) for i in range(days)}
        stats = SupportStats(start, end, list(by_day.values()))
        with self.sessions() as session:
            self._questions(session, start, end, by_day, stats, top)
            self._reviews(session, start, end, by_day, stats)
            self._feedback(session, start, end, stats)
        return stats

    @staticmethod
    def _questions(
        session: Session,
        start: datetime,
        end: datetime,
        by_day: dict[date, Day],
        stats: SupportStats,
        top: int,
    ) -> None:
        asked = (Message.role == "user", Message.created_at >= start, Message.created_at < end)
        rows = session.execute(
            select(Message.id, Message.created_at, Message.text, Answer.abstained, Answer.sources)
            .join(Answer, Answer.question_message_id == Message.id)
            .where(*asked, Answer.mode != "human")
            .order_by(Answer.id)
        ).all()
        escalated = set(
            session.scalars(
                select(Handoff.question_message_id)
                .join(Message, Message.id == Handoff.question_message_id)
                .where(*asked)
            )
        )
        seen: set[int] = set()
        topics: dict[str, dict] = {}
        for message_id, created_at, text, abstained, sources in rows:
            if message_id in seen:  # one question, one count, whatever was recorded after it
                continue
            seen.add(message_id)
            created_at = _utc(created_at)
            day = by_day[created_at.date()]
            day.questions += 1
            handed_off = message_id in escalated
            day.escalated += handed_off
            if abstained:
                day.abstained += 1
                topic = topics.setdefault(
                    topic_key(text), {"texts": Counter(), "entries": Counter(), "last": created_at}
                )
                topic["texts"][text.strip()] += 1
                if sources:
                    topic["entries"][sources[0]["id"]] += 1
                topic["last"] = max(topic["last"], created_at)
            else:
                day.answered += 1
                day.deflected += not handed_off
        ranked = sorted(topics.values(), key=lambda t: (-sum(t["texts"].values()), -t["last"].timestamp()))
        stats.top_unanswered = [
            Topic(
                t["texts"].most_common(1)[0][0],
                sum(t["texts"].values()),
                t["entries"].most_common(1)[0][0] if t["entries"] else None,
                t["last"],
            )
            for t in ranked[:top]
        ]

    @staticmethod
    def _reviews(
        session: Session, start: datetime, end: datetime, by_day: dict[date, Day], stats: SupportStats
    ) -> None:
        rows = session.execute(
            select(Review.action, Review.created_at)
            .join(Answer, Answer.id == Review.answer_id)
            .where(Review.created_at >= start, Review.created_at < end, Answer.mode != "human")
        ).all()
        for action, created_at in rows:
            day = by_day[_utc(created_at).date()]
            if action in ("reject", "correct"):  # correct: the answer cited the wrong entry
                day.rejections += 1
            else:
                day.approvals += 1
                stats.edited += action == "edit"

    @staticmethod
    def _feedback(session: Session, start: datetime, end: datetime, stats: SupportStats) -> None:
        rows = session.execute(
            select(Feedback.kind, Feedback.by_asker).where(
                Feedback.created_at >= start, Feedback.created_at < end
            )
        ).all()
        # Only the asker's feedback counts; others' presses are flagged (by_asker false) and kept
        # apart. NULL: the question has no known asker, so nobody else can have pressed it.
        counts = Counter(kind for kind, mine in rows if mine is not False)
        stats.helpful, stats.not_helpful = counts["helpful"], counts["not_helpful"]
        stats.others_feedback = sum(mine is False for _, mine in rows)


def _utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything is stored in UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
