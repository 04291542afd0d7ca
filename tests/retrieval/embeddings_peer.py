"""A small OpenAI-compatible embeddings server on 127.0.0.1 that runs the real bundled MiniLM.

Stands in for a user's Ollama / llama.cpp server / Text Embeddings Inference / vLLM in tests: same
endpoint (``POST /v1/embeddings`` with ``{"model", "input"}``), same answer (``{"data": [{"index",
"embedding"}], ...}``). Like some real servers it answers out of order and unnormalised, so clients
must sort by ``index`` and normalise. ``fail_next`` (statuses to answer first) and ``behaviour``
make it fail on purpose.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class EmbeddingsPeer:
    def __init__(self, embedder, model: str = "all-minilm"):
        self.embedder = embedder
        self.model = model
        self.behaviour = "ok"  # "ok" | "malformed" | "short" | "truncate" | "not-json"
        self.fail_next: list[int] = []  # statuses answered before any success, in order
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def _send(self, code: int, body: bytes, kind: str = "application/json") -> None:
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _json(self, code: int, obj) -> None:
                self._send(code, json.dumps(obj).encode())

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                with peer._lock:
                    peer.requests.append(
                        {"path": self.path, "body": body, "auth": self.headers.get("Authorization")}
                    )
                    status = peer.fail_next.pop(0) if peer.fail_next else None
                if self.path != "/v1/embeddings":
                    return self._json(404, {"error": "not found"})
                if status is not None:
                    return self._json(status, {"error": {"message": f"busy ({status})"}})
                if body.get("model") != peer.model:  # as Ollama and vLLM do for a model they lack
                    return self._json(404, {"error": {"message": f"model '{body.get('model')}' not found"}})
                if peer.behaviour == "not-json":
                    return self._send(200, b"<html>proxy error</html>", "text/html")
                if peer.behaviour == "malformed":
                    return self._json(200, {"embeddings": []})
                texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
                vectors = peer.embedder.encode(texts) * 3.0  # unnormalised, as some servers send
                if peer.behaviour == "truncate":
                    vectors = vectors[:, :128]
                data = [
                    {"object": "embedding", "index": i, "embedding": [float(x) for x in v]}
                    for i, v in enumerate(vectors)
                ]
                if peer.behaviour == "short":
                    data = data[:-1]
                data.reverse()  # out of order: the client must sort by index
                self._json(
                    200,
                    {"object": "list", "data": data, "model": peer.model, "usage": {"prompt_tokens": 0}},
                )

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def embedding_requests(self) -> list[dict]:
        return [r for r in self.requests if r["path"] == "/v1/embeddings"]

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"
