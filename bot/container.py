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
from bot.services.gaps import GapService
from bot.services.handoff import HandoffService
from bot.services.model_check import GenerationGate
from bot.services.review import ReviewService
from bot.services.stats import StatsService
from bot.settings import Settings
from retrieval.embedder import (
    MULTILINGUAL,
    ChromaEmbeddingFunction,
    EmbedderChanged,
    EmbedderConfig,
    EmbedderUnavailable,
    TextEmbedder,
    built_with,
    get_embedder,
    language_warning,
)
from retrieval.index import FaqIndex, IndexBusy
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
    def embedder(self) -> TextEmbedder:
        """The embedder the index currently uses (the base one, or one tuned to this FAQ)."""
        return self.index.embedder

    @property
    def store(self) -> VectorStore:
        return self.index.store()

    @cached_property
    def embedder_config(self) -> EmbedderConfig:
        """The base embedder, as settings choose it."""
        s = self.settings
        return EmbedderConfig(
            backend=s.embedding_backend,
            path=str(s.embedding_model_path) if s.embedding_model_path else None,
            url=s.embedding_url,
            model=s.embedding_model,
            api_key=s.embedding_api_key.get_secret_value() if s.embedding_api_key else None,
            languages=tuple(s.embedding_languages) if s.embedding_languages else None,
            batch_size=s.embedding_batch_size,
            timeout_s=s.embedding_timeout_s,
            prompt_name=s.embedding_prompt_name,
        )

    def _embedder_for(self, path: str | None) -> TextEmbedder:
        """The index asks for None (the base embedder) or a folder tuned from it."""
        if path is None or path == self._base_embedder:
            return self.embedder_config.build()
        try:  # tuned from the base folder, whose prompts it keeps
            return get_embedder(path, self.embedder_config.prompt_name)
        except EmbedderUnavailable as exc:
            raise EmbedderUnavailable(
                f"{exc}: the index was built with this tuned embedder. Tune it again with "
                "`supportbot faq tune` (or re-import the FAQ)"
            ) from exc

    def _open_store(self, collection: str) -> ChromaStore:
        return ChromaStore(
            collection,
            path=None if self.settings.chroma_url else self.settings.resolved_chroma_path,
            url=self.settings.chroma_url,
            # Chroma gets an explicit embedding function: its default would fetch a model. Its config,
            # kept with a new collection, records the embedder that builds it.
            embedding_function=ChromaEmbeddingFunction(self.embedder_config),
        )

    def _store_for(self, collection: str) -> VectorStore:
        """A collection of the index, refused (EmbedderChanged) when another embedder built it: its
        vectors and the configured embedder's are not comparable, whatever their dimensions."""
        store = self._open_store(collection)
        config = self.embedder_config
        built = built_with(store.embedding_function_config())
        changed = built != config.identity
        stored_dim = None if changed else store.vector_dim()
        if not changed and stored_dim is not None and stored_dim != self._embedder_for(None).dim:
            built += f" ({stored_dim} dimensions)"  # same name, another model behind it
            changed = True
        if changed and store.count() == 0:
            store.drop()  # nothing to mix yet: made again, recording the configured embedder
            return self._open_store(collection)
        if changed:
            raise EmbedderChanged(
                f"the FAQ index (Chroma collection {collection}) was built with {built}, not with the "
                f"configured embedder {config.identity}: run `supportbot faq import FILE` to re-embed "
                "every entry with it, or set the SUPPORTBOT_EMBEDDING_* settings back",
                collection,
                built,
                config.identity,
            )
        return store

    @property
    def _base_embedder(self) -> str | None:
        """What the index calls the base embedder: its folder (tuning starts from it), or None for the
        bundled one and for a server."""
        return self.embedder_config.path

    @cached_property
    def index(self) -> FaqIndex:
        return FaqIndex(
            self.sessions,
            self._store_for,
            self._embedder_for,
            collection=self.settings.chroma_collection,
            base_embedder=self._base_embedder,
            abstain_threshold=self.settings.abstain_threshold,
            tuned_abstain_threshold=self.settings.tuned_abstain_threshold,
            embedder_languages=self.embedder_languages,
        )

    @property
    def embedder_languages(self) -> tuple[str, ...] | None:
        """The languages the configured embedder reads, as the index takes them (None: all); a question
        in another language is ranked on its words alone."""
        languages, _ = self.embedder_config.resolved_languages()
        return None if MULTILINGUAL in languages else languages

    def reembed_if_embedder_changed(self) -> str | None:
        """Before `faq import`: when the index was built with another embedder than the configured one,
        drop its vectors (SQL keeps every entry and learned phrasing) and go back to the untuned base
        embedder, so that the import re-embeds every entry. Returns the line that says so."""
        try:
            self.index.store()
            return None
        except EmbedderChanged as exc:
            changed = exc
        from sqlalchemy import update

        from bot.db.models import IndexState, utcnow

        with self.index.writer_lock.hold() as got:
            if not got:
                raise IndexBusy(
                    "another `supportbot faq import` or `faq tune` is writing this FAQ index; "
                    "run this one when it has finished"
                )
            for name in dict.fromkeys([changed.collection, self.settings.chroma_collection]):
                self._open_store(name).drop()
            with self.sessions() as session:
                # As FaqIndex._bump does: every process sees the new revision and reloads.
                session.execute(
                    update(IndexState)
                    .where(IndexState.id == 1)
                    .values(
                        revision=IndexState.revision + 1,
                        updated_at=utcnow(),
                        embedder_path=None,
                        collection=None,
                        tuned_revision=None,
                    )
                )
                session.commit()
        self.__dict__.pop("index", None)  # its cached stores are gone
        return (
            f"The embedder changed (was {changed.built}, now {changed.configured}): every FAQ entry "
            "is embedded again."
        )

    def faq_language_warning(self, items) -> str | None:
        """A line when the FAQ's language is not one the configured embedder reads (bot.cli prints it)."""
        return language_warning((t for it in items for t in (it.question, it.answer)), self.embedder_config)

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
        from retrieval.tune import TuneError, TuneParams

        if not self.embedder_config.can_tune:
            raise TuneError(
                "the embedder is served over HTTP (SUPPORTBOT_EMBEDDING_BACKEND=openai) and cannot be "
                "tuned here; retrieval uses it as it is"
            )
        return self.index.tune(
            self.settings.data_dir / "embedders",
            TuneParams(steps=steps or self.settings.tune_steps),
            progress=progress,
            reembed_progress=reembed_progress,
        )

    def model_labels(self) -> dict | None:
        """The model in service as metric labels (``version``, ``backend``); reading it loads nothing."""
        served = self.models.in_service(self.started_engine())
        if served is None:
            return None
        verdict = self.generation_gate.verdict()
        return served.labels() | {"generates": str(verdict.generates).lower()}

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
    def gaps(self) -> GapService:
        return GapService(self.sessions, self.index)

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
    def generation_gate(self) -> GenerationGate:
        """Whether the model in service earns generating (its measured faithful share)."""
        s = self.settings

        def serving() -> str | None:
            served = self.models.in_service(self.started_engine())
            return served.name if served else None

        return GenerationGate(
            s.generation,
            s.faithful_bar,
            s.model_check_min_answers,
            self.sessions,
            serving,
            ttl_s=s.model_poll_seconds,
        )

    @cached_property
    def answers(self) -> AnswerService:
        return AnswerService(
            self.settings,
            self.sessions,
            self.index,
            self.engine,
            metrics=self.metrics,
            gate=self.generation_gate,
        )
