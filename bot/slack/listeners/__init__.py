"""Bolt listeners, one module per kind, each exposing ``register(app, bot)``."""

from slack_bolt import App

from bot.slack.bot import SlackBot
from bot.slack.listeners import actions, commands, events, fallback, home, options, views


def register(app: App, bot: SlackBot) -> None:
    for module in (
        events,
        commands,
        actions,
        options,
        views,
        home,
        fallback,
    ):  # fallback last: it takes anything
        module.register(app, bot)
