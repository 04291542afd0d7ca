"""Entry scores over the whole FAQ, kept in memory: dense (smoothed max + centroid) fused with BM25.

Chosen by measurement on CLINC150 (docs/benchmarks.md): against plain max-cosine, a temperature-
smoothed max over an entry's phrasings plus the cosine to the entry's centroid adds ~4 points of
hit@1; BM25 over the entry's joined phrasings adds ~1 more; reciprocal-rank fusion hurt. The fused
score is divided by the sum of its weights, so it reads like a cosine: 0.8-1 for a question that is
one of the entry's phrasings, ~0.1-0.3 for an unrelated one, whatever the FAQ's size.
"""

from __future__ import annotations

from collections.abc import Sequence
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
    # BM25 over the phrasings, English-stemmed: off now that LexicalScorer reads the whole entry in
    # its own language. Kept for the benchmarks that compare against it.
    bm25: float = 0.0


class LexicalScorer:
    """BM25 (bm25s, Lucene idf, k1 1.5, b 0.75) over each entry's whole text: question, alternative
    and learned phrasings, and answer, analysed for the FAQ's language (retrieval/language.py: jieba
    and character bigrams for Chinese, Snowball stemming, the language's stop words).

    A real FAQ has one question per entry and a long answer: the answer's words are most of what a
    question can match. Fused at 0.3 of the query's top lexical score, on doc2dial (208 government
    FAQ sections) hit@1 rose 0.642 -> 0.710 over dense question + answer chunks, and CLINC150 (short
    phrasings, no answers) was unchanged (0.722 -> 0.720); 0.1-0.5 all helped
    (bench/research/results/rank_longanswer_doc2dial_minilm.txt, selective_public_sets.txt). For a
    question in a language the embedder does not read it is the whole ranking."""

    def __init__(
        self,
        entry_ids: list[str],
        entry_texts: list[str],
        language: str | None,
        extra_texts: Sequence[str] = (),
    ):
        import bm25s

        from retrieval.language import analyzer

        self.entry_ids = entry_ids
        self.language = language
        self.analyzer = analyzer(language)
        # Questions admins rejected (retrieval/offtopic.py) are documents of the same corpus, after
        # the entries, so that their scores and the entries' are on one scale.
        self.extra_texts = list(extra_texts)
        self._bm25 = None
        corpus = [self.analyzer.tokens(t) for t in [*entry_texts, *self.extra_texts]]
        if any(corpus):
            self._bm25 = bm25s.BM25()
            self._bm25.index(corpus, show_progress=False)

    def scores(self, text: str) -> np.ndarray:
        """Raw BM25 of ``text`` against every entry, in ``entry_ids`` order (all zeros when no token
        of it is in the FAQ)."""
        return self.all_scores(text)[0]

    def all_scores(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(raw BM25 against every entry, against every extra text), one pass over the corpus."""
        n = len(self.entry_ids)
        out = np.zeros(n + len(self.extra_texts), np.float32)
        if self._bm25 is not None:
            ids = self._bm25.get_tokens_ids(self.analyzer.tokens(text))
            if ids:
                out = self._bm25.get_scores_from_ids(ids).astype(np.float32)
        return out[:n], out[n:]


class PhrasingScorer:
    """Scores a query embedding against every entry at once.

    ``embeddings`` (n, d) are normalised phrasing vectors; ``owners`` (n,) their entry's row in
    ``entry_ids``; ``entry_texts`` one document per entry for BM25 (its phrasings joined).
    """

    def __init__(
        self,
        entry_ids: list[str],
        embeddings: np.ndarray,
        owners: np.ndarray,
        entry_texts: list[str],
        weights: ScoringWeights = ScoringWeights(),
    ):
        single_threaded_blas()
        self.entry_ids = entry_ids
        self.weights = weights
        order = np.argsort(owners, kind="stable")  # group phrasings by entry for reduceat
        self.embeddings = np.ascontiguousarray(embeddings[order], dtype=np.float32)
        owners = owners[order]
        self.starts = (
            np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]]) if len(owners) else np.array([], int)
        )
        self.group_owner = owners[self.starts] if len(owners) else np.array([], int)
        self.counts = np.diff(np.r_[self.starts, len(owners)])
        self._group_of = {entry_ids[o]: g for g, o in enumerate(self.group_owner)}
        sums = np.add.reduceat(self.embeddings, self.starts, axis=0) if len(owners) else np.zeros((0, 1))
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        self.centroids = (sums / np.where(norms > 0, norms, 1)).astype(np.float32)
        self._bm25 = None
        if weights.bm25 and entry_texts:
            import bm25s
            import Stemmer

            self._stemmer = Stemmer.Stemmer("english")
            self._bm25 = bm25s.BM25()
            tokens = bm25s.tokenize(
                [entry_texts[i] for i in self.group_owner],
                stopwords="en",
                stemmer=self._stemmer,
                show_progress=False,
            )
            self._bm25.index(tokens, show_progress=False)

    def __len__(self) -> int:
        return len(self.group_owner)

    def groups(self, entry_ids: Sequence[str]) -> np.ndarray:
        """Group indices of those of ``entry_ids`` that have phrasings here, for ``score(only=...)``."""
        return np.array(
            [self._group_of[e] for e in dict.fromkeys(entry_ids) if e in self._group_of], dtype=np.int64
        )

    def score(
        self, query_vec: np.ndarray, query_text: str, only: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(entry rows, fused scores) for every entry that has phrasings, or only for the groups in
        ``only`` (see ``groups``): the same scores, without a pass over the whole FAQ."""
        if not len(self) or (only is not None and not len(only)):
            return np.array([], int), np.array([], np.float32)
        w = self.weights
        if only is None:
            embeddings, starts, counts, centroids = self.embeddings, self.starts, self.counts, self.centroids
        else:
            counts = self.counts[only]
            starts = np.r_[0, np.cumsum(counts)[:-1]]
            rows = np.repeat(self.starts[only] - starts, counts) + np.arange(counts.sum())
            embeddings, centroids = self.embeddings[rows], self.centroids[only]
        sims = embeddings @ query_vec
        best = np.maximum.reduceat(sims, starts)
        if w.temperature > 0:
            spread = np.exp((sims - np.repeat(best, counts)) / w.temperature)
            dense = best + w.temperature * np.log(np.add.reduceat(spread, starts) / counts)
        else:
            dense = best
        fused = dense + w.centroid * (centroids @ query_vec)
        if self._bm25 is not None:
            import bm25s

            tokens = bm25s.tokenize(
                [query_text], stopwords="en", stemmer=self._stemmer, return_ids=False, show_progress=False
            )[0]
            if tokens:
                lexical = self._bm25.get_scores(tokens)
                top = lexical.max()  # over the whole FAQ, so a subset's scores match the full pass
                if top > 0:
                    fused = fused + w.bm25 * (lexical if only is None else lexical[only]) / top
        owners = self.group_owner if only is None else self.group_owner[only]
        return owners, fused / (1 + w.centroid + w.bm25)
