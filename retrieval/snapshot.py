"""Each process's in-memory copy of the FAQ index (_Snapshot): what ranking reads. Part of FaqIndex
(retrieval/index.py).

Ranking (retrieval/scoring.py) needs every phrasing vector of every entry, so each process keeps
them in memory, rebuilt when the index's revision in SQL moves. Every change (import, learned
phrasing, curated entry, tuning) bumps that revision in the same transaction, so all processes
see it on their next query.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import select

from bot.db.models import FaqEntry
from retrieval.language import dominant_language
from retrieval.offtopic import rejected_questions
from retrieval.scoring import LexicalScorer, PhrasingScorer
from retrieval.writes import BASE_KINDS, PHRASING_KINDS


@dataclass
class _Snapshot:
    revision: int
    embedder_path: str | None
    collection: str
    scorer: PhrasingScorer
    entry_ids: list[str]
    row_of: dict[str, int]
    texts: list[str]  # phrasing texts, in scorer order
    kinds: list[str]
    owners: np.ndarray
    answer_vectors: np.ndarray  # answer chunks, grouped by entry
    answer_texts: list[str]
    answer_owner: list[str]  # entry id per chunk
    base_scorer: PhrasingScorer | None = None  # base-embedder phrasings of a tuned index
    phrasings_per_entry: float = 0.0  # what the small-FAQ abstention floor is read off
    lexical: LexicalScorer | None = None  # rows: entry_ids
    language: str | None = None  # the FAQ's (most entries')
    answer_rows: np.ndarray | None = None  # entry row of each run of answer chunks
    answer_starts: np.ndarray | None = None  # first chunk of each run
    base_texts: list[str] = field(default_factory=list)  # base-embedder phrasings, in base_scorer order
    thresholds: dict[str, float] = field(default_factory=dict)  # calibrated per mode, on first use
    # An untuned index's BM25 fusion weight, chosen on its own phrasings on first use
    # (retrieval/calibration.py: IndexCalibration.chosen_lexical_weight).
    lexical_weight: float | None = None
    answers: list[str] = field(default_factory=list)  # per entry row
    # Vectors of the questions admins rejected (retrieval/offtopic.py; their texts are lexical's
    # extra_texts), embedded on the first question that needs them.
    offtopic_vectors: np.ndarray | None = None


class IndexSnapshots:
    """FaqIndex's snapshot, rebuilt from SQL and the vector store when the revision moves; the
    configuration and caches these methods use are set by FaqIndex.__init__ (retrieval/index.py)."""

    def _fresh(self) -> _Snapshot:
        revision, embedder_path, collection = self._current()
        snap = self._snapshot
        if snap and snap.revision == revision and snap.collection == collection:
            return snap
        with self._lock:
            snap = self._snapshot
            if snap and snap.revision == revision and snap.collection == collection:
                return snap
            store = self.store(collection)
            all_ids, all_kinds, all_texts, all_vectors = store.all_docs(
                (*PHRASING_KINDS, "answer", *(BASE_KINDS if embedder_path else ()))
            )
            pick = lambda seq, mask: [x for x, m in zip(seq, mask) if m]  # noqa: E731
            # Vectors of entries SQL does not have are never ranked (they would take places from real
            # entries and then be dropped), and are deleted if no import is running (heal()).
            known = self.entry_ids()
            in_sql = np.array([e in known for e in all_ids], dtype=bool)
            if not in_sql.all():
                all_ids, all_kinds, all_texts = (pick(seq, in_sql) for seq in (all_ids, all_kinds, all_texts))
                all_vectors = all_vectors[in_sql]
                with self.writer_lock.hold() as got:
                    self._heal(store, locked=got)
            is_base = np.array([k in BASE_KINDS for k in all_kinds], dtype=bool)
            base_scorer, base_texts = None, []
            if is_base.any():
                base_ids, base_texts = pick(all_ids, is_base), pick(all_texts, is_base)
                base_scorer = self._scorer(base_ids, base_texts, all_vectors[is_base])
                base_rows = {e: i for i, e in enumerate(base_scorer.entry_ids)}
                base_order = np.argsort([base_rows[e] for e in base_ids], kind="stable")
                base_texts = [base_texts[i] for i in base_order]
                all_ids, all_kinds, all_texts = (
                    pick(seq, ~is_base) for seq in (all_ids, all_kinds, all_texts)
                )
                all_vectors = all_vectors[~is_base]
            is_answer = np.array([k == "answer" for k in all_kinds], dtype=bool)
            entry_ids, kinds, texts = (pick(seq, ~is_answer) for seq in (all_ids, all_kinds, all_texts))
            vectors = all_vectors[~is_answer] if len(all_vectors) else all_vectors
            scorer = self._scorer(entry_ids, texts, vectors)
            ids, row_of = scorer.entry_ids, {e: i for i, e in enumerate(scorer.entry_ids)}
            owners = np.array([row_of[e] for e in entry_ids], dtype=np.int64)
            order = np.argsort(owners, kind="stable")
            # Answer chunks grouped by entry row (the store returns them in no set order), so that an
            # entry's best chunk is one reduceat; chunks of entries without phrasings are left out.
            answer_vectors = all_vectors[is_answer] if len(all_vectors) else all_vectors
            answer_texts, answer_owner = pick(all_texts, is_answer), pick(all_ids, is_answer)
            chunk_rows = np.array([row_of.get(e, -1) for e in answer_owner], dtype=np.int64)
            keep = np.flatnonzero(chunk_rows >= 0)
            keep = keep[np.argsort(chunk_rows[keep], kind="stable")]
            answer_vectors = np.ascontiguousarray(answer_vectors[keep]) if len(keep) else answer_vectors[:0]
            answer_texts = [answer_texts[i] for i in keep]
            answer_owner = [answer_owner[i] for i in keep]
            chunk_rows = chunk_rows[keep]
            answer_starts = (
                np.flatnonzero(np.r_[True, chunk_rows[1:] != chunk_rows[:-1]])
                if len(chunk_rows)
                else np.array([], np.int64)
            )
            answer_rows = chunk_rows[answer_starts] if len(chunk_rows) else np.array([], np.int64)
            with self.sessions() as session:
                offtopic = rejected_questions(session, texts)
            lexical, language, answers = self._lexical(ids, offtopic)
            snap = _Snapshot(
                revision,
                embedder_path,
                collection,
                scorer,
                ids,
                row_of,
                [texts[i] for i in order],
                [kinds[i] for i in order],
                owners[order],
                answer_vectors,
                answer_texts,
                answer_owner,
                base_scorer,
                len(texts) / len(ids) if ids else 0.0,
                lexical,
                language,
                answer_rows,
                answer_starts,
                base_texts,
                answers=answers,
            )
            self._snapshot = snap
            return snap

    def _off_topic_vectors(self, snap: _Snapshot) -> np.ndarray:
        """The rejected questions' vectors on the snapshot's embedder, embedded when a question first
        needs them (one ranked on words never does; new ones only, OffTopicCache)."""
        if snap.offtopic_vectors is None:
            with self._lock:
                if snap.offtopic_vectors is None:
                    path = snap.embedder_path or self.base_embedder
                    snap.offtopic_vectors = self._offtopic_cache.vectors(
                        path, snap.lexical.extra_texts, self._embedder_for(path).encode
                    )
        return snap.offtopic_vectors

    def _scorer(self, entry_ids: list[str], texts: list[str], vectors: np.ndarray) -> PhrasingScorer:
        ids = sorted(set(entry_ids))
        row_of = {e: i for i, e in enumerate(ids)}
        joined: dict[str, list[str]] = {}
        for e, t in zip(entry_ids, texts):
            joined.setdefault(e, []).append(t)
        return PhrasingScorer(
            ids,
            vectors,
            np.array([row_of[e] for e in entry_ids], dtype=np.int64),
            [" ".join(joined[e]) for e in ids],
            self.weights,
        )

    def _lexical(
        self, entry_ids: list[str], offtopic: list[str]
    ) -> tuple[LexicalScorer, str | None, list[str]]:
        """BM25 over each entry's whole text (rows: ``entry_ids``), in the FAQ's language, and over
        the ``offtopic`` questions after them."""
        with self.sessions() as session:
            entries = {e.id: e for e in session.scalars(select(FaqEntry).where(FaqEntry.id.in_(entry_ids)))}
            learned = self._learned(session, entry_ids)
        texts = []
        for eid in entry_ids:
            e = entries.get(eid)
            parts = [e.question, *e.alt_questions, *learned.get(eid, []), e.answer] if e else []
            texts.append("\n".join(parts))
        language = dominant_language(
            [e.question for e in entries.values()] + [e.answer for e in entries.values()]
        )
        answers = [entries[eid].answer if eid in entries else "" for eid in entry_ids]
        return LexicalScorer(entry_ids, texts, language, offtopic), language, answers
