"""Research (issue 15): the base embedder's top score in the confidence of questions ranked on the
hybrid too? (no product change)

For an English question on a tuned index, the confidence averages the tuned ranking's top score with
the base MiniLM's top phrasing score over the best candidates (retrieval/search.py
``_confidence``, BASE_CONFIDENCE_WEIGHT): on CLINC150 that separated in-scope from out-of-scope
questions better than either alone. A question in a language the embedder does not read, on a tuned
index, is ranked on the tuned embedder and BM25 together ("hybrid") and its confidence is the fused
top score alone. The base MiniLM shares word pieces with Latin-script languages (untuned, fused with
the words it ranked better on all four chit-chat sets), so the same average may separate there too.
For each set: AUROC of right answers against every other top, and the best coverage any threshold on
the test reaches at precision 0.9 / 0.8, for the hybrid confidence as shipped and averaged with the
base top score (a bound, before any calibration).

    .venv/bin/python bench/research/exp_hybrid_base_confidence.py --data /tmp/sets --sets chitchat_fr,chitchat_es
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from exp_score_norm import separation  # noqa: E402
from product_index import imported_now  # noqa: E402

from retrieval.search import HYBRID  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sets", default="chitchat_fr,chitchat_es")
    ap.add_argument("--data", type=Path)
    args = ap.parse_args()
    for name in args.sets.split(","):
        rows = []
        with imported_now(name, args.data) as (c, _items, queries):
            index = c.index
            index.retrieve("warm up")
            snap = index._fresh()
            n_in = sum(q.expected_id is not None for q in queries)
            base = index._embedder_for(index.base_embedder)
            tuned = index._embedder_for(snap.embedder_path or index.base_embedder)
            for q in queries:
                r = index.retrieve(q.query, 1)
                if not r.hits or r.mode != HYBRID:
                    continue
                scores, _ = index._rank(snap, q.query, tuned.encode([q.query])[0], hybrid=True)
                mixed = index._confidence(snap, scores, q.query, base.encode([q.query])[0])
                rows.append((r.top.id == q.expected_id, r.confidence, mixed))
        right = np.array([row[0] for row in rows])
        print(f"{name}: {len(rows)} questions ranked on the hybrid, {n_in} in scope", flush=True)
        for label, i in (("hybrid confidence (shipped)", 1), ("averaged with the base top", 2)):
            auroc, b90, b80 = separation(np.array([row[i] for row in rows]), right, n_in)
            print(
                f"  {label:30s} AUROC {auroc:.3f}  best C at P>=0.9 {b90:.3f}  at P>=0.8 {b80:.3f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
