"""A placeholder message that becomes the answer, by throttled ``chat.update``.

Nothing the model writes is shown before the grounding guard has passed it: the guard judges the
whole answer (answer.py), and a draft that fails it is replaced by the FAQ's own answer, so showing
the words as they stream would put an unchecked answer in front of the asker for a moment. While the
model writes, the placeholder says only how far along it is; the final, checked answer replaces it.
"""

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
    """Slack allows about one update per second per message (chat.update is Tier 3): progress notes
    are sent at most once per ``interval`` (``stream_update_interval_s``) and only when they change;
    the final answer is always sent."""

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
        self._shown: blocks.Post | None = None
        self._lock = threading.Lock()
        self.updates = 0
        self.final_patience_s = 120.0

    def draft(self, text: str) -> None:
        """The model's answer so far: counted, never shown (see the module's docstring)."""
        words = len(text.split())
        if not words or self.clock() - self._last < self.interval:
            return
        progress = blocks.drafting(words)
        if progress != self._shown:
            self._update(progress, final=False)

    def queued(self, ahead: int) -> None:
        self._update(blocks.queued(ahead), final=False)

    def finish(self, post: blocks.Post) -> None:
        """The final answer must arrive: past slack_sdk's own retries, keep trying for two minutes
        while Slack is rate limiting or failing (the answer is already recorded in SQL)."""
        for attempt in Retrying(
            retry=retry_if_exception(_transient),
            stop=stop_after_delay(self.final_patience_s),
            wait=wait_exponential(multiplier=1, max=15),
            reraise=True,
        ):
            with attempt:
                self._update(post, final=True)

    def _update(self, post: blocks.Post, *, final: bool) -> None:
        with self._lock:
            try:
                self.client.chat_update(channel=self.channel, ts=self.ts, **post.args())
                self.updates += 1
                self._shown = post
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
