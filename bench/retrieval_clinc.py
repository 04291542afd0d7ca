"""Retrieval quality on CLINC150 through the product's own index: plain dense baseline vs the
product as it ships (the embedder tuned to the FAQ on import) and with `--no-tune`, in one run.

CLINC150 (Larson et al., EMNLP 2019; CC BY 3.0) is read from ../shared/data/clinc150, never copied.
Setup: one FAQ entry per intent, its phrasings the first N train utterances (default 5).
Thresholds are chosen on val + oos_train only; figures are on test (4,500 in scope) + oos_val (100).

    .venv/bin/python bench/retrieval_clinc.py [--phrasings 5] [--limit N] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.container import Container  # noqa: E402
from bot.settings import Settings  # noqa: E402
from retrieval.embedder import get_embedder  # noqa: E402
from retrieval.faq import FaqItem  # noqa: E402
from retrieval.index import FaqIndex  # noqa: E402
from retrieval.scoring import ScoringWeights  # noqa: E402
from retrieval.tune import TuneParams  # noqa: E402

CLINC = ROOT.parent / "shared" / "data" / "clinc150" / "data_full_without_oos_test.json"
PLAIN_DENSE = ScoringWeights(temperature=0.0, centroid=0.0, bm25=0.0)


def build(data: dict, phrasings: int, intents: list[str] | None = None) -> list[FaqItem]:
    by_intent: dict[str, list[str]] = {}
    for text, intent in data["train"]:
        by_intent.setdefault(intent, []).append(text)
    names = intents or sorted(by_intent)
    # No answer text exists in CLINC150: the answer repeats the question, so it never outranks a phrasing.
    return [
        FaqItem(
            id=n,
            question=by_intent[n][0],
            alt_questions=tuple(by_intent[n][1:phrasings]),
            answer=by_intent[n][0],
        )
        for n in names
    ]


def run(
    index: FaqIndex, queries: list[tuple[str, str | None]]
) -> tuple[list[float], list[int | None], list[float]]:
    """Confidence (what abstention is decided on), rank of the expected entry (None if not in top 5 /
    out of scope), latency ms."""
    tops, ranks, ms = [], [], []
    for text, expected in queries:
        t0 = time.perf_counter()
        result = index.retrieve(text, 5)
        ms.append((time.perf_counter() - t0) * 1000)
        tops.append(result.confidence)
        ids = [h.id for h in result.hits]
        ranks.append(ids.index(expected) + 1 if expected in ids else None)
    return tops, ranks, ms


def metrics(tops, ranks, expected, threshold) -> dict:
    ins = [i for i, e in enumerate(expected) if e is not None]
    oos = [i for i, e in enumerate(expected) if e is None]
    return {
        "hit@1": round(float(np.mean([ranks[i] == 1 for i in ins])), 4),
        "hit@5": round(float(np.mean([ranks[i] is not None for i in ins])), 4),
        "mrr": round(float(np.mean([1 / ranks[i] if ranks[i] else 0 for i in ins])), 4),
        "oos_abstain": round(float(np.mean([tops[i] < threshold for i in oos])), 4),
        "in_scope_answered": round(float(np.mean([tops[i] >= threshold for i in ins])), 4),
        "threshold": round(threshold, 4),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--phrasings", type=int, default=5)
    ap.add_argument("--limit", type=int, default=0, help="use only the first N test and val queries")
    ap.add_argument(
        "--answered", type=float, default=0.96, help="val in-scope share to answer when picking a threshold"
    )
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    data = json.loads(CLINC.read_text())
    items = build(data, args.phrasings)
    limit = args.limit or None
    test = [(t, i) for t, i in data["test"][:limit]] + [(t, None) for t, _ in data["oos_val"]]
    val = [(t, i) for t, i in data["val"][:limit]] + [(t, None) for t, _ in data["oos_train"]]
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="supportbot-clinc-") as tmp:
        c = Container(Settings(data_dir=Path(tmp)))
        c.ensure_schema()
        c.index.import_items(items)
        baseline = FaqIndex(
            c.sessions,
            c._store_for,
            get_embedder,
            collection=c.settings.chroma_collection,
            weights=PLAIN_DENSE,
        )
        configs = [("plain_dense_baseline", baseline), ("product_no_tune", c.index)]
        for name, index in configs + [("product", None)]:
            if index is None:
                t0 = time.perf_counter()
                c.index.tune(Path(tmp) / "embedders", TuneParams())
                tune_s = time.perf_counter() - t0
                index = c.index
            index.search("warm up", 5)
            v_tops, _, _ = run(index, val)
            v_in = sorted(t for t, (_, e) in zip(v_tops, val) if e is not None)
            tuned_threshold = v_in[int((1 - args.answered) * len(v_in))]  # answer `answered` of val in-scope
            tops, ranks, ms = run(index, test)
            expected = [e for _, e in test]
            results[name] = {
                **metrics(tops, ranks, expected, tuned_threshold),
                "at_default_threshold": metrics(tops, ranks, expected, c.index.threshold()),
                "p50_ms": round(statistics.median(ms), 2),
                "p95_ms": round(float(np.percentile(ms, 95)), 2),
            }
            if name == "product":
                results[name]["tune_s"] = round(tune_s, 1)
        # Does the default threshold hold on a smaller FAQ? 50 random intents, same threshold, tuned as shipped.
    with tempfile.TemporaryDirectory(prefix="supportbot-clinc50-") as tmp:
        subset = sorted(random.Random(0).sample(sorted({i for _, i in data["train"]}), 50))
        c = Container(Settings(data_dir=Path(tmp)))
        c.ensure_schema()
        c.index.import_items(build(data, args.phrasings, subset))
        c.index.tune(Path(tmp) / "embedders", TuneParams())
        sub_test = [(t, i) for t, i in test if i in set(subset)] + [(t, None) for t, _ in data["oos_val"]]
        tops, ranks, ms = run(c.index, sub_test)
        results["product_50_entries"] = {
            **metrics(tops, ranks, [e for _, e in sub_test], c.index.threshold()),
            "p50_ms": round(statistics.median(ms), 2),
        }

    base, untuned, prod = (
        results[k]["hit@1"] for k in ("plain_dense_baseline", "product_no_tune", "product")
    )
    results["hit@1_gain_points"] = {
        "product": round(100 * (prod - base), 1),
        "product_no_tune": round(100 * (untuned - base), 1),
    }
    for name, row in results.items():
        print(f"{name:22s} {row}")
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
