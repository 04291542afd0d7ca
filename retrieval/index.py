"""The FAQ index: SQL holds the entries, the vector store indexes their phrasings."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import FaqEntry, utcnow
from retrieval.embedder import Embedder
from retrieval.faq import FaqItem
from retrieval.store import VectorDoc, VectorStore


@dataclass(frozen=True)
class RetrievedEntry:
    id: str
    score: float
    question: str
    answer: str
    url: str | None
    matched: str  # the phrasing that matched best


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


class FaqIndex:
    # Vector hits fetched per wanted entry: an entry has several phrasings competing for slots.
    OVERFETCH = 4

    def __init__(self, sessions: sessionmaker[Session], store: VectorStore, embedder: Embedder):
        self.sessions = sessions
        self.store = store
        self.embedder = embedder

    def _docs(self, item: FaqItem) -> list[str]:
        return list(item.phrasings)

    def import_items(self, items: Sequence[FaqItem], *, prune: bool = False,
                     progress: Progress | None = None) -> ImportReport:
        """Add new and changed entries, skip unchanged ones; with ``prune``, drop entries not in ``items``.

        Embeddings are computed before anything is written; SQL commits only after the vector store
        took the documents, so a failure leaves SQL as it was and the next import redoes the work.
        """
        report = ImportReport()
        with self.sessions() as session:
            current = {e.id: e for e in session.scalars(select(FaqEntry))}
            changed = [it for it in items if it.id not in current or current[it.id].content_hash != it.content_hash()]
            report.unchanged = len(items) - len(changed)
            if progress and report.unchanged:
                progress(report.unchanged)

            docs: list[VectorDoc] = []
            for start in range(0, len(changed), 64):
                chunk = changed[start : start + 64]
                texts = [(it, i, t) for it in chunk for i, t in enumerate(self._docs(it))]
                vectors = self.embedder.encode([t for _, _, t in texts])
                docs += [
                    VectorDoc(id=f"{it.id}#q{i}", entry_id=it.id, text=t, embedding=v, metadata={"kind": "question"})
                    for (it, i, t), v in zip(texts, vectors)
                ]
                if progress:
                    progress(len(chunk))

            stale = [it.id for it in changed if it.id in current]
            pruned = [eid for eid in current if prune and eid not in {it.id for it in items}]
            if stale or pruned:
                self.store.delete_entries(stale + pruned)
            if docs:
                self.store.upsert(docs)

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

    def search(self, question: str, k: int = 5) -> list[RetrievedEntry]:
        """Entries ranked by their best-matching phrasing (max cosine over phrasings)."""
        hits = self.store.query(self.embedder.encode([question])[0], k * self.OVERFETCH)
        best: dict[str, tuple[float, str]] = {}
        for h in hits:
            if h.entry_id not in best or h.score > best[h.entry_id][0]:
                best[h.entry_id] = (h.score, h.text)
        ranked = sorted(best.items(), key=lambda kv: kv[1][0], reverse=True)[:k]
        with self.sessions() as session:
            rows = {e.id: e for e in session.scalars(select(FaqEntry).where(FaqEntry.id.in_([i for i, _ in ranked])))}
        return [
            RetrievedEntry(id=eid, score=score, question=rows[eid].question, answer=rows[eid].answer,
                           url=rows[eid].url, matched=matched)
            for eid, (score, matched) in ranked if eid in rows
        ]

    def count_entries(self) -> int:
        with self.sessions() as session:
            return len(session.scalars(select(FaqEntry.id)).all())
