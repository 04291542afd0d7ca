"""The HTTP plumbing of the OpenAI-compatible servers tests talk to on 127.0.0.1 (the completions
peer in tests/llm/openai_peer.py, the embeddings peer in tests/retrieval/embeddings_peer.py): a free
port, a serving thread, every POST recorded. A peer says what it answers by overriding ``post``.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class PeerRequest(BaseHTTPRequestHandler):
    server: _PeerServer

    def log_message(self, *args):  # keep test output clean
        pass

    def send_body(self, code: int, body: bytes, kind: str = "application/json") -> None:
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_json(self, code: int, obj) -> None:
        self.send_body(code, json.dumps(obj).encode())

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        peer = self.server.peer
        with peer.lock_requests:
            peer.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
        peer.post(self, body)


class _PeerServer(ThreadingHTTPServer):
    def __init__(self, peer: HttpPeer):
        super().__init__(("127.0.0.1", 0), PeerRequest)
        self.peer = peer


class HttpPeer:
    def __init__(self):
        self.requests: list[dict] = []  # {"path", "body", "auth"} of every POST, in arrival order
        self.lock_requests = threading.Lock()
        self.server = _PeerServer(self)
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1"  # what a client's base URL is set to
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def post(self, request: PeerRequest, body: dict) -> None:
        """Answer one POST (``request.path``, its JSON ``body``) on ``request``."""
        raise NotImplementedError

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
