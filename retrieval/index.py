"""The FAQ index: SQL holds the entries, the vector store indexes what can match them.

Indexed per entry: its question and alternative phrasings, phrasings admins approved later
("learned"), and its answer in chunks. Every document carries its entry id, so hits and citations
always point at FAQ entries.

FaqIndex is the facade; each responsibility has its module, a class FaqIndex inherits from:
writes and the revision every process syncs on (retrieval/writes.py: imports, learned phrasings,
curated entries, healing, IndexLock), each process's in-memory snapshot (retrieval/snapshot.py),
search and score fusion (retrieval/search.py), abstention thresholds (retrieval/calibration.py),
and tuning the embedder to the FAQ (retrieval/tune.py). The names they define are importable from
here as before.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from retrieval.calibration import (
    CALIBRATION_QUERIES,
    CALIBRATION_VERSION,
    MIN_UNIT_TOKENS,
    IndexCalibration,
)
from retrieval.embedder import Embedder
from retrieval.offtopic import OffTopicCache
from retrieval.scoring import ScoringWeights
from retrieval.search import (
    BASE_CANDIDATES,
    BASE_CONFIDENCE_WEIGHT,
    FOREIGN_CONFIDENCE,
    HYBRID,
    HYBRID_LEXICAL_WEIGHT,
    LEXICAL,
    LEXICAL_WEIGHT,
    SEMANTIC,
    TUNED_LEXICAL_WEIGHT,
    IndexSearch,
    Retrieval,
    RetrievedEntry,
)
from retrieval.snapshot import IndexSnapshots, _Snapshot
from retrieval.store import VectorStore
from retrieval.tune import IndexTuning, TuneBusy
from retrieval.writes import (
    BASE_KINDS,
    BASE_SUFFIX,
    CURATED_SOURCE,
    LOCKED_WRITERS,
    PHRASING_KINDS,
    REVIEW_ORPHAN_GRACE_S,
    ImportReport,
    IndexBusy,
    IndexLock,
    IndexWrites,
    Progress,
)

__all__ = [
    "BASE_CANDIDATES",
    "BASE_CONFIDENCE_WEIGHT",
    "BASE_KINDS",
    "BASE_SUFFIX",
    "CALIBRATION_QUERIES",
    "CALIBRATION_VERSION",
    "CURATED_SOURCE",
    "FOREIGN_CONFIDENCE",
    "HYBRID",
    "HYBRID_LEXICAL_WEIGHT",
    "LEXICAL",
    "LEXICAL_WEIGHT",
    "LOCKED_WRITERS",
    "MIN_UNIT_TOKENS",
    "PHRASING_KINDS",
    "REVIEW_ORPHAN_GRACE_S",
    "SEMANTIC",
    "TUNED_LEXICAL_WEIGHT",
    "FaqIndex",
    "ImportReport",
    "IndexBusy",
    "IndexLock",
    "Progress",
    "Retrieval",
    "RetrievedEntry",
    "TuneBusy",
    "_Snapshot",
]


class FaqIndex(IndexWrites, IndexTuning, IndexSnapshots, IndexSearch, IndexCalibration):
    OVERFETCH = 4  # answer chunks considered per wanted entry
    IMPORT_BATCH = 64  # entries embedded per encoder call during import

    def __init__(
        self,
        sessions: sessionmaker[Session],
        store_for: Callable[[str], VectorStore],
        embedder_for: Callable[[str | None], Embedder],
        *,
        collection: str = "faq",
        base_embedder: str | None = None,
        abstain_threshold: float | None = None,
        tuned_abstain_threshold: float | None = None,
        answer_weight: float = 0.9,
        chunk_chars: int = 600,
        weights: ScoringWeights = ScoringWeights(),
        lexical_weight: float | None = None,  # None: chosen on the FAQ (IndexSearch._lexical_weight)
        tuned_lexical_weight: float = TUNED_LEXICAL_WEIGHT,
        embedder_languages: Sequence[str] | None = ("en",),
    ):
        self.sessions = sessions
        self._store_for = store_for
        self._embedder_for = embedder_for
        self.default_collection = collection
        self.base_embedder = base_embedder
        # Fixed thresholds, if configured; None: the measured default for this FAQ (threshold()).
        # A tuned embedder pulls an entry's phrasings together, which lifts in-scope scores: it
        # gets its own.
        self.abstain_threshold = abstain_threshold
        self.tuned_abstain_threshold = tuned_abstain_threshold
        self.answer_weight = answer_weight
        self.chunk_chars = chunk_chars
        self.weights = weights
        self.lexical_weight = lexical_weight
        self.tuned_lexical_weight = tuned_lexical_weight
        # The languages the embedder reads (None: all). A question in another language is ranked and
        # judged on its words alone: an English embedder's similarity between two German sentences
        # says little (CrossWOZ Chinese: hit@1 0.15 with MiniLM, 0.82 with BM25).
        self.embedder_languages = None if embedder_languages is None else frozenset(embedder_languages)
        self._snapshot: _Snapshot | None = None
        self._unit_cache: dict[str, dict[str, np.ndarray]] = {}
        self._offtopic_cache = OffTopicCache()
        self._lock = threading.Lock()
        self._stores: dict[str, VectorStore] = {}
        self.writer_lock = IndexLock(sessions.kw["bind"])
