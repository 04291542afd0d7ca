"""Messages: DMs, mentions, thread follow-ups, and support agents' replies in hand-off threads."""

from slack_bolt import App, BoltContext

from bot.slack.bot import SlackBot


def register(app: App, bot: SlackBot) -> None:
    @app.event("message")
    def on_message(event: dict, context: BoltContext) -> None:
        bot.route_message(event, context.bot_user_id)

    @app.event("app_mention")
    def on_mention(event: dict) -> None:
        bot.route_mention(event)
