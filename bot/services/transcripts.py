"""Approved transcripts: the nightly fine-tune's training material."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import Transcript


class TranscriptFormatError(ValueError):
    pass


def content_key(question: str, answer: str) -> str:
    """Same question and answer up to case and spacing: the same example."""
    norm = "\n".join(" ".join(t.lower().split()) for t in (question, answer))
    return hashlib.sha256(norm.encode()).hexdigest()


def load_jsonl(path: Path) -> list[dict]:
    """Lines ``{"question", "answer", "faq_ids"?}``; the whole file is refused on the first bad line."""
    rows = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            where = f"{path}:{n}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise TranscriptFormatError(f"{where}: not valid JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise TranscriptFormatError(f"{where}: expected an object with question and answer")
            for key in ("question", "answer"):
                if not isinstance(row.get(key), str) or not row[key].strip():
                    raise TranscriptFormatError(f"{where}: '{key}' must be a non-empty string")
            ids = row.get("faq_ids", [])
            if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids):
                raise TranscriptFormatError(f"{where}: 'faq_ids' must be a list of FAQ entry ids")
            rows.append(
                {"question": row["question"].strip(), "answer": row["answer"].strip(), "faq_ids": ids}
            )
    if not rows:
        raise TranscriptFormatError(f"{path}: no transcripts found")
    return rows


class TranscriptService:
    def __init__(self, sessions: sessionmaker[Session]):
        self.sessions = sessions

    def add(
        self, question: str, answer: str, faq_ids: list[str], origin: str, answer_id: int | None = None
    ) -> bool:
        """False when the same pair (or the same answer) is already there."""
        with self.sessions() as session:
            session.add(
                Transcript(
                    question=question,
                    answer=answer,
                    faq_ids=faq_ids,
                    origin=origin,
                    answer_id=answer_id,
                    content_sha256=content_key(question, answer),
                )
            )
            try:
                session.commit()
            except IntegrityError:
                return False
            return True

    def import_rows(self, rows: Iterable[dict]) -> tuple[int, int]:
        """(added, duplicates); one transaction."""
        added = dupes = 0
        with self.sessions() as session:
            seen = set(session.scalars(select(Transcript.content_sha256)))
            for row in rows:
                key = content_key(row["question"], row["answer"])
                if key in seen:
                    dupes += 1
                    continue
                seen.add(key)
                session.add(
                    Transcript(
                        question=row["question"],
                        answer=row["answer"],
                        faq_ids=row["faq_ids"],
                        origin="import",
                        content_sha256=key,
                    )
                )
                added += 1
            session.commit()
        return added, dupes

    def count(self, after_id: int = 0) -> int:
        with self.sessions() as session:
            return session.scalar(select(func.count(Transcript.id)).where(Transcript.id > after_id)) or 0

    def all(self) -> list[Transcript]:
        with self.sessions() as session:
            return list(session.scalars(select(Transcript).order_by(Transcript.id)))
