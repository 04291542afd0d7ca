"""Which model serves: the configured path, else the active version in the database."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import ModelVersion
from bot.llm.base import ModelRuntime
from bot.llm.registry import NoModelError, active_version, sha256_file
from bot.settings import Settings


@dataclass(frozen=True)
class LoadedModel:
    runtime: ModelRuntime
    version_name: str
    version_id: int | None


def load_runtime(settings: Settings, path: Path, name: str) -> ModelRuntime:
    if settings.model_backend == "ctransformers":
        from bot.llm.ctransformers_runtime import CTransformersRuntime

        return CTransformersRuntime(
            path, name=name, threads=settings.model_threads, context_length=settings.model_context_length
        )
    if settings.model_backend == "llama-cpp":
        from bot.llm.llama_cpp_runtime import LlamaCppRuntime

        return LlamaCppRuntime(
            path, name=name, threads=settings.model_threads, context_length=settings.model_context_length
        )
    raise ValueError(f"unknown model backend {settings.model_backend!r}")


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

    def active_version(self) -> tuple[int | None, str | None]:
        if self.settings.model_path or self.settings.model_backend == "openai":  # nothing to swap here
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

    def engine(self):
        from bot.llm.engine import ModelEngine

        return ModelEngine(
            self.load_active,
            capacity=self.settings.queue_capacity,
            active_version=self.active_version,
            load_version=self.load_version,
            on_load_error=self.record_load_error,
            poll_s=self.settings.model_poll_seconds,
        )
