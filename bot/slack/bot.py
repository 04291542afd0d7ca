"""What the bot does in Slack, independent of how events arrive (socket mode or HTTP).

Listeners call these methods. Every question is recorded in SQL under a unique delivery key before
the listener returns (and so before Slack gets its ack); the slow part, answering, runs on a thread
pool and talks back through the Web API.
"""

from __future__ import annotations

import contextvars
import json
import logging
import random
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from sqlalchemy.exc import IntegrityError

from bot.container import Container
from bot.db.models import ReviewPost
from bot.services.answer import Duplicate, Received, Superseded
from bot.services.handoff import HandoffInfo
from bot.services.review import NotAuthorized, ReviewError
from bot.slack import blocks
from bot.slack.streaming import StreamedMessage
from bot.slack.webhook import Webhook

log = logging.getLogger(__name__)
MENTION = re.compile(r"<@[UW][A-Z0-9]+>")
GROUP_CACHE_S = 300.0
REFUSAL = "Only support admins can review answers. This attempt was logged."
HOME_STATS_DAYS = 7


class NotDone(Exception):
    """An interaction that cannot be done as asked (a button naming no answer, a broken form); the
    message is the one line the presser is told."""


# Methods whose arguments Slack shows as text: their mrkdwn is made safe at this one gate.
_SHOWN = ("chat.", "views.")
_ATTACHMENT_TEXT = ("text", "pretext", "fallback", "title", "footer", "author_name")


def _safe(value):
    """A copy with every mrkdwn text object escaped unless the bot built it (``blocks.Mrkdwn``)."""
    if isinstance(value, dict):
        md = value.get("type") == "mrkdwn"
        return {
            k: blocks.escape(v) if md and k == "text" and isinstance(v, str) else _safe(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_safe(v) for v in value]
    return value


def _safe_args(args: dict) -> dict:
    out = {k: _safe(v) for k, v in args.items() if k not in ("parse", "link_names")}
    if isinstance(out.get("text"), str):
        out["text"] = blocks.escape(out["text"])
    if isinstance(out.get("view"), str):
        out["view"] = _safe(json.loads(out["view"]))
    if isinstance(out.get("attachments"), list):
        out["attachments"] = [
            {k: blocks.escape(v) if k in _ATTACHMENT_TEXT and isinstance(v, str) else v for k, v in a.items()}
            if isinstance(a, dict)
            else a
            for a in out["attachments"]
        ]
    return out


class SafeWebClient(WebClient):
    """The bot's only way to Slack, and the gate no unescaped text passes: every ``text`` and every
    mrkdwn object of a message or view is escaped unless ``bot.slack.blocks`` built it as ``Mrkdwn``
    (whose controls, an asker's mention, a cited link, the bot means). ``parse`` and ``link_names``
    are dropped, so Slack never turns the words "@here" into a mention either."""

    def api_call(self, api_method: str, *, json=None, data=None, params=None, **kwargs):
        if api_method.startswith(_SHOWN):
            json, data, params = (_safe_args(a) if isinstance(a, dict) else a for a in (json, data, params))
        return super().api_call(api_method, json=json, data=data, params=params, **kwargs)


def web_client(token: str | None, base_url: str) -> SafeWebClient:
    """Rate limits (429 + Retry-After), 5xx and dropped connections are retried by slack_sdk."""
    return SafeWebClient(
        token=token,
        base_url=base_url if base_url.endswith("/") else base_url + "/",
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=2),
            RateLimitErrorRetryHandler(max_retry_count=5),
            ServerErrorRetryHandler(max_retry_count=3),
        ],
    )


class SlackBot:
    def __init__(self, container: Container, client: SafeWebClient, *, workers: int | None = None):
        if not isinstance(client, SafeWebClient):  # everything posted must pass the escaping gate
            raise TypeError("SlackBot needs the SafeWebClient of web_client()")
        self.c = container
        self.settings = container.settings
        self.client = client
        # Answering threads mostly wait for the model. One per queue slot, plus room for hand-offs and
        # reviews, so every asker gets a placeholder at once rather than when a thread frees up.
        workers = workers or self.settings.queue_capacity + 8
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="slack-answer")
        self._group: tuple[float, set[str]] = (0.0, set())
        self._group_lock = threading.Lock()
        if self.settings.admin_group:
            container.reviews.group_members = self._admin_group_members
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

    def _background(self, fn, *args) -> None:
        """Run ``fn`` on the pool in a copy of this context, so its log lines keep the event's request id."""
        self.pool.submit(contextvars.copy_context().run, fn, *args)

    # ---------------------------------------------------------------- questions
    def route_message(self, event: dict, bot_user_id: str | None) -> None:
        """A ``message`` event: a DM, a channel message, a thread reply, or a support agent's reply."""
        if event.get("subtype") not in (None, "thread_broadcast", "file_share") or event.get("bot_id"):
            return
        channel, user = event.get("channel"), event.get("user")
        ts, thread_ts, text = event.get("ts"), event.get("thread_ts"), event.get("text") or ""
        if not (channel and user and ts) or user == bot_user_id:
            return
        if channel == self.settings.support_channel:
            if thread_ts:
                self.relay_from_support(channel, thread_ts, ts, user, text)
            return
        if channel == self.settings.review_channel:
            return
        if thread_ts and (handoff := self.c.handoffs.open_for_thread(channel, thread_ts)):
            self.relay_from_asker(handoff, ts, user, text)
            return
        if event.get("channel_type") == "im":
            self.take_question(text, user=user, channel=channel, ts=ts, thread_ts=thread_ts or ts)
            return
        mode = self.settings.channel_mode(channel)
        if mode == "never":
            return
        if bot_user_id and f"<@{bot_user_id}>" in text:
            # app_mention fires for the same message; the delivery key makes it one answer.
            self.take_question(text, user=user, channel=channel, ts=ts, thread_ts=thread_ts or ts)
        elif thread_ts and self.c.answers.knows_thread("slack", channel, thread_ts):
            self.take_question(text, user=user, channel=channel, ts=ts, thread_ts=thread_ts)
        elif mode == "all" and not thread_ts:
            self.take_question(text, user=user, channel=channel, ts=ts, thread_ts=ts)

    def route_mention(self, event: dict) -> None:
        channel, user, ts = event.get("channel"), event.get("user"), event.get("ts")
        if not (channel and user and ts) or channel in (
            self.settings.support_channel,
            self.settings.review_channel,
        ):
            return
        if self.settings.channel_mode(channel) == "never":
            return
        thread_ts = event.get("thread_ts")
        if thread_ts and (handoff := self.c.handoffs.open_for_thread(channel, thread_ts)):
            self.relay_from_asker(handoff, ts, user, event.get("text") or "")
            return
        self.take_question(
            event.get("text") or "", user=user, channel=channel, ts=ts, thread_ts=thread_ts or ts
        )

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
        self._background(self._answer_logged, received)

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
            self.c.answers.placeholder_posted(received, placeholder_ts)
        stream = StreamedMessage(self.client, channel, placeholder_ts, self.settings.stream_update_interval_s)
        result = self.c.answers.respond(received, on_text=stream.draft, on_queued=stream.queued)
        self.c.answers.delivered(result.answer_id, placeholder_ts)
        stream.finish(
            blocks.answer(result.answer, result.answer_id, result.sources, abstained=result.abstained)
        )
        log.info(
            "answered question %s as answer %s: %s%s, %.0f ms",
            received.message_id,
            result.answer_id,
            result.mode,
            f" ({result.fallback})" if result.fallback else "",
            result.latency_ms,
        )
        if result.abstained:
            self.hand_off(result.answer_id, received.user_id, "abstain")
        self.maybe_review(result.answer_id, "abstain" if result.abstained else None)

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
        self.tell(user, channel, thanks)
        if kind == "not_helpful" and recorded.by_asker:
            self.maybe_review(answer_id, "not_helpful")

    def hand_off(self, answer_id: int, user: str, reason: str, channel: str | None = None) -> None:
        support = self.settings.support_channel
        if not support:
            if reason == "requested":
                self.tell(
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
                self.tell(user, channel, "The support team already has this question.")
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
            self.maybe_review(answer_id, "escalated")
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
            self._background(self.webhook.send, "handoff", payload)

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
        self.maybe_review(answer_id, "human")

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

    # ---------------------------------------------------------------- admin review
    def maybe_review(self, answer_id: int, flag: str | None) -> None:
        """Post to the review channel per ``review_mode``; a given answer is posted once, ever."""
        s = self.settings
        if s.review_mode == "off" or not s.review_channel:
            return
        if flag:
            reason = flag
        elif s.review_mode == "all":
            reason = "all"
        elif s.review_mode == "sample" and random.random() < s.review_sample_rate:
            reason = "sample"
        else:
            return
        with self.c.sessions() as session:
            post = ReviewPost(answer_id=answer_id, reason=reason, channel=s.review_channel)
            session.add(post)
            try:
                session.commit()
            except IntegrityError:
                return
            post_id = post.id
        question, text, sources, asker = self._review_context(answer_id)
        sent = self.client.chat_postMessage(
            channel=s.review_channel,
            **blocks.review_request(answer_id, question, text, sources, reason, asker).args(),
        )
        with self.c.sessions() as session:
            session.get(ReviewPost, post_id).ts = sent["ts"]
            session.commit()

    def _review_context(self, answer_id: int) -> tuple[str, str, list[dict], str | None]:
        from bot.db.models import Answer, Message

        with self.c.sessions() as session:
            answer = session.get(Answer, answer_id)
            question = session.get(Message, answer.question_message_id)
            return question.text, answer.text, list(answer.sources or []), question.user_id

    def review(
        self,
        action: str,
        answer_id: int,
        reviewer: str,
        *,
        channel: str | None,
        ts: str | None,
        edited_text: str | None = None,
    ) -> str:
        """Apply an admin's decision; returns what to tell them. Non-admins are refused and logged."""
        try:
            if action == "reject":
                outcome = self.c.reviews.reject(answer_id, reviewer)
            else:
                outcome = self.c.reviews.approve(answer_id, reviewer, edited_text=edited_text)
        except NotAuthorized:
            log.warning("refused %s of answer %s by non-admin %s", action, answer_id, reviewer)
            return REFUSAL
        except ReviewError as exc:
            return f"Not done: {exc}."
        question, text = self.c.reviews.describe(answer_id)
        note = ""
        if outcome.learned_entry:
            note = f"The question now finds `{outcome.learned_entry}`."
        elif outcome.curated_entry:
            note = f"Added to the FAQ as `{outcome.curated_entry}`."
        if channel and ts:
            done = blocks.review_done(question, edited_text or text, outcome.action, reviewer, note)
            try:
                self.client.chat_update(channel=channel, ts=ts, **done.args())
            except SlackApiError as exc:  # the decision is recorded; only the post stays as it was
                log.warning("review post %s not updated: %s", ts, exc.response.get("error"))
        return f"Done: {outcome.action}. {note}".strip()

    def open_edit(
        self, answer_id: int, reviewer: str, trigger_id: str, channel: str | None, ts: str | None
    ) -> str | None:
        if not self.c.reviews.is_admin(reviewer):
            log.warning("refused edit of answer %s by non-admin %s", answer_id, reviewer)
            return REFUSAL
        try:
            question, text = self.c.reviews.describe(answer_id)
        except ReviewError as exc:
            return f"Not done: {exc}."
        metadata = json.dumps({"answer_id": answer_id, "channel": channel, "ts": ts})
        self.client.views_open(
            trigger_id=trigger_id, view=blocks.edit_modal(answer_id, question, text, metadata)
        )
        return None

    def publish_home(self, user: str) -> None:
        admin = self.c.reviews.is_admin(user)
        stats, pending, model = None, [], None
        if admin:
            stats = self.c.stats.summary(days=HOME_STATS_DAYS, top=3)
            pending = [(a.id, q, a.text) for a, q in self.c.reviews.pending(limit=10)]
            model = self._model_in_service()
        try:
            self.client.views_publish(
                user_id=user, view=blocks.home(is_admin=admin, stats=stats, pending=pending, model=model)
            )
        except SlackApiError as exc:  # e.g. the user never opened the app: nothing to show it in
            log.warning("App Home of %s not published: %s", user, exc.response.get("error"))

    def _model_in_service(self) -> dict | None:
        s = self.settings
        if s.model_backend == "openai":
            return {"name": f"{s.openai_model} at {s.openai_base_url}", "eval_scores": {}}
        if s.model_path:
            return {"name": s.model_path.name, "eval_scores": {}}
        return self.c.feedback.active_model()

    def _admin_group_members(self) -> set[str]:
        with self._group_lock:
            fetched_at, members = self._group
            if time.monotonic() - fetched_at > GROUP_CACHE_S:
                resp = self.client.usergroups_users_list(usergroup=self.settings.admin_group)
                members = set(resp.get("users") or [])
                self._group = (time.monotonic(), members)
            return members

    def tell(self, user: str, channel: str | None, text: str) -> None:
        """A note only ``user`` sees: ephemeral in the channel, else a direct message. ``text`` is
        shown as written (escaped)."""
        if channel:
            self._ephemeral(channel, user, text)
        else:
            try:
                self.client.chat_postMessage(channel=user, **blocks.note(text).args())
            except SlackApiError as exc:
                log.warning("direct message failed: %s", exc.response.get("error"))

    def _ephemeral(self, channel: str, user: str, text: str) -> None:
        try:
            self.client.chat_postEphemeral(channel=channel, user=user, **blocks.note(text).args())
        except SlackApiError as exc:
            log.warning("ephemeral message failed: %s", exc.response.get("error"))
