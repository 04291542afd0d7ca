"""``/ask question``: the question is posted in the channel and answered in its thread."""

from slack_bolt import Ack, App
from slack_sdk.errors import SlackApiError

from bot.slack import blocks
from bot.slack.bot import SlackBot

USAGE = "Usage: `/ask your question`, e.g. `/ask how do I reset my VPN password?`"


def register(app: App, bot: SlackBot) -> None:
    @app.command("/ask")
    def ask(ack: Ack, command: dict) -> None:
        text, user, channel = (command.get("text") or "").strip(), command["user_id"], command["channel_id"]
        if not text:
            ack(USAGE)
            return
        try:
            post = bot.client.chat_postMessage(
                channel=channel, **blocks.asked(user, blocks.plain(text)).args()
            )
        except SlackApiError as exc:
            if exc.response.get("error") in ("not_in_channel", "channel_not_found"):
                ack(
                    "I'm not in this channel. Invite me with `/invite @supportbot`, or send me a direct message."
                )
                return
            raise
        # Recorded before the ack, like every question.
        bot.take_question(
            text,
            user=user,
            channel=post["channel"],
            ts=post["ts"],
            thread_ts=post["ts"],
            key=f"command:{command.get('trigger_id') or post['ts']}",
        )
        ack()
