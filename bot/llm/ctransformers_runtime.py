"""ctransformers runtime (the default): loads a GGUF adapted by bot.llm.gguf."""

from __future__ import annotations

import codecs
import time
from collections.abc import Iterator
from pathlib import Path

from bot.llm.base import GenerationError, GenerationParams, GenerationTimeout, StopSequenceFilter


class CTransformersRuntime:
    def __init__(
        self, path: str | Path, *, name: str | None = None, threads: int = 2, context_length: int = 2048
    ):
        from ctransformers import AutoModelForCausalLM

        self.path = Path(path)
        self.name = name or self.path.stem
        self.context_length = context_length
        try:
            self._llm = AutoModelForCausalLM.from_pretrained(
                str(self.path), model_type="llama", threads=threads, context_length=context_length
            )
        except Exception as exc:  # ctransformers hides the loader's reason; say what to check
            raise GenerationError(
                f"ctransformers could not load {self.path}: {exc or 'no reason given'}. "
                "Is it a GGUF written by `supportbot model install`?"
            ) from exc

    def count_tokens(self, text: str) -> int:
        return len(self._llm.tokenize(text, add_bos_token=False))

    def stream(self, prompt: str, params: GenerationParams) -> Iterator[str]:
        # No BOS: SmolLM2 declares add_bos_token=false and training prompts carry none either.
        tokens = self._llm.tokenize(prompt, add_bos_token=False)
        if len(tokens) + params.max_new_tokens > self.context_length:
            raise GenerationError(
                f"prompt of {len(tokens)} tokens + {params.max_new_tokens} new exceeds the "
                f"context of {self.context_length}"
            )
        deadline = params.deadline()
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        stops = StopSequenceFilter(params.stop)
        generated = 0
        # Greedy and no repetition penalty: answers should quote the FAQ, and a penalty on
        # repeated tokens pushes the model away from the words it was given.
        for token in self._llm.generate(tokens, top_k=1, temperature=1.0, repetition_penalty=1.0, reset=True):
            piece = stops.feed(decoder.decode(self._llm.detokenize([token], decode=False)))
            if piece:
                yield piece
            generated += 1
            if stops.stopped or generated >= params.max_new_tokens:
                break
            if params.cancel is not None and params.cancel.is_set():
                break
            if deadline is not None and time.monotonic() > deadline:
                raise GenerationTimeout(f"generation passed its {params.timeout_s:.1f}s limit")
        tail = stops.feed(decoder.decode(b"", final=True)) + stops.flush()
        if tail:
            yield tail

    def close(self) -> None:
        self._llm = None
