"""A placeholder message that becomes the answer: drafts streamed by throttled ``chat.update``."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack import blocks

log = logging.getLogger(__name__)


class StreamedMessage:
    """Slack allows about one update per second per message (chat.update is Tier 3): drafts are sent
    at most once per ``interval``; the final text is always sent."""

    def __init__(self, client: WebClient, channel: str, ts: str, interval: float,
                 clock: Callable[[], float] = time.monotonic):
        self.client, self.channel, self.ts = client, channel, ts
        self.interval, self.clock = interval, clock
        self._last = clock()  # the placeholder itself was just posted
        self._lock = threading.Lock()
        self.updates = 0

    def draft(self, text: str) -> None:
        if not text.strip() or self.clock() - self._last < self.interval:
            return
        self._update(text=text, blocks=blocks.drafting(text), final=False)

    def queued(self, ahead: int) -> None:
        note = f":hourglass: Busy right now: {ahead} question{'s' if ahead != 1 else ''} ahead of yours."
        self._update(text=note, blocks=[blocks.section(note)], final=False)

    def finish(self, text: str, final_blocks: list[dict]) -> None:
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
