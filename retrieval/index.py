"""The FAQ index: SQL holds the entries, the vector store indexes what can match them.

Indexed per entry: its question and alternative phrasings, phrasings admins approved later
("learned"), and its answer in chunks. Every document carries its entry id, so hits and citations
always point at FAQ entries.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import FaqEntry, LearnedPhrasing, utcnow
from retrieval.chunking import chunk_text
from retrieval.embedder import Embedder
from retrieval.faq import FaqItem
from retrieval.store import VectorDoc, VectorStore

CURATED_SOURCE = "curated"  # entries written by admins in Slack; never pruned by a file import


@dataclass(frozen=True)
class RetrievedEntry:
    id: str
    score: float
    question: str
    answer: str
    url: str | None
    matched: str  # the indexed text that matched best
    matched_kind: str = "question"


@dataclass(frozen=True)
class Retrieval:
    hits: list[RetrievedEntry]
    confidence: float  # the score abstention is decided on
    abstain: bool

    @property
    def top(self) -> RetrievedEntry | None:
        return self.hits[0] if self.hits else None


@dataclass
class ImportReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    pruned: int = 0

    @property
    def total(self) -> int:
        return self.added + self.updated + self.unchanged


Progress = Callable[[int], None]


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class FaqIndex:
    # Vector hits fetched per wanted entry: an entry has several documents competing for slots.
    OVERFETCH = 4
    IMPORT_BATCH = 64  # entries embedded per encoder call during import

    def __init__(self, sessions: sessionmaker[Session], store: VectorStore, embedder: Embedder, *,
                 abstain_threshold: float = 0.5, answer_weight: float = 0.9, chunk_chars: int = 600):
        self.sessions = sessions
        self.abstain_threshold = abstain_threshold
        self.store = store
        self.embedder = embedder
        self.answer_weight = answer_weight
        self.chunk_chars = chunk_chars

    # ---- building documents -------------------------------------------------------------------
    def _texts(self, entry_id: str, question: str, alts: Sequence[str], answer: str,
               learned: Sequence[str]) -> list[tuple[str, str, str]]:
        """(doc id, kind, text) for everything that should find this entry."""
        docs = [(f"{entry_id}#q{i}", "question", t) for i, t in enumerate([question, *alts])]
        docs += [(f"{entry_id}#l{_sha(t)[:16]}", "learned", t) for t in learned]
        docs += [(f"{entry_id}#a{i}", "answer", t) for i, t in enumerate(chunk_text(answer, self.chunk_chars))]
        return docs

    def _embed(self, docs: list[tuple[str, tuple[str, str, str]]]) -> list[VectorDoc]:
        """(entry id, (doc id, kind, text)) -> embedded documents."""
        vectors = self.embedder.encode([t for _, (_, _, t) in docs])
        return [VectorDoc(id=i, entry_id=eid, text=t, embedding=v, metadata={"kind": k})
                for (eid, (i, k, t)), v in zip(docs, vectors)]

    def _learned(self, session: Session, entry_ids: Sequence[str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        if entry_ids:
            for row in session.scalars(select(LearnedPhrasing).where(LearnedPhrasing.entry_id.in_(list(entry_ids)))):
                out.setdefault(row.entry_id, []).append(row.text)
        return out

    # ---- import -------------------------------------------------------------------------------
    def import_items(self, items: Sequence[FaqItem], *, prune: bool = False,
                     progress: Progress | None = None) -> ImportReport:
        """Add new and changed entries, skip unchanged ones; with ``prune``, drop imported entries
        that are not in ``items`` (curated entries stay).

        SQL (the source of truth) commits only after the vector store holds every new document:
        new documents are written over their old ids first, leftovers removed after. A failure part
        way leaves SQL as it was, so the next import sees the same entries as changed and finishes.
        """
        report = ImportReport()
        with self.sessions() as session:
            current = {e.id: e for e in session.scalars(select(FaqEntry))}
            changed = [it for it in items if it.id not in current or current[it.id].content_hash != it.content_hash()]
            report.unchanged = len(items) - len(changed)
            if progress and report.unchanged:
                progress(report.unchanged)
            learned = self._learned(session, [it.id for it in changed if it.id in current])

            old_ids = self.store.ids_for_entries([it.id for it in changed if it.id in current])
            new_ids: set[str] = set()
            # Embed and store in batches of entries: one encoder call per batch, bounded memory.
            for start in range(0, len(changed), self.IMPORT_BATCH):
                batch = changed[start : start + self.IMPORT_BATCH]
                texts = [(it.id, doc) for it in batch for doc in self._texts(
                    it.id, it.question, it.alt_questions, it.answer, learned.get(it.id, []))]
                self.store.upsert(self._embed(texts))
                new_ids.update(doc_id for _, (doc_id, _, _) in texts)
                if progress:
                    progress(len(batch))
            if old_ids - new_ids:
                self.store.delete_ids(sorted(old_ids - new_ids))
            wanted = {it.id for it in items}
            pruned = [eid for eid, e in current.items() if prune and eid not in wanted and e.source != CURATED_SOURCE]
            if pruned:
                self.store.delete_entries(pruned)

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
            session.commit()
        return report

    # ---- learning at once ---------------------------------------------------------------------
    def learn_phrasing(self, entry_id: str, text: str, *, answer_id: int | None = None,
                       approved_by: str | None = None) -> bool:
        """Make ``text`` (an approved asker's question) find ``entry_id`` from now on.

        Returns False when the entry already knows this phrasing. Searchable as soon as this returns.
        """
        text = " ".join(text.split())
        if not text:
            raise ValueError("empty phrasing")
        with self.sessions() as session:
            entry = session.get(FaqEntry, entry_id)
            if entry is None:
                raise KeyError(f"no FAQ entry {entry_id!r}")
            known = {entry.question, *entry.alt_questions}
            if text in known or session.scalar(select(LearnedPhrasing).where(
                    LearnedPhrasing.entry_id == entry_id, LearnedPhrasing.text_sha256 == _sha(text))):
                return False
            session.add(LearnedPhrasing(entry_id=entry_id, text=text, text_sha256=_sha(text),
                                        answer_id=answer_id, approved_by=approved_by))
            self.store.upsert(self._embed([(entry_id, (f"{entry_id}#l{_sha(text)[:16]}", "learned", text))]))
            session.commit()
        return True

    def add_curated_entry(self, question: str, answer: str, *, url: str | None = None,
                          approved_by: str | None = None) -> str:
        """A new entry from an approved human answer; returns its id. Same question again updates it."""
        question, answer = " ".join(question.split()), answer.strip()
        if not question or not answer:
            raise ValueError("a curated entry needs a question and an answer")
        entry_id = f"curated-{_sha(question.lower())[:12]}"
        item = FaqItem(id=entry_id, question=question, answer=answer, url=url, source=CURATED_SOURCE)
        with self.sessions() as session:
            row = session.get(FaqEntry, entry_id) or FaqEntry(id=entry_id, alt_questions=[], tags=[])
            row.question, row.answer, row.url, row.source = question, answer, url, CURATED_SOURCE
            row.content_hash, row.updated_at = item.content_hash(), utcnow()
            session.add(row)
            self.store.delete_entries([entry_id])
            self.store.upsert(self._embed([(entry_id, d) for d in self._texts(entry_id, question, (), answer, [])]))
            session.commit()
        return entry_id

    # ---- search -------------------------------------------------------------------------------
    def search(self, question: str, k: int = 5) -> list[RetrievedEntry]:
        """Entries ranked by their best-matching document (max over an entry's documents; answer
        chunks count at ``answer_weight``, since answers share words with many questions)."""
        hits = self.store.query(self.embedder.encode([question])[0], k * self.OVERFETCH)
        best: dict[str, tuple[float, str, str]] = {}
        for h in hits:
            kind = h.metadata.get("kind", "question")
            score = h.score * (self.answer_weight if kind == "answer" else 1.0)
            if h.entry_id not in best or score > best[h.entry_id][0]:
                best[h.entry_id] = (score, h.text, kind)
        ranked = sorted(best.items(), key=lambda kv: kv[1][0], reverse=True)[:k]
        with self.sessions() as session:
            rows = {e.id: e for e in session.scalars(select(FaqEntry).where(FaqEntry.id.in_([i for i, _ in ranked])))}
        return [
            RetrievedEntry(id=eid, score=score, question=rows[eid].question, answer=rows[eid].answer,
                           url=rows[eid].url, matched=matched, matched_kind=kind)
            for eid, (score, matched, kind) in ranked if eid in rows
        ]

    def retrieve(self, question: str, k: int = 5) -> Retrieval:
        """Ranked entries and whether the FAQ covers the question at all."""
        hits = self.search(question, k)
        confidence = hits[0].score if hits else 0.0
        return Retrieval(hits, confidence, abstain=not hits or confidence < self.abstain_threshold)

    def count_entries(self) -> int:
        with self.sessions() as session:
            return len(session.scalars(select(FaqEntry.id)).all())
