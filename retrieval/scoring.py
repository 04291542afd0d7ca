"""Entry scores over the whole FAQ, kept in memory: dense (smoothed max + centroid) fused with BM25.

Chosen by measurement on CLINC150 (docs/benchmarks.md): against plain max-cosine, a temperature-
smoothed max over an entry's phrasings plus the cosine to the entry's centroid adds ~4 points of
hit@1; BM25 over the entry's joined phrasings adds ~1 more; reciprocal-rank fusion hurt. The fused
score is divided by the sum of its weights, so it reads like a cosine: 0.8-1 for a question that is
one of the entry's phrasings, ~0.1-0.3 for an unrelated one, whatever the FAQ's size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits


def single_threaded_blas() -> None:
    """numpy's OpenBLAS threads spin for a while after each product, and the next query's embedding
    (torch's own threads) then runs on cores they hold: at 100k chunks on 2 cores a 5 ms query
    embedding took 63 ms. One BLAS thread costs the scoring nothing measurable (it is bound by memory
    bandwidth) and gives the embedder its cores back. Process-wide on purpose: nothing else here
    needs a threaded BLAS (torch brings its own). It applies to the BLAS libraries loaded so far, so
    every scorer applies it when built, before it computes anything."""
    threadpool_limits(limits=1, user_api="blas")


@dataclass(frozen=True)
class ScoringWeights:
    temperature: float = 0.05  # smoothed max: T * log(mean(exp(cos / T))); T -> 0 is plain max
    centroid: float = 0.5
    bm25: float = 0.05


class PhrasingScorer:
    """Scores a query embedding against every entry at once.

    ``embeddings`` (n, d) are normalised phrasing vectors; ``owners`` (n,) their entry's row in
    ``entry_ids``; ``entry_texts`` one document per entry for BM25 (its phrasings joined).
    """

    def __init__(self, entry_ids: list[str], embeddings: np.ndarray, owners: np.ndarray,
                 entry_texts: list[str], weights: ScoringWeights = ScoringWeights()):
        single_threaded_blas()
        self.entry_ids = entry_ids
        self.weights = weights
        order = np.argsort(owners, kind="stable")  # group phrasings by entry for reduceat
        self.embeddings = np.ascontiguousarray(embeddings[order], dtype=np.float32)
        owners = owners[order]
        self.starts = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]]) if len(owners) else np.array([], int)
        self.group_owner = owners[self.starts] if len(owners) else np.array([], int)
        self.counts = np.diff(np.r_[self.starts, len(owners)])
        sums = np.add.reduceat(self.embeddings, self.starts, axis=0) if len(owners) else np.zeros((0, 1))
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        self.centroids = (sums / np.where(norms > 0, norms, 1)).astype(np.float32)
        self._bm25 = None
        if weights.bm25 and entry_texts:
            import bm25s
            import Stemmer

            self._stemmer = Stemmer.Stemmer("english")
            self._bm25 = bm25s.BM25()
            tokens = bm25s.tokenize([entry_texts[i] for i in self.group_owner], stopwords="en",
                                    stemmer=self._stemmer, show_progress=False)
            self._bm25.index(tokens, show_progress=False)

    def __len__(self) -> int:
        return len(self.group_owner)

    def score(self, query_vec: np.ndarray, query_text: str) -> tuple[np.ndarray, np.ndarray]:
        """(entry rows, fused scores) for every entry that has phrasings."""
        if not len(self):
            return np.array([], int), np.array([], np.float32)
        w = self.weights
        sims = self.embeddings @ query_vec
        best = np.maximum.reduceat(sims, self.starts)
        if w.temperature > 0:
            spread = np.exp((sims - np.repeat(best, self.counts)) / w.temperature)
            dense = best + w.temperature * np.log(np.add.reduceat(spread, self.starts) / self.counts)
        else:
            dense = best
        fused = dense + w.centroid * (self.centroids @ query_vec)
        if self._bm25 is not None:
            import bm25s

            tokens = bm25s.tokenize([query_text], stopwords="en", stemmer=self._stemmer, return_ids=False,
                                    show_progress=False)[0]
            if tokens:
                lexical = self._bm25.get_scores(tokens)
                top = lexical.max()
                if top > 0:
                    fused = fused + w.bm25 * lexical / top
        return self.group_owner, fused / (1 + w.centroid + w.bm25)
