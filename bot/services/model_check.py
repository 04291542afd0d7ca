"""Whether the model in service earns generating: its faithful share on held-out questions.

Every generated answer is checked at serving time (bot.services.grounding, sentence by sentence),
and one that fails is replaced by the FAQ text. A model that fails often therefore costs the asker
a generation's wait (a second or more) for an answer that is thrown away, and its failures are the
ones the guard misses that reach people. So each model is measured once, with the same guard, on
questions it was not trained on; below ``SUPPORTBOT_FAITHFUL_BAR`` it does not generate at all and
answers are the retrieved entry as written, in retrieval time. A model that was never measured does
not generate either: earning it is the rule, not the exception (``supportbot model check``, the
worker and the nightly fine-tune's gate measure it).

``SUPPORTBOT_GENERATION=always`` restores generation for every model (still guarded answer by
answer); ``never`` turns it off.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import ModelCheck, utcnow
from bot.llm.base import GenerationParams, ModelRuntime
from bot.prompts import STOP_SEQUENCES
from bot.services import grounding
from bot.services.evaluation import rouge_l

__all__ = ["GenerationGate", "Verdict", "evaluate_runtime", "faithful_share", "record_check"]


class Answerable(Protocol):
    """One held-out question: what the model is given and what it is judged against."""

    prompt: str
    output: str  # the reference answer (ROUGE-L)
    source_text: str  # the entry the answer must be faithful to
    instruction: str  # the question


def evaluate_runtime(
    runtime: ModelRuntime,
    sets: dict[str, Iterable[Answerable]],
    *,
    max_new_tokens: int,
    on_item: Callable[[], None] | None = None,
) -> dict[str, dict]:
    """Per set: ROUGE-L against the reference, the share of answers the guard accepts
    (``grounded``, the faithful share), the mean word support, and why the others failed."""
    params = GenerationParams(max_new_tokens=max_new_tokens, stop=STOP_SEQUENCES)
    out = {}
    for name, examples in sets.items():
        scores, grounded, support, reasons = [], [], [], {}
        for e in examples:
            text = "".join(runtime.stream(e.prompt, params)).strip()
            scores.append(rouge_l(text, e.output))
            check = grounding.check(text, e.source_text, e.instruction)
            grounded.append(check.grounded)
            support.append(check.support)
            if not check.grounded:
                reasons[check.reason] = reasons.get(check.reason, 0) + 1
            if on_item:
                on_item()
        n = len(scores)
        out[name] = {
            "n": n,
            "rougeL": round(sum(scores) / n, 4) if n else None,
            "grounded": round(sum(grounded) / n, 4) if n else None,
            "support": round(sum(support) / n, 4) if n else None,
            "reasons": reasons,
        }
    return out


def faithful_share(scores: dict[str, dict]) -> tuple[float | None, int, dict[str, int]]:
    """(share of answers the guard accepted over all sets, how many answers, failures by reason)."""
    n = sum(s["n"] for s in scores.values())
    if not n:
        return None, 0, {}
    passed = sum(s["grounded"] * s["n"] for s in scores.values() if s["n"])
    reasons: dict[str, int] = {}
    for s in scores.values():
        for reason, count in s.get("reasons", {}).items():
            reasons[reason] = reasons.get(reason, 0) + count
    return round(passed / n, 4), n, reasons


def record_check(
    session: Session,
    model_name: str,
    backend: str,
    scores: dict[str, dict],
    *,
    seconds: float | None = None,
) -> ModelCheck | None:
    """Store (or replace) ``model_name``'s faithful share; None when nothing was measured."""
    share, n, reasons = faithful_share(scores)
    if share is None:
        return None
    row = session.scalar(select(ModelCheck).where(ModelCheck.model_name == model_name))
    if row is None:
        row = ModelCheck(model_name=model_name)
        session.add(row)
    row.backend, row.faithful_share, row.n, row.measured_at = backend, share, n, utcnow()
    row.details = {
        "on": "+".join(scores),
        "reasons": reasons,
        **({"seconds": round(seconds, 1)} if seconds is not None else {}),
    }
    session.flush()
    return row


@dataclass(frozen=True)
class Verdict:
    """Whether the model in service generates, and why (said by ``ask``, Slack, metrics, logs)."""

    generates: bool
    why: str
    model: str | None = None
    share: float | None = None
    n: int = 0

    def to_json(self) -> dict:
        return {"generates": self.generates, "why": self.why, "faithful_share": self.share, "n": self.n}


@dataclass
class GenerationGate:
    """The verdict for the model in service, re-read at most every ``ttl_s`` seconds (a check
    recorded by the worker, or a promotion, is picked up within that time by every process)."""

    mode: str  # "earned" | "always" | "never" (SUPPORTBOT_GENERATION)
    bar: float  # SUPPORTBOT_FAITHFUL_BAR
    min_answers: int  # a share measured on fewer answers than this is not trusted
    sessions: sessionmaker[Session]
    serving: Callable[[], str | None]  # the name of the model in service (None: no model)
    ttl_s: float = 10.0
    _cached: tuple[float, Verdict] | None = field(default=None, repr=False)

    def verdict(self) -> Verdict:
        now = time.monotonic()
        if self._cached is not None and now - self._cached[0] < self.ttl_s:
            return self._cached[1]
        verdict = self._judge()
        self._cached = (now, verdict)
        return verdict

    def forget(self) -> None:
        self._cached = None

    def judge(self, name: str | None) -> Verdict:
        """The verdict for the model called ``name`` (``model list`` shows it for every version)."""
        if self.mode == "never":
            return Verdict(False, "generation is off (SUPPORTBOT_GENERATION=never)", name)
        if self.mode == "always":
            return Verdict(True, "generation is on for every model (SUPPORTBOT_GENERATION=always)", name)
        if name is None:
            return Verdict(False, "no model is installed", None)
        with self.sessions() as session:
            row = session.scalar(select(ModelCheck).where(ModelCheck.model_name == name))
            share, n = (row.faithful_share, row.n) if row else (None, 0)
        if row is None:
            return Verdict(False, f"model {name} has not been measured yet (supportbot model check)", name)
        if n < self.min_answers:
            return Verdict(
                False,
                f"model {name} was measured on {n} answers only; at least {self.min_answers} are needed",
                name,
                share,
                n,
            )
        if share < self.bar:
            return Verdict(
                False,
                f"model {name} was faithful in {share:.0%} of {n} held-out answers, below the bar of "
                f"{self.bar:.0%}",
                name,
                share,
                n,
            )
        return Verdict(
            True,
            f"model {name} was faithful in {share:.0%} of {n} held-out answers (bar {self.bar:.0%})",
            name,
            share,
            n,
        )

    def _judge(self) -> Verdict:
        return self.judge(None if self.mode != "earned" else self.serving())
