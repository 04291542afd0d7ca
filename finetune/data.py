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
from retrieval.jsonl import InputFileError, read_jsonl_objects


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


class RegressionFileError(ValueError):
    """SUPPORTBOT_FINETUNE_REGRESSION_FILE cannot be used: what is wrong with it, by line."""


REGRESSION_SETTING = "SUPPORTBOT_FINETUNE_REGRESSION_FILE"


def regression_examples(path: Path, sessions: sessionmaker[Session]) -> list[Example]:
    """A fixed regression file (lines like ``eval answers``: question, expected_id, reference_answer).

    Read whole and checked before anything trains, so a bad line fails the run at once with one
    line naming the setting and the file's lines, not minutes later or as a traceback."""
    try:
        objects, problems = read_jsonl_objects(path, setting=REGRESSION_SETTING)
    except InputFileError as exc:
        raise RegressionFileError(f"{REGRESSION_SETTING}: {exc}") from None
    out = []
    with sessions() as session:
        keep = _faq_contacts(session)
        for where, row in objects:
            expected = row.get("expected_id")
            if expected is None or expected == "":
                continue  # out-of-scope lines test retrieval's abstention, not the model
            question, reference = row.get("question"), row.get("reference_answer")
            if not all(isinstance(v, str) and v.strip() for v in (expected, question, reference)):
                problems.append(f"{where}: question, expected_id and reference_answer must be non-empty text")
                continue
            entry = session.get(FaqEntry, expected)
            if entry is None:
                problems.append(f"{where}: unknown FAQ entry {expected!r}")
                continue
            n = where.rsplit(":", 1)[1]
            out.append(
                Example(
                    f"reg-{n}", redact(question, keep), [_entry(entry)], redact(reference, keep), "regression"
                )
            )
    if problems:
        problems.sort(key=lambda p: int(p[len(str(path)) + 1 :].split(":", 1)[0]))  # in file order
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise RegressionFileError(f"{REGRESSION_SETTING}: " + "; ".join(problems[:3]) + more)
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
