"""Research (issue 15): does the embedder's own uncertainty (Monte Carlo dropout) separate right
answers from wrong ones better than the product's confidence? (no product change)

MC dropout (Gal and Ghahramani, 2016): with dropout left on at inference, each forward pass is a
sample of the model; how much the answer moves between samples is an estimate of the model's
uncertainty, which a single score cannot show. Here each question is embedded K times with MiniLM's
dropout on (p 0.1, as it was trained), each sample ranked as the product ranks (retrieval/search.py
``_rank``: dense, fused with the same BM25 where the product fuses), and per question:

- ``agreement``: the share of samples whose top entry is the product's top entry;
- ``mc mean``: the product top entry's mean score over the samples;
- ``mc mean - spread``: that mean less the standard deviation of the top entry's score over samples;
- ``confidence x agreement``: the product's confidence times the agreement.

For each, the AUROC of right answers against every other top and the best coverage any threshold on
the test reaches at precision 0.9 / 0.8 (a bound, as exp_oracle_now.py and exp_score_norm.py read it).
Questions ranked on words alone (a language the embedder does not read and the index is not fused
for) have no dense part and are skipped.

    .venv/bin/python bench/research/exp_mc_dropout.py --data /tmp/sets --sets chitchat_fr,hint3_powerplay11_en [--k 16]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from exp_score_norm import separation  # noqa: E402
from product_index import imported_now  # noqa: E402

from retrieval.search import HYBRID, LEXICAL  # noqa: E402


def dropout_vectors(embedder, question: str, k: int) -> np.ndarray:
    """``k`` embeddings of ``question`` with dropout on (one batch: each row draws its own masks)."""
    import torch

    model = embedder._model
    model.train()
    try:
        with torch.no_grad():
            out = model(model.preprocess([question] * k))["sentence_embedding"]
        return torch.nn.functional.normalize(out, dim=-1).numpy()
    finally:
        model.eval()  # the embedder is cached and shared: never leave it sampling


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sets", default="chitchat_fr,hint3_powerplay11_en")
    ap.add_argument("--data", type=Path)
    ap.add_argument("--k", type=int, default=16)
    args = ap.parse_args()
    for name in args.sets.split(","):
        rows = []
        with imported_now(name, args.data) as (c, _items, queries):
            index = c.index
            index.retrieve("warm up")
            snap = index._fresh()
            n_in = sum(q.expected_id is not None for q in queries)
            for q in queries:
                r = index.retrieve(q.query, 1)
                if not r.hits or r.mode == LEXICAL:
                    continue
                top = snap.row_of[r.top.id]
                embedder = index._embedder_for(snap.embedder_path or index.base_embedder)
                lexical = snap.lexical.scores(q.query) if snap.lexical is not None else None
                tops, top_scores = [], []
                for vec in dropout_vectors(embedder, q.query, args.k):
                    scores, _ = index._rank(
                        snap,
                        q.query,
                        vec,
                        hybrid=r.mode == HYBRID,
                        lexical=None if lexical is None else lexical.copy(),
                    )
                    tops.append(int(np.argmax(scores)))
                    top_scores.append(float(scores[top]))
                rows.append(
                    (
                        r.top.id == q.expected_id,
                        r.confidence,
                        float(np.mean(np.array(tops) == top)),
                        float(np.mean(top_scores)),
                        float(np.std(top_scores)),
                    )
                )
        right = np.array([row[0] for row in rows])
        conf, agree, mean, spread = (np.array([row[i] for row in rows]) for i in range(1, 5))
        print(
            f"{name}: {len(rows)} questions ranked with the embedder, {n_in} in scope, K = {args.k}",
            flush=True,
        )
        for label, values in (
            ("product confidence", conf),
            ("agreement", agree + 1e-6 * conf),  # ties broken by the confidence
            ("mc mean", mean),
            ("mc mean - spread", mean - spread),
            ("confidence x agreement", conf * agree),
        ):
            auroc, b90, b80 = separation(values, right, n_in)
            print(
                f"  {label:24s} AUROC {auroc:.3f}  best C at P>=0.9 {b90:.3f}  at P>=0.8 {b80:.3f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
