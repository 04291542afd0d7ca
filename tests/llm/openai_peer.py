"""A small OpenAI-compatible completions server on 127.0.0.1, serving the real bundled model.

Stands in for llama.cpp server / vLLM in tests: same endpoints (/v1/completions with SSE
streaming, /tokenize), same event format. ``behaviour`` makes it fail on purpose.
"""

from __future__ import annotations

import json
import threading
import time

from bot.llm.base import GenerationParams
from tests.http_peer import HttpPeer, PeerRequest

# One lock for every peer: they share the session's runtime, which is not thread-safe, and a handler
# of an earlier test's peer may still be running when the next peer starts.
RUNTIME_LOCK = threading.Lock()


class OpenAIPeer(HttpPeer):
    def __init__(self, runtime):
        super().__init__()
        self.runtime = runtime
        self.lock = RUNTIME_LOCK
        self.behaviour = "ok"  # "ok" | "error" | "hang"

    def post(self, request: PeerRequest, body: dict) -> None:
        if request.path == "/tokenize":
            with self.lock:
                ids = self.runtime._llm.tokenize(body.get("content", ""), add_bos_token=False)
            return request.send_json(200, {"tokens": ids})
        if request.path != "/v1/completions":
            return request.send_json(404, {"error": "not found"})
        if self.behaviour == "error":
            return request.send_json(500, {"error": {"message": "model crashed"}})
        if self.behaviour == "hang":
            time.sleep(5)  # the client gives up first; then answer nothing
            return request.send_json(503, {"error": "gave up"})
        params = GenerationParams(
            max_new_tokens=body.get("max_tokens", 16), stop=tuple(body.get("stop") or ())
        )
        request.send_response(200)
        request.send_header("Content-Type", "text/event-stream")
        request.end_headers()
        with self.lock:  # one generation at a time, like a single-slot server
            for piece in self.runtime.stream(body["prompt"], params):
                event = {"choices": [{"index": 0, "text": piece, "finish_reason": None}]}
                request.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                request.wfile.flush()
        done = {"choices": [{"index": 0, "text": "", "finish_reason": "stop"}]}
        request.wfile.write(f"data: {json.dumps(done)}\n\ndata: [DONE]\n\n".encode())
