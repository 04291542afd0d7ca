"""Answer evaluation: quality against reference answers, faithfulness to the cited FAQ text,
abstention on out-of-scope questions, latency. Compares the product's guarded engine with a naive
prompt-and-print baseline on the same model, in the same run."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import groupby
from pathlib import Path

import numpy as np

from bot.db.models import FaqEntry
from bot.llm.base import GenerationParams
from bot.prompts import STOP_SEQUENCES, ContextEntry, build_prompt
from bot.services import grounding
from retrieval.jsonl import read_jsonl_objects
from retrieval.language import analyzer, detect_language, is_cjk, words


class QAFileError(ValueError):
    pass


@dataclass(frozen=True)
class QAItem:
    question: str
    expected_id: str | None
    reference_answer: str | None


def load_qa(path: str | Path) -> list[QAItem]:
    path = Path(path)
    try:
        objects, problems = read_jsonl_objects(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise QAFileError(f"{path}: cannot read ({exc})") from exc
    items = []
    for where, obj in objects:
        if not isinstance(obj.get("question"), str) or not obj["question"].strip():
            problems.append(f'{where}: expected {{"question", "expected_id", "reference_answer"}}')
            continue
        expected, ref = obj.get("expected_id"), obj.get("reference_answer")
        if expected is not None and not ref:
            problems.append(f"{where}: an in-scope question needs a reference_answer")
            continue
        items.append(QAItem(obj["question"], None if expected is None else str(expected), ref))
    if problems:
        raise QAFileError("\n".join(problems[:20]))
    if not items:
        raise QAFileError(f"{path}: no questions")
    return items


@dataclass
class Outcome:
    text: str
    source_id: str | None
    source_text: str
    abstained: bool
    latency_ms: float
    mode: str = "generated"
    why: str = ""  # why that mode (the product's own words: AnswerResult.why)


class _RougeTokens:
    """rouge_score's tokenizer interface over words of any script. Its own keeps [a-z0-9] only, so a
    Chinese answer scored 0 against itself and "Passwörter" became "passw rter". Here: Unicode words,
    case-folded, stemmed in the texts' language (as its use_stemmer stems English); CJK text
    character by character, the usual unit of Chinese ROUGE (no segmenter's choices in the score);
    nothing dropped, as in ROUGE."""

    def __init__(self, language: str | None):
        self._analyzer = analyzer(language)

    def tokenize(self, text: str) -> list[str]:
        parts: list[str] = []
        for word in words(text):
            for cjk, run in groupby(word, is_cjk):
                chars = list(run)
                parts.extend(chars if cjk else ["".join(chars)])
        return self._analyzer.stems(parts)


@lru_cache(maxsize=32)
def _rouge_scorer(language: str | None):
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], tokenizer=_RougeTokens(language))


def rouge_l_score(prediction: str, reference: str, language: str | None = None):
    """ROUGE-L of ``prediction`` against ``reference`` (rouge_score's Score: precision, recall,
    fmeasure), in their language (detected from both when not given: one short sentence says little)."""
    if language is None:
        language = detect_language(f"{reference}\n{prediction}", fallback=None)
    return _rouge_scorer(language).score(reference, prediction)["rougeL"]


def rouge_l(prediction: str, reference: str, language: str | None = None) -> float:
    """ROUGE-L F1 of ``prediction`` against ``reference``."""
    return rouge_l_score(prediction, reference, language).fmeasure


def summarize(items: Sequence[QAItem], outcomes: Sequence[Outcome]) -> dict:
    in_scope = [(q, o) for q, o in zip(items, outcomes) if q.expected_id is not None]
    oos = [o for q, o in zip(items, outcomes) if q.expected_id is None]
    answered = [(q, o) for q, o in in_scope if not o.abstained]
    checks = [grounding.check(o.text, o.source_text, q.question) for q, o in answered]
    latencies = [o.latency_ms for o in outcomes]

    def mean(values) -> float | None:
        return round(float(np.mean(values)), 4) if len(values) else None

    return {
        "rougeL": mean(
            [rouge_l(o.text, q.reference_answer) if not o.abstained else 0.0 for q, o in in_scope]
        ),
        "grounded": mean([c.grounded for c in checks]),
        "support": mean([c.support for c in checks]),
        "invented_specifics": mean([any(not w.isalpha() for w in c.unsupported) for c in checks]),
        "model_text_used": mean([o.mode == "generated" for _, o in answered]),
        "correct_source": mean([o.source_id == q.expected_id for q, o in in_scope]),
        "in_scope_answered": mean([not o.abstained for _, o in in_scope]),
        "oos_abstain": mean([o.abstained for o in oos]),
        "p50_ms": round(float(np.percentile(latencies, 50)), 1),
        "p95_ms": round(float(np.percentile(latencies, 95)), 1),
        "n_in_scope": len(in_scope),
        "n_out_of_scope": len(oos),
    }


def write_outcomes(items: Sequence[QAItem], outcomes: Sequence[Outcome], path: str | Path) -> None:
    """``eval answers --out FILE.jsonl``: one line per question, with what was served, the cited
    entry as the guard saw it, and the guard's verdict on the served text (``faithful``, ``reason``:
    None for an abstention)."""
    import json

    with open(path, "w", encoding="utf-8") as fh:
        for q, o in zip(items, outcomes):
            check = None if o.abstained else grounding.check(o.text, o.source_text, q.question)
            line = {
                "question": q.question,
                "expected_id": q.expected_id,
                "source_id": o.source_id,
                "source_text": o.source_text,
                "answer": o.text,
                "mode": "abstain" if o.abstained else o.mode,
                "why": o.why,
                "faithful": None if check is None else check.grounded,
                "reason": None if check is None or check.grounded else f"{check.reason}: {check.why}",
                "latency_ms": round(o.latency_ms, 1),
            }
            fh.write(json.dumps(line, ensure_ascii=False) + "\n")


def run_guarded(
    container, items: Sequence[QAItem], progress: Callable[[int], None] | None = None
) -> list[Outcome]:
    """The product: AnswerService.ask, exactly as the CLI and Slack call it."""
    out = []
    for q in items:
        t0 = time.perf_counter()
        r = container.answers.ask(q.question, user_id="eval")
        latency = (time.perf_counter() - t0) * 1000
        top = r.sources[0]["id"] if r.sources and not r.abstained else None
        with container.sessions() as session:
            entry = session.get(FaqEntry, top) if top else None
            source = f"{entry.question}\n{entry.answer}" if entry else ""
        out.append(Outcome(r.answer, top, source, r.abstained, latency, r.mode, r.why))
        if progress:
            progress(1)
    return out


def run_naive(
    container, items: Sequence[QAItem], progress: Callable[[int], None] | None = None
) -> list[Outcome]:
    """Baseline: retrieve the top entry, prompt the model, print what it says. No abstention, no guard."""
    out = []
    settings = container.settings
    for q in items:
        t0 = time.perf_counter()
        top = container.index.search(q.question, 1)[0]
        prompt = build_prompt(q.question, [ContextEntry(top.id, top.question, top.answer)])
        gen = container.engine.generate(
            prompt, GenerationParams(max_new_tokens=settings.max_new_tokens, stop=STOP_SEQUENCES)
        )
        out.append(
            Outcome(
                gen.text.strip(),
                top.id,
                f"{top.question}\n{top.answer}",
                False,
                (time.perf_counter() - t0) * 1000,
            )
        )
        if progress:
            progress(1)
    return out
