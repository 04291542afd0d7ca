"""Research (issue 15): the base embedder's scores mixed into a tuned index's ranking.

A tuned index already embeds each question with the base MiniLM too (its confidence averages both
top scores, retrieval/search.py). This asks whether the ranking gains from the same mix: hit@1 of
tuned score + w * base score over every entry, for w in 0..1, on the product's own index (`now`).

    .venv/bin/python bench/research/exp_base_mix.py --sets clinc150_3,hint3_powerplay11_en [--data /tmp/sets]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from product_index import imported_now  # noqa: E402

WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sets", default="clinc150_3,hint3_powerplay11_en")
    ap.add_argument("--data", type=Path)
    args = ap.parse_args()
    for name in args.sets.split(","):
        with imported_now(name, args.data) as (c, _items, queries):
            c.index.retrieve("warm up")
            index, snap = c.index, c.index._fresh()
            row_of = {e: i for i, e in enumerate(snap.entry_ids)}
            asked = [q for q in queries if q.expected_id is not None]
            tuned = index._embedder_for(snap.embedder_path).encode([q.query for q in asked])
            base = index._embedder_for(index.base_embedder).encode([q.query for q in asked])
            hits = dict.fromkeys(WEIGHTS, 0)
            for q, tv, bv in zip(asked, tuned, base):
                scores, _ = index._rank(snap, q.query, tv, hybrid=False)
                rows, base_scores = snap.base_scorer.score(bv, q.query)
                mixed_in = np.full(len(snap.entry_ids), -1.0)
                for r, s in zip(rows, base_scores):
                    mixed_in[row_of[snap.base_scorer.entry_ids[r]]] = s
                for w in WEIGHTS:
                    hits[w] += snap.entry_ids[int(np.argmax(scores + w * mixed_in))] == q.expected_id
        print(
            f"{name}: hit@1 by base weight "
            + ", ".join(f"{w}: {h / len(asked):.4f}" for w, h in hits.items())
        )


if __name__ == "__main__":
    main()
