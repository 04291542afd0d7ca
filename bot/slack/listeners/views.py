"""The Edit & approve modal's submission."""

import json

from slack_bolt import Ack, App

from bot.slack import blocks
from bot.slack.bot import SlackBot


def register(app: App, bot: SlackBot) -> None:
    @app.view(blocks.EDIT_MODAL)
    def submit(ack: Ack, body: dict, view: dict) -> None:
        user = body["user"]["id"]
        text = (
            view["state"]["values"][blocks.EDIT_INPUT_BLOCK][blocks.EDIT_INPUT].get("value") or ""
        ).strip()
        if not text:
            ack(response_action="errors", errors={blocks.EDIT_INPUT_BLOCK: "The answer can't be empty."})
            return
        meta = json.loads(view.get("private_metadata") or "{}")
        ack()
        reply = bot.review(
            "edit",
            int(meta["answer_id"]),
            user,
            channel=meta.get("channel"),
            ts=meta.get("ts"),
            edited_text=text,
        )
        bot.tell(user, meta.get("channel"), reply)
        if not meta.get("channel"):  # opened from App Home
            bot.publish_home(user)
