"""Which model serves: the configured path, else the active version in the database."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from bot.llm.base import ModelRuntime
from bot.llm.registry import NoModelError, active_version
from bot.settings import Settings


@dataclass(frozen=True)
class LoadedModel:
    runtime: ModelRuntime
    version_name: str
    version_id: int | None


def load_runtime(settings: Settings, path: Path, name: str) -> ModelRuntime:
    if settings.model_backend == "ctransformers":
        from bot.llm.ctransformers_runtime import CTransformersRuntime

        return CTransformersRuntime(path, name=name, threads=settings.model_threads,
                                    context_length=settings.model_context_length)
    raise ValueError(f"unknown model backend {settings.model_backend!r}")


class ModelProvider:
    def __init__(self, settings: Settings, sessions: sessionmaker[Session]):
        self.settings = settings
        self.sessions = sessions
        self._loaded: LoadedModel | None = None
        self._lock = threading.Lock()

    def get(self) -> LoadedModel:
        with self._lock:
            if self._loaded is None:
                self._loaded = self._load()
            return self._loaded

    def _load(self) -> LoadedModel:
        if self.settings.model_path:
            path = self.settings.model_path
            return LoadedModel(load_runtime(self.settings, path, path.stem), path.stem, None)
        with self.sessions() as session:
            version = active_version(session)
        if version is None:
            raise NoModelError("No model is installed. Run: supportbot model install")
        if not Path(version.path).is_file():
            raise NoModelError(f"Model version {version.name}: {version.path} is missing. Run: supportbot model install")
        return LoadedModel(load_runtime(self.settings, Path(version.path), version.name), version.name, version.id)
