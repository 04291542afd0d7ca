"""An OpenAI-compatible completions server on 127.0.0.1 whose words the test writes.

The bot reaches it through its real ``openai`` backend (SSE streaming over HTTP), so what the model
"says" can be exactly what an attacker would want it to say, and no real model has to run.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_INPUT = re.compile(
    r"### Input:\n\[[^\]]*\] [^\n]*\n(.*?)(?:\n\nEarlier in this conversation:|\n\n### Response)", re.S
)


def faq_answer(prompt: str) -> str:
    """The FAQ answer the bot put in the prompt (what a faithful model would repeat)."""
    m = _INPUT.search(prompt)
    return m.group(1).strip() if m else ""


class ScriptedModel:
    def __init__(self) -> None:
        self.reply: Callable[[str], str] = faq_answer
        self.pause_s = 0.0  # between two streamed words
        self.prompts: list[str] = []
        model = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
                if self.path != "/v1/completions":  # e.g. /tokenize: the client falls back to counting
                    self.send_response(404)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                model.prompts.append(body["prompt"])
                words = re.findall(r"\S+\s*", model.reply(body["prompt"]))
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.end_headers()
                for word in words:
                    event = {"choices": [{"index": 0, "text": word, "finish_reason": None}]}
                    self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                    self.wfile.flush()
                    time.sleep(model.pause_s)
                done = {"choices": [{"index": 0, "text": "", "finish_reason": "stop"}]}
                self.wfile.write(f"data: {json.dumps(done)}\n\ndata: [DONE]\n\n".encode())

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> ScriptedModel:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
