"""A model runtime with no weights, for tests of transport and routing (``SUPPORTBOT_MODEL_BACKEND=mock``).

It answers as a faithful model would: it quotes the first two sentences of the first FAQ entry in
the prompt's input, streamed a word at a time, and nothing when the prompt has no entry. So Slack,
routing, review and recovery tests run the real answer service and grounding guard without loading
the model (about a second each, more on a busy machine); tests about the model itself keep using
the real runtimes.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

from bot.llm.base import GenerationError, GenerationParams, GenerationTimeout

__all__ = ["MockRuntime"]

_ENTRY = re.compile(r"### Input:\n\[[^\]\n]*\] [^\n]*\n(?P<answer>.*?)(?:\n\n|\Z)", re.DOTALL)
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+")


class MockRuntime:
    def __init__(self, name: str = "mock", *, delay_s: float = 0.0):
        self.name = name
        self.delay_s = delay_s  # per word: lets tests hold an answer in progress
        self._closed = False

    def answer_for(self, prompt: str) -> str:
        match = _ENTRY.search(prompt)
        if not match:
            return ""
        sentences = _SENTENCE_END.split(match.group("answer").strip())
        return " ".join(sentences[:2])

    def stream(self, prompt: str, params: GenerationParams) -> Iterator[str]:
        if self._closed:
            raise GenerationError("the mock runtime is closed")
        deadline = params.deadline()
        words = self.answer_for(prompt).split(" ")
        for i, word in enumerate(words[: params.max_new_tokens]):
            if params.cancel is not None and params.cancel.is_set():
                return
            if deadline is not None and time.monotonic() > deadline:
                raise GenerationTimeout("generation timed out")
            if self.delay_s:
                time.sleep(self.delay_s)
            yield word if i == 0 else " " + word

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def close(self) -> None:
        self._closed = True
