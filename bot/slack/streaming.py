"""A placeholder message that becomes the answer: drafts streamed by throttled ``chat.update``."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_exponential

from bot.slack import blocks

log = logging.getLogger(__name__)


class StreamedMessage:
    """Slack allows about one update per second per message (chat.update is Tier 3): drafts are sent
    at most once per ``interval``; the final text is always sent."""

    def __init__(
        self,
        client: WebClient,
        channel: str,
        ts: str,
        interval: float,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.client, self.channel, self.ts = client, channel, ts
        self.interval, self.clock = interval, clock
        self._last = clock()  # the placeholder itself was just posted
        self._lock = threading.Lock()
        self.updates = 0
        self.final_patience_s = 120.0

    def draft(self, text: str) -> None:
        if not text.strip() or self.clock() - self._last < self.interval:
            return
        self._update(text=text, blocks=blocks.drafting(text), final=False)

    def queued(self, ahead: int) -> None:
        note = f":hourglass: Busy right now: {ahead} question{'s' if ahead != 1 else ''} ahead of yours."
        self._update(text=note, blocks=[blocks.section(note)], final=False)

    def finish(self, text: str, final_blocks: list[dict]) -> None:
        """The final answer must arrive: past slack_sdk's own retries, keep trying for two minutes
        while Slack is rate limiting or failing (the answer is already recorded in SQL)."""
        for attempt in Retrying(
            retry=retry_if_exception(_transient),
            stop=stop_after_delay(self.final_patience_s),
            wait=wait_exponential(multiplier=1, max=15),
            reraise=True,
        ):
            with attempt:
                self._update(text=text, blocks=final_blocks, final=True)

    def _update(self, *, text: str, blocks: list[dict], final: bool) -> None:
        with self._lock:
            try:
                self.client.chat_update(channel=self.channel, ts=self.ts, text=text[:40_000], blocks=blocks)
                self.updates += 1
            except SlackApiError as exc:
                if final:
                    raise
                log.warning("draft update skipped: %s", exc.response.get("error"))
            self._last = self.clock()


def _transient(exc: BaseException) -> bool:
    """Rate limits, Slack's 5xx and dropped connections pass; a real refusal (e.g. the message was
    deleted, the channel archived) does not."""
    if isinstance(exc, SlackApiError):
        return exc.response.status_code in (429, 500, 502, 503, 504) or exc.response.get("error") in (
            "ratelimited",
            "internal_error",
            "fatal_error",
            "service_unavailable",
            "request_timeout",
        )
    return isinstance(exc, OSError)
