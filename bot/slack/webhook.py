"""Optional outgoing webhook for a ticketing system: one JSON POST per hand-off, signed, retried.

Signature: ``X-Supportbot-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`` with the
shared secret, and ``X-Supportbot-Timestamp``; the receiver recomputes it and rejects old timestamps.

The payload is data, not a Slack message (it has no ``text`` for Slack to render): ``question`` and
``bot_answer`` are the plain words the asker and the bot wrote (Slack's ``&amp;`` and ``<!here>``
already decoded, nothing escaped), and whoever shows them escapes them for their own medium.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time

import httpx
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

log = logging.getLogger(__name__)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code == 429 or exc.response.status_code >= 500
    return isinstance(exc, httpx.TransportError)


class Webhook:
    def __init__(self, url: str, secret: str | None, *, attempts: int = 5, max_wait_s: float = 30.0):
        self.url, self.secret = url, secret
        self._post = retry(
            stop=stop_after_attempt(attempts),
            wait=wait_exponential(multiplier=0.5, max=max_wait_s),
            retry=retry_if_exception(_retryable),
            reraise=True,
        )(self._post_once)

    def send(self, event: str, payload: dict) -> None:
        """Deliver or give up after the retries; a failure is logged, never raised to the asker."""
        body = json.dumps({"event": event, **payload}, ensure_ascii=False).encode()
        try:
            self._post(body)
        except Exception as exc:
            log.error("hand-off webhook failed after retries: %s", exc)

    def _post_once(self, body: bytes) -> None:
        ts = str(int(time.time()))
        headers = {"content-type": "application/json", "x-supportbot-timestamp": ts}
        if self.secret:
            headers["x-supportbot-signature"] = sign(self.secret, ts, body)
        httpx.post(self.url, content=body, headers=headers, timeout=10).raise_for_status()
