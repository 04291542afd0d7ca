"""The FAQ index: SQL holds the entries, the vector store indexes what can match them.

Indexed per entry: its question and alternative phrasings, phrasings admins approved later
("learned"), and its answer in chunks. Every document carries its entry id, so hits and citations
always point at FAQ entries.

Ranking (retrieval/scoring.py) needs every phrasing vector of every entry, so each process keeps
them in memory, rebuilt when the index's revision in SQL moves. Every change (import, learned
phrasing, curated entry, tuning) bumps that revision in the same transaction, so all processes
see it on their next query.

SQL and the vector store cannot commit together. An import writes vectors first and commits SQL
last, so one killed part way leaves vectors of entries SQL does not have ("orphans"). They are
healed rather than prevented: no snapshot ever ranks them, and the next writer of the index (an
import, or a process opening the index for serving while no import runs) deletes them. Imports and
tunings hold an index lock (IndexLock) for their whole run, so an import still writing is never
mistaken for one that died.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy import Engine, select, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import FaqEntry, IndexState, LearnedPhrasing, text_key, utcnow
from retrieval.calibration import default_threshold, self_calibrated_threshold
from retrieval.chunking import chunk_text, split_sentences
from retrieval.embedder import Embedder
from retrieval.faq import FaqItem
from retrieval.language import analyzer as language_analyzer
from retrieval.language import detect_language, dominant_language
from retrieval.scoring import LexicalScorer, PhrasingScorer, ScoringWeights
from retrieval.store import VectorDoc, VectorStore
from retrieval.tune import TuneError, TuneParams, tune_embedder

log = logging.getLogger(__name__)

CURATED_SOURCE = "curated"  # entries written by admins in Slack; never pruned by a file import
PHRASING_KINDS = ("question", "learned")
# A tuned index also keeps every phrasing embedded by the base embedder, under these kinds: abstention
# averages the tuned and the base top score. The tuned embedder pulls questions towards the FAQ's
# topics, unrelated ones included; the base one has not learned to, and the two disagree most on
# out-of-scope questions (CLINC150: 0.77 -> 0.85 abstained at the same share answered; docs/benchmarks.md).
BASE_KINDS = tuple(f"{k}-base" for k in PHRASING_KINDS)
BASE_SUFFIX = "~base"
BASE_CONFIDENCE_WEIGHT = 0.5
# The base top score is taken over the tuned ranking's best candidates only, not the whole FAQ: on
# CLINC150 the same abstention (bench/research/exp_oos_candidates.py), without a second full pass.
BASE_CANDIDATES = 10
# An entry's score: its dense score plus this share of the query's BM25 against the entry's whole
# text, over the query's top BM25 (retrieval/scoring.py LexicalScorer), divided by 1 + the share.
LEXICAL_WEIGHT = 0.3
# Once the embedder is tuned to the FAQ it has learned the FAQ's own words, and BM25 on top counts
# them twice: CLINC150 at 3 phrasings, tuned, hit@1 0.814 without BM25, 0.804 at 0.1, 0.771 at 0.3
# (bench/retrieval_public.py --lexical-weights). An entry with one question cannot be tuned on, so
# a real FAQ of headings and long answers keeps LEXICAL_WEIGHT.
TUNED_LEXICAL_WEIGHT = 0.0
# Abstention is calibrated on each FAQ's own entries (retrieval/calibration.py): each sampled
# entry's question is asked with that entry left out, a question of the FAQ's domain that the FAQ
# does not answer, and so is each sentence of its answer. Up to this many (seeded sample).
CALIBRATION_QUERIES = 600
# Bump when calibration itself changes (what is held out, how it is scored): thresholds stored in
# SQL by an older version are then recalibrated instead of reused.
CALIBRATION_VERSION = 1
MIN_UNIT_TOKENS = 3  # shorter answer sentences ("Yes.", "See below.") say nothing of a question
# A question is taken to be in a language other than the FAQ's and the embedder's only when the
# language detector gives it at least this probability.
FOREIGN_CONFIDENCE = 0.9
SEMANTIC, LEXICAL = "semantic", "lexical"
# A question in a language the base embedder does not read, asked of an index tuned on the FAQ's own
# phrasings (in that language): the tuned embedder has learned the FAQ's words, so it is fused with
# BM25 at equal weight rather than dropped (chitchat_fr, tuned: hit@1 0.58 dense, 0.51 words alone).
HYBRID = "hybrid"
HYBRID_LEXICAL_WEIGHT = 1.0  # how a question was ranked: with the embedder, or words only


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

    @property
    def top(self) -> RetrievedEntry | None:
        return self.hits[0] if self.hits else None


# Vectors written by a reviewer's approval (a learned phrasing, a curated entry) take no lock: their
# SQL row follows within milliseconds. Orphans among them are deleted only once older than this.
REVIEW_ORPHAN_GRACE_S = 600.0
LOCKED_WRITERS = ("import", "tune")  # writers that hold IndexLock while their vectors lack SQL rows


class IndexBusy(RuntimeError):
    """Another process is importing into or tuning this FAQ index."""


class TuneBusy(IndexBusy, TuneError):
    """IndexBusy raised by tuning: callers that report a tuning that could not run (the CLI, the
    nightly job) handle it as a TuneError."""


class IndexLock:
    """One writer of the FAQ index at a time, across every process that shares the database: a
    PostgreSQL advisory lock (released by the server if the holder dies), or for SQLite an flock on
    a file next to the database (released by the kernel if the holder dies)."""

    KEY = 0x5355_5050_4F52_5442  # "SUPPORTB"
    _memory = threading.Lock()  # an in-memory SQLite database lives in one process

    def __init__(self, engine: Engine):
        self.engine = engine

    @contextmanager
    def hold(self) -> Iterator[bool]:
        """Try to take the lock without waiting; yields whether it was taken."""
        url = self.engine.url
        if url.get_backend_name() == "postgresql":
            with self._pg() as got:
                yield got
        elif url.database and url.database != ":memory:":
            with self._file(Path(f"{url.database}.index-lock")) as got:
                yield got
        else:
            got = self._memory.acquire(blocking=False)
            try:
                yield got
            finally:
                if got:
                    self._memory.release()

    @contextmanager
    def _pg(self) -> Iterator[bool]:
        conn = self.engine.connect()
        try:
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.KEY}).scalar())
            conn.commit()  # the lock is the session's; no transaction stays open for the import
            try:
                yield got
            finally:
                if got:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.KEY})
                    conn.commit()
        except BaseException:
            conn.invalidate()  # drop the connection, and with it any lock it still holds
            raise
        finally:
            conn.close()

    @contextmanager
    def _file(self, path: Path) -> Iterator[bool]:
        import fcntl

        with open(path, "a") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)


@dataclass
class ImportReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    pruned: int = 0
    orphans_removed: int = 0  # vectors of entries SQL does not have (an interrupted import's)
    reindexed: int = 0  # entries SQL has but the vector store had no vector of

    @property
    def total(self) -> int:
        return self.added + self.updated + self.unchanged


Progress = Callable[[int], None]


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
    answers: list[str] = field(default_factory=list)  # per entry row


class FaqIndex:
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
        lexical_weight: float = LEXICAL_WEIGHT,
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
        self._lock = threading.Lock()
        self._stores: dict[str, VectorStore] = {}
        self.writer_lock = IndexLock(sessions.kw["bind"])

    # ---- shared state ---------------------------------------------------------------------------
    def _state(self, session: Session) -> IndexState:
        state = session.get(IndexState, 1)
        if state is None:
            state = IndexState(id=1, revision=0)
            session.add(state)
            session.flush()
        return state

    def _bump(self, session: Session, **changes) -> None:
        self._state(session)
        # An atomic increment: two processes writing at once both count.
        session.execute(
            update(IndexState)
            .where(IndexState.id == 1)
            .values(revision=IndexState.revision + 1, updated_at=utcnow(), **changes)
        )

    def _current(self) -> tuple[int, str | None, str]:
        with self.sessions() as session:
            row = session.execute(
                select(IndexState.revision, IndexState.embedder_path, IndexState.collection).where(
                    IndexState.id == 1
                )
            ).first()
        if row is None:
            return 0, None, self.default_collection
        return row[0], row[1], row[2] or self.default_collection

    def store(self, collection: str | None = None) -> VectorStore:
        name = collection or self._current()[2]
        if name not in self._stores:
            self._stores[name] = self._store_for(name)
        return self._stores[name]

    @property
    def embedder(self) -> Embedder:
        return self._embedder_for(self._current()[1] or self.base_embedder)

    # ---- building documents -------------------------------------------------------------------
    def _texts(
        self, entry_id: str, question: str, alts: Sequence[str], answer: str, learned: Sequence[str]
    ) -> list[tuple[str, str, str]]:
        """(doc id, kind, text) for everything that should find this entry."""
        docs = [(f"{entry_id}#q{i}", "question", t) for i, t in enumerate([question, *alts])]
        docs += [(f"{entry_id}#l{text_key(t)[:16]}", "learned", t) for t in learned]
        docs += [
            (f"{entry_id}#a{i}", "answer", t) for i, t in enumerate(chunk_text(answer, self.chunk_chars))
        ]
        return docs

    @staticmethod
    def _embed(
        embedder: Embedder, docs: list[tuple[str, tuple[str, str, str]]], writer: str
    ) -> list[VectorDoc]:
        """(entry id, (doc id, kind, text)) -> embedded documents, stamped with who wrote them and
        when (what healing decides on)."""
        vectors = embedder.encode([t for _, (_, _, t) in docs])
        at = time.time()
        return [
            VectorDoc(id=i, entry_id=eid, text=t, embedding=v, metadata={"kind": k, "by": writer, "at": at})
            for (eid, (i, k, t)), v in zip(docs, vectors)
        ]

    def _vector_docs(
        self, docs: list[tuple[str, tuple[str, str, str]]], embedder_path: str | None, writer: str
    ) -> list[VectorDoc]:
        """Documents embedded by the index's embedder; for a tuned index, its phrasings by the base
        embedder as well (BASE_KINDS)."""
        out = self._embed(self._embedder_for(embedder_path or self.base_embedder), docs, writer)
        if embedder_path:
            phrasings = [
                (eid, (i + BASE_SUFFIX, f"{k}-base", t)) for eid, (i, k, t) in docs if k in PHRASING_KINDS
            ]
            if phrasings:
                out += self._embed(self._embedder_for(self.base_embedder), phrasings, writer)
        return out

    # ---- healing ------------------------------------------------------------------------------
    def _heal(self, store: VectorStore, *, locked: bool) -> tuple[int, set[str]]:
        """Delete vectors whose entry has no SQL row; returns (vectors deleted, entry ids that have
        vectors). ``locked``: the caller holds the index lock, so no import or tuning is writing and
        their orphans are certainly left over; without it, only old orphans of approvals go."""
        docs = store.doc_entries()
        # SQL is read after the vectors: an entry committed in between counts as present.
        known = self.entry_ids()
        now = time.time()
        doomed = [
            doc_id
            for doc_id, entry_id, meta in docs
            if entry_id not in known
            and (
                (locked and meta.get("by", "import") in LOCKED_WRITERS)
                or (
                    meta.get("by") not in LOCKED_WRITERS
                    and now - float(meta.get("at", 0)) > REVIEW_ORPHAN_GRACE_S
                )
            )
        ]
        if doomed:
            store.delete_ids(doomed)
            log.warning("FAQ index healed: deleted %d vectors of entries not in the FAQ", len(doomed))
        present = {entry_id for doc_id, entry_id, _ in docs if entry_id in known}
        return len(doomed), present

    def heal(self) -> int:
        """Delete orphan vectors now, if no import or tuning is running; returns how many."""
        with self.writer_lock.hold() as got:
            return self._heal(self.store(), locked=got)[0]

    def _learned(self, session: Session, entry_ids: Sequence[str] | None = None) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        query = select(LearnedPhrasing).order_by(LearnedPhrasing.id)
        if entry_ids is not None:
            if not entry_ids:
                return out
            query = query.where(LearnedPhrasing.entry_id.in_(list(entry_ids)))
        for row in session.scalars(query):
            out.setdefault(row.entry_id, []).append(row.text)
        return out

    # ---- import -------------------------------------------------------------------------------
    def import_items(
        self, items: Sequence[FaqItem], *, prune: bool = False, progress: Progress | None = None
    ) -> ImportReport:
        """Add new and changed entries, skip unchanged ones; with ``prune``, drop imported entries
        that are not in ``items`` (curated entries stay).

        SQL (the source of truth) commits only after the vector store holds every new document:
        new documents are written over their old ids first, leftovers removed after. A failure part
        way leaves SQL as it was, so the next import sees the same entries as changed and finishes.
        """
        with self.writer_lock.hold() as got:
            if not got:
                raise IndexBusy(
                    "another `supportbot faq import` or `faq tune` is writing this FAQ index; "
                    "run this one when it has finished"
                )
            return self._import(items, prune=prune, progress=progress)

    def _import(self, items: Sequence[FaqItem], *, prune: bool, progress: Progress | None) -> ImportReport:
        report = ImportReport()
        _, embedder_path, collection = self._current()
        store = self.store(collection)
        # Whatever an interrupted import left goes first; what has no vector at all is re-indexed below.
        report.orphans_removed, indexed = self._heal(store, locked=True)
        with self.sessions() as session:
            current = {e.id: e for e in session.scalars(select(FaqEntry))}
            changed = [
                it for it in items if it.id not in current or current[it.id].content_hash != it.content_hash()
            ]
            report.unchanged = len(items) - len(changed)
            if progress and report.unchanged:
                progress(report.unchanged)
            # Entries SQL has and the store lost (a Chroma volume reset, a vector write that failed
            # after its SQL commit): re-embedded from SQL as they are, without counting as changes.
            changed_ids = {it.id for it in changed}
            lost = [e for eid, e in current.items() if eid not in indexed and eid not in changed_ids]
            report.reindexed = len(lost)
            sources = [(it.id, it.question, it.alt_questions, it.answer) for it in changed]
            sources += [(e.id, e.question, e.alt_questions, e.answer) for e in lost]
            learned = self._learned(session, [eid for eid, *_ in sources if eid in current])

            old_ids = store.ids_for_entries([it.id for it in changed if it.id in current])
            new_ids: set[str] = set()
            # Embed and store in batches of entries: one encoder call per batch, bounded memory.
            for start in range(0, len(sources), self.IMPORT_BATCH):
                batch = sources[start : start + self.IMPORT_BATCH]
                texts = [
                    (eid, doc)
                    for eid, question, alts, answer in batch
                    for doc in self._texts(eid, question, alts, answer, learned.get(eid, []))
                ]
                vector_docs = self._vector_docs(texts, embedder_path, "import")
                store.upsert(vector_docs)
                new_ids.update(d.id for d in vector_docs)
                if progress:
                    progress(min(len(batch), max(0, len(changed) - start)))
            if old_ids - new_ids:
                store.delete_ids(sorted(old_ids - new_ids))
            wanted = {it.id for it in items}
            pruned = [
                eid
                for eid, e in current.items()
                if prune and eid not in wanted and e.source != CURATED_SOURCE
            ]
            if pruned:
                store.delete_entries(pruned)

            for it in changed:
                row = current.get(it.id) or FaqEntry(id=it.id)
                report.added += it.id not in current
                report.updated += it.id in current
                row.question, row.answer, row.url = it.question, it.answer, it.url
                row.alt_questions, row.tags = list(it.alt_questions), list(it.tags)
                row.source, row.content_hash, row.updated_at = it.source, it.content_hash(), utcnow()
                session.add(row)
            for eid in pruned:
                session.delete(current[eid])
            report.pruned = len(pruned)
            if changed or pruned or lost or report.orphans_removed:
                self._bump(session)
            session.commit()
        return report

    # ---- learning at once ---------------------------------------------------------------------
    def learn_phrasing(
        self, entry_id: str, text: str, *, answer_id: int | None = None, approved_by: str | None = None
    ) -> bool:
        """Make ``text`` (an approved asker's question) find ``entry_id`` from now on.

        Returns False when the entry already knows this phrasing. Searchable as soon as this returns,
        in this process and (through the revision) in every other one.
        """
        text = " ".join(text.split())
        if not text:
            raise ValueError("empty phrasing")
        with self.sessions() as session:
            entry = session.get(FaqEntry, entry_id)
            if entry is None:
                raise KeyError(f"no FAQ entry {entry_id!r}")
            known = {entry.question, *entry.alt_questions}
            if text in known or session.scalar(
                select(LearnedPhrasing).where(
                    LearnedPhrasing.entry_id == entry_id, LearnedPhrasing.text_sha256 == text_key(text)
                )
            ):
                return False
            session.add(
                LearnedPhrasing(
                    entry_id=entry_id,
                    text=text,
                    text_sha256=text_key(text),
                    answer_id=answer_id,
                    approved_by=approved_by,
                )
            )
            doc = (entry_id, (f"{entry_id}#l{text_key(text)[:16]}", "learned", text))
            _, embedder_path, collection = self._current()
            self.store(collection).upsert(self._vector_docs([doc], embedder_path, "learned"))
            self._bump(session)
            session.commit()
        return True

    def add_curated_entry(
        self, question: str, answer: str, *, url: str | None = None, approved_by: str | None = None
    ) -> str:
        """A new entry from an approved human answer; returns its id. Same question again updates it."""
        question, answer = " ".join(question.split()), answer.strip()
        if not question or not answer:
            raise ValueError("a curated entry needs a question and an answer")
        entry_id = f"curated-{text_key(question.lower())[:12]}"
        item = FaqItem(id=entry_id, question=question, answer=answer, url=url, source=CURATED_SOURCE)
        _, embedder_path, collection = self._current()
        store = self.store(collection)
        with self.sessions() as session:
            row = session.get(FaqEntry, entry_id) or FaqEntry(id=entry_id, alt_questions=[], tags=[])
            row.question, row.answer, row.url, row.source = question, answer, url, CURATED_SOURCE
            row.content_hash, row.updated_at = item.content_hash(), utcnow()
            session.add(row)
            store.delete_entries([entry_id])
            store.upsert(
                self._vector_docs(
                    [(entry_id, d) for d in self._texts(entry_id, question, (), answer, [])],
                    embedder_path,
                    "curated",
                )
            )
            self._bump(session)
            session.commit()
        return entry_id

    # ---- tuning the embedder to this FAQ --------------------------------------------------------
    def tune(
        self,
        out_root: Path,
        params: TuneParams = TuneParams(),
        progress: Progress | None = None,
        reembed_progress: Progress | None = None,
    ) -> Path:
        """Fine-tune the base embedder on this FAQ's phrasings and re-index everything with it.

        The new vectors go into a new collection; SQL switches to it (and to the new embedder) in one
        transaction at the end, so a crash at any point leaves the index serving as before. Holds the
        index lock: an import running meanwhile would write to the collection being replaced.
        """
        with self.writer_lock.hold() as got:
            if not got:
                raise TuneBusy("another `supportbot faq import` or tuning is writing this FAQ index")
            return self._tune(out_root, params, progress, reembed_progress)

    def _tune(
        self,
        out_root: Path,
        params: TuneParams,
        progress: Progress | None,
        reembed_progress: Progress | None,
    ) -> Path:
        revision, old_path, old_collection = self._current()
        with self.sessions() as session:
            entries = list(session.scalars(select(FaqEntry).order_by(FaqEntry.id)))
            learned = self._learned(session)
        groups = [[e.question, *e.alt_questions, *learned.get(e.id, [])] for e in entries]
        from retrieval.negatives import negatives_by_entry

        wrong_for = negatives_by_entry(self.sessions)  # what admins said each entry does not answer
        negatives = [wrong_for.get(e.id, []) for e in entries]
        base = self.base_embedder
        from retrieval.embedder import bundled_model_path

        stamp = f"{time.strftime('%Y%m%d-%H%M%S')}-r{revision}"
        out_dir = tune_embedder(
            base or bundled_model_path(),
            groups,
            out_root / f"embedder-{stamp}",
            params,
            progress,
            negatives=negatives,
        )
        collection = f"{self.default_collection}-{stamp}".replace(":", "-")[:60]
        store = self.store(collection)
        for start in range(0, len(entries), self.IMPORT_BATCH):
            batch = entries[start : start + self.IMPORT_BATCH]
            docs = [
                (e.id, d)
                for e in batch
                for d in self._texts(e.id, e.question, e.alt_questions, e.answer, learned.get(e.id, []))
            ]
            store.upsert(self._vector_docs(docs, str(out_dir), "tune"))
            if reembed_progress:
                reembed_progress(len(batch))
        with self.sessions() as session:
            self._bump(
                session,
                embedder_path=str(out_dir),
                collection=collection,
                tuned_revision=IndexState.revision + 1,
            )
            session.commit()
        if old_collection != collection and old_collection != self.default_collection:
            self.store(old_collection).drop()  # the previous tuned copy; the default one is kept
            self._stores.pop(old_collection, None)
        # Nightly re-tunes would pile up ~90 MB a night: keep this embedder and the one before it (a
        # process that read the old path just before the switch may still be loading it).
        for stale in out_root.glob("embedder-*"):
            if stale.is_dir() and stale != out_dir and str(stale) != old_path:
                shutil.rmtree(stale, ignore_errors=True)
        return out_dir

    def is_tuned(self) -> bool:
        return self._current()[1] is not None

    def tuning_is_stale(self) -> bool:
        """Tuned, but the FAQ has changed since (learned phrasings, curated entries, imports)."""
        with self.sessions() as session:
            state = session.get(IndexState, 1)
            return bool(state and state.embedder_path and state.revision != state.tuned_revision)

    # ---- search -------------------------------------------------------------------------------
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
            lexical, language, answers = self._lexical(ids)
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

    def _lexical(self, entry_ids: list[str]) -> tuple[LexicalScorer, str | None, list[str]]:
        """BM25 over each entry's whole text (rows: ``entry_ids``), in the FAQ's language."""
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
        return LexicalScorer(entry_ids, texts, language), language, answers

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
    ) -> tuple[np.ndarray, np.ndarray]:
        """(per entry row: score, per entry row: won by an answer chunk). ``query_vec`` None: BM25
        alone, raw. ``exclude``: that entry row as if it were not in the FAQ (calibration)."""
        lexical = snap.lexical.scores(question) if snap.lexical is not None else np.zeros(len(snap.entry_ids))
        if exclude is not None:
            lexical[exclude] = 0.0
        if query_vec is None:
            scores, from_answer = lexical.astype(np.float32), np.zeros(len(lexical), bool)
        else:
            scores, from_answer = self._dense(snap, query_vec)
            top = float(lexical.max()) if len(lexical) else 0.0
            weight = (
                HYBRID_LEXICAL_WEIGHT
                if hybrid
                else self.tuned_lexical_weight
                if snap.embedder_path
                else self.lexical_weight
            )
            if weight and top > 0:
                scores = (scores + weight * lexical / top) / (1 + weight)
        if exclude is not None:
            scores = scores.copy()
            scores[exclude] = -np.inf
        return scores, from_answer

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

    def _search(self, question: str, k: int) -> tuple[list[RetrievedEntry], float, str, str | None]:
        """(ranked entries, the confidence abstention is decided on, mode, question language)."""
        snap = self._fresh()
        language = self._language(snap, question)
        mode = SEMANTIC if self._reads(language) else HYBRID if snap.embedder_path else LEXICAL
        query_vec = base_vec = None
        if mode != LEXICAL:
            query_vec = self._embedder_for(snap.embedder_path or self.base_embedder).encode([question])[0]
        if mode == SEMANTIC and snap.base_scorer is not None and len(snap.base_scorer):
            base_vec = self._embedder_for(self.base_embedder).encode([question])[0]
        scores, from_answer = self._rank(snap, question, query_vec, hybrid=mode == HYBRID)
        if not len(scores) or (mode == LEXICAL and float(scores.max()) <= 0):
            return [], 0.0, mode, language
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
        return out, confidence, mode, language

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

    def threshold(self, snap: _Snapshot | None = None, mode: str = SEMANTIC) -> float:
        """The confidence below which retrieval abstains. A configured threshold (semantic ranking
        only: it is on the embedder's scale) is used as is. Otherwise the one calibrated on this FAQ
        (retrieval/calibration.py): the confidence that answers at most one in ten questions of the
        FAQ's own domain that it has no entry for; for semantic ranking never below the floor
        measured on CLINC150 for the FAQ's phrasings per entry."""
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

    def _calibration_key(self, snap: _Snapshot) -> str:
        """What a calibrated threshold depends on besides the mode: the index's content (its
        revision), its vectors (collection, embedder) and how questions are routed and ranked."""
        languages = "*" if self.embedder_languages is None else ",".join(sorted(self.embedder_languages))
        return f"v{CALIBRATION_VERSION}:{snap.revision}:{snap.collection}:{snap.embedder_path}:{languages}"

    def _stored_threshold(self, snap: _Snapshot, mode: str) -> float:
        """The threshold another process (or an earlier run) calibrated on this very index, else
        calibrate it now and store it for the others."""
        key = self._calibration_key(snap)
        with self.sessions() as session:
            state = session.get(IndexState, 1)
            stored = (state.calibration or {}) if state is not None else {}
            if stored.get("key") == key and mode in stored.get("values", {}):
                return float(stored["values"][mode])
        value = self._calibrate(snap, mode)
        try:
            with self.sessions() as session:
                state = session.get(IndexState, 1)
                if state is not None and state.revision == snap.revision:  # not changed meanwhile
                    stored = dict(state.calibration or {})
                    values = dict(stored.get("values", {})) if stored.get("key") == key else {}
                    state.calibration = {"key": key, "values": {**values, mode: value}}
                    session.commit()
        except SQLAlchemyError as exc:  # a busy or read-only database: this process still has it
            log.warning("could not store the calibrated threshold: %s", exc)
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
        return self_calibrated_threshold(np.array(confidences, np.float64))

    def retrieve(self, question: str, k: int = 5) -> Retrieval:
        """Ranked entries and whether the FAQ covers the question at all."""
        hits, confidence, mode, language = self._search(question, k)
        threshold = self.threshold(self._snapshot, mode)
        return Retrieval(
            hits,
            confidence,
            abstain=not hits or confidence < threshold,
            mode=mode,
            language=language,
            threshold=threshold,
        )

    def warm_up(self) -> None:
        """Pay the one-off costs of the first question now (loading the embedders and the language
        detector, building the scorer, calibrating, the first inference): one of the FAQ's own
        questions goes the way a real one goes; a made-up word would skip language detection."""
        with self.sessions() as session:
            question = session.scalar(select(FaqEntry.question).order_by(FaqEntry.id).limit(1))
        for _ in range(2):  # the second inference is still slower than the rest
            self.retrieve(question or "How do I reset my password?", k=1)

    def count_entries(self) -> int:
        with self.sessions() as session:
            return len(session.scalars(select(FaqEntry.id)).all())

    def entry_ids(self) -> set[str]:
        with self.sessions() as session:
            return set(session.scalars(select(FaqEntry.id)))
