"""Buttons: feedback and hand-off under answers; approve / edit / reject and the entry pickers
(wrong entry -> the right one; an abstention -> an existing entry) in the review channel and App Home."""

from slack_bolt import Ack, App

from bot.slack import blocks
from bot.slack.bot import SlackBot
from bot.slack.listeners.guard import (
    answer_id,
    block_answer_id,
    guarded,
    in_home,
    message_of,
    obj,
    picked,
    presser,
    trigger,
)


def register(app: App, bot: SlackBot) -> None:
    def feedback(kind: str):
        @guarded(bot, f"{kind} feedback")
        def handler(ack: Ack, body: dict, action: dict) -> None:
            ack()
            channel, _ = message_of(body)
            bot.feedback(answer_id(obj(action).get("value")), presser(body), kind, channel)

        return handler

    app.action(blocks.HELPFUL)(feedback("helpful"))
    app.action(blocks.NOT_HELPFUL)(feedback("not_helpful"))

    @app.action(blocks.WHOLE_ENTRY)
    @guarded(bot, "whole entry")
    def whole_entry(ack: Ack, body: dict, action: dict) -> None:
        ack()
        channel, _ = message_of(body)
        bot.whole_entry(answer_id(obj(action).get("value")), presser(body), channel)

    @app.action(blocks.HANDOFF)
    @guarded(bot, "hand-off request")
    def handoff(ack: Ack, body: dict, action: dict) -> None:
        ack()
        channel, _ = message_of(body)
        bot.hand_off(answer_id(obj(action).get("value")), presser(body), "requested", channel)

    def review(kind: str):
        @guarded(bot, f"review {kind}")
        def handler(ack: Ack, body: dict, action: dict) -> None:
            ack()
            user, (channel, ts) = presser(body), message_of(body)
            reply = bot.review(kind, answer_id(obj(action).get("value")), user, channel=channel, ts=ts)
            bot.tell(user, channel, reply)
            if in_home(body):
                bot.publish_home(user)

        return handler

    app.action(blocks.APPROVE)(review("approve"))
    app.action(blocks.REJECT)(review("reject"))

    def pick(kind: str):
        @guarded(bot, f"review {kind}")
        def handler(ack: Ack, body: dict, action: dict) -> None:
            ack()
            user, (channel, ts) = presser(body), message_of(body)
            target, entry = block_answer_id(obj(action).get("block_id")), picked(action)
            reply = bot.review(kind, target, user, channel=channel, ts=ts, entry_id=entry)
            bot.tell(user, channel, reply)
            if in_home(body):
                bot.publish_home(user)

        return handler

    app.action(blocks.CORRECT)(pick("correct"))
    app.action(blocks.ATTACH)(pick("attach"))

    def gap(kind: str):
        @guarded(bot, f"knowledge gap {kind}")
        def handler(ack: Ack, body: dict, action: dict) -> None:
            ack()
            user, (channel, _) = presser(body), message_of(body)
            bot.tell(user, channel, bot.gap(kind, answer_id(obj(action).get("value")), user))
            bot.publish_home(user)

        return handler

    app.action(blocks.GAP_PUBLISH)(gap("publish"))
    app.action(blocks.GAP_DISMISS)(gap("dismiss"))

    @app.action(blocks.GAP_EDIT)
    @guarded(bot, "knowledge gap edit")
    def gap_edit(ack: Ack, body: dict, action: dict) -> None:
        ack()
        user, (channel, _) = presser(body), message_of(body)
        refusal = bot.open_gap_edit(answer_id(obj(action).get("value")), user, trigger(body))
        if refusal:
            bot.tell(user, channel, refusal)

    @app.action(blocks.EDIT)
    @guarded(bot, "review edit")
    def edit(ack: Ack, body: dict, action: dict) -> None:
        ack()
        user, (channel, ts) = presser(body), message_of(body)
        refusal = bot.open_edit(answer_id(obj(action).get("value")), user, trigger(body), channel, ts)
        if refusal:
            bot.tell(user, channel, refusal)
