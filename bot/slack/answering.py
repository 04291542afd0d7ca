"""Answering in Slack: questions taken once, answered on a pool, recovered when a process died.

Every question is recorded in SQL under a unique delivery key before the listener returns (and so
before Slack gets its ack); the slow part, answering, runs on a thread pool and talks back through
the Web API. Conversations that go to a human (hand-offs and the replies relayed both ways) live
here too: they are the answer's continuation.
"""

from __future__ import annotations

import contextvars
import logging
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from slack_sdk.errors import SlackApiError

from bot.container import Container
from bot.services.answer import Duplicate, Received, Superseded
from bot.services.handoff import HandoffInfo
from bot.slack import blocks
from bot.slack.client import SafeWebClient, tell
from bot.slack.streaming import StreamedMessage
from bot.slack.webhook import Webhook

__all__ = ["Answering", "NotDone"]

log = logging.getLogger(__name__)
MENTION = re.compile(r"<@[UW][A-Z0-9]+>")

ReviewHook = Callable[[int, str | None], None]  # (answer id, flag): maybe post it for review


class NotDone(Exception):
    """An interaction that cannot be done as asked (a button naming no answer, a broken form); the
    message is the one line the presser is told."""


class Answering:
    def __init__(
        self, container: Container, client: SafeWebClient, review: ReviewHook, *, workers: int | None = None
    ):
        self.c = container
        self.settings = container.settings
        self.client = client
        self.review = review
        # Answering threads mostly wait for the model. One per queue slot, plus room for hand-offs and
        # reviews, so every asker gets a placeholder at once rather than when a thread frees up.
        workers = workers or self.settings.queue_capacity + 8
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="slack-answer")
        s = self.settings
        self.webhook = (
            Webhook(
                s.handoff_webhook_url,
                s.handoff_webhook_secret.get_secret_value() if s.handoff_webhook_secret else None,
            )
            if s.handoff_webhook_url
            else None
        )
        self._in_flight: dict[int, Received] = {}
        self._in_flight_lock = threading.Lock()
        self._stop = threading.Event()
        self._sweeper = threading.Thread(target=self._recover_overdue, name="slack-recovery", daemon=True)
        self._sweeper.start()

    def close(self, wait: bool = True) -> None:
        self._stop.set()
        self.pool.shutdown(wait=wait)

    def background(self, fn, *args) -> None:
        """Run ``fn`` on the pool in a copy of this context, so its log lines keep the event's request id."""
        self.pool.submit(contextvars.copy_context().run, fn, *args)

    # ---------------------------------------------------------------- recovery
    def _recover_overdue(self) -> None:
        """Questions recorded but never answered (their process died, or the database went away
        mid-answer) are claimed once their lease runs out and answered here."""
        s = self.settings
        while not self._stop.wait(min(s.recovery_interval_s, s.answer_lease_s / 3)):
            try:
                with self._in_flight_lock:
                    mine = list(self._in_flight.values())
                for received in mine:  # alive and working on it (maybe queued for the model): keep the lease
                    self.c.answers.renew(received)
                for received in self.c.answers.claim_overdue():
                    log.warning(
                        "answering question %s again (attempt %d): its first answer never completed",
                        received.message_id,
                        received.attempt + 1,
                    )
                    self._start_answering(received)
            except Exception as exc:  # the database may be down right now: try again next round
                log.warning("recovery sweep failed: %s: %s", type(exc).__name__, exc)

    # ---------------------------------------------------------------- questions
    def take_question(
        self, text: str, *, user: str, channel: str, ts: str, thread_ts: str, key: str | None = None
    ) -> bool:
        """Record the question (durably, once across processes) and answer it in the background.
        ``text`` is as Slack sent it: the question is stored as the words the asker sees."""
        text = blocks.plain(MENTION.sub("", text)).strip()
        try:
            received = self.c.answers.receive(
                text,
                user_id=user,
                source="slack",
                channel_id=channel,
                thread_ts=thread_ts,
                dedup_key=key or f"slack:{channel}:{ts}",
                slack_ts=ts,
            )
        except Duplicate:
            log.info("delivery %s:%s already taken; not answering twice", channel, ts)
            return False
        self._start_answering(received)
        return True

    def _start_answering(self, received: Received) -> None:
        with self._in_flight_lock:
            self._in_flight[received.message_id] = received
        self.c.metrics.in_progress.inc()
        self.background(self._answer_logged, received)

    def _answer_logged(self, received: Received) -> None:
        try:
            self.answer(received)
        except Superseded:
            log.warning(
                "question %s is answered by another process (this one stalled past its lease)",
                received.message_id,
            )
        except Exception:
            log.exception(
                "answering message %s failed; it is answered again once its lease runs out",
                received.message_id,
            )
        finally:
            with self._in_flight_lock:
                self._in_flight.pop(received.message_id, None)
            self.c.metrics.in_progress.dec()

    def answer(self, received: Received) -> None:
        channel, thread = received.channel_id, received.thread_ts
        if received.error:
            self.client.chat_postMessage(
                channel=channel, thread_ts=thread, **blocks.note(f":warning: {received.error}").args()
            )
            return
        if not self.c.answers.renew(received):
            log.warning(
                "question %s was claimed by another process while it waited here; not answering twice",
                received.message_id,
            )
            return
        if received.placeholder_ts:  # an earlier attempt died after posting it: answer in the same place
            placeholder_ts = received.placeholder_ts
        else:
            placeholder_ts = self.client.chat_postMessage(
                channel=channel, thread_ts=thread, **blocks.thinking().args()
            )["ts"]
            try:
                self.c.answers.placeholder_posted(received, placeholder_ts)
            except Exception:
                # Not remembered, so the answer recovery brings cannot go into it: take it back
                # rather than leave "Looking that up…" in the thread for good.
                self._withdraw(channel, placeholder_ts)
                raise
        stream = StreamedMessage(self.client, channel, placeholder_ts, self.settings.stream_update_interval_s)
        if received.answer_id is not None:  # answered before, but it never reached the asker
            result = self.c.answers.recorded(received.answer_id)
        else:
            result = self.c.answers.respond(
                received, on_text=stream.draft, on_queued=stream.queued, deliver_later=True
            )
        # Shown first, then marked delivered: if the mark fails, the lease runs out and the answer is
        # shown again in the same message (an update, not a second reply), never lost.
        stream.finish(
            blocks.answer(
                result.answer,
                result.answer_id,
                result.sources,
                abstained=result.abstained,
                mode=result.mode,
                shortened=result.shortened,
            )
        )
        self.c.answers.delivered(result.answer_id, placeholder_ts)
        log.info(
            "answered question %s as answer %s: %s%s (%s), %.0f ms",
            received.message_id,
            result.answer_id,
            result.mode,
            f" ({result.fallback})" if result.fallback else "",
            result.why,
            result.latency_ms,
        )
        if result.abstained:
            self.hand_off(result.answer_id, received.user_id, "abstain")
        self.review(result.answer_id, "abstain" if result.abstained else None)

    def _withdraw(self, channel: str | None, ts: str) -> None:
        try:
            self.client.chat_delete(channel=channel, ts=ts)
        except SlackApiError as exc:
            log.warning("could not take back placeholder %s: %s", ts, exc.response.get("error"))

    def whole_entry(self, answer_id: int, user: str, channel: str | None) -> None:
        """The whole FAQ entry a shortened answer was led from, for whoever pressed (only they see
        it: the thread stays short for everyone else)."""
        entry = self.c.answers.cited_entry(answer_id)
        if entry is None:
            raise NotDone(f"no FAQ entry behind answer {answer_id}")
        tell(
            self.client,
            user,
            channel,
            f"{entry.question}\n\n{entry.answer}" + (f"\n{entry.url}" if entry.url else ""),
        )

    # ---------------------------------------------------------------- feedback and hand-off
    def feedback(self, answer_id: int, user: str, kind: str, channel: str | None) -> None:
        """A Helpful / Not helpful press. Anyone who sees the answer may press; only the asker's counts
        (and only the asker's "not helpful" sends the answer to review), the others' are kept apart."""
        try:
            recorded = self.c.feedback.record(answer_id, user, kind)
        except LookupError:
            raise NotDone(f"no answer {answer_id}") from None
        if recorded is None:  # a repeated click
            return
        if not recorded.by_asker:
            thanks = "Thanks, noted. Only the asker's rating counts in the figures; yours is kept apart."
        elif kind == "helpful":
            thanks = "Thanks, noted."
        else:
            thanks = "Thanks: an admin will look at this answer."
        tell(self.client, user, channel, thanks)
        if kind == "not_helpful" and recorded.by_asker:
            self.review(answer_id, "not_helpful")

    def hand_off(self, answer_id: int, user: str, reason: str, channel: str | None = None) -> None:
        support = self.settings.support_channel
        if not support:
            if reason == "requested":
                tell(
                    self.client,
                    user,
                    channel,
                    "No support channel is configured yet; please contact the support team directly.",
                )
            return
        try:
            handoff = self.c.handoffs.open(answer_id, user, reason)
        except LookupError:
            raise NotDone(f"no answer {answer_id}") from None
        if handoff is None:
            if reason == "requested":
                tell(self.client, user, channel, "The support team already has this question.")
            return
        permalink = None
        try:
            permalink = self.client.chat_getPermalink(
                channel=handoff.asker_channel, message_ts=handoff.asker_thread_ts
            ).get("permalink")
        except SlackApiError:
            pass
        post = self.client.chat_postMessage(
            channel=support,
            **blocks.handoff_request(
                handoff.asker,
                handoff.asker_channel,
                handoff.question,
                handoff.bot_answer,
                reason,
                permalink,
                requested_by=user,
            ).args(),
        )
        self.c.handoffs.posted(handoff.id, post["channel"], post["ts"])
        self.client.chat_postMessage(
            channel=handoff.asker_channel, thread_ts=handoff.asker_thread_ts, **blocks.handed_off().args()
        )
        if reason == "requested":
            self.review(answer_id, "escalated")
        if self.webhook:
            payload = {
                "handoff_id": handoff.id,
                "reason": reason,
                "user": handoff.asker,
                "channel": handoff.asker_channel,
                "thread_ts": handoff.asker_thread_ts,
                "question": handoff.question,
                "bot_answer": handoff.bot_answer,
                "permalink": permalink,
            }
            self.background(self.webhook.send, "handoff", payload)

    def relay_from_support(self, channel: str, thread_ts: str, ts: str, agent: str, text: str) -> None:
        handoff = self.c.handoffs.by_support_thread(channel, thread_ts)
        text = blocks.plain(text).strip()  # stored and relayed as the words the agent wrote
        if handoff is None or not text:
            return
        answer_id = self.c.handoffs.record_human_reply(handoff, agent, text, f"slack:{channel}:{ts}")
        if answer_id is None:
            return  # a retried delivery
        self.client.chat_postMessage(
            channel=handoff.asker_channel,
            thread_ts=handoff.asker_thread_ts,
            **blocks.relayed(agent, text, from_support=True).args(),
        )
        self.review(answer_id, "human")

    def relay_from_asker(self, handoff: HandoffInfo, ts: str, user: str, text: str) -> None:
        text = blocks.plain(MENTION.sub("", text)).strip()
        if not text or not self.c.handoffs.record_asker_followup(
            handoff, user, text, f"slack:{handoff.asker_channel}:{ts}"
        ):
            return
        self.client.chat_postMessage(
            channel=handoff.support_channel,
            thread_ts=handoff.support_ts,
            **blocks.relayed(user, text, from_support=False).args(),
        )
