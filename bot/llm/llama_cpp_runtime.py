"""llama-cpp-python runtime (optional: `pip install llama-cpp-python`, a ~6 minute source build).

Loads standard GGUF files (versions adapted for ctransformers are restored first) and can apply a
LoRA adapter in GGUF form at load time.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

from bot.llm.base import GenerationError, GenerationParams, GenerationTimeout, StopSequenceFilter
from bot.llm.gguf import is_adapted, restore_standard_gguf


class LlamaCppRuntime:
    def __init__(
        self,
        path: str | Path,
        *,
        name: str | None = None,
        threads: int = 2,
        context_length: int = 2048,
    ):
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise GenerationError(
                "SUPPORTBOT_MODEL_BACKEND=llama-cpp needs llama-cpp-python: pip install llama-cpp-python"
            ) from exc
        self.path = Path(path)
        self.name = name or self.path.stem
        self.context_length = context_length
        self._llm = Llama(
            model_path=str(standard_form(self.path)),
            n_ctx=context_length,
            n_threads=threads,
            verbose=False,
        )

    def count_tokens(self, text: str) -> int:
        return len(self._llm.tokenize(text.encode(), add_bos=False, special=False))

    def stream(self, prompt: str, params: GenerationParams) -> Iterator[str]:
        n_prompt = self.count_tokens(prompt)
        if n_prompt + params.max_new_tokens > self.context_length:
            raise GenerationError(
                f"prompt of {n_prompt} tokens + {params.max_new_tokens} new exceeds the "
                f"context of {self.context_length}"
            )
        deadline = params.deadline()
        stops = StopSequenceFilter(params.stop)
        for chunk in self._llm.create_completion(
            prompt,
            max_tokens=params.max_new_tokens,
            temperature=0.0,
            top_k=1,
            repeat_penalty=1.0,
            stream=True,
        ):
            piece = stops.feed(chunk["choices"][0]["text"])
            if piece:
                yield piece
            if stops.stopped or (params.cancel is not None and params.cancel.is_set()):
                return
            if deadline is not None and time.monotonic() > deadline:
                raise GenerationTimeout(f"generation passed its {params.timeout_s:.1f}s limit")
        tail = stops.flush()
        if tail:
            yield tail

    def close(self) -> None:
        self._llm = None


def standard_form(path: Path) -> Path:
    """The registry's versions are written for ctransformers (raw-byte vocabulary, see
    bot/llm/gguf.py), which llama.cpp would decode into garbage. Serve the exactly restored
    standard file instead, written once beside the version (atomically; reused while newer)."""
    if not is_adapted(path):
        return path
    standard = path.with_name(path.stem + ".standard.gguf")
    if standard.exists() and standard.stat().st_mtime >= path.stat().st_mtime:
        return standard
    partial = standard.with_suffix(".gguf.tmp")
    restore_standard_gguf(path, partial)
    partial.replace(standard)
    return standard
