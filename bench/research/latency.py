"""Per-query latency (single query, end-to-end: embed + score all entries + fuse + abstention signal).

Usage: python bench/research/latency.py [--model minilm|mpnet|/path] [--entries 150] [--k 5] [--n 300]
       [--recipe max|full]   (full = lse(T)+alpha*centroid + w*BM25(cat) + margin/z signals)
       [--ens other_model]    (adds a second embedder, scores averaged)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import build_faq, get_model, load_data, queries  # noqa


class Scorer:
    def __init__(self, models, phr, owner, recipe="full", T=0.08, alpha=1.5, w=0.3):
        import bm25s
        import Stemmer

        self.models = [get_model(m) for m in models]
        self.recipe, self.T, self.alpha, self.w = recipe, T, alpha, w
        self.owner = owner
        self.starts = np.r_[0, np.where(np.diff(owner))[0] + 1]
        self.cnt = np.diff(np.r_[self.starts, len(owner)])
        self.P, self.C = [], []
        E = len(self.starts)
        for m in self.models:
            P = m.encode(phr, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
            C = np.stack([P[owner == e].mean(0) for e in range(E)])
            C /= np.linalg.norm(C, axis=1, keepdims=True)
            self.P.append(P)
            self.C.append(C)
        self.st = Stemmer.Stemmer("english")
        cat = [" ".join(p for p, o in zip(phr, owner) if o == e) for e in range(E)]
        self.bm = bm25s.BM25()
        self.bm.index(
            bm25s.tokenize(cat, stopwords="en", stemmer=self.st, show_progress=False), show_progress=False
        )

    def score(self, q: str):
        import bm25s

        tot = 0
        for m, P, C in zip(self.models, self.P, self.C):
            v = m.encode([q], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)[0]
            s = P @ v
            if self.recipe == "max":
                tot = tot + np.maximum.reduceat(s, self.starts)
                continue
            mx = np.maximum.reduceat(s, self.starts)
            rep = np.repeat(mx, self.cnt)
            lse = mx + self.T * np.log(np.add.reduceat(np.exp((s - rep) / self.T), self.starts) / self.cnt)
            tot = tot + lse + self.alpha * (C @ v)
        tot = tot / len(self.models)
        if self.recipe == "max":
            return tot, float(tot.max())
        dense_top = float(tot.max())
        t = bm25s.tokenize([q], stopwords="en", stemmer=self.st, return_ids=False, show_progress=False)[0]
        if t:
            b = self.bm.get_scores(t)
            mb = b.max()
            if mb > 0:
                tot = tot + self.w * b / mb
        srt = np.partition(tot, -2)[-2:]
        return tot, (dense_top, float(srt[1] - srt[0]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="minilm")
    ap.add_argument("--ens", default="")
    ap.add_argument("--entries", type=int, default=150)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--recipe", default="full")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    import torch

    torch.set_num_threads(a.threads)
    data = load_data()
    names, _, _ = build_faq(data, a.k)
    names, phr, owner = build_faq(data, a.k, names[: a.entries])
    qs, _ = queries(data, "test", names)
    models = [a.model] + ([a.ens] if a.ens else [])
    sc = Scorer(models, phr, owner, a.recipe)
    for q in qs[:20]:
        sc.score(q)  # warm-up
    ts = []
    for q in qs[20 : 20 + a.n]:
        t0 = time.perf_counter()
        sc.score(q)
        ts.append((time.perf_counter() - t0) * 1000)
    ts = np.array(ts)
    print(
        f"LATENCY threads={a.threads} model={'+'.join(Path(m).name for m in models)} recipe={a.recipe} entries={a.entries} "
        f"k={a.k} p50={np.median(ts):.2f}ms p90={np.quantile(ts, 0.9):.2f}ms p99={np.quantile(ts, 0.99):.2f}ms"
    )


if __name__ == "__main__":
    main()
