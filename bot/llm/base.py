"""The model-runtime interface. Serving code talks to this, never to a runtime library directly."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol


class GenerationError(RuntimeError):
    """The runtime could not produce an answer (bad prompt, crash, timeout)."""


class GenerationTimeout(GenerationError):
    pass


@dataclass
class GenerationParams:
    max_new_tokens: int = 160
    stop: tuple[str, ...] = ()
    timeout_s: float | None = None
    cancel: threading.Event | None = field(default=None, compare=False)

    def deadline(self) -> float | None:
        return None if self.timeout_s is None else time.monotonic() + self.timeout_s


class ModelRuntime(Protocol):
    """One loaded model. Not thread-safe: callers serialise access (one worker per model)."""

    name: str

    def stream(self, prompt: str, params: GenerationParams) -> Iterator[str]:
        """Yield text pieces; stops at EOS, a stop sequence, max tokens, cancel or timeout."""
        ...

    def count_tokens(self, text: str) -> int: ...

    def close(self) -> None: ...


class StopSequenceFilter:
    """Holds back text that might be the start of a stop sequence, so a stop never leaks out."""

    def __init__(self, stops: tuple[str, ...]):
        self.stops = tuple(s for s in stops if s)
        self.pending = ""
        self.stopped = False

    def feed(self, piece: str) -> str:
        if self.stopped:
            return ""
        self.pending += piece
        for stop in self.stops:
            idx = self.pending.find(stop)
            if idx >= 0:
                out, self.pending, self.stopped = self.pending[:idx], "", True
                return out
        hold = 0
        for stop in self.stops:  # longest suffix of pending that is a prefix of a stop
            for n in range(min(len(stop) - 1, len(self.pending)), 0, -1):
                if self.pending.endswith(stop[:n]):
                    hold = max(hold, n)
                    break
        out = self.pending[: len(self.pending) - hold]
        self.pending = self.pending[len(self.pending) - hold :]
        return out

    def flush(self) -> str:
        out, self.pending = ("" if self.stopped else self.pending), ""
        return out


@dataclass(frozen=True)
class LoadedModel:
    """A runtime with the name (and registry id, if any) of the version it serves."""

    runtime: ModelRuntime
    version_name: str
    version_id: int | None
