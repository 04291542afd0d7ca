"""What the bot does in Slack, independent of how events arrive (socket mode or HTTP).

Listeners call this facade; the work lives by responsibility in three parts:
``routing`` (which messages are questions), ``answering`` (questions taken once, answered on a
pool, recovered after a crash; hand-offs) and ``admin`` (review posts, decisions, App Home). Every
text they post goes through ``client.SafeWebClient``, the escaping gate.
"""

from __future__ import annotations

from bot.container import Container
from bot.slack.admin import REFUSAL, Admin
from bot.slack.answering import Answering, NotDone
from bot.slack.client import SafeWebClient, tell, web_client
from bot.slack.routing import Router

__all__ = ["REFUSAL", "NotDone", "SafeWebClient", "SlackBot", "web_client"]


class SlackBot:
    def __init__(self, container: Container, client: SafeWebClient, *, workers: int | None = None):
        if not isinstance(client, SafeWebClient):  # everything posted must pass the escaping gate
            raise TypeError("SlackBot needs the SafeWebClient of web_client()")
        self.c = container
        self.settings = container.settings
        self.client = client
        self.admin = Admin(container, client)
        self.answering = Answering(container, client, self.admin.maybe_review, workers=workers)
        self.router = Router(container.settings, self.answering)
        # What listeners call, each owned by one part.
        self.route_message = self.router.route_message
        self.route_mention = self.router.route_mention
        self.take_question = self.answering.take_question
        self.answer = self.answering.answer
        self.feedback = self.answering.feedback
        self.hand_off = self.answering.hand_off
        self.whole_entry = self.answering.whole_entry
        self.maybe_review = self.admin.maybe_review
        self.review = self.admin.review
        self.open_edit = self.admin.open_edit
        self.entry_options = self.admin.entry_options
        self.publish_home = self.admin.publish_home
        self.gap = self.admin.gap
        self.open_gap_edit = self.admin.open_gap_edit

    @property
    def pool(self):
        return self.answering.pool

    @property
    def webhook(self):
        """The hand-off webhook (None unless configured); tests point it at a local peer."""
        return self.answering.webhook

    @webhook.setter
    def webhook(self, value) -> None:
        self.answering.webhook = value

    def tell(self, user: str, channel: str | None, text: str) -> None:
        tell(self.client, user, channel, text)

    def close(self, wait: bool = True) -> None:
        self.answering.close(wait=wait)
