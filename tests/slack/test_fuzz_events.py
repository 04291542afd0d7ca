"""Fuzzing /slack/events on the real server (real Bolt app, real waitress on 127.0.0.1, SQLite):
random bodies, content types, headers and payload shapes, signed as Slack signs them or not.

Whatever arrives: never a 5xx, never a traceback in the log (the bot, slack_bolt, slack_sdk and
waitress loggers captured at DEBUG), and a refused request costs at most a few hundred bytes of
log at INFO and above (a bounded few kB with Bolt's DEBUG lines), and never any of its own body.
Signed payloads are genuine ones with none, one or two fields made odd or taken out, at any depth;
``pytest --hypothesis-show-statistics`` shows which status codes the examples reached. Questions
that do get through are few by construction (their channels and timestamps come from a small set,
and a delivery is taken once), so the model answers a handful at most.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.parse

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bot.slack import blocks, http_guard
from tests.slack.harness import ADMIN, ASKER, SECRET
from tests.slack.slack_peer import BOT_USER, TEAM, sign

REFUSED_LOG_LIMIT = 400  # bytes at INFO and above for one refused request
DEBUG_LOG_LIMIT = 6000  # all of it, DEBUG included (Bolt's per-middleware lines): bounded, whatever the body
SERVER_LOGGERS = ("bot", "slack_bolt", "slack_sdk", "waitress")
# The threads a request is served on (waitress's workers and channel loop, Bolt's listener pool):
# other threads' records (answering, recovery, the model watcher) are not this request's.
SERVING = ("waitress-", "http-", "ThreadPoolExecutor")
# slack_sdk's DEBUG lines of the bot's own Web API calls hold what the bot sends (an App Home view
# grows with the reviews waiting): their size follows the bot's state, not the request's body.
OWN_CALLS = ("Sending a request - url:", "Received the following response - status:")

# ---------------------------------------------------------------- values

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
odd = st.one_of(
    json_values,
    st.text(alphabet=st.characters(codec="utf-8"), max_size=200),
    st.sampled_from(["", "\x00", "U\x00X", "\ud800", "D" * 65, "1" * 10_000, "1.2.3", "<@UBOT>", "١٢٣"]),
    st.builds(lambda c, n: c * n, st.sampled_from(["a", "é", "🙂", "\x00", " "]), st.integers(0, 3000)),
)
# Few distinct deliveries, so few questions are ever taken and answered.
channels = st.sampled_from(["D0FUZZ1", "CFUZZ"])
stamps = st.sampled_from(["7700.0001", "7700.0002"])
users = st.sampled_from([ASKER, ADMIN, BOT_USER])
answer_ids = st.sampled_from(["1", "2", "424242", "abc", "99999999999", ""])
texts = st.text(max_size=80) | st.just(f"<@{BOT_USER}> How do I reset my VPN password?")


@st.composite
def events(draw) -> dict:
    kind = draw(st.sampled_from(["message", "message", "app_mention", "app_home_opened", "reaction_added"]))
    event = {"type": kind, "channel": draw(channels), "user": draw(users), "ts": draw(stamps)}
    if kind == "message":
        event["channel_type"] = "im" if event["channel"].startswith("D") else "channel"
    if kind in ("message", "app_mention"):
        event["text"] = draw(texts)
    if draw(st.booleans()):
        event["thread_ts"] = draw(stamps)
    if kind == "app_home_opened":
        event["tab"] = "home"
    if kind == "reaction_added":
        event["item"] = {"type": "message", "channel": event.pop("channel"), "ts": event.pop("ts")}
    return {
        "token": "legacy",
        "team_id": TEAM,
        "api_app_id": "A0001",
        "type": "event_callback",
        "event_id": f"EvFUZZ{draw(st.integers(0, 10**6))}",
        "event_time": int(time.time()),
        "authorizations": [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}],
        "event": event,
    }


@st.composite
def interactions(draw) -> dict:
    kind = draw(
        st.sampled_from(["block_actions", "block_actions", "view_submission", "shortcut", "view_closed"])
    )
    body = {"type": kind, "team": {"id": TEAM}, "user": {"id": draw(users)}, "api_app_id": "A0001"}
    body["trigger_id"] = "trig-fuzz"
    if kind == "block_actions":
        action_id = draw(
            st.sampled_from([blocks.HELPFUL, blocks.NOT_HELPFUL, blocks.HANDOFF, blocks.EDIT, "x"])
        )
        body |= {
            "channel": {"id": draw(channels)},
            "container": {"type": "message", "channel_id": "CFUZZ", "message_ts": "1.2"},
            "message": {"ts": "1.2", "text": ""},
            "actions": [
                {"action_id": action_id, "block_id": "b", "type": "button", "value": draw(answer_ids)}
            ],
        }
    elif kind in ("view_submission", "view_closed"):
        meta = {"answer_id": draw(answer_ids), "channel": "CFUZZ", "ts": "1.2"}
        value = {"values": {blocks.EDIT_INPUT_BLOCK: {blocks.EDIT_INPUT: {"value": draw(texts)}}}}
        callback = draw(st.sampled_from([blocks.EDIT_MODAL, "other"]))
        body["view"] = {
            "id": "V1",
            "type": "modal",
            "callback_id": callback,
            "private_metadata": json.dumps(meta),
        }
        body["view"]["state"] = value
    else:
        body["callback_id"] = "a_shortcut"
    return body


@st.composite
def commands(draw) -> dict:
    return {
        "command": draw(st.sampled_from(["/ask", "/other"])),
        "text": draw(
            st.text(alphabet=st.characters(codec="utf-8"), max_size=60) | st.just("what is the payload limit")
        ),
        "user_id": draw(users),
        "channel_id": "CFUZZ",
        "trigger_id": "trig-fuzz-cmd",
        "team_id": TEAM,
    }


def _paths(node, prefix=()):
    """Every key path into ``node``'s objects and lists (to four levels)."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        yield (*prefix, key)
        if len(prefix) < 3:
            yield from _paths(value, (*prefix, key))


@st.composite
def mutated(draw, base: st.SearchStrategy[dict]) -> dict:
    """A genuine payload with none, one or two fields, at any depth, made odd or taken out."""
    body = draw(base)
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2]))):
        paths = list(_paths(body))
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = body
        for key in path[:-1]:
            parent = parent[key]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(odd)
    return body


def _form_value(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)


# Header values as HTTP allows them (h11 refuses control characters and surrounding blanks).
header_text = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=255, exclude_characters="\x7f"), max_size=60
).map(str.strip)


@st.composite
def bodies(draw) -> tuple[bytes, str]:
    """(body, content type)."""
    shape = draw(
        st.sampled_from(
            ["event"] * 3 + ["interaction"] * 3 + ["command"] * 2 + ["json", "bytes", "form", "deep"]
        )
    )
    if shape == "event":
        body, ctype = json.dumps(draw(mutated(events()))).encode(), "application/json"
    elif shape == "interaction":
        payload = json.dumps(draw(mutated(interactions())))
        body, ctype = (
            urllib.parse.urlencode({"payload": payload}).encode(),
            "application/x-www-form-urlencoded",
        )
    elif shape == "command":
        fields = {k: _form_value(v) for k, v in draw(mutated(commands())).items()}
        body = urllib.parse.urlencode(fields, encoding="utf-8", errors="surrogatepass").encode()
        ctype = "application/x-www-form-urlencoded"
    elif shape == "json":
        body, ctype = json.dumps(draw(json_values)).encode(), "application/json"
    elif shape == "bytes":
        body, ctype = draw(st.binary(max_size=3000)), draw(st.sampled_from(["application/json", ""]))
    elif shape == "form":
        junk = draw(
            st.sampled_from(["payload=", "payload=%7B", "payload=%5B%5D", "a=1&b", "&&&", "payload=1e999"])
        )
        body, ctype = junk.encode() + draw(st.binary(max_size=200)), "application/x-www-form-urlencoded"
    else:
        n = draw(st.integers(1, 20_000))
        body, ctype = draw(st.sampled_from([b"[", b'{"a":'])) * n, "application/json"
    if draw(st.sampled_from([False, False, False, True])):
        ctype = draw(
            st.sampled_from(
                ["application/json; charset=utf-8", "text/plain", "multipart/form-data; boundary=x", ""]
            )
            | header_text
        )
    return body, ctype


def signed(body: bytes, ctype: str) -> dict:
    ts = str(int(time.time()))
    headers = {
        "content-type": ctype,
        "x-slack-request-timestamp": ts,
        "x-slack-signature": sign(SECRET, ts, body),
    }
    return {"content": body, "headers": {k: v.encode("latin-1") for k, v in headers.items()}}


signed_requests = bodies().map(lambda b: {"method": "POST", **signed(*b)})


@st.composite
def any_requests(draw) -> dict:
    """Any method, any headers (signed or not, any timestamp), any body."""
    body, ctype = draw(bodies())
    now = int(time.time())
    timestamp = draw(
        st.one_of(
            st.just(str(now)),
            st.builds(lambda d: str(now + d), st.sampled_from([-400, -299, 299, 400, -(10**9)])),
            header_text,
            st.none(),
        )
    )
    signature = draw(st.sampled_from(["good", "bad", "none", "junk"]))
    headers = {"content-type": ctype}
    if timestamp is not None:
        headers["x-slack-request-timestamp"] = timestamp
    if signature == "good":
        headers["x-slack-signature"] = sign(SECRET, timestamp or "", body)
    elif signature == "bad":
        headers["x-slack-signature"] = "v0=" + "0" * 64
    elif signature == "junk":
        headers["x-slack-signature"] = draw(header_text)
    extra = st.sampled_from(
        ["x-slack-retry-num", "x-slack-bolt-lazy-only", "x-forwarded-for", "content-encoding"]
    )
    for name in draw(st.lists(extra, max_size=2)):
        headers[name] = draw(header_text)
    method = draw(st.sampled_from(["POST", "POST", "POST", "GET", "PUT", "DELETE", "HEAD"]))
    return {
        "method": method,
        "content": body,
        "headers": {k: v.encode("latin-1") for k, v in headers.items()},
    }


# ---------------------------------------------------------------- the test


def _server_records(caplog) -> list[logging.LogRecord]:
    return [
        r for r in caplog.records if r.name.startswith(SERVER_LOGGERS) and r.threadName.startswith(SERVING)
    ]


def _size(records) -> int:
    return sum(
        len(r.getMessage().encode("utf-8", "replace")) + len((r.exc_text or "").encode()) for r in records
    )


def _check(harness, caplog, request: dict) -> None:
    for name in SERVER_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    caplog.clear()
    http_guard.refusals.reset()
    reply = httpx.request(url=harness.send.url, timeout=60, **request)
    event(f"HTTP {reply.status_code}")  # pytest --hypothesis-show-statistics: what the examples reached
    assert reply.status_code < 500, (reply.status_code, reply.text[:200])
    tracebacks = [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]
    assert not tracebacks, [r.getMessage()[:300] for r in tracebacks]
    records = _server_records(caplog)
    bounded = [r for r in records if not r.getMessage().startswith(OWN_CALLS)]
    assert _size(bounded) <= DEBUG_LOG_LIMIT, [r.getMessage()[:120] for r in bounded]
    if reply.status_code >= 400:
        loud = [r for r in records if r.levelno >= logging.INFO]
        assert _size(loud) <= REFUSED_LOG_LIMIT, [r.getMessage()[:200] for r in loud]
        body = request["content"]
        if len(body) >= 64:  # no refused body leaks into the log, not even a piece of it
            text = body.decode("utf-8", "replace")
            pieces = {text[i : i + 48] for i in range(0, len(text) - 48, 97)}
            logged = "\n".join(r.getMessage() for r in records)
            assert not any(p in logged for p in pieces if len(set(p)) > 4)


FUZZ = settings(
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


@pytest.mark.slow
@settings(FUZZ, max_examples=100)
@given(sent=signed_requests)
def test_signed_payloads_of_any_shape_get_no_5xx_and_no_traceback(shared_slack, caplog, sent):
    _check(shared_slack, caplog, sent)


@pytest.mark.slow
@settings(FUZZ, max_examples=60)
@given(sent=any_requests())
def test_any_request_gets_no_5xx_and_no_traceback(shared_slack, caplog, sent):
    _check(shared_slack, caplog, sent)


def test_the_fuzzed_server_still_serves(shared_slack):
    """After whatever the fuzzing sent (same module, same server), Bolt and a listener still work
    (without waiting on the model: the questions the fuzzing got through may still be in its queue)."""
    challenge = json.dumps({"type": "url_verification", "challenge": "still-here"}).encode()
    assert httpx.post(shared_slack.send.url, **signed(challenge, "application/json")).json() == {
        "challenge": "still-here"
    }
    opened = {"type": "app_home_opened", "user": "UAFTERFUZZ", "tab": "home", "ts": "7900.0001"}
    assert shared_slack.send.event(opened).status_code == 200
    assert shared_slack.peer.wait_for(
        lambda: shared_slack.peer.calls_to("views.publish", user_id="UAFTERFUZZ")
    )
