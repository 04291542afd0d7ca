"""Approved transcripts: the nightly fine-tune's training material."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import Transcript
from retrieval.faq import ID_PATTERN, MAX_FIELD_CHARS
from retrieval.jsonl import DEFAULT_MAX_BYTES, InputFileError, read_text, split_lines


class TranscriptFormatError(ValueError):
    """A transcripts file that cannot be imported; lists every problem, each with file and line."""

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        shown = self.problems[:20]
        if len(self.problems) > 20:
            shown.append(f"... and {len(self.problems) - 20} more")
        super().__init__("\n".join(shown))


# The same limits as a FAQ entry's question and answer (retrieval/faq.py): a fine-tuning example is
# a few hundred tokens (SUPPORTBOT_FINETUNE_MAX_SEQ_LEN), so a longer one is a wrong file, not a ticket.
MAX_TRANSCRIPT_CHARS = MAX_FIELD_CHARS
MAX_FAQ_IDS = 50
KEYS = ("question", "answer", "faq_ids")
# Control characters other than tab and line breaks; NUL in particular, which PostgreSQL refuses in
# text (SQLite would store it), and unpaired surrogates, which no UTF-8 database can store.
_BAD_CHAR = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def content_key(question: str, answer: str) -> str:
    """Same question and answer up to case and spacing: the same example."""
    norm = "\n".join(" ".join(t.lower().split()) for t in (question, answer))
    return hashlib.sha256(norm.encode()).hexdigest()


def _row_problems(row: object) -> list[str]:
    if not isinstance(row, dict):
        return ["expected an object with question and answer"]
    problems = []
    unknown = sorted(set(row) - set(KEYS))
    if unknown:
        problems.append(f"unknown key(s) {', '.join(map(repr, unknown))}; expected {', '.join(KEYS)}")
    for key in ("question", "answer"):
        value = row.get(key)
        if not isinstance(value, str) or not value.strip():
            problems.append(f"'{key}' must be a non-empty string")
        elif len(value) > MAX_TRANSCRIPT_CHARS:
            problems.append(f"'{key}' is {len(value)} characters, over the {MAX_TRANSCRIPT_CHARS} limit")
        elif bad := _BAD_CHAR.search(value):
            problems.append(f"'{key}' contains the control character U+{ord(bad.group()):04X}")
    ids = row.get("faq_ids", [])
    if not isinstance(ids, list) or not all(isinstance(i, str) and ID_PATTERN.match(i) for i in ids):
        problems.append("'faq_ids' must be a list of FAQ entry ids")
    elif len(ids) > MAX_FAQ_IDS:
        problems.append(f"'faq_ids' lists {len(ids)} entries, over the {MAX_FAQ_IDS} limit")
    return problems


def load_jsonl(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> list[dict]:
    """Lines ``{"question", "answer", "faq_ids"?}``. The whole file is refused if any line is bad, with
    every bad line listed; the checks do not depend on the database, so SQLite and PostgreSQL give
    the same verdict on the same file."""
    try:
        text = read_text(path, max_bytes, setting="SUPPORTBOT_MAX_IMPORT_FILE_MB")
    except InputFileError as exc:
        raise TranscriptFormatError(str(exc)) from None
    rows, problems = [], []
    for n, line in enumerate(split_lines(text), 1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"{where}: not valid JSON ({exc.msg})")
            continue
        except (ValueError, RecursionError):  # a 4300-digit number, nesting deeper than the stack
            problems.append(f"{where}: not valid JSON")
            continue
        bad = _row_problems(row)
        if bad:
            problems += [f"{where}: {p}" for p in bad]
            continue
        ids = list(dict.fromkeys(row.get("faq_ids", [])))
        rows.append({"question": row["question"].strip(), "answer": row["answer"].strip(), "faq_ids": ids})
    if problems:
        raise TranscriptFormatError(problems)
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
