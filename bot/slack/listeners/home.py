"""App Home: how to ask, and for admins the day's figures, pending reviews and the model in service."""

from slack_bolt import App

from bot.slack.bot import SlackBot


def register(app: App, bot: SlackBot) -> None:
    @app.event("app_home_opened")
    def home(event: dict) -> None:
        if event.get("tab", "home") == "home":
            bot.publish_home(event["user"])
