"""A small OpenAI-compatible completions server on 127.0.0.1, serving the real bundled model.

Stands in for llama.cpp server / vLLM in tests: same endpoints (/v1/completions with SSE
streaming, /tokenize), same event format. ``behaviour`` makes it fail on purpose.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bot.llm.base import GenerationParams

# One lock for every peer: they share the session's runtime, which is not thread-safe, and a handler
# of an earlier test's peer may still be running when the next peer starts.
RUNTIME_LOCK = threading.Lock()


class OpenAIPeer:
    def __init__(self, runtime):
        self.runtime = runtime
        self.lock = RUNTIME_LOCK
        self.behaviour = "ok"  # "ok" | "error" | "hang"
        self.requests: list[dict] = []
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def _json(self, code, obj):
                body = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                peer.requests.append(
                    {"path": self.path, "body": body, "auth": self.headers.get("Authorization")}
                )
                if self.path == "/tokenize":
                    with peer.lock:
                        ids = peer.runtime._llm.tokenize(body.get("content", ""), add_bos_token=False)
                    return self._json(200, {"tokens": ids})
                if self.path != "/v1/completions":
                    return self._json(404, {"error": "not found"})
                if peer.behaviour == "error":
                    return self._json(500, {"error": {"message": "model crashed"}})
                if peer.behaviour == "hang":
                    time.sleep(5)  # the client gives up first; then answer nothing
                    return self._json(503, {"error": "gave up"})
                params = GenerationParams(
                    max_new_tokens=body.get("max_tokens", 16), stop=tuple(body.get("stop") or ())
                )
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                with peer.lock:  # one generation at a time, like a single-slot server
                    for piece in peer.runtime.stream(body["prompt"], params):
                        event = {"choices": [{"index": 0, "text": piece, "finish_reason": None}]}
                        self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                        self.wfile.flush()
                done = {"choices": [{"index": 0, "text": "", "finish_reason": "stop"}]}
                self.wfile.write(f"data: {json.dumps(done)}\n\ndata: [DONE]\n\n".encode())

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
