"""The bot's Web API client: the one gate every posted text passes, with Slack's retries."""

from __future__ import annotations

import json
import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.slack import blocks

__all__ = ["SafeWebClient", "tell", "web_client"]

log = logging.getLogger(__name__)


# Methods whose arguments Slack shows as text: their mrkdwn is made safe at this one gate.
_SHOWN = ("chat.", "views.")
_ATTACHMENT_TEXT = ("text", "pretext", "fallback", "title", "footer", "author_name")


def _safe(value):
    """A copy with every mrkdwn text object escaped unless the bot built it (``blocks.Mrkdwn``)."""
    if isinstance(value, dict):
        md = value.get("type") == "mrkdwn"
        return {
            k: blocks.escape(v) if md and k == "text" and isinstance(v, str) else _safe(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_safe(v) for v in value]
    return value


def _safe_args(args: dict) -> dict:
    out = {k: _safe(v) for k, v in args.items() if k not in ("parse", "link_names")}
    if isinstance(out.get("text"), str):
        out["text"] = blocks.escape(out["text"])
    if isinstance(out.get("view"), str):
        out["view"] = _safe(json.loads(out["view"]))
    if isinstance(out.get("attachments"), list):
        out["attachments"] = [
            {k: blocks.escape(v) if k in _ATTACHMENT_TEXT and isinstance(v, str) else v for k, v in a.items()}
            if isinstance(a, dict)
            else a
            for a in out["attachments"]
        ]
    return out


class SafeWebClient(WebClient):
    """The bot's only way to Slack, and the gate no unescaped text passes: every ``text`` and every
    mrkdwn object of a message or view is escaped unless ``bot.slack.blocks`` built it as ``Mrkdwn``
    (whose controls, an asker's mention, a cited link, the bot means). ``parse`` and ``link_names``
    are dropped, so Slack never turns the words "@here" into a mention either."""

    def api_call(self, api_method: str, *, json=None, data=None, params=None, **kwargs):
        if api_method.startswith(_SHOWN):
            json, data, params = (_safe_args(a) if isinstance(a, dict) else a for a in (json, data, params))
        return super().api_call(api_method, json=json, data=data, params=params, **kwargs)


def web_client(token: str | None, base_url: str) -> SafeWebClient:
    """Rate limits (429 + Retry-After), 5xx and dropped connections are retried by slack_sdk."""
    return SafeWebClient(
        token=token,
        base_url=base_url if base_url.endswith("/") else base_url + "/",
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=2),
            RateLimitErrorRetryHandler(max_retry_count=5),
            ServerErrorRetryHandler(max_retry_count=3),
        ],
    )


def tell(client: WebClient, user: str, channel: str | None, text: str) -> None:
    """A note only ``user`` sees: ephemeral in the channel, else a direct message. ``text`` is
    shown as written (escaped)."""
    try:
        if channel:
            client.chat_postEphemeral(channel=channel, user=user, **blocks.note(text).args())
        else:
            client.chat_postMessage(channel=user, **blocks.note(text).args())
    except SlackApiError as exc:
        log.warning("%s message failed: %s", "ephemeral" if channel else "direct", exc.response.get("error"))
