"""Buttons: feedback and hand-off under answers; approve / edit / reject in the review channel."""

from slack_bolt import Ack, App

from bot.slack import blocks
from bot.slack.bot import SlackBot


def _where(body: dict) -> tuple[str | None, str | None]:
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
    ts = (body.get("message") or {}).get("ts") or (body.get("container") or {}).get("message_ts")
    return channel, ts


def register(app: App, bot: SlackBot) -> None:
    def feedback(kind: str):
        def handler(ack: Ack, body: dict, action: dict) -> None:
            ack()
            channel, _ = _where(body)
            bot.feedback(int(action["value"]), body["user"]["id"], kind, channel)

        return handler

    app.action(blocks.HELPFUL)(feedback("helpful"))
    app.action(blocks.NOT_HELPFUL)(feedback("not_helpful"))

    @app.action(blocks.HANDOFF)
    def handoff(ack: Ack, body: dict, action: dict) -> None:
        ack()
        channel, _ = _where(body)
        bot.hand_off(int(action["value"]), body["user"]["id"], "requested", channel)

    def review(kind: str):
        def handler(ack: Ack, body: dict, action: dict) -> None:
            ack()
            user, (channel, ts) = body["user"]["id"], _where(body)
            in_home = (body.get("view") or {}).get("type") == "home"
            reply = bot.review(
                kind,
                int(action["value"]),
                user,
                channel=None if in_home else channel,
                ts=None if in_home else ts,
            )
            bot.tell(user, channel if not in_home else None, reply)
            if in_home:
                bot.publish_home(user)

        return handler

    app.action(blocks.APPROVE)(review("approve"))
    app.action(blocks.REJECT)(review("reject"))

    @app.action(blocks.EDIT)
    def edit(ack: Ack, body: dict, action: dict) -> None:
        ack()
        user, (channel, ts) = body["user"]["id"], _where(body)
        in_home = (body.get("view") or {}).get("type") == "home"
        refusal = bot.open_edit(
            int(action["value"]),
            user,
            body["trigger_id"],
            None if in_home else channel,
            None if in_home else ts,
        )
        if refusal:
            bot.tell(user, None if in_home else channel, refusal)
