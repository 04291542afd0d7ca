"""Builds the product's components from one Settings object (adapters chosen by settings)."""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cached_property
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from bot.db import migrate
from bot.db.session import session_factory
from bot.llm.engine import ModelEngine
from bot.llm.provider import ModelProvider
from bot.observability.metrics import BotMetrics
from bot.services.answer import AnswerService
from bot.services.feedback import FeedbackService
from bot.services.handoff import HandoffService
from bot.services.review import ReviewService
from bot.services.stats import StatsService
from bot.settings import Settings
from retrieval.embedder import ChromaEmbeddingFunction, Embedder, get_embedder
from retrieval.index import FaqIndex
from retrieval.store import ChromaStore, VectorStore


class SchemaOutOfDate(RuntimeError):
    pass


class DataDirUnavailable(RuntimeError):
    """SUPPORTBOT_DATA_DIR cannot be created (a path under a file, no permission)."""


def make_data_dir(settings: Settings) -> None:
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataDirUnavailable(
            f"cannot create the data folder {settings.data_dir}: {exc.strerror or exc} (SUPPORTBOT_DATA_DIR)"
        ) from exc


def quiet_libraries() -> None:
    """Keep third-party progress bars and telemetry out of the product's output."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    except ImportError:  # pragma: no cover
        pass


class Container:
    def __init__(self, settings: Settings):
        self.settings = settings
        quiet_libraries()

    @property
    def database_url(self) -> str:
        return self.settings.resolved_database_url

    def ensure_schema(self) -> None:
        """Embedded SQLite is migrated on first use; a shared server database is migrated on purpose."""
        url = self.database_url
        if url.startswith("sqlite"):
            make_data_dir(self.settings)
        if migrate.is_up_to_date(url):
            return
        if url.startswith("sqlite"):
            migrate.upgrade(url)
            return
        raise SchemaOutOfDate("The database schema is not up to date. Run: supportbot db upgrade")

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return session_factory(self.database_url)

    @property
    def embedder(self) -> Embedder:
        """The embedder the index currently uses (the base one, or one tuned to this FAQ)."""
        return self.index.embedder

    @property
    def store(self) -> VectorStore:
        return self.index.store()

    def _store_for(self, collection: str) -> VectorStore:
        return ChromaStore(
            collection,
            path=None if self.settings.chroma_url else self.settings.resolved_chroma_path,
            url=self.settings.chroma_url,
            # Chroma gets an explicit embedding function: its default would fetch a model.
            embedding_function=ChromaEmbeddingFunction(self._base_embedder),
        )

    @property
    def _base_embedder(self) -> str | None:
        path = self.settings.embedding_model_path
        return str(path) if path else None

    @cached_property
    def index(self) -> FaqIndex:
        return FaqIndex(
            self.sessions,
            self._store_for,
            get_embedder,
            collection=self.settings.chroma_collection,
            base_embedder=self._base_embedder,
            abstain_threshold=self.settings.abstain_threshold,
            tuned_abstain_threshold=self.settings.tuned_abstain_threshold,
        )

    @cached_property
    def models(self) -> ModelProvider:
        return ModelProvider(self.settings, self.sessions)

    @cached_property
    def engine(self) -> ModelEngine:
        """Started on first use: abstentions and direct FAQ answers never load the model."""
        return self.models.engine()

    def started_engine(self) -> ModelEngine | None:
        """The engine if something already asked for it; reporting on it must not create or load one."""
        return self.__dict__.get("engine")

    def tune_embedder(
        self,
        steps: int | None = None,
        progress: Callable[[int], None] | None = None,
        reembed_progress: Callable[[int], None] | None = None,
    ) -> Path:
        """Tune the embedder to the FAQ as configured (``tune_steps``; kept under ``<data dir>/embedders``)
        and re-index with it. Raises retrieval.tune.TuneError when the FAQ is too small to tune on."""
        from retrieval.tune import TuneParams

        return self.index.tune(
            self.settings.data_dir / "embedders",
            TuneParams(steps=steps or self.settings.tune_steps),
            progress=progress,
            reembed_progress=reembed_progress,
        )

    def model_labels(self) -> dict | None:
        """The model in service as metric labels (``version``, ``backend``); reading it loads nothing."""
        served = self.models.in_service(self.started_engine())
        return served.labels() if served else None

    def close(self) -> None:
        """Stop the model worker and free the loaded model (an embedding process, a test)."""
        if (engine := self.started_engine()) is not None:
            engine.close()

    @cached_property
    def metrics(self) -> BotMetrics:
        """This process's counters; the services increment them where they record the event."""
        metrics = BotMetrics()
        metrics.track_queue(lambda: engine.waiting if (engine := self.started_engine()) else 0)
        metrics.track_model(self.model_labels)
        return metrics

    @cached_property
    def reviews(self) -> ReviewService:
        return ReviewService(self.sessions, self.index, self.settings.admin_users, metrics=self.metrics)

    @cached_property
    def handoffs(self) -> HandoffService:
        return HandoffService(self.sessions, metrics=self.metrics)

    @cached_property
    def feedback(self) -> FeedbackService:
        return FeedbackService(self.sessions, metrics=self.metrics)

    @cached_property
    def stats(self) -> StatsService:
        return StatsService(self.sessions)

    @cached_property
    def answers(self) -> AnswerService:
        return AnswerService(self.settings, self.sessions, self.index, self.engine, metrics=self.metrics)
