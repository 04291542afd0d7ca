"""The Edit & approve modal's submission."""

from slack_bolt import Ack, App

from bot.slack import blocks
from bot.slack.bot import SlackBot
from bot.slack.listeners.guard import answer_id, guarded, metadata, obj, presser


def register(app: App, bot: SlackBot) -> None:
    @app.view(blocks.EDIT_MODAL)
    @guarded(bot, "edited answer")
    def submit(ack: Ack, body: dict, view: dict) -> None:
        user = presser(body)
        values = obj(obj(view.get("state")).get("values"))
        value = obj(obj(values.get(blocks.EDIT_INPUT_BLOCK)).get(blocks.EDIT_INPUT)).get("value")
        text = value.strip() if isinstance(value, str) else ""
        if not text:
            ack(response_action="errors", errors={blocks.EDIT_INPUT_BLOCK: "The answer can't be empty."})
            return
        meta = metadata(view)
        channel, ts = meta.get("channel"), meta.get("ts")
        channel = channel if isinstance(channel, str) else None
        ts = ts if isinstance(ts, str) else None
        target = answer_id(meta.get("answer_id"))
        ack()
        reply = bot.review("edit", target, user, channel=channel, ts=ts, edited_text=text)
        bot.tell(user, channel, reply)
        if not channel:  # opened from App Home
            bot.publish_home(user)
