"""Vector stores behind one small interface. Chroma embedded by default, Chroma server when configured."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

import numpy as np


@dataclass(frozen=True)
class VectorDoc:
    id: str
    entry_id: str
    text: str
    embedding: np.ndarray
    metadata: dict[str, Any] = field(default_factory=dict)


class VectorStore(Protocol):
    def upsert(self, docs: Sequence[VectorDoc]) -> None: ...
    def delete_entries(self, entry_ids: Sequence[str]) -> None: ...
    def delete_ids(self, ids: Sequence[str]) -> None: ...
    def ids_for_entries(self, entry_ids: Sequence[str]) -> set[str]: ...
    def doc_entries(self) -> list[tuple[str, str, dict[str, Any]]]: ...
    def all_docs(self, kinds: Sequence[str]) -> tuple[list[str], list[str], list[str], np.ndarray]: ...
    def count(self) -> int: ...
    def drop(self) -> None: ...


class StoreUnavailable(RuntimeError):
    """The configured vector store cannot be reached or created."""


class ChromaStore:
    """One Chroma collection in cosine space; documents carry their FAQ entry id in metadata."""

    BATCH = 4000  # below Chroma's max batch size

    def __init__(
        self,
        collection: str,
        *,
        path: Path | None = None,
        url: str | None = None,
        embedding_function: Any = None,
        client: Any = None,
    ):
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=True)
        if client is not None:
            self.client = client
        elif url:
            parsed = urlparse(url)
            try:
                self.client = chromadb.HttpClient(
                    host=parsed.hostname or "localhost",
                    port=parsed.port or 8000,
                    ssl=parsed.scheme == "https",
                    settings=chroma_settings,
                )
            except Exception as exc:  # chromadb says ValueError("Could not connect..."), or worse
                raise StoreUnavailable(
                    f"cannot reach the Chroma server at {url}: {exc} (SUPPORTBOT_CHROMA_URL)"
                ) from exc
        else:
            if path is None:
                raise ValueError("ChromaStore needs a path (embedded) or a url (server)")
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreUnavailable(
                    f"cannot use {path} for embedded Chroma: {exc.strerror or exc} "
                    "(SUPPORTBOT_CHROMA_PATH or SUPPORTBOT_DATA_DIR)"
                ) from exc
            self.client = chromadb.PersistentClient(path=str(path), settings=chroma_settings)
        self.name = collection
        self.collection = self.client.get_or_create_collection(
            collection,
            embedding_function=embedding_function,
            configuration={"hnsw": {"space": "cosine"}},
        )

    def upsert(self, docs: Sequence[VectorDoc]) -> None:
        for start in range(0, len(docs), self.BATCH):
            batch = docs[start : start + self.BATCH]
            self.collection.upsert(
                ids=[d.id for d in batch],
                documents=[d.text for d in batch],
                embeddings=np.stack([d.embedding for d in batch]),
                metadatas=[{**d.metadata, "entry_id": d.entry_id} for d in batch],
            )

    def delete_entries(self, entry_ids: Sequence[str]) -> None:
        for start in range(0, len(entry_ids), self.BATCH):
            self.collection.delete(where={"entry_id": {"$in": list(entry_ids[start : start + self.BATCH])}})

    def delete_ids(self, ids: Sequence[str]) -> None:
        ids = list(ids)
        for start in range(0, len(ids), self.BATCH):
            self.collection.delete(ids=ids[start : start + self.BATCH])

    def ids_for_entries(self, entry_ids: Sequence[str]) -> set[str]:
        out: set[str] = set()
        entry_ids = list(entry_ids)
        for start in range(0, len(entry_ids), self.BATCH):
            got = self.collection.get(
                where={"entry_id": {"$in": entry_ids[start : start + self.BATCH]}}, include=[]
            )
            out.update(got["ids"])
        return out

    def doc_entries(self) -> list[tuple[str, str, dict[str, Any]]]:
        """(doc id, entry id, metadata) of every document, paged, without texts or vectors: what
        healing compares with SQL. A document without an entry id gets "" (it belongs to no entry)."""
        out: list[tuple[str, str, dict[str, Any]]] = []
        offset = 0
        while True:
            page = self.collection.get(limit=self.BATCH, offset=offset, include=["metadatas"])
            if not page["ids"]:
                break
            metas = page["metadatas"] or [None] * len(page["ids"])
            out += [
                (i, str((m or {}).get("entry_id", "")), dict(m or {})) for i, m in zip(page["ids"], metas)
            ]
            offset += len(page["ids"])
        return out

    def all_docs(self, kinds: Sequence[str]) -> tuple[list[str], list[str], list[str], np.ndarray]:
        """(entry ids, kinds, texts, embeddings) of every document of these kinds, paged."""
        entry_ids: list[str] = []
        doc_kinds: list[str] = []
        texts: list[str] = []
        vectors: list[np.ndarray] = []
        offset = 0
        while True:
            page = self.collection.get(
                where={"kind": {"$in": list(kinds)}},
                limit=self.BATCH,
                offset=offset,
                include=["documents", "metadatas", "embeddings"],
            )
            if not page["ids"]:
                break
            entry_ids += [m["entry_id"] for m in page["metadatas"]]
            doc_kinds += [m.get("kind", "question") for m in page["metadatas"]]
            texts += page["documents"]
            vectors.append(np.asarray(page["embeddings"], dtype=np.float32))
            offset += len(page["ids"])
        dim = vectors[0].shape[1] if vectors else 0
        return (
            entry_ids,
            doc_kinds,
            texts,
            np.concatenate(vectors) if vectors else np.zeros((0, dim), np.float32),
        )

    def count(self) -> int:
        return self.collection.count()

    def embedding_function_config(self) -> dict[str, Any] | None:
        """The config of the embedding function the collection was created with (Chroma keeps it):
        which embedder built it. None for a collection made without one."""
        persisted = (self.collection.configuration_json or {}).get("embedding_function") or {}
        return persisted.get("config")

    def vector_dim(self) -> int | None:
        """The dimension of the stored vectors; None while the collection is empty."""
        got = self.collection.get(limit=1, include=["embeddings"])
        vectors = got.get("embeddings")
        return None if vectors is None or len(vectors) == 0 else len(vectors[0])

    def drop(self) -> None:
        self.client.delete_collection(self.name)
