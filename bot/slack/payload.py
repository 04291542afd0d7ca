"""The shapes of Slack payloads that Bolt and the listeners rely on, checked before either runs.

Bolt reads ids out of every payload before any listener runs (``slack_bolt.request.internals``),
its matchers index into ``event``, ``actions`` and ``view``, and the listeners hand ids and text
to SQL. A field of an unexpected type or an over-long id made any of them raise: a 500 with a
traceback, or on PostgreSQL a DataError (``varchar(64)``) or a refused NUL. ``check`` refuses
such payloads with a reason that names the field, never its value; ``clean`` then removes what
SQL cannot store from every string (NUL characters, lone surrogates).

Fields that nothing reads are not checked: Slack adds fields over time, and those must not make a
genuine payload fail. Nor are the values the interaction listeners judge themselves (a button's
answer id, a modal's metadata: ``bot.slack.listeners.guard`` tells the presser what was wrong).
"""

from __future__ import annotations

import re
from typing import Any

# Slack's ids (U…, W…, C…, D…, G…, T…, E…, A…, B…, Ev…): ASCII, and sized by the String(64) id
# columns in bot/db/models.py (user_id, channel_id, slack_channel).
ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# Message timestamps ("1700000000.000100"): the String(32) ts columns.
TS = re.compile(r"[0-9]{1,20}(?:\.[0-9]{1,11})?")
# trigger_id ("13345224609.738474920.8088930838d88f008e0"): a slash command's delivery key is
# "command:<trigger_id>", and dedup_key is String(128).
TRIGGER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")  # payload and event types, subtypes
COMMAND = re.compile(r"/[A-Za-z0-9_.-]{1,63}")
MAX_DEPTH = 32  # Slack's deepest payloads (rich text inside a message inside an event) nest about 10
MAX_STR = 100_000  # the longest text Slack sends is a 40,000-character message
MAX_FIELD = 255  # action_id, block_id, callback_id: Slack's own limit
# What Slack sends to an app like this one. Legacy payloads (interactive_message, dialog_*,
# workflow_step_*) are refused: Bolt indexes fields in them that a modern app never gets.
KINDS = (
    "event_callback",
    "url_verification",
    "app_rate_limited",
    "block_actions",
    "block_suggestion",
    "view_submission",
    "view_closed",
    "shortcut",
    "message_action",
)
# Events a listener handles: their ids and text go to SQL, so they must be plain strings.
HANDLED_EVENTS = ("message", "app_mention", "app_home_opened")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class BadPayload(ValueError):
    """The payload is not one Bolt and the listeners can take; the message names the field."""


def check(body: Any) -> None:
    """Raise ``BadPayload`` unless ``body`` has the shape Bolt and the listeners rely on."""
    if not isinstance(body, dict):
        raise BadPayload("the payload is not a JSON object")
    _depth(body)
    _envelope(body)
    kind = body.get("type")
    if "command" in body:
        _slash_command(body)
    elif "ssl_check" in body:
        pass  # Bolt answers these itself
    elif kind is None:
        raise BadPayload("type is missing")
    elif kind not in KINDS:
        raise BadPayload("type is not one this app handles")
    elif kind == "event_callback":
        if not isinstance(body.get("event"), dict):
            raise BadPayload("event is missing")
        _event(body["event"])
    elif kind == "url_verification":
        _string(body, "challenge", "", 1000, required=True)
    elif kind == "block_actions":
        _block_actions(body)
    elif kind in ("view_submission", "view_closed"):
        _view_payload(body)
    else:  # shortcut, message_action, block_suggestion
        _interaction(body)


def clean(body: Any, _depth: int = 0) -> None:
    """Remove NUL characters and lone surrogates from every string in ``body``, in place: PostgreSQL
    refuses NUL in text, and no database can encode a lone surrogate (JSON's ``"\\ud800"``)."""
    if _depth > MAX_DEPTH:
        return
    items = body.items() if isinstance(body, dict) else enumerate(body) if isinstance(body, list) else ()
    for key, value in list(items):
        if isinstance(value, str):
            if _UNSTORABLE.search(value):
                body[key] = value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
        elif isinstance(value, dict | list):
            clean(value, _depth + 1)


def describe(body: Any) -> str:
    """What a payload is, in a few words, for a log line: never its content."""
    if not isinstance(body, dict):
        return type(body).__name__
    parts = [_short(body.get("type")) or ("slash command" if "command" in body else "untyped")]
    event = body.get("event")
    if isinstance(event, dict):
        parts.append(f"event {_short(event.get('type'))}")
    actions = body.get("actions")
    if isinstance(actions, list) and actions and isinstance(actions[0], dict):
        parts.append(f"action {_short(actions[0].get('action_id'))}")
    view = body.get("view")
    if isinstance(view, dict):
        parts.append(f"view {_short(view.get('callback_id'))}")
    if "command" in body:
        parts.append(f"command {_short(body.get('command'))}")
    return ", ".join(parts)


# ---------------------------------------------------------------- parts


def _short(value: Any) -> str:
    if not isinstance(value, str):
        return "?" if value is not None else ""
    return (
        value if len(value) <= 40 and value.isprintable() else value[:40].encode("ascii", "replace").decode()
    )


def _depth(body: Any) -> None:
    stack = [(body, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise BadPayload(f"nested deeper than {MAX_DEPTH} levels")
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
        elif isinstance(node, str) and len(node) > MAX_STR:
            raise BadPayload(f"a string is longer than {MAX_STR} characters")


def _matches(value: Any, pattern: re.Pattern[str]) -> bool:
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def _id(obj: dict, key: str, where: str, pattern: re.Pattern[str] = ID, *, required: bool = False) -> None:
    value = obj.get(key)
    if value is None:
        if required:
            raise BadPayload(f"{where}{key} is missing")
    elif not _matches(value, pattern):
        raise BadPayload(f"{where}{key} is not a valid {'timestamp' if pattern is TS else 'id'}")


def _string(obj: dict, key: str, where: str, limit: int, *, required: bool = False) -> None:
    value = obj.get(key)
    if value is None:
        if required:
            raise BadPayload(f"{where}{key} is missing")
    elif not isinstance(value, str) or len(value) > limit:
        raise BadPayload(f"{where}{key} is not a string of at most {limit} characters")


def _object(obj: dict, key: str, where: str, *, nullable: bool = True, required: bool = False) -> dict | None:
    value = obj.get(key)
    if value is None and (nullable or key not in obj) and not required:
        return None
    if not isinstance(value, dict):
        raise BadPayload(f"{where}{key} is not an object")
    return value


def _ref(obj: dict, key: str, where: str) -> None:
    """``user``, ``channel``, ``team``, ``enterprise``: an id, or an object with one (interactions)."""
    value = obj.get(key)
    if isinstance(value, dict):
        _id(value, "id", f"{where}{key}.")
    elif value is not None and not _matches(value, ID):
        raise BadPayload(f"{where}{key} is not a valid id")


def _ids(obj: dict, where: str) -> None:
    """The ids Bolt extracts from a payload, an event, or a message inside one (``build_context``)."""
    for key in ("user", "channel", "team", "enterprise"):
        _ref(obj, key, where)
    for key in (
        "user_id",
        "channel_id",
        "team_id",
        "enterprise_id",
        "api_app_id",
        "app_id",
        "bot_id",
        "event_id",
        "user_team",
        "source_team",
        "context_team_id",
        "context_enterprise_id",
        "app_installed_team_id",
    ):
        _id(obj, key, where)
    _id(obj, "trigger_id", where, TRIGGER)
    _id(obj, "thread_ts", where, TS)  # Bolt keeps it for say() and assistant threads
    for key in ("function_execution_id", "bot_access_token"):
        _string(obj, key, where, MAX_FIELD)


def _envelope(body: dict) -> None:
    _string(body, "type", "", 64)
    _ids(body, "")
    authorizations = body.get("authorizations")
    if authorizations is not None:
        if not isinstance(authorizations, list) or not all(isinstance(a, dict) for a in authorizations):
            raise BadPayload("authorizations is not a list of objects")
        for i, a in enumerate(authorizations[:10]):
            _ids(a, f"authorizations[{i}].")
    # Bolt reads these with .get(key, {}).get(...): present, they must be objects, not null.
    for key in ("event", "view"):
        _object(body, key, "", nullable=False)
    for key in ("container", "function_data", "workflow_step"):
        _object(body, key, "")
    if (message := _object(body, "message", "")) is not None:
        _ids(message, "message.")
        _id(message, "ts", "message.", TS)
    if (event := body.get("event")) is not None:
        # Bolt looks for ids in the event and in a message inside it, whatever the payload's type.
        _ids(event, "event.")
        for key in ("message", "previous_message", "item", "assistant_thread"):
            if (inner := _object(event, key, "event.")) is not None:
                _ids(inner, f"event.{key}.")
    _string(body, "response_url", "", 2048)
    urls = body.get("response_urls")
    if urls is not None and (
        not isinstance(urls, list)
        or not all(isinstance(u, dict) and isinstance(u.get("response_url"), str) for u in urls)
    ):
        raise BadPayload("response_urls is not a list of objects with a response_url")
    actions = body.get("actions")
    if actions is not None:
        if not isinstance(actions, list) or not all(isinstance(a, dict) for a in actions):
            raise BadPayload("actions is not a list of objects")
        for i, a in enumerate(actions[:10]):
            for key in ("action_id", "block_id", "type"):
                _string(a, key, f"actions[{i}].", MAX_FIELD)
            _string(a, "value", f"actions[{i}].", 2000)
    if (view := body.get("view")) is not None:
        _view(view)


def _view(view: dict) -> None:
    _ids(view, "view.")
    for key in ("id", "type", "callback_id", "hash", "external_id", "root_view_id", "previous_view_id"):
        _string(view, key, "view.", MAX_FIELD)
    _string(view, "private_metadata", "view.", 3000)
    if (state := _object(view, "state", "view.")) is not None:
        values = _object(state, "values", "view.state.")
        if values is not None and not all(
            isinstance(b, dict) and all(isinstance(e, dict) for e in b.values()) for b in values.values()
        ):
            raise BadPayload("view.state.values is not an object of objects of objects")


def _event(event: dict) -> None:
    where = "event."
    _id(event, "type", where, NAME, required=True)
    if event["type"] not in HANDLED_EVENTS:
        return
    # The listeners pass these to SQL and to Slack: plain strings of a sane size, or nothing.
    for key in ("user", "channel"):
        if isinstance(event.get(key), dict):
            raise BadPayload(f"{where}{key} is not a valid id")
    for key in ("ts", "thread_ts", "event_ts"):
        _id(event, key, where, TS)
    _string(event, "text", where, MAX_STR)
    for key in ("subtype", "channel_type", "tab"):
        _id(event, key, where, NAME)
    if event["type"] == "app_home_opened":
        _id(event, "user", where, required=True)


def _slash_command(body: dict) -> None:
    if not _matches(body.get("command"), COMMAND):
        raise BadPayload("command is not a slash command")
    _id(body, "user_id", "", required=True)  # the /ask listener indexes both
    _id(body, "channel_id", "", required=True)
    _string(body, "text", "", MAX_STR)


def _interaction(body: dict) -> None:
    # Where a button was pressed: the listeners read channel.id, container.* and message.ts.
    for key in ("channel", "team"):
        if body.get(key) is not None and not isinstance(body[key], dict):
            raise BadPayload(f"{key} is not an object")
    if (container := body.get("container")) is not None:
        _id(container, "channel_id", "container.")
        _id(container, "message_ts", "container.", TS)
    # Bolt's matchers compare callback_id with a pattern: a string or nothing.
    _string(body, "callback_id", "", MAX_FIELD)


def _block_actions(body: dict) -> None:
    _interaction(body)
    if not body.get("actions"):  # Bolt takes actions[0] of every block_actions payload
        raise BadPayload("actions is empty")
    _string(body["actions"][0], "action_id", "actions[0].", MAX_FIELD, required=True)


def _view_payload(body: dict) -> None:
    _interaction(body)
    view = _object(body, "view", "", required=True)
    _string(view, "callback_id", "view.", MAX_FIELD, required=True)
    if body["type"] == "view_submission":
        _string(view, "type", "view.", MAX_FIELD, required=True)  # Bolt reads it for workflow steps
