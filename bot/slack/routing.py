"""Which Slack messages are questions, which are hand-off replies, and which the bot ignores."""

from __future__ import annotations

from bot.settings import Settings
from bot.slack.answering import Answering

__all__ = ["Router"]


class Router:
    def __init__(self, settings: Settings, answering: Answering):
        self.settings = settings
        self.answering = answering
        self.c = answering.c

    def route_message(self, event: dict, bot_user_id: str | None) -> None:
        """A ``message`` event: a DM, a channel message, a thread reply, or a support agent's reply."""
        if event.get("subtype") not in (None, "thread_broadcast", "file_share") or event.get("bot_id"):
            return
        channel, user = event.get("channel"), event.get("user")
        ts, thread_ts, text = event.get("ts"), event.get("thread_ts"), event.get("text") or ""
        if not (channel and user and ts) or user == bot_user_id:
            return
        a = self.answering
        if channel == self.settings.support_channel:
            if thread_ts:
                a.relay_from_support(channel, thread_ts, ts, user, text)
            return
        if channel == self.settings.review_channel:
            return
        if thread_ts and (handoff := self.c.handoffs.open_for_thread(channel, thread_ts)):
            a.relay_from_asker(handoff, ts, user, text)
            return
        if event.get("channel_type") == "im":
            a.take_question(text, user=user, channel=channel, ts=ts, thread_ts=thread_ts or ts)
            return
        mode = self.settings.channel_mode(channel)
        if mode == "never":
            return
        if bot_user_id and f"<@{bot_user_id}>" in text:
            # app_mention fires for the same message; the delivery key makes it one answer.
            a.take_question(text, user=user, channel=channel, ts=ts, thread_ts=thread_ts or ts)
        elif thread_ts and self.c.answers.knows_thread("slack", channel, thread_ts):
            a.take_question(text, user=user, channel=channel, ts=ts, thread_ts=thread_ts)
        elif mode == "all" and not thread_ts:
            a.take_question(text, user=user, channel=channel, ts=ts, thread_ts=ts)

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
            self.answering.relay_from_asker(handoff, ts, user, event.get("text") or "")
            return
        self.answering.take_question(
            event.get("text") or "", user=user, channel=channel, ts=ts, thread_ts=thread_ts or ts
        )
