"""Hard negatives: a question and an FAQ entry that an admin said does not answer it.

Written when an admin rejects an answer (the entry it cited) or corrects it to another entry (the
entry it cited wrongly); read by the next embedder tuning, which should rank the entry below the
question's right one. Kept in SQL (``hard_negatives``), one row per (entry, question).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import FaqEntry, HardNegative, text_key

ACTIONS = ("reject", "correct")


@dataclass(frozen=True)
class Negative:
    question: str
    entry_id: str  # the entry that does not answer it
    action: str  # "reject" | "correct"
    answer_id: int | None
    reviewer_id: str | None
    created_at: datetime


def _normal(text: str) -> str:
    return " ".join(text.split())  # as learned phrasings are stored (FaqIndex.learn_phrasing)


def record_hard_negative(
    sessions: sessionmaker[Session],
    question: str,
    entry_id: str,
    *,
    action: str,
    answer_id: int | None = None,
    reviewer_id: str | None = None,
) -> bool:
    """Record that ``entry_id`` does not answer ``question``. False when the pair is already known,
    the question is empty or the entry is gone."""
    if action not in ACTIONS:
        raise ValueError(f"unknown hard-negative action {action!r}")
    text = _normal(question)
    if not text:
        return False
    with sessions() as session:
        if session.get(FaqEntry, entry_id) is None:
            return False
        known = session.scalar(
            select(HardNegative.id).where(
                HardNegative.entry_id == entry_id, HardNegative.text_sha256 == text_key(text)
            )
        )
        if known is not None:
            return False
        session.add(
            HardNegative(
                entry_id=entry_id,
                text=text,
                text_sha256=text_key(text),
                answer_id=answer_id,
                reviewer_id=reviewer_id,
                action=action,
            )
        )
        try:
            session.commit()
        except IntegrityError:  # the same pair, recorded meanwhile by another process
            return False
    return True


def hard_negatives(sessions: sessionmaker[Session], *, after_id: int = 0) -> list[Negative]:
    """Every recorded (question, wrong entry) pair, oldest first; ``after_id``: only newer rows."""
    with sessions() as session:
        rows = session.scalars(
            select(HardNegative).where(HardNegative.id > after_id).order_by(HardNegative.id)
        )
        return [
            Negative(r.text, r.entry_id, r.action, r.answer_id, r.reviewer_id, r.created_at) for r in rows
        ]


def negatives_by_entry(sessions: sessionmaker[Session]) -> dict[str, list[str]]:
    """For a tuning: per entry id, the questions it must not answer."""
    out: dict[str, list[str]] = {}
    for n in hard_negatives(sessions):
        out.setdefault(n.entry_id, []).append(n.question)
    return out
