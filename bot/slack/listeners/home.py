"""App Home: how to ask, and for admins the day's figures, pending reviews and the model in service."""

import logging

from slack_bolt import App

from bot.slack import blocks
from bot.slack.bot import SlackBot

log = logging.getLogger(__name__)


def register(app: App, bot: SlackBot) -> None:
    @app.event("app_home_opened")
    def home(event: dict) -> None:
        user = event.get("user")
        if event.get("tab", "home") != "home" or not isinstance(user, str) or not user:
            return
        try:
            bot.publish_home(user)
            return
        except Exception:  # a fault of ours (the database gone): the user still gets a Home, saying so
            log.exception("App Home of %s could not be built", user)
        try:
            bot.client.views_publish(user_id=user, view=blocks.home_unavailable())
        except Exception as exc:
            log.warning("App Home of %s not published: %s", user, exc)
