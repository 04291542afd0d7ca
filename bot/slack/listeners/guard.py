"""Every interaction gets an answer: the presser is told in one line what was not done and why.

A button naming no answer (``"abc"``, ``""``, ``"-1"``, a 20-digit number), a form that comes back
broken, a button or shortcut this version no longer has: the interaction is acknowledged (never a 5xx,
so Slack shows no error of its own and retries nothing), the presser is told, and one warning line is
logged. Only a fault of the bot's own (a bug, the database gone) is logged with its traceback.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Callable

from slack_sdk.errors import SlackApiError

from bot.slack.bot import NotDone, SlackBot

log = logging.getLogger(__name__)
MAX_ID = 2**31 - 1  # ids are INTEGER columns; PostgreSQL's INTEGER stops here
SORRY = "Sorry, that didn't work: something went wrong on my side. Please try again in a minute."


def obj(value: object) -> dict:
    """A part of a payload that should be an object, or an empty one: a malformed payload is
    answered like any other that names nothing, not with an AttributeError."""
    return value if isinstance(value, dict) else {}


def answer_id(value: object) -> int:
    """The answer a button or form names, or NotDone saying it names none."""
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not text.strip():
        raise NotDone("this button names no answer")
    shown = text[:24] + ("…" if len(text) > 24 else "")
    # isdecimal() alone would accept other scripts' digits; eleven digits are past MAX_ID already
    if not (text.isascii() and text.isdecimal()):
        raise NotDone(f"no answer {shown!r}")
    if len(text) > 10 or int(text) > MAX_ID:
        raise NotDone(f"no answer {shown}")  # (as the services say it of a number they don't know)
    return int(text)


_REVIEW_BLOCK = re.compile(r"(?:home-)?review-(.*)")


def block_answer_id(block_id: object) -> int:
    """The answer a review post's (or App Home's) actions block is for: ``review-<id>``."""
    match = _REVIEW_BLOCK.fullmatch(block_id) if isinstance(block_id, str) else None
    if match is None:
        raise NotDone("this menu names no answer")
    return answer_id(match.group(1))


def picked(action: dict) -> str:
    """The value of the option chosen in a menu."""
    value = obj(obj(action).get("selected_option")).get("value")
    if not isinstance(value, str) or not value.strip():
        raise NotDone("no FAQ entry was chosen")
    return value.strip()


def presser(body: dict) -> str:
    user = body.get("user")
    user = obj(user).get("id") if isinstance(user, dict) else body.get("user_id")
    if not isinstance(user, str) or not user:
        raise NotDone("Slack did not say who pressed it")
    return user


def in_home(body: dict) -> bool:
    return obj(body.get("view")).get("type") == "home"


def message_of(body: dict) -> tuple[str | None, str | None]:
    """Channel and ts of the message whose button was pressed (None, None in App Home or a modal)."""
    if in_home(body):
        return None, None
    container = obj(body.get("container"))
    channel = obj(body.get("channel")).get("id") or container.get("channel_id")
    ts = obj(body.get("message")).get("ts") or container.get("message_ts")
    return (channel if isinstance(channel, str) else None), (ts if isinstance(ts, str) else None)


def trigger(body: dict) -> str:
    """The trigger a button press gives to open a modal with, or NotDone saying Slack sent none."""
    value = body.get("trigger_id")
    if not isinstance(value, str) or not value:
        raise NotDone("Slack sent no trigger to open the editor with")
    return value


def metadata(view: dict) -> dict:
    """The private metadata the bot gave a modal when it opened it."""
    try:
        meta = json.loads(obj(view).get("private_metadata") or "{}")
    except (TypeError, ValueError):
        meta = None
    if not isinstance(meta, dict):
        raise NotDone("the form came back without the answer it was for")
    return meta


def _reply_channel(body: dict) -> str | None:
    """Where to tell the presser: the channel they pressed in, else a direct message."""
    if body.get("type") == "view_submission":
        try:
            channel = metadata(obj(body.get("view"))).get("channel")
        except NotDone:
            return None
        return channel if isinstance(channel, str) else None
    channel, _ = message_of(body)
    return channel


def guarded(bot: SlackBot, what: str) -> Callable[[Callable], Callable]:
    """Wrap a Bolt listener that takes ``ack`` and ``body``. (Bolt passes arguments by the wrapped
    function's parameter names: functools.wraps keeps them visible to it.)"""

    def decorate(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def listener(**kwargs) -> None:
            ack, body = kwargs["ack"], kwargs["body"]
            try:
                fn(**kwargs)
                return
            except NotDone as exc:
                log.warning("%s not done: %s", what, exc)
                reply = f"Not done: {exc}."
            except SlackApiError as exc:
                error = exc.response.get("error")
                log.warning("%s not done: Slack answered %s", what, error)
                reply = f"Not done: Slack refused it ({error}). Please try again."
            except Exception:
                log.exception("%s failed", what)
                reply = SORRY
            if ack.response is None:
                ack()
            try:
                bot.tell(presser(body), _reply_channel(body), reply)
            except NotDone:
                pass  # nobody to tell
            except Exception as exc:
                log.warning("could not tell the presser why %s was not done: %s", what, exc)

        return listener

    return decorate
