"""Research (issue 15): can an untuned index choose its own BM25 fusion weight on its FAQ?

The untuned index fuses dense scores with BM25 at LEXICAL_WEIGHT (0.3, retrieval/search.py),
chosen with the bundled MiniLM, where BM25 adds what a small English embedder misses. A stronger
embedder a team brings (EmbeddingGemma, untuned: tuning a 300M model on an FAQ's few phrasings lost
ranking, exp_freeze_embeddings.py) ranked worse fused at 0.3 than alone (Spanish hit@1 0.549 against
0.641 plain dense). The FAQ itself can say which weight suits its embedder: every entry with two
or more phrasings has its last one asked with that phrasing left out of the index (its vector and
its words: calibration.without_phrasings), and the weight that ranks most of them first is chosen.

For each weight this prints that leave-one-out hit@1 and the test set's hit@1 (in-scope questions,
the index's own embedder and BM25, the same fusion as retrieval/search.py's semantic ranking), and
which weight the leave-one-out choice picks against the test's best.

    SUPPORTBOT_EMBEDDING_MODEL_PATH=... .venv/bin/python bench/research/exp_lexical_weight_choice.py --data /tmp/sets --sets chitchat_es
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from product_index import imported_now  # noqa: E402

from retrieval.calibration import without_phrasings  # noqa: E402

WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.5, 1.0)


def hits_by_weight(
    index, snap, texts: list[str], vectors: np.ndarray, expected: list[int]
) -> tuple[np.ndarray, np.ndarray]:
    """(hit@1, mean reciprocal rank) of the texts at each of WEIGHTS: dense + w * BM25 / top BM25,
    as retrieval/search.py ranks a question the embedder reads."""
    right, rr = np.zeros(len(WEIGHTS)), np.zeros(len(WEIGHTS))
    for text, vec, row in zip(texts, vectors, expected):
        dense, _ = index._dense(snap, vec)
        lexical = snap.lexical.scores(text) if snap.lexical is not None else np.zeros(len(dense))
        top = float(lexical.max()) if len(lexical) else 0.0
        for i, w in enumerate(WEIGHTS):
            fused = dense if not (w and top > 0) else (dense + w * lexical / top) / (1 + w)
            rank = 1 + int((fused > fused[row]).sum())
            right[i] += rank == 1
            rr[i] += 1 / rank
    n = max(1, len(texts))
    return right / n, rr / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sets", default="chitchat_es")
    ap.add_argument("--data", type=Path)
    ap.add_argument("--clinc-sample", type=int, default=1500)
    args = ap.parse_args()
    for name in args.sets.split(","):
        with imported_now(name, args.data, args.clinc_sample, tune=False) as (c, _items, queries):
            index = c.index
            snap = index._fresh()
            owners = snap.owners
            drop = []
            for row in range(len(snap.entry_ids)):
                mine = np.flatnonzero(owners == row)
                if len(mine) >= 2:
                    drop.append(int(mine[-1]))
            held = without_phrasings(snap, set(drop))
            loo = hits_by_weight(
                index,
                held,
                [snap.texts[i] for i in drop],
                snap.scorer.embeddings[drop],
                [int(owners[i]) for i in drop],
            )
            inscope = [q for q in queries if q.expected_id is not None and q.expected_id in snap.row_of]
            vectors = index.embedder.encode([q.query for q in inscope])
            test = hits_by_weight(
                index,
                snap,
                [q.query for q in inscope],
                vectors,
                [snap.row_of[q.expected_id] for q in inscope],
            )
            (loo, loo_rr), (test, test_rr) = loo, test
            pick = max(range(len(WEIGHTS)), key=lambda i: (loo[i], loo_rr[i]))  # ties: the better MRR
            best = int(np.argmax(test))
            print(f"== {name}: {len(drop)} left-out phrasings, {len(inscope)} in-scope test questions")
            for w, a, ar, b, br in zip(WEIGHTS, loo, loo_rr, test, test_rr):
                print(
                    f"  weight {w:.1f}: leave-one-out hit@1 {a:.3f} MRR {ar:.3f}  test hit@1 {b:.3f} MRR {br:.3f}"
                )
            print(
                f"  chosen {WEIGHTS[pick]:.1f}: test {test[pick]:.3f}; test's best {WEIGHTS[best]:.1f}: "
                f"{test[best]:.3f}; shipped 0.3: {test[WEIGHTS.index(0.3)]:.3f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
