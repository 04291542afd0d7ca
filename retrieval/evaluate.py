"""Retrieval evaluation: how often the right FAQ entry comes first, how often the bot rightly
abstains, and the figures of selective answering that matter to an employee who acts on an answer:

- ``answer_precision``: answers citing the right entry / all answers given (in scope or not);
- ``coverage``: in-scope questions answered with the right entry / in-scope questions;
- ``wrong_answers`` = 1 - answer_precision.

Reported overall and per language (of the query). Used by `supportbot eval retrieval` and the
benchmarks."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from retrieval.jsonl import read_jsonl_objects


class QueryFileError(ValueError):
    pass


@dataclass(frozen=True)
class EvalQuery:
    query: str
    expected_id: str | None  # None: out of scope, abstaining is right
    language: str | None = None  # from the file if given, else detected


@dataclass(frozen=True)
class QueryResult:
    """One line of ``eval retrieval --out``: what a team reads to see which questions go wrong."""

    query: str
    expected_id: str | None
    top: list[dict]  # [{"id", "score"}], best first
    abstained: bool
    language: str | None
    latency_ms: float

    @property
    def answered_right(self) -> bool:
        return not self.abstained and bool(self.top) and self.top[0]["id"] == self.expected_id

    def to_json(self) -> dict:
        return {
            "query": self.query,
            "expected_id": self.expected_id,
            "top": self.top,
            "abstained": self.abstained,
            "language": self.language,
        }


@dataclass
class RetrievalReport:
    n_in_scope: int
    n_out_of_scope: int
    hit_at_1: float | None
    hit_at_5: float | None
    mrr: float | None
    oos_abstain: float | None
    in_scope_answered: float | None
    p50_ms: float
    p95_ms: float
    answer_precision: float | None = None
    coverage: float | None = None
    wrong_answers: float | None = None
    n_answers: int = 0
    by_language: dict[str, dict] | None = None
    results: list[QueryResult] | None = None

    def to_json(self) -> dict:
        out = {
            "answer_precision": self.answer_precision,
            "coverage": self.coverage,
            "wrong_answers": self.wrong_answers,
            "n_answers": self.n_answers,
            "hit@1": self.hit_at_1,
            "hit@5": self.hit_at_5,
            "mrr": self.mrr,
            "oos_abstain": self.oos_abstain,
            "in_scope_answered": self.in_scope_answered,
            "p50_ms": self.p50_ms,
            "p95_ms": self.p95_ms,
            "n_in_scope": self.n_in_scope,
            "n_out_of_scope": self.n_out_of_scope,
        }
        if self.by_language is not None:
            out["by_language"] = self.by_language
        return out


def load_queries(path: str | Path) -> list[EvalQuery]:
    path = Path(path)
    try:
        objects, problems = read_jsonl_objects(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise QueryFileError(f"{path}: cannot read ({exc})") from exc
    out: list[EvalQuery] = []
    for where, obj in objects:
        if not isinstance(obj.get("query"), str) or not obj["query"].strip():
            problems.append(f'{where}: expected {{"query": "...", "expected_id": "..." or null}}')
            continue
        expected = obj.get("expected_id")
        if expected is not None and not isinstance(expected, (str, int)):
            problems.append(f"{where}: expected_id must be a string or null")
            continue
        language = obj.get("language")
        if language is not None and not isinstance(language, str):
            problems.append(f'{where}: language must be a string such as "de" or null')
            continue
        out.append(EvalQuery(obj["query"], None if expected is None else str(expected), language))
    if problems:
        raise QueryFileError("\n".join(problems[:20]))
    if not out:
        raise QueryFileError(f"{path}: no queries")
    return out


# -> (ranked hits, abstain?) or (ranked hits, abstain?, the language retrieval took the question for)
Searcher = Callable[[str], tuple]


def index_searcher(index, k: int = 5) -> Searcher:
    """``index`` (a retrieval.index.FaqIndex) as ``evaluate`` asks it: its top ``k`` entries, whether
    it abstains, the language it took the question for."""

    def search(question: str) -> tuple:
        found = index.retrieve(question, k)
        return found.hits, found.abstain, found.language

    return search


def _share(values: list[bool]) -> float | None:
    return round(float(np.mean(values)), 4) if values else None


def summarize(results: Sequence[QueryResult]) -> dict:
    """The selective-answering figures and ranking quality of ``results``."""
    in_scope = [r for r in results if r.expected_id is not None]
    oos = [r for r in results if r.expected_id is None]
    answers = [r for r in results if not r.abstained and r.top]
    ranks = []
    for r in in_scope:
        ids = [t["id"] for t in r.top]
        ranks.append(ids.index(r.expected_id) + 1 if r.expected_id in ids else None)
    precision = _share([r.answered_right for r in answers])
    latencies = [r.latency_ms for r in results]
    return {
        "answer_precision": precision,
        "coverage": _share([r.answered_right for r in in_scope]),
        "wrong_answers": None if precision is None else round(1 - precision, 4),
        "n_answers": len(answers),
        "hit@1": _share([k == 1 for k in ranks]),
        "hit@5": _share([k is not None and k <= 5 for k in ranks]),
        "mrr": round(float(np.mean([1 / k if k else 0.0 for k in ranks])), 4) if ranks else None,
        "oos_abstain": _share([r.abstained or not r.top for r in oos]),
        "in_scope_answered": _share([not r.abstained and bool(r.top) for r in in_scope]),
        "p50_ms": round(float(np.percentile(latencies, 50)), 2) if latencies else 0.0,
        "p95_ms": round(float(np.percentile(latencies, 95)), 2) if latencies else 0.0,
        "n_in_scope": len(in_scope),
        "n_out_of_scope": len(oos),
    }


def evaluate(
    queries: Sequence[EvalQuery],
    search: Searcher,
    progress: Callable[[int], None] | None = None,
    *,
    detect_language: Callable[[str], str | None] | None = None,
) -> RetrievalReport:
    """Run every query through ``search``; languages come from the query file, else
    ``detect_language`` (queries without either are reported under "und")."""
    results: list[QueryResult] = []
    for q in queries:
        t0 = time.perf_counter()
        found = search(q.query)
        latency = (time.perf_counter() - t0) * 1000
        hits, abstain = found[0], found[1]
        language = q.language or (found[2] if len(found) > 2 else None)
        if language is None and detect_language is not None:
            language = detect_language(q.query)
        top = [{"id": h.id, "score": round(float(h.score), 4)} for h in hits]
        results.append(QueryResult(q.query, q.expected_id, top, bool(abstain), language, latency))
        if progress:
            progress(1)
    overall = summarize(results)
    languages = sorted({r.language or "und" for r in results})
    by_language = {
        lang: summarize([r for r in results if (r.language or "und") == lang]) for lang in languages
    }
    return RetrievalReport(
        n_in_scope=overall["n_in_scope"],
        n_out_of_scope=overall["n_out_of_scope"],
        hit_at_1=overall["hit@1"],
        hit_at_5=overall["hit@5"],
        mrr=overall["mrr"],
        oos_abstain=overall["oos_abstain"],
        in_scope_answered=overall["in_scope_answered"],
        p50_ms=overall["p50_ms"],
        p95_ms=overall["p95_ms"],
        answer_precision=overall["answer_precision"],
        coverage=overall["coverage"],
        wrong_answers=overall["wrong_answers"],
        n_answers=overall["n_answers"],
        by_language=by_language,
        results=results,
    )


def write_results(results: Sequence[QueryResult], path: str | Path) -> None:
    """``--out FILE.jsonl``: one line per query (query, expected_id, top, abstained, language)."""
    import json

    with open(path, "w", encoding="utf-8") as fh:
        for r in results:
            fh.write(json.dumps(r.to_json(), ensure_ascii=False) + "\n")


def report_dict(report: RetrievalReport) -> dict:
    return report.to_json()
