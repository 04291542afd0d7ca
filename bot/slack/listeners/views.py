"""Modal submissions: Edit & approve (an answer), Edit & publish (a knowledge gap's draft entry)."""

from slack_bolt import Ack, App

from bot.slack import blocks
from bot.slack.bot import SlackBot
from bot.slack.listeners.guard import answer_id, guarded, metadata, obj, presser


def _field(view: dict, block: str, action: str) -> str:
    """A text input's submitted value, stripped; "" when it is missing or not a string (a forged
    submission may carry anything)."""
    value = obj(obj(obj(obj(view.get("state")).get("values")).get(block)).get(action)).get("value")
    return value.strip() if isinstance(value, str) else ""


def register(app: App, bot: SlackBot) -> None:
    @app.view(blocks.EDIT_MODAL)
    @guarded(bot, "edited answer")
    def submit(ack: Ack, body: dict, view: dict) -> None:
        user = presser(body)
        text = _field(view, blocks.EDIT_INPUT_BLOCK, blocks.EDIT_INPUT)
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

    @app.view(blocks.GAP_MODAL)
    @guarded(bot, "edited knowledge gap")
    def submit_gap(ack: Ack, body: dict, view: dict) -> None:
        user = presser(body)
        fields = {
            block: _field(view, block, action)
            for block, action in (
                (blocks.GAP_QUESTION_BLOCK, blocks.GAP_QUESTION_INPUT),
                (blocks.GAP_ANSWER_BLOCK, blocks.GAP_ANSWER_INPUT),
            )
        }
        empty = {block: "This can't be empty." for block, text in fields.items() if not text}
        if empty:
            ack(response_action="errors", errors=empty)
            return
        gap_id = answer_id(metadata(view).get("gap_id"))
        ack()
        question, answer = fields[blocks.GAP_QUESTION_BLOCK], fields[blocks.GAP_ANSWER_BLOCK]
        bot.tell(user, None, bot.gap("publish", gap_id, user, question=question, answer=answer))
        bot.publish_home(user)
