"""Approved transcripts -> redacted Alpaca examples, with a stable held-out split.

Each example is built with the serving prompt module: instruction = the question, input = the FAQ
entry the approved answer is based on (as retrieval would give it to the model), output = the
approved answer. The model learns to phrase the entry retrieval chose, as it does when serving.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import FaqEntry, Transcript
from bot.prompts import ContextEntry, build_prompt
from finetune.redact import public_contacts, redact


@dataclass(frozen=True)
class Example:
    key: str  # stable id: decides the split
    instruction: str
    input: list[ContextEntry]
    output: str
    origin: str

    @property
    def prompt(self) -> str:
        return build_prompt(self.instruction, self.input)

    @property
    def source_text(self) -> str:
        return "\n".join(f"{e.question}\n{e.answer}" for e in self.input)

    def to_json(self) -> dict:
        return {
            "key": self.key,
            "instruction": self.instruction,
            "input": [asdict(e) for e in self.input],
            "output": self.output,
            "origin": self.origin,
        }


def _key(question: str, answer: str) -> str:
    norm = "\n".join(" ".join(t.lower().split()) for t in (question, answer))
    return hashlib.sha256(norm.encode()).hexdigest()[:16]


def _entry(e: FaqEntry) -> ContextEntry:
    """FAQ text is published company content: it goes in as written, exactly as serving shows it."""
    return ContextEntry(e.id, e.question, e.answer)


def _faq_contacts(session: Session) -> frozenset[str]:
    return public_contacts(
        [f"{q}\n{a}" for q, a in session.execute(select(FaqEntry.question, FaqEntry.answer))]
    )


def approved_examples(
    sessions: sessionmaker[Session], retrieve=None, up_to_id: int | None = None
) -> list[Example]:
    """Every approved transcript as a redacted example, de-duplicated.

    ``retrieve(question) -> entry id | None`` fills in the context of imported transcripts that
    name no FAQ entry.
    """
    out: dict[str, Example] = {}
    with sessions() as session:
        keep = _faq_contacts(session)
        stmt = select(Transcript).order_by(Transcript.id)
        if up_to_id is not None:
            stmt = stmt.where(Transcript.id <= up_to_id)
        for t in session.scalars(stmt):
            ids = [i for i in (t.faq_ids or []) if i]
            if not ids and retrieve is not None:
                found = retrieve(t.question)
                ids = [found] if found else []
            entries = [e for e in (session.get(FaqEntry, i) for i in ids[:1]) if e is not None]
            question, answer = redact(t.question, keep), redact(t.answer, keep)
            key = _key(question, answer)
            out.setdefault(key, Example(key, question, [_entry(e) for e in entries], answer, t.origin))
    return list(out.values())


def faq_examples(sessions: sessionmaker[Session], limit: int = 30) -> list[Example]:
    """The FAQ itself as a regression set: each entry's question, given the entry, answered by it."""
    with sessions() as session:
        entries = list(session.scalars(select(FaqEntry).order_by(FaqEntry.id)))
    step = max(1, len(entries) // limit)
    chosen = entries[::step][:limit]
    return [Example(f"faq-{e.id}", e.question, [_entry(e)], e.answer, "faq") for e in chosen]


def regression_examples(path: Path, sessions: sessionmaker[Session]) -> list[Example]:
    """A fixed regression file (lines like ``eval answers``: question, expected_id, reference_answer)."""
    out = []
    with sessions() as session, open(path, encoding="utf-8") as fh:
        keep = _faq_contacts(session)
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            if not row.get("expected_id"):
                continue  # out-of-scope lines test retrieval's abstention, not the model
            entry = session.get(FaqEntry, row["expected_id"])
            if entry is None:
                raise ValueError(f"{path}:{n}: unknown FAQ entry {row['expected_id']!r}")
            out.append(
                Example(
                    f"reg-{n}",
                    redact(row["question"], keep),
                    [_entry(entry)],
                    redact(row["reference_answer"], keep),
                    "regression",
                )
            )
    return out


def split(examples: list[Example], eval_share: float) -> tuple[list[Example], list[Example]]:
    """Held-out by hash of the example, so an example stays on the same side run after run."""

    def bucket(e: Example) -> float:
        return int(hashlib.sha256(("split:" + e.key).encode()).hexdigest()[:8], 16) / 0xFFFFFFFF

    held = [e for e in examples if bucket(e) < eval_share]
    train = [e for e in examples if bucket(e) >= eval_share]
    if not held and len(train) >= 5:  # tiny sets still need something to judge by
        held, train = train[:1], train[1:]
    return train, held


def write_jsonl(path: Path, examples: list[Example]) -> None:
    """Written only after redaction (every Example is redacted when built)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for e in examples:
            fh.write(json.dumps(e.to_json(), ensure_ascii=False) + "\n")
    tmp.replace(path)
