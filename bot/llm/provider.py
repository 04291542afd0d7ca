"""Which model serves: the configured path, else the active version in the database.

:meth:`ModelProvider.in_service` is the one answer to "which version serves" (metrics, App Home,
``model list``, the gate); :func:`load_runtime` the one place a GGUF becomes a runtime.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import ModelVersion
from bot.llm.base import LoadedModel, ModelRuntime
from bot.llm.engine import ModelEngine
from bot.llm.registry import NoModelError, active_version, sha256_file
from bot.settings import Settings

__all__ = ["LoadedModel", "ModelProvider", "ServedModel", "file_backend", "load_runtime"]

FILE_BACKENDS = ("ctransformers", "llama-cpp", "mock")


@dataclass(frozen=True)
class ServedModel:
    """The model that answers: ``name`` as logged, recorded with answers and shown to admins."""

    name: str
    backend: str
    version_id: int | None = None
    eval_scores: dict = field(default_factory=dict)
    source: str = "registry"  # "registry" | "model_path" | "server"

    def labels(self) -> dict:
        return {"version": self.name, "backend": self.backend}


def file_backend(settings: Settings) -> str:
    """The runtime that loads a local GGUF: the configured one, or the default when the configured
    backend is a server (the nightly gate still measures files on this machine)."""
    return settings.model_backend if settings.model_backend in FILE_BACKENDS else "ctransformers"


def load_runtime(
    settings: Settings, path: Path, name: str | None = None, *, backend: str | None = None
) -> ModelRuntime:
    """A runtime for the GGUF at ``path``, with the configured backend (or ``backend``)."""
    name = name or path.stem
    backend = backend or settings.model_backend
    if backend == "mock":
        from bot.llm.mock_runtime import MockRuntime

        return MockRuntime(name=name)
    if backend == "ctransformers":
        from bot.llm.ctransformers_runtime import CTransformersRuntime

        return CTransformersRuntime(
            path, name=name, threads=settings.model_threads, context_length=settings.model_context_length
        )
    if backend == "llama-cpp":
        from bot.llm.llama_cpp_runtime import LlamaCppRuntime

        return LlamaCppRuntime(
            path, name=name, threads=settings.model_threads, context_length=settings.model_context_length
        )
    raise ValueError(f"model backend {backend!r} does not load files; use one of {FILE_BACKENDS}")


def openai_runtime(settings: Settings) -> ModelRuntime:
    from bot.llm.openai_runtime import OpenAIRuntime

    if not settings.openai_base_url:
        raise NoModelError("SUPPORTBOT_MODEL_BACKEND=openai needs SUPPORTBOT_OPENAI_BASE_URL")
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    return OpenAIRuntime(settings.openai_base_url, settings.openai_model, api_key=key)


class ModelProvider:
    """Loads model versions for the engine and tells it which version is active."""

    def __init__(self, settings: Settings, sessions: sessionmaker[Session]):
        self.settings = settings
        self.sessions = sessions

    def load_active(self) -> LoadedModel:
        if self.settings.model_backend == "openai":  # the server owns its weights and their versions
            return LoadedModel(openai_runtime(self.settings), self.settings.openai_model, None)
        if self.settings.model_backend == "mock" and not self.settings.model_path:
            return LoadedModel(load_runtime(self.settings, Path("mock")), "mock", None)
        if self.settings.model_path:
            path = self.settings.model_path
            return LoadedModel(load_runtime(self.settings, path, path.stem), path.stem, None)
        with self.sessions() as session:
            version = active_version(session)
        if version is None:
            raise NoModelError("No model is installed. Run: supportbot model install")
        return self.load_version(version.id)

    def load_version(self, version_id: int) -> LoadedModel:
        with self.sessions() as session:
            version = session.get(ModelVersion, version_id)
        if version is None:
            raise NoModelError(f"no model version {version_id}")
        path = Path(version.path)
        if not path.is_file():
            raise NoModelError(
                f"Model version {version.name}: {path} is missing. Run: supportbot model install"
            )
        if sha256_file(path) != version.checksum:
            raise NoModelError(f"Model version {version.name}: {path} does not match its checksum")
        return LoadedModel(load_runtime(self.settings, path, version.name), version.name, version.id)

    def in_service(self, engine: ModelEngine | None = None) -> ServedModel | None:
        """The served model: the one ``engine`` has loaded if it has, else the one it would load."""
        s = self.settings
        loaded = engine.serving_version if engine is not None else None
        if s.model_backend == "openai":
            return ServedModel(loaded or s.openai_model, "openai", source="server")
        if s.model_backend == "mock" and not s.model_path:
            return ServedModel(loaded or "mock", "mock", source="mock")
        if s.model_path:
            return ServedModel(loaded or s.model_path.stem, s.model_backend, source="model_path")
        # The registry: the version this process has loaded (a promotion not swapped in yet is not
        # serving here), else the active one it would load.
        wanted = ModelVersion.name == loaded if loaded else ModelVersion.status == "active"
        with self.sessions() as session:
            version = session.scalar(select(ModelVersion).where(wanted).limit(1))
            if version is None:
                return ServedModel(loaded, s.model_backend) if loaded else None
            return ServedModel(version.name, s.model_backend, version.id, dict(version.eval_scores or {}))

    def active_version(self) -> tuple[int | None, str | None]:
        if self.settings.model_path or self.settings.model_backend in ("openai", "mock"):  # nothing to swap
            return None, None
        with self.sessions() as session:
            row = session.execute(
                select(ModelVersion.id, ModelVersion.name).where(ModelVersion.status == "active")
            ).first()
        return (row[0], row[1]) if row else (None, None)

    def record_load_error(self, version_id: int, exc: BaseException) -> None:
        with self.sessions() as session:
            version = session.get(ModelVersion, version_id)
            if version is not None:
                version.error = f"failed to load for serving: {exc}"
                session.commit()

    def engine(self) -> ModelEngine:
        return ModelEngine(
            self.load_active,
            capacity=self.settings.queue_capacity,
            active_version=self.active_version,
            load_version=self.load_version,
            on_load_error=self.record_load_error,
            poll_s=self.settings.model_poll_seconds,
        )
