"""The entry pickers' options (Block Kit ``external_select``): FAQ entries matching what the admin
types, or, before anything is typed, the entries nearest to the question. Admins only: anyone else
gets no options, and the attempt is logged."""

import logging

from slack_bolt import Ack, App

from bot.slack import blocks
from bot.slack.bot import NotDone, SlackBot
from bot.slack.listeners.guard import block_answer_id, presser

log = logging.getLogger(__name__)


def register(app: App, bot: SlackBot) -> None:
    def entries(ack: Ack, body: dict) -> None:
        try:
            user, target = presser(body), block_answer_id(body.get("block_id"))
            typed = body.get("value") if isinstance(body.get("value"), str) else ""
            ack(options=bot.entry_options(user, typed, target) or [])
        except NotDone as exc:
            log.warning("entry picker not served: %s", exc)
            ack(options=[])
        except Exception:  # a fault of ours: an empty menu, never Slack's error
            log.exception("entry picker failed")
            ack(options=[])

    app.options(blocks.CORRECT)(entries)
    app.options(blocks.ATTACH)(entries)
