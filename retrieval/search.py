"""Searching the FAQ index: an entry's score fuses its dense score with BM25 (retrieval/scoring.py),
the confidence that abstention is decided on, and the question's language that picks the ranking.
Part of FaqIndex (retrieval/index.py); the thresholds are retrieval/calibration.py's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select

from bot.db.models import FaqEntry
from retrieval.language import analyzer as language_analyzer
from retrieval.language import detect_language, language_script
from retrieval.snapshot import _Snapshot

# Abstention on a tuned index averages the tuned and the base embedder's top score (BASE_KINDS,
# retrieval/writes.py, says why) at this weight.
BASE_CONFIDENCE_WEIGHT = 0.5
# The base top score is taken over the tuned ranking's best candidates only, not the whole FAQ: on
# CLINC150 the same abstention (bench/research/exp_oos_candidates.py), without a second full pass.
BASE_CANDIDATES = 10
# An entry's score: its dense score plus this share of the query's BM25 against the entry's whole
# text, over the query's top BM25 (retrieval/scoring.py LexicalScorer), divided by 1 + the share.
# Read off the bundled MiniLM; an untuned index whose entries have phrasings enough to tell chooses
# its own (retrieval/calibration.py: LEXICAL_WEIGHTS), as the weight that suits an embedder differs.
LEXICAL_WEIGHT = 0.3
# Once the embedder is tuned to the FAQ it has learned the FAQ's own words, and BM25 on top counts
# them twice: CLINC150 at 3 phrasings, tuned, hit@1 0.814 without BM25, 0.804 at 0.1, 0.771 at 0.3
# (bench/retrieval_public.py --lexical-weights). An entry with one question cannot be tuned on, so
# a real FAQ of headings and long answers keeps LEXICAL_WEIGHT.
TUNED_LEXICAL_WEIGHT = 0.0
# A question is taken to be in a language other than the FAQ's and the embedder's only when the
# language detector gives it at least this probability.
FOREIGN_CONFIDENCE = 0.9
SEMANTIC, LEXICAL = "semantic", "lexical"
# A question in a language the base embedder does not read, asked of an index tuned on the FAQ's own
# phrasings (in that language): the tuned embedder has learned the FAQ's words, so it is fused with
# BM25 at equal weight rather than dropped (chitchat_fr, tuned: hit@1 0.58 dense, 0.51 words alone).
# So is an untuned embedder for a language written in its own languages' script: the English MiniLM
# shares word pieces, names and cognates with German, French, Italian and Spanish, and fused with the
# words it ranked better and abstained more surely on all four chit-chat sets (words alone -> fused,
# untuned: precision 0.75 -> 0.83, 0.77 -> 0.82, 0.81 -> 0.83, 0.64 -> 0.77; hit@1 +3 to +7 points;
# bench/research/exp_untuned_hybrid.py), while on Chinese its similarities are all high and say
# nothing (the calibrated threshold left 2 of 1,296 questions answered): other scripts stay on words.
HYBRID = "hybrid"
HYBRID_LEXICAL_WEIGHT = 1.0  # how a question was ranked: with the embedder, or words only


def fuse(dense: np.ndarray, lexical: np.ndarray, top: float, weight: float | np.ndarray) -> np.ndarray:
    """Dense scores plus ``weight`` times BM25 over the question's top BM25 (``top`` > 0), divided
    by 1 + ``weight`` so that they read like a cosine. ``weight`` may be a column of weights: one row
    of scores each (IndexCalibration._choose_lexical_weight)."""
    return (dense + weight * lexical / top) / (1 + weight)


@dataclass(frozen=True)
class RetrievedEntry:
    id: str
    score: float
    question: str
    answer: str
    url: str | None
    matched: str  # the indexed text that matched best
    matched_kind: str = "question"
    mode: str = SEMANTIC  # LEXICAL: the question's language is not one the embedder reads


@dataclass(frozen=True)
class Retrieval:
    hits: list[RetrievedEntry]
    confidence: float  # the score abstention is decided on
    abstain: bool
    mode: str = SEMANTIC
    language: str | None = None  # the question's, as detected (or the FAQ's when it says too little)
    threshold: float | None = None
    off_topic: bool = False  # a question admins rejected ranks above every entry (retrieval/offtopic.py)

    @property
    def top(self) -> RetrievedEntry | None:
        return self.hits[0] if self.hits else None


class IndexSearch:
    """FaqIndex's ranking and search; the configuration these methods use is set by FaqIndex.__init__
    (retrieval/index.py), the snapshot they rank is retrieval/snapshot.py's."""

    def search(self, question: str, k: int = 5) -> list[RetrievedEntry]:
        """Entries ranked by their dense score (phrasings, retrieval/scoring.py, or an answer chunk at
        ``answer_weight`` times its cosine) fused with BM25 over their whole text; by BM25 alone
        when the question's language is not one the embedder reads."""
        return self.retrieve(question, k).hits

    def passage_scores(self, question: str, passages: Sequence[str]) -> np.ndarray:
        """How close each passage (a sentence of an entry's answer) is to ``question``: cosine on the
        index's embedder when it reads the question's language, else the share of the question's
        words (analysed for its language: stems, Chinese words) that the passage holds."""
        if not passages:
            return np.zeros(0, np.float32)
        snap = self._fresh()
        language = self._language(snap, question)
        if self._reads(language):
            vectors = self.embedder.encode([question, *passages])
            return vectors[1:] @ vectors[0]
        words = language_analyzer(language or snap.language)
        asked = set(words.tokens(question))
        if not asked:
            return np.zeros(len(passages), np.float32)
        return np.array([len(asked & set(words.tokens(p))) / len(asked) for p in passages], np.float32)

    def _reads(self, language: str | None) -> bool:
        return self.embedder_languages is None or language is None or language in self.embedder_languages

    def _mode(self, snap: _Snapshot, language: str | None) -> str:
        """How a question in ``language`` is ranked: with the embedder where it reads the language;
        else on the embedder and words together where the embedder is tuned (it learned the FAQ's
        own words) or the language is written in its languages' script (HYBRID says why), never on
        the embedder alone; else on words alone."""
        if self._reads(language):
            return SEMANTIC
        return HYBRID if snap.embedder_path or self._shares_script(language) else LEXICAL

    def _shares_script(self, language: str | None) -> bool:
        """Whether ``language`` is written in the script of a language the embedder reads."""
        readable = self.embedder_languages or frozenset()
        return language is not None and language_script(language) in {language_script(r) for r in readable}

    def _language(self, snap: _Snapshot, question: str) -> str | None:
        """The question's language: any language the detector is sure of (FOREIGN_CONFIDENCE), else
        the likelier of the FAQ's and the embedder's languages. Short questions fool a detector over
        every language (CLINC150: 15 English queries in 2,000 came out as Nigerian Pidgin at 0.5,
        none at 0.9). A question too short to tell ("VPN?") is taken to be in the FAQ's language."""
        expected = {snap.language} if snap.language else set()
        if self.embedder_languages is not None:
            expected |= self.embedder_languages
        sure = detect_language(question, min_confidence=FOREIGN_CONFIDENCE)
        if sure is not None:
            return sure
        return detect_language(question, expected or None, fallback=snap.language)

    def _dense(self, snap: _Snapshot, query_vec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(per entry row: dense score, per entry row: which won, 1 = an answer chunk)."""
        dense = np.full(len(snap.entry_ids), -1.0, np.float32)
        rows, scores = snap.scorer.score(query_vec, "")
        dense[rows] = scores
        from_answer = np.zeros(len(snap.entry_ids), bool)
        if len(snap.answer_vectors):
            best = (
                np.maximum.reduceat(snap.answer_vectors @ query_vec, snap.answer_starts) * self.answer_weight
            )
            wins = best > dense[snap.answer_rows]
            dense[snap.answer_rows] = np.where(wins, best, dense[snap.answer_rows])
            from_answer[snap.answer_rows] = wins
        return dense, from_answer

    def _rank(
        self,
        snap: _Snapshot,
        question: str,
        query_vec: np.ndarray | None,
        exclude: int | None = None,
        hybrid: bool = False,
        lexical: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(per entry row: score, per entry row: won by an answer chunk). ``query_vec`` None: BM25
        alone, raw. ``exclude``: that entry row as if it were not in the FAQ (calibration).
        ``lexical``: the entries' BM25 of ``question``, when the caller has it already."""
        if lexical is None:
            lexical = (
                snap.lexical.scores(question) if snap.lexical is not None else np.zeros(len(snap.entry_ids))
            )
        if exclude is not None:
            lexical[exclude] = 0.0
        if query_vec is None:
            scores, from_answer = lexical.astype(np.float32), np.zeros(len(lexical), bool)
        else:
            scores, from_answer = self._dense(snap, query_vec)
            top = float(lexical.max()) if len(lexical) else 0.0
            weight = self._lexical_weight(snap, hybrid)
            if weight and top > 0:
                scores = fuse(scores, lexical, top, weight)
        if exclude is not None:
            scores = scores.copy()
            scores[exclude] = -np.inf
        return scores, from_answer

    def _lexical_weight(self, snap: _Snapshot, hybrid: bool) -> float:
        """BM25's share of an entry's score: HYBRID's for a question the embedder does not read, the
        tuned one once tuned, else the configured one, or (None, the default) the one chosen on
        the FAQ's own phrasings (IndexCalibration.chosen_lexical_weight)."""
        if hybrid:
            return HYBRID_LEXICAL_WEIGHT
        if snap.embedder_path:
            return self.tuned_lexical_weight
        if self.lexical_weight is not None:
            return self.lexical_weight
        return self.chosen_lexical_weight(snap)

    def _off_topic_score(
        self,
        snap: _Snapshot,
        query_vec: np.ndarray | None,
        hybrid: bool,
        lexical: np.ndarray,
        extra: np.ndarray,
    ) -> float:
        """The best score of a question admins rejected, on the entries' scale (``_rank``): ranked as
        an entry of that one phrasing, its BM25 (``extra``) normalised by the entries' top one."""
        if not len(extra):
            return -np.inf
        if query_vec is None:
            return float(extra.max())
        scores = self._off_topic_vectors(snap) @ query_vec
        top = float(lexical.max()) if len(lexical) else 0.0
        weight = self._lexical_weight(snap, hybrid)
        if weight and top > 0:
            scores = fuse(scores, extra, top, weight)
        return float(scores.max())

    def _confidence(
        self,
        snap: _Snapshot,
        scores: np.ndarray,
        question: str,
        base_vec: np.ndarray | None,
        exclude: int | None = None,
    ) -> float:
        """The top score; for a tuned index, averaged with the base embedder's top phrasing score
        over the best candidates (BASE_CONFIDENCE_WEIGHT)."""
        if not len(scores):
            return 0.0
        confidence = float(scores.max())
        if base_vec is None or snap.base_scorer is None or not len(snap.base_scorer):
            return confidence
        n = min(BASE_CANDIDATES, len(scores))
        candidates = [snap.entry_ids[r] for r in np.argpartition(-scores, n - 1)[:n] if r != exclude]
        groups = snap.base_scorer.groups(candidates)
        if not len(groups):
            return confidence
        base_top = float(snap.base_scorer.score(base_vec, question, only=groups)[1].max())
        return (1 - BASE_CONFIDENCE_WEIGHT) * confidence + BASE_CONFIDENCE_WEIGHT * base_top

    def _search(self, question: str, k: int) -> tuple[list[RetrievedEntry], float, str, str | None, bool]:
        """(ranked entries, the confidence abstention is decided on, mode, question language, whether
        a question admins rejected ranks above every entry)."""
        snap = self._fresh()
        language = self._language(snap, question)
        mode = self._mode(snap, language)
        query_vec = base_vec = None
        if mode != LEXICAL:
            query_vec = self._embedder_for(snap.embedder_path or self.base_embedder).encode([question])[0]
        if mode == SEMANTIC and snap.base_scorer is not None and len(snap.base_scorer):
            base_vec = self._embedder_for(self.base_embedder).encode([question])[0]
        # One BM25 pass for both: the entries' scores and the rejected questions' (retrieval/offtopic.py).
        if snap.lexical is not None:
            lexical, extra = snap.lexical.all_scores(question)
        else:
            lexical, extra = np.zeros(len(snap.entry_ids), np.float32), np.zeros(0, np.float32)
        scores, from_answer = self._rank(snap, question, query_vec, hybrid=mode == HYBRID, lexical=lexical)
        if not len(scores) or (mode == LEXICAL and float(scores.max()) <= 0):
            return [], 0.0, mode, language, False
        off_topic = self._off_topic_score(snap, query_vec, mode == HYBRID, lexical, extra) > float(
            scores.max()
        )
        n = min(k, len(scores))
        top_rows = np.argpartition(-scores, n - 1)[:n]
        top_rows = top_rows[np.argsort(-scores[top_rows], kind="stable")]
        ids = [snap.entry_ids[r] for r in top_rows]
        with self.sessions() as session:
            entries = {e.id: e for e in session.scalars(select(FaqEntry).where(FaqEntry.id.in_(ids)))}
        out = []
        for r, eid in zip(top_rows, ids):
            if eid not in entries:
                continue
            e = entries[eid]
            if query_vec is None:
                matched, kind = e.question, "question"
            elif from_answer[r]:
                matched, kind = self._best_chunk(snap, int(r), query_vec), "answer"
            else:
                matched, kind = self._best_phrasing(snap, eid, query_vec)
            out.append(
                RetrievedEntry(
                    id=eid,
                    score=float(scores[r]),
                    question=e.question,
                    answer=e.answer,
                    url=e.url,
                    matched=matched,
                    matched_kind=kind,
                    mode=mode,
                )
            )
        confidence = self._confidence(snap, scores, question, base_vec) if out else 0.0
        return out, confidence, mode, language, off_topic

    @staticmethod
    def _best_chunk(snap: _Snapshot, row: int, query_vec: np.ndarray) -> str:
        g = int(np.searchsorted(snap.answer_rows, row))
        start = int(snap.answer_starts[g])
        stop = int(snap.answer_starts[g + 1]) if g + 1 < len(snap.answer_starts) else len(snap.answer_texts)
        return snap.answer_texts[start + int(np.argmax(snap.answer_vectors[start:stop] @ query_vec))]

    @staticmethod
    def _best_phrasing(snap: _Snapshot, entry_id: str, query_vec: np.ndarray) -> tuple[str, str]:
        group = int(np.searchsorted(snap.scorer.group_owner, snap.row_of[entry_id]))
        start, count = snap.scorer.starts[group], snap.scorer.counts[group]
        i = start + int(np.argmax(snap.scorer.embeddings[start : start + count] @ query_vec))
        return snap.texts[i], snap.kinds[i]

    def retrieve(self, question: str, k: int = 5) -> Retrieval:
        """Ranked entries and whether the FAQ covers the question at all."""
        hits, confidence, mode, language, off_topic = self._search(question, k)
        threshold = self.threshold(self._snapshot, mode)
        return Retrieval(
            hits,
            confidence,
            abstain=not hits or confidence < threshold or off_topic,
            mode=mode,
            language=language,
            threshold=threshold,
            off_topic=off_topic and bool(hits),
        )

    def warm_up(self) -> None:
        """Pay the one-off costs of the first question now (loading the embedders and the language
        detector, building the scorer, calibrating, the first inference): one of the FAQ's own
        questions goes the way a real one goes; a made-up word would skip language detection."""
        with self.sessions() as session:
            question = session.scalar(select(FaqEntry.question).order_by(FaqEntry.id).limit(1))
        for _ in range(2):  # the second inference is still slower than the rest
            self.retrieve(question or "How do I reset my password?", k=1)
