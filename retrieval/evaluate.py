"""Retrieval evaluation: how often the right FAQ entry comes first, and how often the bot rightly
abstains. Used by `supportbot eval retrieval` and the benchmarks."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from retrieval.index import RetrievedEntry
from retrieval.jsonl import read_jsonl_objects


class QueryFileError(ValueError):
    pass


@dataclass(frozen=True)
class EvalQuery:
    query: str
    expected_id: str | None  # None: out of scope, abstaining is right


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

    def to_json(self) -> dict:
        return {
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
        out.append(EvalQuery(obj["query"], None if expected is None else str(expected)))
    if problems:
        raise QueryFileError("\n".join(problems[:20]))
    if not out:
        raise QueryFileError(f"{path}: no queries")
    return out


Searcher = Callable[[str], tuple[list[RetrievedEntry], bool]]  # -> (ranked hits, abstain?)


def evaluate(
    queries: Sequence[EvalQuery], search: Searcher, progress: Callable[[int], None] | None = None
) -> RetrievalReport:
    ranks: list[int | None] = []
    answered_in: list[bool] = []
    abstained_oos: list[bool] = []
    latencies: list[float] = []
    for q in queries:
        t0 = time.perf_counter()
        hits, abstain = search(q.query)
        latencies.append((time.perf_counter() - t0) * 1000)
        if q.expected_id is None:
            abstained_oos.append(abstain)
        else:
            ids = [h.id for h in hits]
            ranks.append(ids.index(q.expected_id) + 1 if q.expected_id in ids else None)
            answered_in.append(not abstain)
        if progress:
            progress(1)

    def share(values: list[bool]) -> float | None:
        return round(float(np.mean(values)), 4) if values else None

    return RetrievalReport(
        n_in_scope=len(ranks),
        n_out_of_scope=len(abstained_oos),
        hit_at_1=share([r == 1 for r in ranks]),
        hit_at_5=share([r is not None and r <= 5 for r in ranks]),
        mrr=round(float(np.mean([1 / r if r else 0.0 for r in ranks])), 4) if ranks else None,
        oos_abstain=share(abstained_oos),
        in_scope_answered=share(answered_in),
        p50_ms=round(float(np.percentile(latencies, 50)), 2),
        p95_ms=round(float(np.percentile(latencies, 95)), 2),
    )


def report_dict(report: RetrievalReport) -> dict:
    return asdict(report)
