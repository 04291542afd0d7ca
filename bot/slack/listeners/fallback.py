"""Buttons, shortcuts and forms this version has no listener for (a message posted by an older
version, a shortcut configured in the app but not here): answered, not left to Bolt's 404.

Registered last: Bolt runs the first listener that matches, so these only see what nothing else took.
"""

import re

from slack_bolt import Ack, App

from bot.slack.bot import NotDone, SlackBot
from bot.slack.listeners.guard import guarded

ANY = re.compile(".*")


def register(app: App, bot: SlackBot) -> None:
    @app.action(ANY)
    @guarded(bot, "unknown button")
    def unknown_action(ack: Ack, body: dict) -> None:
        ack()
        raise NotDone("that button is no longer in use")

    @app.shortcut(ANY)
    @guarded(bot, "unknown shortcut")
    def unknown_shortcut(ack: Ack, body: dict) -> None:
        ack()
        raise NotDone("I don't have that shortcut")

    @app.view(ANY)
    @guarded(bot, "unknown form")
    def unknown_view(ack: Ack, body: dict) -> None:
        ack()
        raise NotDone("I don't know that form")

    # Nobody is waiting for an answer to these: acknowledged, nothing said.
    @app.view_closed(ANY)
    def closed(ack: Ack) -> None:
        ack()

    @app.options(ANY)
    def no_options(ack: Ack) -> None:
        ack(options=[])
