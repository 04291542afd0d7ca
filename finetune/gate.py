"""The promotion gate: the candidate against the model in service, on the files that would serve.

Both GGUFs are loaded with the serving runtime and answer the same prompts (greedy, the serving
stop sequences), so the gate measures what users would get. Metrics per set: ROUGE-L against the
approved answer, the share of answers the grounding guard accepts, and the mean support (share of
content words found in the source); the faithful share also decides whether a version generates at all
(bot.services.model_check). Abstention is retrieval's decision and does not depend on the
model, so it is not re-measured here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bot.llm.base import ModelRuntime
from bot.services.model_check import evaluate_runtime, record_check
from finetune.data import Example, faq_examples


def evaluate_model(
    gguf: Path,
    sets: dict[str, list[Example]],
    *,
    load: Callable[[Path], ModelRuntime],
    max_new_tokens: int,
    on_item: Callable[[], None] | None = None,
) -> dict[str, dict]:
    """Metrics per set for the GGUF at ``gguf``, loaded with ``load`` (the serving runtime)."""
    runtime = load(gguf)
    try:
        return evaluate_runtime(runtime, sets, max_new_tokens=max_new_tokens, on_item=on_item)
    finally:
        runtime.close()


@dataclass(frozen=True)
class Decision:
    promote: bool
    reasons: list[str]


def decide(
    candidate: dict[str, dict], current: dict[str, dict], margin: float, tolerance: float = 0.0
) -> Decision:
    """Promote only when held-out ROUGE-L improves by ``margin`` and no metric of any set drops
    (beyond ``tolerance``)."""
    reasons = []
    held_c, held_s = candidate["held_out"]["rougeL"], current["held_out"]["rougeL"]
    if held_c is None or held_s is None:
        return Decision(False, ["no held-out examples to judge by"])
    gain = held_c - held_s
    ok = gain >= margin
    reasons.append(f"held-out ROUGE-L {held_s:.3f} -> {held_c:.3f} ({gain:+.3f}, needs {margin:+.3f})")
    for name in candidate:
        for metric in ("rougeL", "grounded", "support"):
            c, s = candidate[name][metric], current[name][metric]
            if c is None or s is None:
                continue
            if c < s - tolerance:
                ok = False
                reasons.append(f"{name} {metric} dropped {s:.3f} -> {c:.3f}")
    return Decision(ok, reasons)


@dataclass(frozen=True)
class ModelCheckResult:
    model: str
    faithful_share: float
    n: int
    details: dict
    rouge_l: float | None


def check_in_service(
    container, questions: int | None = None, *, on_item: Callable[[], None] | None = None
) -> ModelCheckResult:
    """Measure the model ``container`` serves on the FAQ's own questions (each entry's question,
    given the entry, answered by the model and judged by the serving guard) and record its faithful
    share: whether it earns generating (bot.services.model_check). Day 0 has no approved
    transcripts to hold out, so the FAQ is the held-out set; the nightly gate adds its held-out
    transcripts. Raises ValueError on an empty FAQ; NoModelError and GenerationError as serving does."""
    s = container.settings
    examples = faq_examples(container.sessions, limit=questions or s.model_check_questions)
    if not examples:
        raise ValueError("The FAQ is empty: import one first (supportbot faq import FILE).")
    loaded = container.models.load_active()
    started = time.perf_counter()
    try:
        scores = evaluate_runtime(
            loaded.runtime, {"faq": examples}, max_new_tokens=s.max_new_tokens, on_item=on_item
        )
    finally:
        loaded.runtime.close()
    with container.sessions() as session:
        check = record_check(
            session, loaded.version_name, s.model_backend, scores, seconds=time.perf_counter() - started
        )
        session.commit()
        result = ModelCheckResult(
            loaded.version_name, check.faithful_share, check.n, dict(check.details), scores["faq"]["rougeL"]
        )
    container.generation_gate.forget()
    return result
