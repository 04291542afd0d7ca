"""Writes to the FAQ index (imports, learned phrasings, curated entries, healing) and the revision
in SQL that every process syncs on (retrieval/snapshot.py). Part of FaqIndex (retrieval/index.py).

SQL and the vector store cannot commit together. An import writes vectors first and commits SQL
last, so one killed part way leaves vectors of entries SQL does not have ("orphans"). They are
healed rather than prevented: no snapshot ever ranks them, and the next writer of the index (an
import, or a process opening the index for serving while no import runs) deletes them. Imports and
tunings hold an index lock (IndexLock) for their whole run, so an import still writing is never
mistaken for one that died.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, select, text, update
from sqlalchemy.orm import Session

from bot.db.models import FaqEntry, IndexState, LearnedPhrasing, text_key, utcnow
from retrieval.chunking import chunk_text
from retrieval.embedder import Embedder
from retrieval.faq import FaqItem
from retrieval.store import VectorDoc, VectorStore

# The facade's name: log lines read as they did before FaqIndex was split into modules.
log = logging.getLogger("retrieval.index")

CURATED_SOURCE = "curated"  # entries written by admins in Slack; never pruned by a file import
PHRASING_KINDS = ("question", "learned")
# A tuned index also keeps every phrasing embedded by the base embedder, under these kinds: abstention
# averages the tuned and the base top score. The tuned embedder pulls questions towards the FAQ's
# topics, unrelated ones included; the base one has not learned to, and the two disagree most on
# out-of-scope questions (CLINC150: 0.77 -> 0.85 abstained at the same share answered; docs/benchmarks.md).
BASE_KINDS = tuple(f"{k}-base" for k in PHRASING_KINDS)
BASE_SUFFIX = "~base"

# Vectors written by a reviewer's approval (a learned phrasing, a curated entry) take no lock: their
# SQL row follows within milliseconds. Orphans among them are deleted only once older than this.
REVIEW_ORPHAN_GRACE_S = 600.0
LOCKED_WRITERS = ("import", "tune")  # writers that hold IndexLock while their vectors lack SQL rows


class IndexBusy(RuntimeError):
    """Another process is importing into or tuning this FAQ index."""


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


def adopt_former_ids(items: Sequence[FaqItem], current: Mapping[str, object]) -> list[FaqItem]:
    """``items`` with each one's former id (FaqItem.former_id: the id an earlier version's Markdown
    slug gave it) put back where the index knows the entry only by that id and no other item claims
    it: re-importing after an upgrade updates the entry instead of adding a twin of it and, with
    --prune, deleting the original with its learned phrasings and reviews."""
    incoming = {it.id for it in items}
    claims = Counter(it.former_id for it in items if it.former_id)
    return [
        dataclasses.replace(it, id=it.former_id)
        if it.former_id
        and it.id not in current
        and it.former_id in current
        and it.former_id not in incoming
        and claims[it.former_id] == 1
        else it
        for it in items
    ]


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


class IndexWrites:
    """FaqIndex's writes and the shared state in SQL; the configuration and caches these methods use
    are set by FaqIndex.__init__ (retrieval/index.py)."""

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
            items = adopt_former_ids(items, current)
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

    def reject_question(
        self, question: str, entry_id: str, *, answer_id: int | None = None, reviewer_id: str | None = None
    ) -> bool:
        """An admin said ``entry_id`` does not answer ``question`` and the FAQ has nothing better: a
        hard negative for the next tuning (retrieval/negatives.py), and an off-topic neighbour
        (retrieval/offtopic.py) for every process from its next question on. False when the pair
        was already known."""
        from retrieval.negatives import record_hard_negative

        recorded = record_hard_negative(
            self.sessions, question, entry_id, action="reject", answer_id=answer_id, reviewer_id=reviewer_id
        )
        if recorded:
            with self.sessions() as session:
                self._bump(session)
                session.commit()
        return recorded

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

    def count_entries(self) -> int:
        with self.sessions() as session:
            return len(session.scalars(select(FaqEntry.id)).all())

    def entry_ids(self) -> set[str]:
        with self.sessions() as session:
            return set(session.scalars(select(FaqEntry.id)))
