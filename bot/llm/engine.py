"""One worker thread per loaded model, a bounded FIFO queue in front of it, and hot swap.

The runtimes are not thread-safe, so exactly one thread ever calls the model; requests never
interleave. When the queue is full, ``submit`` refuses at once with ``Busy`` instead of letting the
caller wait into a timeout; callers fall back to something that needs no model. A promoted model
version is loaded in the background and swapped in between two requests: the request in flight
finishes on the model it started with.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from bot.llm.base import GenerationError, GenerationParams, LoadedModel

log = logging.getLogger(__name__)
_DONE = object()


class Busy(RuntimeError):
    def __init__(self, waiting: int, capacity: int):
        self.waiting, self.capacity = waiting, capacity
        super().__init__(f"The assistant is busy: {waiting} questions are waiting (limit {capacity}).")


@dataclass
class GenerationResult:
    text: str
    tokens: int
    model_version: str
    model_version_id: int | None
    first_token_s: float | None
    total_s: float


@dataclass(eq=False)
class Job:
    prompt: str
    params: GenerationParams
    enqueued_at: float = field(default_factory=time.monotonic)
    pieces: queue.Queue = field(default_factory=queue.Queue)
    done: threading.Event = field(default_factory=threading.Event)
    result: GenerationResult | None = None
    error: BaseException | None = None
    position: int = 0  # requests ahead of this one when it was queued

    def cancel(self) -> None:
        if self.params.cancel is not None:
            self.params.cancel.set()

    def stream(self) -> Iterator[str]:
        """Text pieces as the model produces them; raises the generation's error, if any."""
        while True:
            piece = self.pieces.get()
            if piece is _DONE:
                break
            yield piece
        if self.error:
            raise self.error

    def wait(self, timeout: float | None = None) -> GenerationResult:
        if not self.done.wait(timeout):
            raise TimeoutError("generation did not finish in time")
        if self.error:
            raise self.error
        assert self.result is not None
        return self.result


class ModelEngine:
    def __init__(
        self,
        load: Callable[[], LoadedModel],
        *,
        capacity: int = 32,
        active_version: Callable[[], tuple[int | None, str | None]] | None = None,
        load_version: Callable[[int], LoadedModel] | None = None,
        on_load_error: Callable[[int, BaseException], None] | None = None,
        poll_s: float = 10.0,
    ):
        self._load = load
        self.capacity = capacity
        self._queue: queue.Queue[Job] = queue.Queue(maxsize=capacity)
        self._model: LoadedModel | None = None
        self._pending: LoadedModel | None = None
        self._lock = threading.Lock()
        self._active_version = active_version
        self._load_version = load_version
        self._on_load_error = on_load_error
        self._poll_s = poll_s
        self._failed_versions: set[int] = set()
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._run, name="model-worker", daemon=True)
        self._watcher = threading.Thread(target=self._watch, name="model-watcher", daemon=True)
        self._started = False

    # ---- lifecycle ----------------------------------------------------------------------------
    def start(self) -> ModelEngine:
        with self._lock:
            if not self._started:
                self._model = self._load()  # fail fast: no model, no engine
                self._worker.start()
                if self._active_version and self._load_version:
                    self._watcher.start()
                self._started = True
        return self

    def stop(self) -> None:
        self._stop.set()

    def close(self, timeout: float = 10.0) -> None:
        """Stop, wait for the current request to finish, and free the model's memory."""
        self.stop()
        for thread in (self._worker, self._watcher):
            if thread.is_alive():
                thread.join(timeout)
        with self._lock:
            loaded = [m for m in (self._model, self._pending) if m is not None]
            self._model = self._pending = None
        for model in loaded:
            model.runtime.close()

    @property
    def model(self) -> LoadedModel:
        self.start()
        assert self._model is not None
        return self._model

    @property
    def waiting(self) -> int:
        return self._queue.qsize()

    @property
    def serving_version(self) -> str | None:
        """The version answering now; None until the first request loads a model."""
        model = self._model
        return model.version_name if model is not None else None

    # ---- requests -----------------------------------------------------------------------------
    def submit(self, prompt: str, params: GenerationParams) -> Job:
        """Queue a generation. Raises Busy at once when ``capacity`` requests are already waiting."""
        self.start()
        if params.cancel is None:
            params.cancel = threading.Event()
        job = Job(prompt, params)
        job.position = self._queue.qsize()
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            raise Busy(self._queue.qsize(), self.capacity) from None
        return job

    def generate(self, prompt: str, params: GenerationParams) -> GenerationResult:
        return self.submit(prompt, params).wait()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                job = self._queue.get(timeout=0.5)
            except queue.Empty:
                self._swap_if_pending()
                continue
            self._swap_if_pending()  # between requests only
            self._serve(job)

    def _serve(self, job: Job) -> None:
        model = self._model
        assert model is not None
        started = time.monotonic()
        first = None
        parts: list[str] = []
        try:
            if job.params.cancel is not None and job.params.cancel.is_set():
                raise GenerationError("cancelled before it started")
            for piece in model.runtime.stream(job.prompt, job.params):
                if first is None:
                    first = time.monotonic() - job.enqueued_at
                parts.append(piece)
                job.pieces.put(piece)
            text = "".join(parts)
            job.result = GenerationResult(
                text,
                model.runtime.count_tokens(text) if text else 0,
                model.version_name,
                model.version_id,
                first,
                time.monotonic() - started,
            )
        except BaseException as exc:  # the worker must survive anything a request does
            job.error = (
                exc if isinstance(exc, GenerationError) else GenerationError(f"generation failed: {exc}")
            )
            log.warning("generation failed: %s", exc)
        finally:
            job.pieces.put(_DONE)
            job.done.set()

    # ---- hot swap -----------------------------------------------------------------------------
    def _swap_if_pending(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, None
        if pending is not None:
            old, self._model = self._model, pending
            log.info("now serving model version %s", pending.version_name)
            if old is not None:
                old.runtime.close()

    def check_for_new_version(self) -> bool:
        """Load the active version in the background if it is not the one serving. True if a swap is queued."""
        assert self._active_version and self._load_version
        version_id, _name = self._active_version()
        current = self._pending or self._model
        if (
            version_id is None
            or (current and current.version_id == version_id)
            or version_id in self._failed_versions
        ):
            return False
        try:
            loaded = self._load_version(version_id)
        except Exception as exc:  # keep serving the old model; say why on the version row
            self._failed_versions.add(version_id)
            log.error(
                "model version %s failed to load; keeping %s: %s",
                version_id,
                current.version_name if current else None,
                exc,
            )
            if self._on_load_error:
                self._on_load_error(version_id, exc)
            return False
        with self._lock:
            self._pending = loaded
        return True

    def _watch(self) -> None:
        while not self._stop.wait(self._poll_s):
            try:
                self.check_for_new_version()
            except Exception as exc:  # a database hiccup must not kill the watcher
                log.warning("model version check failed: %s", exc)
