"""What stands in front of Bolt on ``/slack/events``: nothing unverified reaches it.

Bolt parses a request's body before it checks the signature, logs a failed check at INFO with the
whole body, and reads any body size. So an unsigned 10 MB POST cost a 10 MB log line, and an
unsigned malformed body (truncated JSON, ``[1]``, a non-JSON ``payload=``) or a non-numeric
timestamp cost a 500 with a traceback. In order, before Bolt sees a byte:

1. only POST (405), and at most ``MAX_BODY_BYTES`` (413, read no further than that);
2. the timestamp is numeric and within five minutes, the signature is Slack's
   (``slack_sdk.signature.SignatureVerifier`` on the raw bytes), else 401;
3. the body parses and has the shape Bolt and the listeners rely on (``bot.slack.payload``),
   else 400.

Every refusal is one short log line (what and why, never the body or a header's value), and when
refusals come in a flood they are counted rather than each logged. Bolt still verifies the
signature itself: it is the same body, so that check passes.
"""

from __future__ import annotations

import io
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.adapter.wsgi.http_request import WsgiHttpRequest
from slack_bolt.context import BoltContext
from slack_bolt.request.internals import build_context
from slack_sdk.signature import SignatureVerifier

from bot.slack import payload

log = logging.getLogger(__name__)

# Slack's largest payloads (a 40,000-character message with its rich-text blocks, a modal's state)
# stay well under this; anything bigger is not from Slack.
MAX_BODY_BYTES = 1 << 20
MAX_CLOCK_SKEW_S = 60 * 5  # Slack's own replay window
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")
_LENGTH = re.compile(r"[0-9]{1,18}")
_PAYLOAD_KEY = "supportbot.slack_payload"


class Refused(Exception):
    def __init__(self, status: int, reason: str, reply: str):
        super().__init__(reason)
        self.status, self.reason, self.reply = status, reason, reply


def _unverified(reason: str) -> Refused:
    return Refused(401, reason, "invalid request\n")


class RefusalLog:
    """One short line per refused request, at most ``burst`` lines per ``window_s``; past that the
    refusals are counted and the count is reported on the next line logged."""

    def __init__(self, logger: logging.Logger, burst: int = 20, window_s: float = 10.0):
        self.logger, self.burst, self.window_s = logger, burst, window_s
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self._window_start, self._logged, self._suppressed = -self.window_s, 0, 0

    def __call__(self, fmt: str, *args: Any) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._window_start >= self.window_s:
                self._window_start, self._logged = now, 0
            if self._logged >= self.burst:
                self._suppressed += 1
                return
            self._logged += 1
            suppressed, self._suppressed = self._suppressed, 0
        if suppressed:
            fmt += " (and %d more refused requests not logged)"
            args = (*args, suppressed)
        self.logger.info(fmt, *args)


# One budget for the process's log, however many guards there are.
refusals = RefusalLog(log)


class SlackEventsGuard:
    """A WSGI app for ``path``: verifies and checks each request, then hands it to Bolt."""

    def __init__(
        self,
        app: App,
        signing_secret: str,
        *,
        path: str = "/slack/events",
        max_body_bytes: int = MAX_BODY_BYTES,
        clock: Callable[[], float] = time.time,
    ):
        self.path, self.max_body_bytes, self.clock = path, max_body_bytes, clock
        self.verifier = SignatureVerifier(signing_secret)
        self.bolt = _BoltHandler(app, path)
        self.refused = refusals

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "") != self.path:
            return _reply(start_response, 404, "not found\n")
        try:
            if environ.get("REQUEST_METHOD") != "POST":
                raise Refused(405, "not a POST", "only POST\n")
            body = self._read(environ)
            environ[_PAYLOAD_KEY] = self._verified_payload(environ, body)
        except Refused as r:
            self.refused(
                "refused %s %s from %s: %s (%d), %s bytes",
                _ascii(environ.get("REQUEST_METHOD")),
                self.path,
                _ascii(environ.get("REMOTE_ADDR")),
                r.reason,
                r.status,
                _ascii(environ.get("CONTENT_LENGTH")) or "0",
            )
            extra = [("Allow", "POST")] if r.status == 405 else []
            return _reply(start_response, r.status, r.reply, extra)
        environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(body), str(len(body))
        # Bolt-internal headers (lazy listeners on FaaS) are not signed: never taken from outside.
        for key in [k for k in environ if k.startswith("HTTP_X_SLACK_BOLT_")]:
            del environ[key]
        return self.bolt(environ, start_response)

    def _read(self, environ: dict) -> bytes:
        declared = environ.get("CONTENT_LENGTH") or ""
        if declared and not _LENGTH.fullmatch(declared):
            raise Refused(400, "Content-Length is not a number", "bad request\n")
        if declared and int(declared) > self.max_body_bytes:
            raise Refused(413, f"body over {self.max_body_bytes} bytes", "request body too large\n")
        stream = environ.get("wsgi.input")
        # Without a Content-Length (PEP 3333: no body) nothing is read; with one, never past the limit.
        body = stream.read(min(int(declared), self.max_body_bytes + 1)) if declared and stream else b""
        if len(body) > self.max_body_bytes:
            raise Refused(413, f"body over {self.max_body_bytes} bytes", "request body too large\n")
        return body

    def _verified_payload(self, environ: dict, body: bytes) -> dict:
        timestamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", "")
        signature = environ.get("HTTP_X_SLACK_SIGNATURE", "")
        # SignatureVerifier calls int() on the timestamp and compares str signatures, which raise
        # on a non-number and on non-ASCII text: only well-formed values are given to it.
        if not _TIMESTAMP.fullmatch(timestamp):
            raise _unverified("no numeric X-Slack-Request-Timestamp")
        if abs(self.clock() - int(timestamp)) > MAX_CLOCK_SKEW_S:
            raise _unverified("timestamp outside the five-minute window")
        if not _SIGNATURE.fullmatch(signature):
            raise _unverified("no well-formed X-Slack-Signature")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise _unverified("body is not UTF-8, so not signed by Slack") from None
        if not self.verifier.is_valid(text, timestamp, signature):
            raise _unverified("bad signature")
        try:
            parsed = parse_body(text, environ.get("CONTENT_TYPE"))
        except (ValueError, RecursionError):  # JSONDecodeError, an int of 5,000 digits, deep nesting
            raise Refused(
                400, "signed body does not parse", "bad request: the body does not parse\n"
            ) from None
        try:
            payload.check(parsed)
        except payload.BadPayload as exc:
            raise Refused(400, f"signed payload refused: {exc}", f"bad request: {exc}\n") from None
        return parsed


def parse_body(text: str, content_type: str | None) -> Any:
    """The body as Bolt reads it (``slack_bolt.request.internals.parse_body``), except that a form
    whose text merely contains the word "payload" (``/ask what is the payload limit``) is read as
    the form it is; Bolt reads it as ``{}`` and the command goes unanswered."""
    if not text:
        return {}
    if (content_type or "").split(";")[0] == "application/json" or text.startswith("{"):
        return json.loads(text)
    fields = dict(parse_qsl(text, keep_blank_values=True))
    return json.loads(fields["payload"]) if "payload" in fields else fields


class _BoltHandler(SlackRequestHandler):
    """Bolt's WSGI adapter, given the payload the guard checked."""

    def dispatch(self, request: WsgiHttpRequest) -> BoltResponse:
        checked = request.environ[_PAYLOAD_KEY]
        try:
            req = BoltRequest(
                body=request.get_body(), query=request.query_string, headers=request.get_headers()
            )
            if req.body != checked:  # see parse_body
                req.body, req.context = checked, build_context(BoltContext(), checked)
        except Exception as exc:  # a shape payload.check missed: still the sender's fault, not a 500
            log.warning(
                "refused a signed Slack request Bolt could not read (%s): %s",
                type(exc).__name__,
                payload.describe(checked),
            )
            return BoltResponse(status=400, body="bad request\n")
        return self.app.dispatch(req)


def _reply(start_response: Callable, status: int, text: str, headers: list | None = None) -> list[bytes]:
    data = text.encode()
    start_response(
        f"{status} {HTTPStatus(status).phrase}",
        [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(data))), *(headers or [])],
    )
    return [data]


def _ascii(value: Any, limit: int = 40) -> str:
    """A request's own words in a log line: short and printable, whatever was sent."""
    text = str(value or "")[:limit]
    return text if text.isascii() and text.isprintable() else ascii(text)[:limit]
