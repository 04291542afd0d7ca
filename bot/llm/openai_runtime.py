"""Any OpenAI-compatible completions server (llama.cpp server, vLLM, Ollama): the scale-out path.

Uses the plain completions endpoint, because the prompt is already in Alpaca form (bot.prompts).
Streams server-sent events; honours stop sequences, max tokens, a per-request timeout and cancel.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx

from bot.llm.base import GenerationError, GenerationParams, GenerationTimeout, StopSequenceFilter


class OpenAIRuntime:
    def __init__(
        self, base_url: str, model: str, *, api_key: str | None = None, connect_timeout_s: float = 5.0
    ):
        self.base_url = base_url.rstrip("/")
        self.name = model
        self.path = None
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(headers=headers, timeout=httpx.Timeout(None, connect=connect_timeout_s))
        self._tokenize_supported: bool | None = None

    def _url(self, path: str) -> str:
        # base_url may or may not end in /v1 (both forms are common in the servers' docs)
        root = self.base_url[:-3] if self.base_url.endswith("/v1") else self.base_url
        return f"{root}{path}"

    def stream(self, prompt: str, params: GenerationParams) -> Iterator[str]:
        body = {
            "model": self.name,
            "prompt": prompt,
            "max_tokens": params.max_new_tokens,
            "temperature": 0,
            "stream": True,
        }
        if params.stop:
            body["stop"] = list(params.stop)[:4]  # the OpenAI API takes at most four
        deadline = params.deadline()
        stops = StopSequenceFilter(params.stop)  # servers differ on stops; never let one leak out
        read_timeout = None if deadline is None else max(0.05, deadline - time.monotonic())
        try:
            with self._client.stream(
                "POST",
                self._url("/v1/completions"),
                json=body,
                timeout=httpx.Timeout(read_timeout, connect=5.0),
            ) as resp:
                if resp.status_code != 200:
                    resp.read()
                    raise GenerationError(f"inference server answered {resp.status_code}: {resp.text[:200]}")
                for line in resp.iter_lines():
                    if deadline is not None and time.monotonic() > deadline:
                        raise GenerationTimeout(f"generation passed its {params.timeout_s:.1f}s limit")
                    if params.cancel is not None and params.cancel.is_set():
                        return
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    try:
                        choice = json.loads(data)["choices"][0]
                    except (ValueError, KeyError, IndexError) as exc:
                        raise GenerationError(
                            f"inference server sent an unreadable event: {data[:120]}"
                        ) from exc
                    piece = stops.feed(choice.get("text") or "")
                    if piece:
                        yield piece
                    if stops.stopped or choice.get("finish_reason"):
                        break
        except httpx.TimeoutException as exc:
            raise GenerationTimeout(f"inference server did not answer within {params.timeout_s}s") from exc
        except httpx.HTTPError as exc:
            raise GenerationError(f"inference server unreachable at {self.base_url}: {exc}") from exc
        tail = stops.flush()
        if tail:
            yield tail

    def count_tokens(self, text: str) -> int:
        if self._tokenize_supported is not False:
            try:  # llama.cpp server and vLLM expose /tokenize; others don't
                resp = self._client.post(
                    self._url("/tokenize"),
                    json={"content": text, "model": self.name, "prompt": text},
                    timeout=5.0,
                )
                if resp.status_code == 200:
                    self._tokenize_supported = True
                    return len(resp.json().get("tokens", []))
                self._tokenize_supported = False
            except httpx.HTTPError:
                self._tokenize_supported = False
        return max(1, round(len(text) / 4)) if text else 0  # the usual ~4 characters per token

    def close(self) -> None:
        self._client.close()
