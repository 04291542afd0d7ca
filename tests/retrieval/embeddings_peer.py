"""A small OpenAI-compatible embeddings server on 127.0.0.1 that runs the real bundled MiniLM.

Stands in for a user's Ollama / llama.cpp server / Text Embeddings Inference / vLLM in tests: same
endpoint (``POST /v1/embeddings`` with ``{"model", "input"}``), same answer (``{"data": [{"index",
"embedding"}], ...}``). Like some real servers it answers out of order and unnormalised, so clients
must sort by ``index`` and normalise. ``fail_next`` (statuses to answer first) and ``behaviour``
make it fail on purpose.
"""

from __future__ import annotations

from tests.http_peer import HttpPeer, PeerRequest


class EmbeddingsPeer(HttpPeer):
    def __init__(self, embedder, model: str = "all-minilm"):
        super().__init__()
        self.embedder = embedder
        self.model = model
        self.behaviour = "ok"  # "ok" | "malformed" | "short" | "truncate" | "not-json"
        self.fail_next: list[int] = []  # statuses answered before any success, in order

    def post(self, request: PeerRequest, body: dict) -> None:
        with self.lock_requests:
            status = self.fail_next.pop(0) if self.fail_next else None
        if request.path != "/v1/embeddings":
            return request.send_json(404, {"error": "not found"})
        if status is not None:
            return request.send_json(status, {"error": {"message": f"busy ({status})"}})
        if body.get("model") != self.model:  # as Ollama and vLLM do for a model they lack
            return request.send_json(404, {"error": {"message": f"model '{body.get('model')}' not found"}})
        if self.behaviour == "not-json":
            return request.send_body(200, b"<html>proxy error</html>", "text/html")
        if self.behaviour == "malformed":
            return request.send_json(200, {"embeddings": []})
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        vectors = self.embedder.encode(texts) * 3.0  # unnormalised, as some servers send
        if self.behaviour == "truncate":
            vectors = vectors[:, :128]
        data = [
            {"object": "embedding", "index": i, "embedding": [float(x) for x in v]}
            for i, v in enumerate(vectors)
        ]
        if self.behaviour == "short":
            data = data[:-1]
        data.reverse()  # out of order: the client must sort by index
        request.send_json(
            200, {"object": "list", "data": data, "model": self.model, "usage": {"prompt_tokens": 0}}
        )

    @property
    def embedding_requests(self) -> list[dict]:
        return [r for r in self.requests if r["path"] == "/v1/embeddings"]


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"
