"""Abstention thresholds: calibrated on each FAQ's own entries, above a floor measured on CLINC150.

Calibrated: a question from the FAQ's own domain that the FAQ has no entry for is the hard case
(an unrelated question scores low anyway). Every FAQ has such questions at hand: its own entries'
questions, each asked with its entry left out. The threshold is the confidence that answers at most
NEGATIVE_QUANTILE's complement of them (one in ten). Measured on six public sets in four languages
against the CLINC150-read floor alone (bench/retrieval_public.py, docs/benchmarks.md), and chosen
over a logistic model of several signals fitted on the same held-out questions, which did better
on some sets and worse on others (bench/research/results/abstain_final.txt: "null_q90" vs "lr_*").

The floor (below) is what abstention was before calibration; it still holds for semantic ranking,
so that a small FAQ, whose few held-out questions say little, never answers more than it used to.

The score that answers 96% of in-scope questions rises with the number of phrasings each entry has:
the top score is a max over more candidates, and an embedder tuned on more phrasings clusters them
more tightly (CLINC150 val: tuned 0.377 at 5 phrasings, 0.438 at 10). Within one FAQ the matched
entry's own count does not matter (bench/research/exp_threshold_by_count.py: flat across 3-15), the
FAQ's mean does. So the default is read off these measurements at the index's mean, interpolated on
a log scale and held flat beyond the ends. Rows: bench/calibrate_threshold.py; docs/benchmarks.md.

What admins confirmed: held-out questions say what to refuse, but as admins teach the bot, every
learned phrasing makes an entry's neighbours look closer too, and that rule's threshold rose with
them (CLINC150: 0.540 -> 0.608 over 5 days of reviews) while coverage stalled at 0.71. Questions an
admin confirmed (learned phrasings) are the evidence it lacks: once enough are confirmed, the
threshold is lowered to answer nineteen in twenty of them, asked as if new, but never so far that it
answers more than one in ten of the questions admins rejected. Nineteen in twenty of the ones at hand
would trust a few dozen as much as hundreds, so the threshold is the order statistic that lies at or
above their true 5th percentile with 95% confidence (quantile_upper_bound): at 40 confirmed
questions it answers 9 in 10 of them (the rule before), at 300 it answers 93 in 100, approaching 19
in 20 as admins confirm more. To stay "new", one learned phrasing in CONFIRMED_FOLD never trains the
embedder (retrieval/tune.py) and is asked with the whole fold left out of the index. Measured against a plain 10th percentile and other
quantiles on the same replay (bench/research/results/learned_threshold_clinc150.txt) and in
docs/benchmarks.md, "Learning from reviews".
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable

import numpy as np
from scipy.stats import binom
from sqlalchemy.exc import SQLAlchemyError

from bot.db.models import IndexState, text_key
from retrieval.chunking import split_sentences
from retrieval.negatives import hard_negatives
from retrieval.scoring import LexicalScorer, PhrasingScorer
from retrieval.search import HYBRID, LEXICAL, LEXICAL_WEIGHT, SEMANTIC, fuse
from retrieval.snapshot import _Snapshot

# The facade's name: log lines read as they did before FaqIndex was split into modules.
log = logging.getLogger("retrieval.index")

# (phrasings per entry, untuned threshold, tuned threshold): CLINC150 val, 96% of in-scope answered.
# `.venv/bin/python bench/calibrate_threshold.py`, 2026-11-25.
MEASURED: tuple[tuple[float, float, float], ...] = (
    (2, 0.314, 0.338),
    (3, 0.324, 0.363),
    (5, 0.335, 0.377),
    (10, 0.368, 0.438),
    (15, 0.380, 0.450),
    (20, 0.384, 0.450),
)


NEGATIVE_QUANTILE = 0.9


def self_calibrated_threshold(held_out_confidences: np.ndarray, quantile: float = NEGATIVE_QUANTILE) -> float:
    """The confidence at ``quantile`` of the FAQ's held-out questions (their entry left out): a
    question scoring below it is one the FAQ most likely does not answer."""
    if not len(held_out_confidences):
        return 0.0
    return float(np.quantile(held_out_confidences, quantile))


def default_threshold(phrasings_per_entry: float, tuned: bool) -> float:
    counts, untuned_t, tuned_t = zip(*MEASURED)
    # np.interp holds the end values flat beyond the measured range, never extrapolates
    return float(
        np.interp(math.log(max(phrasings_per_entry, 1.0)), np.log(counts), tuned_t if tuned else untuned_t)
    )


# ---- calibrating a FAQ index ----------------------------------------------------------------------
# Abstention is calibrated on each FAQ's own entries (self_calibrated_threshold): each sampled
# entry's question is asked with that entry left out, a question of the FAQ's domain that the FAQ
# does not answer, and so is each sentence of its answer. Up to this many (seeded sample).
CALIBRATION_QUERIES = 600
# Bump when calibration itself changes (what is held out, how it is scored): thresholds stored in
# SQL by an older version are then recalibrated instead of reused.
CALIBRATION_VERSION = 4
MIN_UNIT_TOKENS = 3  # shorter answer sentences ("Yes.", "See below.") say nothing of a question

# What admins confirmed (the module's docstring): one learned phrasing in CONFIRMED_FOLD is held out
# of tuning and asked by calibration; from MIN_CONFIRMED of them on, the threshold answers all but
# CONFIRMED_QUANTILE of them (up to CONFIRMED_QUERIES, a seeded sample), bounded with
# CONFIRMED_CONFIDENCE, unless that would answer more than one in ten of the questions admins
# rejected (the latest CONFIRMED_QUERIES of them).
CONFIRMED_FOLD = 5
CONFIRMED_QUANTILE = 0.05
CONFIRMED_CONFIDENCE = 0.95
MIN_CONFIRMED = 40
CONFIRMED_QUERIES = 400


# An untuned index's BM25 fusion weight, chosen on the FAQ itself (IndexCalibration.
# chosen_lexical_weight): each entry with two or more phrasings has its last one asked with that
# phrasing left out (up to CALIBRATION_QUERIES of them, a seeded sample), and of these weights the
# one that ranks most of them first is used (ties: the better mean reciprocal rank), once at least
# MIN_WEIGHT_QUESTIONS are at hand; else LEXICAL_WEIGHT, read off the bundled MiniLM.
LEXICAL_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.5, 1.0)
MIN_WEIGHT_QUESTIONS = 40
WEIGHT_KEY = "lexical_weight"  # where the chosen weight is stored with the calibrated thresholds


def held_out_of_tuning(text: str) -> bool:
    """Whether a learned phrasing is in the fold that calibration asks as new and tuning never
    trains on: decided by a hash of its text, so every process and every night agree."""
    return int(text_key(" ".join(text.split()))[:8], 16) % CONFIRMED_FOLD == 0


def quantile_upper_bound(values: np.ndarray, quantile: float, confidence: float) -> float:
    """The lowest of ``values`` that is at or above the ``quantile`` of the distribution they were
    drawn from with probability ``confidence``, whatever that distribution: the number of draws
    below its true quantile is Binomial(n, quantile), so the k-th smallest value lies below it only
    when k or more did. Few values give a high bound; it approaches the sample quantile as n grows."""
    ordered = np.sort(np.asarray(values, np.float64))
    k = int(binom.ppf(confidence, len(ordered), quantile)) + 1
    return float(ordered[min(k, len(ordered)) - 1])


def confirmed_threshold(
    held_out: float,
    confirmed: np.ndarray,
    rejected: np.ndarray,
    quantile: float = CONFIRMED_QUANTILE,
    confidence: float = CONFIRMED_CONFIDENCE,
) -> float:
    """The threshold from held-out negatives (``held_out``, self_calibrated_threshold), lowered once
    MIN_CONFIRMED confirmed questions are at hand to one that refuses at least ``quantile`` of such
    questions with probability ``confidence`` (quantile_upper_bound of their confidences), but never
    below the confidence that answers more than one in ten rejected questions."""
    if len(confirmed) < MIN_CONFIRMED:
        return held_out
    answer_from = quantile_upper_bound(confirmed, quantile, confidence)
    if len(rejected):
        answer_from = max(answer_from, self_calibrated_threshold(rejected))
    return min(held_out, answer_from)


def without_phrasings(snap: _Snapshot, drop: set[int]) -> _Snapshot:
    """``snap`` as if the phrasings at scorer rows ``drop`` had never been learned: their vectors
    (tuned and base) and their words in BM25 are left out; the snapshot itself is not changed."""
    scorer = snap.scorer
    owners = np.repeat(scorer.group_owner, scorer.counts)  # entry row of each phrasing, scorer order
    keep = np.array([i not in drop for i in range(len(owners))], dtype=bool)
    held = PhrasingScorer(
        scorer.entry_ids, scorer.embeddings[keep], owners[keep], [""] * len(scorer.entry_ids), scorer.weights
    )
    dropped = {(snap.entry_ids[owners[i]], snap.texts[i]) for i in drop}
    base, base_texts = snap.base_scorer, snap.base_texts
    if base is not None:
        base_owners = np.repeat(base.group_owner, base.counts)
        base_keep = np.array(
            [(base.entry_ids[o], t) not in dropped for o, t in zip(base_owners, base_texts)], dtype=bool
        )
        base = PhrasingScorer(
            base.entry_ids,
            base.embeddings[base_keep],
            base_owners[base_keep],
            [""] * len(base.entry_ids),
            base.weights,
        )
        base_texts = [t for t, k in zip(base_texts, base_keep) if k]
    lexical = snap.lexical
    if lexical is not None:
        parts: list[list[str]] = [[] for _ in snap.entry_ids]
        for i, row in enumerate(owners):
            if keep[i]:
                parts[row].append(snap.texts[i])
        texts = [
            "\n".join([*p, snap.answers[row] if row < len(snap.answers) else ""])
            for row, p in enumerate(parts)
        ]
        lexical = LexicalScorer(list(snap.entry_ids), texts, lexical.language, lexical.extra_texts)
    return dataclasses.replace(
        snap,
        scorer=held,
        base_scorer=base,
        lexical=lexical,
        texts=[t for t, k in zip(snap.texts, keep) if k],
        kinds=[t for t, k in zip(snap.kinds, keep) if k],
        owners=owners[keep],
        base_texts=base_texts,
        thresholds={},
    )


class IndexCalibration:
    """FaqIndex's abstention threshold, calibrated on its own entries and stored in SQL for the other
    processes; the configuration and caches these methods use are set by FaqIndex.__init__
    (retrieval/index.py)."""

    def threshold(self, snap: _Snapshot | None = None, mode: str = SEMANTIC) -> float:
        """The confidence below which retrieval abstains. A configured threshold (semantic ranking
        only: it is on the embedder's scale) is used as is. Otherwise the one calibrated on this FAQ
        (self_calibrated_threshold): the confidence that answers at most one in ten questions of the
        FAQ's own domain that it has no entry for; for semantic ranking never below the floor
        measured on CLINC150 for the FAQ's phrasings per entry. Once admins have confirmed enough
        questions, lowered to answer nineteen in twenty of them (confirmed_threshold)."""
        snap = snap or self._fresh()
        tuned = snap.embedder_path is not None
        if mode == SEMANTIC:
            fixed = self.tuned_abstain_threshold if tuned else self.abstain_threshold
            if fixed is not None:
                return fixed
        if mode not in snap.thresholds:
            with self._lock:
                if mode not in snap.thresholds:
                    snap.thresholds[mode] = self._stored_threshold(snap, mode)
        calibrated = snap.thresholds[mode]
        if mode != SEMANTIC:
            return calibrated
        return max(calibrated, default_threshold(snap.phrasings_per_entry, tuned))

    def chosen_lexical_weight(self, snap: _Snapshot) -> float:
        """The BM25 fusion weight of an untuned index whose embedder reads the question: chosen on
        this FAQ's own phrasings (_choose_lexical_weight), once per snapshot, stored in SQL with the
        calibrated thresholds for the other processes. Not under the calibration lock: calibrating
        ranks, and ranking asks for this (the choice is deterministic, so a race only repeats it)."""
        if snap.lexical_weight is None:
            snap.lexical_weight = self._stored_value(
                snap, WEIGHT_KEY, lambda: self._choose_lexical_weight(snap)
            )
        return snap.lexical_weight

    def _choose_lexical_weight(self, snap: _Snapshot) -> float:
        """Of LEXICAL_WEIGHTS, the one that ranks first most of the FAQ's own phrasings, each entry's
        last one asked with it left out of the index (its vector and its words), ties broken by the
        mean reciprocal rank, then in favour of LEXICAL_WEIGHT. LEXICAL_WEIGHT itself while fewer
        than MIN_WEIGHT_QUESTIONS entries have two phrasings or more, or when the embedder does not
        read the FAQ's language (its questions are then ranked on words, with the embedder or
        without it: HYBRID). The weight that suits an embedder differs: BM25 adds what the bundled
        MiniLM misses, and costs a stronger embedder ranking (EmbeddingGemma, untuned: Spanish
        hit@1 0.549 fused at 0.3, 0.641 without BM25; docs/benchmarks.md, "The BM25 weight,
        chosen by each FAQ")."""
        if snap.lexical is None or not self._reads(snap.language):
            return LEXICAL_WEIGHT
        scorer = snap.scorer
        # Scorer rows are grouped by entry: the last phrasing of every group of two or more.
        last = (scorer.starts + scorer.counts - 1)[scorer.counts >= 2]
        if len(last) < MIN_WEIGHT_QUESTIONS:
            return LEXICAL_WEIGHT
        if len(last) > CALIBRATION_QUERIES:
            last = np.sort(np.random.default_rng(0).choice(last, CALIBRATION_QUERIES, replace=False))
        held = without_phrasings(snap, {int(i) for i in last})
        weights = np.array(LEXICAL_WEIGHTS, np.float32)[:, None]
        first = np.zeros(len(weights))
        reciprocal = np.zeros(len(weights))
        for i in last:
            right = int(snap.owners[i])
            dense, _ = self._dense(held, scorer.embeddings[i])
            lexical = held.lexical.scores(snap.texts[i])
            top = float(lexical.max()) if len(lexical) else 0.0
            fused = fuse(dense, lexical, top, weights) if top > 0 else np.tile(dense, (len(weights), 1))
            rank = 1 + (fused > fused[:, right : right + 1]).sum(axis=1)
            first += rank == 1
            reciprocal += 1.0 / rank
        default = LEXICAL_WEIGHTS.index(LEXICAL_WEIGHT)  # where nothing tells them apart, kept
        best = max(range(len(LEXICAL_WEIGHTS)), key=lambda w: (first[w], reciprocal[w], w == default))
        log.info(
            "lexical weight %.1f chosen on %d of the FAQ's phrasings (hit@1 %.3f; %.3f at %.1f)",
            LEXICAL_WEIGHTS[best],
            len(last),
            first[best] / len(last),
            first[default] / len(last),
            LEXICAL_WEIGHT,
        )
        return float(LEXICAL_WEIGHTS[best])

    def _calibration_key(self, snap: _Snapshot) -> str:
        """What a calibrated threshold depends on besides the mode: the index's content (its
        revision), its vectors (collection, embedder) and how questions are routed and ranked."""
        languages = "*" if self.embedder_languages is None else ",".join(sorted(self.embedder_languages))
        return f"v{CALIBRATION_VERSION}:{snap.revision}:{snap.collection}:{snap.embedder_path}:{languages}"

    def _stored_threshold(self, snap: _Snapshot, mode: str) -> float:
        """The threshold another process (or an earlier run) calibrated on this very index, else
        calibrate it now and store it for the others."""
        return self._stored_value(snap, mode, lambda: self._calibrate(snap, mode))

    def _stored_value(self, snap: _Snapshot, name: str, compute: Callable[[], float]) -> float:
        """``name``'s value that another process (or an earlier run) computed on this very index,
        else ``compute()`` it now and store it for the others."""
        key = self._calibration_key(snap)
        with self.sessions() as session:
            state = session.get(IndexState, 1)
            stored = (state.calibration or {}) if state is not None else {}
            if stored.get("key") == key and name in stored.get("values", {}):
                return float(stored["values"][name])
        value = compute()
        try:
            with self.sessions() as session:
                state = session.get(IndexState, 1)
                if state is not None and state.revision == snap.revision:  # not changed meanwhile
                    stored = dict(state.calibration or {})
                    values = dict(stored.get("values", {})) if stored.get("key") == key else {}
                    state.calibration = {"key": key, "values": {**values, name: value}}
                    session.commit()
        except SQLAlchemyError as exc:  # a busy or read-only database: this process still has it
            log.warning("could not store the calibrated %s: %s", name, exc)
        return value

    def _held_out_units(self, snap: _Snapshot) -> list[tuple[int, str, int | None]]:
        """(entry row, text, its stored phrasing vector's row or None) of the questions calibration
        asks: each entry's first phrasing, and the sentences of its answer. A question is often
        closer to one sentence of an answer than to its heading; with headings alone the threshold
        came out too strict on a real FAQ (doc2dial: coverage 0.20 against 0.32 with sentences,
        at precision 0.95 and 0.93; bench/research/results/abstain_final.txt nullQ_q90, null_q90)."""
        scorer = snap.scorer
        units: list[tuple[int, str, int | None]] = []
        analyzer = snap.lexical.analyzer if snap.lexical is not None else None
        for row in range(len(snap.entry_ids)):
            group = int(np.searchsorted(scorer.group_owner, row))
            first = int(scorer.starts[group])
            units.append((row, snap.texts[first], first))
            answer = snap.answers[row] if row < len(snap.answers) else ""
            if not answer or answer.strip() == snap.texts[first].strip():
                continue  # no answer of its own (an intent set): nothing more to hold out
            for sentence in split_sentences(" ".join(answer.split())):
                if analyzer is None or len(analyzer.tokens(sentence)) >= MIN_UNIT_TOKENS:
                    units.append((row, sentence, None))
        if len(units) > CALIBRATION_QUERIES:
            pick = np.random.default_rng(0).choice(len(units), CALIBRATION_QUERIES, replace=False)
            units = [units[i] for i in sorted(pick)]
        return units

    def _unit_vectors(self, path: str | None, texts: list[str]) -> np.ndarray:
        """Embeddings of calibration sentences, cached per embedder: a re-calibration after a learned
        phrasing or an edited entry embeds only what is new."""
        cache = self._unit_cache.setdefault(path or "", {})
        while len(self._unit_cache) > 2:  # the base embedder and the current tuned one
            self._unit_cache.pop(next(k for k in self._unit_cache if k != (path or "")))
        missing = [t for t in dict.fromkeys(texts) if t not in cache]
        if missing:
            for t, v in zip(missing, self._embedder_for(path).encode(missing)):
                cache[t] = v
        return np.stack([cache[t] for t in texts]) if texts else np.zeros((0, 1), np.float32)

    def _calibrate(self, snap: _Snapshot, mode: str) -> float:
        """The confidences of held-out questions (_held_out_units), each ranked with its own entry
        left out, through the same scoring as a live question."""
        if len(snap.entry_ids) < 2:
            return 0.0 if mode == SEMANTIC else 1e-6
        units = self._held_out_units(snap)
        scorer, base = snap.scorer, snap.base_scorer
        vectors: list[np.ndarray | None] = [None] * len(units)
        base_vectors: list[np.ndarray | None] = [None] * len(units)
        if mode != LEXICAL:
            path = snap.embedder_path or self.base_embedder
            new = [i for i, (_, _, at) in enumerate(units) if at is None]
            for i, v in zip(new, self._unit_vectors(path, [units[i][1] for i in new])):
                vectors[i] = v
            for i, (_, _, at) in enumerate(units):
                if at is not None:
                    vectors[i] = scorer.embeddings[at]
            if mode == SEMANTIC and base is not None and len(base):
                texts = [t for _, t, _ in units]
                for i, v in enumerate(self._unit_vectors(self.base_embedder, texts)):
                    base_vectors[i] = v
        confidences = []
        for (row, question, _), vec, base_vec in zip(units, vectors, base_vectors):
            scores, _ = self._rank(
                snap, question, vec if mode != LEXICAL else None, exclude=row, hybrid=mode == HYBRID
            )
            confidences.append(self._confidence(snap, scores, question, base_vec, exclude=row))
        held_out = self_calibrated_threshold(np.array(confidences, np.float64))
        confirmed = self._confirmed_confidences(snap, mode)
        if len(confirmed) < MIN_CONFIRMED:
            return held_out
        return confirmed_threshold(held_out, confirmed, self._rejected_confidences(snap, mode))

    def _ask(self, snap: _Snapshot, mode: str, texts: list[str], vectors: np.ndarray | None) -> np.ndarray:
        """The confidences of ``texts`` asked as live questions of ``snap`` (``vectors``: their
        embeddings by the index's embedder, None to embed them here)."""
        if not texts:
            return np.zeros(0, np.float64)
        if mode != LEXICAL and vectors is None:
            vectors = self._unit_vectors(snap.embedder_path or self.base_embedder, texts)
        base_vectors = None
        if mode == SEMANTIC and snap.base_scorer is not None and len(snap.base_scorer):
            base_vectors = self._unit_vectors(self.base_embedder, texts)
        out = []
        for i, text in enumerate(texts):
            vec = vectors[i] if mode != LEXICAL and vectors is not None else None
            scores, _ = self._rank(snap, text, vec, hybrid=mode == HYBRID)
            out.append(
                self._confidence(snap, scores, text, None if base_vectors is None else base_vectors[i])
            )
        return np.array(out, np.float64)

    def _confirmed_confidences(self, snap: _Snapshot, mode: str) -> np.ndarray:
        """Learned phrasings of the held-out fold (held_out_of_tuning), asked with the whole fold
        left out of the index: what admins confirmed, as if asked for the first time."""
        rows = [i for i, k in enumerate(snap.kinds) if k == "learned" and held_out_of_tuning(snap.texts[i])]
        if len(rows) < MIN_CONFIRMED:
            return np.zeros(0, np.float64)
        if len(rows) > CONFIRMED_QUERIES:
            rows = sorted(np.random.default_rng(0).choice(rows, CONFIRMED_QUERIES, replace=False).tolist())
        held = without_phrasings(snap, set(rows))
        if held.lexical_weight is None and self.lexical_weight is None:
            held.lexical_weight = self.chosen_lexical_weight(snap)  # ranked as the index ranks
        vectors = snap.scorer.embeddings[rows] if mode != LEXICAL else None
        return self._ask(held, mode, [snap.texts[i] for i in rows], vectors)

    def _rejected_confidences(self, snap: _Snapshot, mode: str) -> np.ndarray:
        """Questions admins rejected an answer to (the latest CONFIRMED_QUERIES), asked as they
        would be now."""
        try:
            rejected = [n.question for n in hard_negatives(self.sessions) if n.action == "reject"]
        except SQLAlchemyError as exc:  # no guard is no reason to lose the rest of calibration
            log.warning("could not read rejected questions for calibration: %s", exc)
            return np.zeros(0, np.float64)
        texts = list(dict.fromkeys(reversed(rejected)))[:CONFIRMED_QUERIES]
        return self._ask(snap, mode, texts, None)
