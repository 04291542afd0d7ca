"""Slack, faked at its two edges, and nothing else.

``SlackPeer`` is a local Slack Web API: an HTTP server on 127.0.0.1 that answers ``/api/<method>``
like Slack does and records every call. ``SlackSender`` sends the bot requests signed exactly as
Slack signs them (v0 HMAC-SHA256 of ``v0:<timestamp>:<body>`` with the signing secret).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

BOT_USER = "UBOT"
TEAM = "T0001"


@dataclass
class Call:
    method: str
    args: dict
    ts: str | None = None  # what a chat.postMessage returned
    at: float = field(default_factory=time.monotonic)


class SlackPeer:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.group_users: list[str] = []
        self._failures: dict[str, list[tuple[int, int | None]]] = {}
        self._ts = itertools.count(1)
        self._lock = threading.Condition()
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                method = self.path.split("/api/", 1)[-1].split("?")[0]
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                status, headers, body = peer._handle(
                    method, raw, self.headers.get("content-type", ""), self.headers.get("authorization", "")
                )
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                data = json.dumps(body).encode()
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # ------------------------------------------------------------------ behaviour
    def fail(self, method: str, status: int, times: int = 1, retry_after: int | None = None) -> None:
        """The next ``times`` calls to ``method`` get ``status`` (429 with Retry-After, or a 5xx)."""
        self._failures.setdefault(method, []).extend([(status, retry_after)] * times)

    def _handle(self, method: str, raw: bytes, ctype: str, auth: str) -> tuple[int, dict, dict]:
        if "json" in ctype:
            args = json.loads(raw or b"{}")
        else:
            args = {k: v[0] for k, v in urllib.parse.parse_qs(raw.decode()).items()}
            for key in ("blocks", "view"):
                if isinstance(args.get(key), str):
                    args[key] = json.loads(args[key])
        with self._lock:
            queued = self._failures.get(method)
            if queued:
                status, retry_after = queued.pop(0)
                self.calls.append(Call(method + f"!{status}", args))
                self._lock.notify_all()
                headers = {"retry-after": str(retry_after)} if retry_after is not None else {}
                return (
                    status,
                    headers,
                    {"ok": False, "error": "ratelimited" if status == 429 else "internal_error"},
                )
            ts = f"{1_700_000_000 + next(self._ts)}.000100"
            self.calls.append(Call(method, args, ts if method == "chat.postMessage" else None))
            self._lock.notify_all()
        if not auth.startswith("Bearer xoxb-"):
            return 200, {}, {"ok": False, "error": "not_authed"}
        if method == "auth.test":
            return (
                200,
                {},
                {
                    "ok": True,
                    "url": "https://acme.slack.com/",
                    "team": "Acme",
                    "user": "supportbot",
                    "team_id": TEAM,
                    "user_id": BOT_USER,
                    "bot_id": "BBOT",
                },
            )
        if method == "chat.postMessage":
            return (
                200,
                {},
                {
                    "ok": True,
                    "channel": args.get("channel"),
                    "ts": ts,
                    "message": {"text": args.get("text"), "ts": ts},
                },
            )
        if method == "chat.update":
            return (
                200,
                {},
                {"ok": True, "channel": args.get("channel"), "ts": args.get("ts"), "text": args.get("text")},
            )
        if method == "chat.postEphemeral":
            return 200, {}, {"ok": True, "message_ts": ts}
        if method == "chat.getPermalink":
            return (
                200,
                {},
                {
                    "ok": True,
                    "channel": args.get("channel"),
                    "permalink": f"https://acme.slack.com/archives/{args.get('channel')}/p{ts}",
                },
            )
        if method in ("views.open", "views.publish", "views.update"):
            return (
                200,
                {},
                {"ok": True, "view": {"id": "V" + uuid.uuid4().hex[:8], **(args.get("view") or {})}},
            )
        if method == "usergroups.users.list":
            return 200, {}, {"ok": True, "users": list(self.group_users)}
        return 200, {}, {"ok": True}

    # ------------------------------------------------------------------ inspection
    def calls_to(self, method: str, **match) -> list[Call]:
        with self._lock:
            return [
                c
                for c in self.calls
                if c.method == method and all(c.args.get(k) == v for k, v in match.items())
            ]

    def wait_for(self, predicate: Callable[[], object], timeout: float = 120.0, what: str = "a call"):
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                value = predicate()
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"timed out waiting for {what}; calls: "
                        f"{[(c.method, c.args.get('text', '')[:60]) for c in self.calls]}"
                    )
                self._lock.wait(min(left, 0.5))

    def final_answers(self, channel: str | None = None, thread_ts: str | None = None) -> list[Call]:
        """Answers as finally shown: chat.update calls carrying the feedback buttons."""
        out = [
            c
            for c in self.calls_to("chat.update")
            if (channel is None or c.args.get("channel") == channel)
            and any(
                b.get("type") == "actions" and str(b.get("block_id", "")).startswith("feedback-")
                for b in c.args.get("blocks") or []
            )
        ]
        return out if thread_ts is None else [c for c in out if self.thread_of(c.args["ts"]) == thread_ts]

    def thread_of(self, ts: str) -> str | None:
        """The thread of a message the bot posted (from the chat.postMessage that created it)."""
        with self._lock:
            for c in self.calls:
                if c.method == "chat.postMessage" and c.ts == ts:
                    return c.args.get("thread_ts")
        return None


def event_callback(event: dict, *, event_id: str | None = None) -> dict:
    """The Events API callback Slack wraps an event in: the body of an HTTP delivery, the payload
    of a socket-mode envelope."""
    return {
        "token": "legacy",
        "team_id": TEAM,
        "api_app_id": "A0001",
        "type": "event_callback",
        "event_id": event_id or "Ev" + uuid.uuid4().hex[:10],
        "event_time": int(time.time()),
        "authorizations": [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}],
        "is_ext_shared_channel": False,
        "event_context": "4-eyJldCI6Im1lc3NhZ2UifQ",
        "event": {"event_ts": event.get("ts"), **event},
    }


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return (
        "v0="
        + hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    )


class SlackSender:
    """Delivers events, interactions and slash commands to the bot as Slack would."""

    def __init__(self, url: str, secret: str):
        self.url, self.secret = url, secret
        self.http = httpx.Client(timeout=30)

    def _post(
        self,
        body: bytes,
        ctype: str,
        *,
        timestamp: int | None = None,
        signature: str | None = None,
        headers: dict | None = None,
    ) -> httpx.Response:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        h = {
            "content-type": ctype,
            "x-slack-request-timestamp": ts,
            "x-slack-signature": signature or sign(self.secret, ts, body),
            **(headers or {}),
        }
        return self.http.post(self.url, content=body, headers=h)

    def event(
        self, event: dict, *, event_id: str | None = None, retry_num: int | None = None, **kw
    ) -> httpx.Response:
        envelope = event_callback(event, event_id=event_id)
        headers = kw.pop("headers", {}) or {}
        if retry_num is not None:
            headers |= {"x-slack-retry-num": str(retry_num), "x-slack-retry-reason": "http_timeout"}
        return self._post(json.dumps(envelope).encode(), "application/json", headers=headers, **kw)

    def interaction(self, payload: dict, **kw) -> httpx.Response:
        body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
        return self._post(body, "application/x-www-form-urlencoded", **kw)

    def command(self, command: str, text: str, user: str, channel: str, **kw) -> httpx.Response:
        fields = {
            "token": "legacy",
            "team_id": TEAM,
            "channel_id": channel,
            "user_id": user,
            "command": command,
            "text": text,
            "trigger_id": "trig-" + uuid.uuid4().hex[:8],
            "response_url": "http://127.0.0.1:9/unused",
            "api_app_id": "A0001",
        }
        return self._post(urllib.parse.urlencode(fields).encode(), "application/x-www-form-urlencoded", **kw)


def dm(user: str, text: str, ts: str, channel: str = "D0USER1", thread_ts: str | None = None) -> dict:
    event = {
        "type": "message",
        "channel": channel,
        "channel_type": "im",
        "user": user,
        "text": text,
        "ts": ts,
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def button_click(action_id: str, value: str, user: str, channel: str, message_ts: str) -> dict:
    return {
        "type": "block_actions",
        "team": {"id": TEAM},
        "user": {"id": user},
        "api_app_id": "A0001",
        "trigger_id": "trig-" + uuid.uuid4().hex[:8],
        "channel": {"id": channel},
        "container": {"type": "message", "channel_id": channel, "message_ts": message_ts},
        "message": {"ts": message_ts, "text": ""},
        "actions": [
            {
                "action_id": action_id,
                "value": value,
                "type": "button",
                "block_id": "b",
                "action_ts": str(time.time()),
            }
        ],
    }
