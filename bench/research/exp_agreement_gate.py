"""Research (issue 15): answer only when the embedder and the words agree?

For each set, the product as it ships (`now`, tuned where the set allows). For every question, the
entry the product ranks first, the one the index's embedder alone ranks first (max over phrasings
and answer chunks) and the one BM25 alone ranks first. Reported: `now`; `now` answering only when
all three agree (a gate needing no calibration); and, to tell a stricter operating point from new
separation, the best threshold on the test itself over all questions and over the agreeing ones
only, at precision 0.8, 0.85 and 0.9.

    .venv/bin/python bench/research/exp_agreement_gate.py --sets chitchat_fr,chitchat_it [--data /tmp/sets]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from product_index import imported_now  # noqa: E402


def best_coverage(rows: list[dict], n_in: int, precision: float) -> float:
    best, right = 0.0, 0
    for answers, row in enumerate(sorted(rows, key=lambda r: -r["confidence"]), start=1):
        right += row["right"]
        if right / answers >= precision:
            best = max(best, right / n_in)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sets", default="chitchat_fr,chitchat_es,hint3_powerplay11_en")
    ap.add_argument("--data", type=Path)
    args = ap.parse_args()
    for name in args.sets.split(","):
        rows = []
        with imported_now(name, args.data) as (c, _items, queries):
            n_in = sum(q.expected_id is not None for q in queries)
            index = c.index
            index.retrieve("warm up")
            snap = index._fresh()
            embedder = index._embedder_for(snap.embedder_path or index.base_embedder)
            for q in queries:
                r = index.retrieve(q.query, 5)
                if not r.hits:
                    continue
                dense, _ = index._dense(snap, embedder.encode([q.query])[0])
                words = snap.lexical.scores(q.query) if snap.lexical is not None else np.zeros(len(dense))
                dense_top = snap.entry_ids[int(np.argmax(dense))]
                words_top = snap.entry_ids[int(np.argmax(words))] if words.max() > 0 else None
                rows.append(
                    {
                        "right": r.top.id == q.expected_id,
                        "answered": not r.abstain,
                        "agree": dense_top == r.top.id == words_top,
                        "confidence": r.confidence,
                    }
                )

        def show(label: str, chosen: list[dict]) -> None:
            right = sum(r["right"] for r in chosen)
            print(
                f"  {name} {label}: {len(chosen)} answers, precision {right / max(1, len(chosen)):.3f}, "
                f"coverage {right / n_in:.3f}"
            )

        show("now", [r for r in rows if r["answered"]])
        show("now, only where all three agree", [r for r in rows if r["answered"] and r["agree"]])
        for precision in (0.8, 0.85, 0.9):
            every = best_coverage(rows, n_in, precision)
            agreeing = best_coverage([r for r in rows if r["agree"]], n_in, precision)
            print(
                f"  {name} best threshold on the test at precision >= {precision}: "
                f"coverage {every:.3f} over all, {agreeing:.3f} over the agreeing ones"
            )


if __name__ == "__main__":
    main()
