"""/slack/events against what an attacker or a clumsy sender posts: the real Bolt app behind the real
waitress server on 127.0.0.1, requests sent over HTTP, signed as Slack signs them or not at all.

Unverified requests are refused before anything parses them, each in one short log line; signed
requests of a shape the listeners cannot take get a 4xx (or a 200 that does nothing), never a 500,
on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from slack_bolt import BoltRequest
from sqlalchemy import func, select

from bot.container import Container
from bot.db.models import Feedback, Message, Review
from bot.slack import blocks, http_guard
from bot.slack.http_guard import MAX_BODY_BYTES
from bot.slack.server import build
from tests.slack.harness import ADMIN, ASKER, SECRET
from tests.slack.slack_peer import BOT_USER, TEAM, button_click, dm, sign

LOG_LIMIT = 400  # bytes logged for one refused request, at most
FORM = "application/x-www-form-urlencoded"
# The threads a request is served on: waitress's workers, its channel loop (http-<port>) and Bolt's
# listener pool; and the test's own thread, where a test dispatches into Bolt directly. Records from
# any other thread (the answering pool, the recovery sweeper, the model watcher) are not the
# request's, and on a loaded CI machine they land in the middle of a test.
SERVING = ("waitress-", "http-", "ThreadPoolExecutor", "MainThread")
CLIENT = ("httpx", "httpcore")  # the test's own HTTP client


@pytest.fixture
def logs(caplog):
    caplog.set_level(logging.DEBUG)
    http_guard.refusals.reset()  # each test starts with the whole budget of refusal lines
    return caplog


def logged(caplog) -> list[logging.LogRecord]:
    """The server's records of the request just sent (not the client's, nor other threads'). waitress
    notices that a client went away whenever it next reads that connection, which can be during a
    later test (CI: "Client disconnected while serving /" from an earlier test's connection, next to
    this request's one line): one bounded INFO line about another request, left out."""
    return [
        r
        for r in caplog.records
        if r.threadName.startswith(SERVING)
        and not r.name.startswith(CLIENT)
        and not (r.name == "waitress" and r.getMessage().startswith("Client disconnected while serving"))
    ]


def log_bytes(records: list[logging.LogRecord]) -> int:
    return sum(len(r.getMessage().encode()) + len((r.exc_text or "").encode()) for r in records)


def assert_quiet(caplog, limit: int = LOG_LIMIT) -> list[logging.LogRecord]:
    records = logged(caplog)
    assert not [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]
    assert log_bytes(records) <= limit, [(r.threadName, r.getMessage()[:200]) for r in records]
    return records


def one_line(caplog, limit: int = LOG_LIMIT) -> logging.LogRecord:
    records = assert_quiet(caplog, limit)
    assert len(records) == 1, [(r.threadName, r.name, r.getMessage()[:200]) for r in records]
    return records[0]


def raw(url: str, body: bytes, *, ctype: str = "application/json", sign_with: str | None = None, **headers):
    """POST ``body`` as is; header values given as str go out as UTF-8 bytes, None leaves one out."""
    ts = headers.pop("timestamp", str(int(time.time())))
    h = {"content-type": ctype, "x-slack-request-timestamp": ts}
    if sign_with is not None and ts is not None:
        h["x-slack-signature"] = sign(sign_with, ts, body)
    h |= {k.replace("_", "-"): v for k, v in headers.items()}
    sent = {k: v.encode() for k, v in h.items() if v is not None}
    return httpx.post(url, content=body, headers=sent, timeout=60)


def envelope(event: object, **top) -> bytes:
    body = {
        "token": "legacy",
        "team_id": TEAM,
        "api_app_id": "A0001",
        "type": "event_callback",
        "event_id": "EvHARD0001",
        "event_time": int(time.time()),
        "authorizations": [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}],
        "event": event,
        **top,
    }
    return json.dumps({k: v for k, v in body.items() if v is not ...}).encode()


@contextmanager
def nothing_changes(harness) -> Iterator[None]:
    """No message recorded and no call to Slack made while the block runs (or just after)."""

    def state() -> tuple[int, int]:
        with harness.container.sessions() as s:
            return s.scalar(select(func.count(Message.id))), len(harness.peer.calls)

    before = state()
    yield
    time.sleep(0.2)
    assert state() == before


# ---------------------------------------------------------------- unverified requests

NESTED = b"[" * 50_000 + b"]" * 50_000
UNSIGNED = {
    "truncated JSON": (b'{"type": "event_callback", "event": {"type": "mess', "application/json"),
    "a JSON array": (b"[1]", "application/json"),
    "a form payload that is not JSON": (b"payload=%7Bnot+json", "application/x-www-form-urlencoded"),
    "deeply nested arrays": (NESTED, "application/json"),
    "binary": (bytes(range(256)) * 40, "application/octet-stream"),
    "a genuine-looking event": (envelope(dm(ASKER, "How do I reset my VPN password?", "4000.0001")), None),
}


@pytest.mark.parametrize("name", list(UNSIGNED))
@pytest.mark.parametrize(
    "signature",
    ["v0=" + "0" * 64, None, "v0=ünïcødé", "v0=" + "a" * 5000],
    ids=["bad", "none", "nonascii", "long"],
)
@pytest.mark.slow
def test_unsigned_bodies_get_401_and_one_short_line(shared_slack, logs, name, signature):
    body, ctype = UNSIGNED[name]
    with nothing_changes(shared_slack):
        reply = raw(
            shared_slack.send.url, body, ctype=ctype or "application/json", x_slack_signature=signature
        )
    assert reply.status_code == 401
    line = one_line(logs)
    assert "refused POST /slack/events" in line.getMessage() and line.levelno == logging.INFO


def test_a_flood_of_refusals_is_counted_not_logged_line_by_line(shared_slack, logs):
    burst = http_guard.refusals.burst
    for _ in range(burst + 30):
        assert raw(shared_slack.send.url, b"{}", x_slack_signature="v0=" + "0" * 64).status_code == 401
    lines = [r.getMessage() for r in assert_quiet(logs, (burst + 1) * LOG_LIMIT)]
    assert len(lines) == burst
    http_guard.refusals._window_start -= http_guard.refusals.window_s  # the next window
    logs.clear()
    assert raw(shared_slack.send.url, b"{}").status_code == 401
    line = one_line(logs)
    assert "(and 30 more refused requests not logged)" in line.getMessage()


@pytest.mark.parametrize(
    "timestamp, why",
    [
        ("abc", "no numeric"),
        ("", "no numeric"),
        ("1e9", "no numeric"),
        ("١٢٣٤٥٦٧٨٩٠", "no numeric"),  # digits to int(), not to Slack
        ("9" * 40, "no numeric"),
        (-6 * 60, "five-minute window"),  # seconds from now
        (+6 * 60, "five-minute window"),
        (None, "no numeric"),  # no header at all
    ],
)
def test_a_bad_timestamp_is_401_even_when_signed_with_it(shared_slack, logs, timestamp, why):
    if isinstance(timestamp, int):
        timestamp = str(int(time.time()) + timestamp)
    body = envelope(dm(ASKER, "hi", "4100.0001"))
    with nothing_changes(shared_slack):
        reply = raw(shared_slack.send.url, body, sign_with=SECRET, timestamp=timestamp)
    assert reply.status_code == 401
    line = one_line(logs)
    assert why in line.getMessage()


def test_a_10_mb_body_is_refused_unread_with_413(shared_slack, logs):
    with nothing_changes(shared_slack):
        refused_unread(shared_slack, logs)


def refused_unread(shared_slack, logs):
    body = b'{"type": "event_callback", "pad": "' + b"a" * 10_000_000 + b'"}'
    reply = raw(shared_slack.send.url, body, x_slack_signature="v0=" + "0" * 64)
    assert reply.status_code == 413
    assert log_bytes(assert_quiet(logs)) <= LOG_LIMIT
    # Signed makes no difference: it is not read.
    assert raw(shared_slack.send.url, body, sign_with=SECRET).status_code == 413
    # Chunked (no Content-Length): waitress de-chunks it, the guard still counts.
    chunks = (body[i : i + 65536] for i in range(0, len(body), 65536))
    ts = str(int(time.time()))
    reply = httpx.post(
        shared_slack.send.url,
        content=chunks,
        headers={"x-shared_slack-request-timestamp": ts, "x-shared_slack-signature": sign(SECRET, ts, body)},
    )
    assert reply.status_code == 413
    assert log_bytes(assert_quiet(logs, 3 * LOG_LIMIT)) <= 3 * LOG_LIMIT


def test_the_limit_is_exactly_one_mebibyte(shared_slack):
    def body_of(size: int) -> bytes:
        # A message edit the listeners ignore, padded to ``size`` bytes with short strings and spaces.
        event = {"type": "message", "subtype": "message_changed", "channel": "CGENERAL", "ts": "4200.0001"}
        items = (size - len(envelope(event, pad=[]))) // 1004 - 1  # an item, `"x…x", `, is 1,004 bytes
        text = envelope(event, pad=["x" * 1000] * items)
        text = text[:-1] + b" " * (size - len(text)) + b"}"
        assert len(text) == size
        return text

    assert raw(shared_slack.send.url, body_of(MAX_BODY_BYTES), sign_with=SECRET).status_code == 200
    assert raw(shared_slack.send.url, body_of(MAX_BODY_BYTES + 1), sign_with=SECRET).status_code == 413


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"])
def test_only_post_reaches_slack_events(shared_slack, logs, method):
    reply = httpx.request(
        method, shared_slack.send.url, content=b"{}" if method in ("PUT", "PATCH") else None
    )
    assert reply.status_code == 405 and reply.headers["allow"] == "POST"
    assert_quiet(logs)
    assert httpx.post(shared_slack.url + "/slack/other", content=b"{}").status_code == 404


def test_a_failed_check_inside_bolt_logs_no_body(shared_slack, logs):
    """Bolt checks the signature again behind the guard; should that ever fail (a request on the
    edge of the five-minute window), its INFO line used to carry the whole body."""
    app, bot = build(shared_slack.container, http=True)
    try:
        body = envelope(dm(ASKER, "secret question " + "z" * 100_000, "4300.0001")).decode()
        logs.clear()
        resp = app.dispatch(
            BoltRequest(
                body=body,
                headers={
                    "content-type": "application/json",
                    "x-slack-request-timestamp": str(int(time.time())),
                    "x-slack-signature": "v0=" + "0" * 64,
                },
            )
        )
        assert resp.status == 401
        records = assert_quiet(logs, 600)
        assert any("Invalid request signature" in r.getMessage() for r in records)
        assert not any("z" * 400 in r.getMessage() for r in records)
    finally:
        bot.close()


# ---------------------------------------------------------------- signed, malformed


@pytest.mark.parametrize(
    "body, ctype",
    [
        (b'{"type": "event_callback", "event": {"type": "mess', "application/json"),
        (b"[1]", "application/json"),
        (b'"just a string"', "application/json"),
        (b"payload=%7Bnot+json", "application/x-www-form-urlencoded"),
        (b"payload=%5B1%5D", "application/x-www-form-urlencoded"),
        (NESTED, "application/json"),
        (b'{"a":' * 20_000 + b"1" + b"}" * 20_000, "application/json"),
        (b'{"n": ' + b"9" * 5000 + b"}", "application/json"),  # past int()'s digit limit
        (b"\xff\xfe not utf-8", "application/json"),
    ],
    ids=[
        "truncated",
        "array",
        "string",
        "form-junk",
        "form-array",
        "nested",
        "nested-objects",
        "huge-int",
        "latin",
    ],
)
def test_signed_bodies_that_do_not_parse_get_400(shared_slack, logs, body, ctype):
    with nothing_changes(shared_slack):
        reply = raw(shared_slack.send.url, body, ctype=ctype, sign_with=SECRET)
    assert reply.status_code in (400, 401)  # not UTF-8 cannot be verified: 401
    assert_quiet(logs)


ODD_EVENTS = {
    "channel is a list": {"channel": ["D0USER1"]},
    "channel is an object": {"channel": {"id": "D0USER1"}},
    "channel is 65 characters": {"channel": "D" * 65},
    "channel has a NUL": {"channel": "D0USER\x001"},
    "channel is unicode": {"channel": "D0ÜSER1"},
    "ts is a number": {"ts": 4400.0001},
    "ts is 10 kB": {"ts": "1" * 10_000},
    "ts is not a timestamp": {"ts": "yesterday"},
    "thread_ts is an object": {"thread_ts": {"ts": "1.2"}},
    "user is a list": {"user": ["UASKER"]},
    "user is 200 characters": {"user": "U" * 200},
    "user is a number": {"user": 12},
    "text is a list": {"text": ["hi"]},
    "text is a number": {"text": 5},
    "subtype is an object": {"subtype": {}},
    "type is a number": {"type": 1},
    "type is missing": {"type": ...},
}


def odd_event(change: dict) -> dict:
    event = {**dm(ASKER, "How do I reset my VPN password?", "4400.0001"), **change}
    return {k: v for k, v in event.items() if v is not ...}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(ODD_EVENTS))
def test_signed_events_with_odd_fields_get_400_on_both_databases(shared_slack_any_db, logs, name):
    with nothing_changes(shared_slack_any_db):
        reply = raw(shared_slack_any_db.send.url, envelope(odd_event(ODD_EVENTS[name])), sign_with=SECRET)
    assert reply.status_code == 400, reply.text
    line = one_line(logs)
    assert "signed payload refused" in line.getMessage()


@pytest.mark.parametrize(
    "body",
    [
        envelope("a string"),
        envelope(["a", "list"]),
        envelope(None),
        envelope(..., type="event_callback"),
        envelope({"type": "message"}, type=...),
        envelope({"type": "message"}, type=["event_callback"]),
        envelope({"type": "message"}, authorizations="all of them"),
        envelope({"type": "message"}, authorizations=[1]),
        envelope({"type": "message"}, team={"id": ["T1"]}),
        envelope({"type": "message"}, enterprise=7),
        envelope({"type": "message"}, event_id={"id": 1}),
        envelope({"type": "message"}, view="v"),
        envelope({"type": "message"}, response_urls=["x"]),
        envelope({"type": "message", "message": "not an object"}),
        envelope({"type": "message", "subtype": "message_changed", "message": {"user": 5}}),
        envelope({"type": "reaction_added", "item": {"channel": ["C1"]}}),
        json.dumps({"type": "shortcut", "callback_id": ["x"]}).encode(),
        json.dumps({"type": "workflow_step_edit", "callback_id": "x"}).encode(),
        json.dumps({"type": "interactive_message", "callback_id": "x"}).encode(),
        json.dumps({"type": "url_verification", "challenge": ["x"]}).encode(),
    ],
)
def test_signed_envelopes_of_odd_shape_get_400(shared_slack, logs, body):
    with nothing_changes(shared_slack):
        reply = raw(shared_slack.send.url, body, sign_with=SECRET)
    assert reply.status_code == 400, reply.text
    assert_quiet(logs)


def test_a_null_user_or_an_unknown_event_is_a_harmless_reply(shared_slack, logs):
    with nothing_changes(shared_slack):
        null_user = envelope(odd_event({"user": None}))
        assert raw(shared_slack.send.url, null_user, sign_with=SECRET).status_code == 200
        assert_quiet(logs, 5000)
        logs.clear()
        unknown = envelope({"type": "reaction_added", "user": ASKER, "item": {"channel": "C1", "ts": "1.2"}})
        assert raw(shared_slack.send.url, unknown, sign_with=SECRET).status_code == 404  # Bolt: no listener
    (line,) = [r for r in assert_quiet(logs, 5000) if r.levelno >= logging.INFO]
    assert "no listener" in line.getMessage() and "reaction_added" in line.getMessage()
    challenge = json.dumps({"type": "url_verification", "challenge": "c" * 40}).encode()
    assert raw(shared_slack.send.url, challenge, sign_with=SECRET).json() == {"challenge": "c" * 40}


@pytest.mark.slow
def test_nul_characters_are_taken_out_of_a_question_on_both_databases(slack_any_db):
    harness = slack_any_db
    text = "How do I reset\x00 my VPN password?\x00"
    assert raw(harness.send.url, envelope(dm(ASKER, text, "4500.0001")), sign_with=SECRET).status_code == 200
    harness.peer.wait_for(lambda: harness.peer.final_answers("D0USER1"), what="the answer")
    with harness.container.sessions() as s:
        (question,) = s.scalars(select(Message).where(Message.role == "user")).all()
    assert question.text == "How do I reset my VPN password?"
    # A lone surrogate (JSON "\ud800") cannot be encoded for either database: replaced.
    body = envelope(dm(ASKER, "where is my payslip", "4500.0002")).replace(b"payslip", b"payslip \\ud800")
    assert raw(harness.send.url, body, sign_with=SECRET).status_code == 200
    harness.peer.wait_for(lambda: len(harness.peer.final_answers("D0USER1")) == 2, what="the second answer")


def test_socket_mode_payloads_get_the_same_check_and_are_acked(shared_slack, logs):
    """No guard in front of Bolt there: the app's own first middleware refuses what the listeners
    cannot take, and acks it (an envelope left unacked is only delivered again)."""
    from pydantic import SecretStr

    settings = shared_slack.container.settings.model_copy(
        update={"slack_app_token": SecretStr("xapp-1-test")}
    )
    app, bot = build(Container(settings), http=False)
    try:
        odd = json.loads(envelope(odd_event({"channel": ["D0USER1"]})))
        with nothing_changes(shared_slack):
            resp = app.dispatch(BoltRequest(body=odd, mode="socket_mode"))
        assert resp.status == 200 and not resp.body
        (line,) = [r for r in assert_quiet(logs, 5000) if r.levelno >= logging.INFO]
        assert "refused a Slack payload" in line.getMessage() and "event.channel" in line.getMessage()
    finally:
        bot.close()


# ---------------------------------------------------------------- interactions and commands


def _click(action_id: str, value: object, **change) -> bytes:
    payload = button_click(action_id, "1", ASKER, "D0USER1", "4600.0001")
    payload["actions"][0]["value"] = value
    payload |= change
    return urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()


@pytest.mark.parametrize(
    "body",
    [
        _click(blocks.HELPFUL, "1", actions=[]),
        _click(blocks.HELPFUL, "1", actions="click"),
        _click(blocks.HELPFUL, "1", actions=[{"action_id": ["x"], "value": "1"}]),
        _click(blocks.HELPFUL, "1", actions=["x"]),
        _click(blocks.HELPFUL, "1", user=["UASKER"]),
        _click(blocks.HELPFUL, "1", user={"id": "U" * 65}),
        _click(blocks.HELPFUL, "1", channel="D0USER1"),
        _click(blocks.HELPFUL, "1", message="m"),
        _click(blocks.HELPFUL, "1", container={"channel_id": 5}),
        _click(blocks.HELPFUL, "1", view=None),
        _click(blocks.EDIT, "1", trigger_id="t" * 300),
    ],
)
def test_signed_clicks_that_bolt_cannot_read_get_400_on_both_databases(shared_slack_any_db, logs, body):
    reply = raw(shared_slack_any_db.send.url, body, ctype=FORM, sign_with=SECRET)
    assert reply.status_code == 400, reply.text
    assert_quiet(logs)


@pytest.mark.parametrize(
    "action, value",
    [
        (blocks.HELPFUL, "abc"),
        (blocks.HELPFUL, "99999999999"),  # past PostgreSQL's integer
        (blocks.NOT_HELPFUL, None),
        (blocks.HELPFUL, ["1"]),
        (blocks.HANDOFF, "-1"),
        (blocks.APPROVE, "1.5"),
        (blocks.REJECT, "１２"),  # full-width digits
        (blocks.HELPFUL, "424242"),  # no such answer
        (blocks.HANDOFF, "424242"),
        ("some_old_button", "1"),
    ],
)
def test_signed_clicks_naming_no_answer_do_nothing_on_both_databases(
    shared_slack_any_db, logs, action, value
):
    """A 400, or (the interaction listeners' choice) a 200 that tells the presser: never a 500."""
    reply = raw(shared_slack_any_db.send.url, _click(action, value), ctype=FORM, sign_with=SECRET)
    assert reply.status_code in (200, 400), reply.text
    assert_quiet(logs, 5000)
    with shared_slack_any_db.container.sessions() as s:
        assert s.scalars(select(Feedback)).all() == []
    assert shared_slack_any_db.peer.calls_to("chat.postMessage", channel="CSUPPORT") == []


def test_an_admin_editing_an_answer_that_does_not_exist_opens_nothing(shared_slack_any_db, logs):
    reply = shared_slack_any_db.send.interaction(
        button_click(blocks.EDIT, "424242", ADMIN, "CREVIEW", "4600.0002")
    )
    assert reply.status_code in (200, 404)
    assert_quiet(logs, 5000)
    assert shared_slack_any_db.peer.calls_to("views.open") == []


def _submission(metadata: object = None, value: object = "West Germany", **change) -> dict:
    view = {
        "id": "V1",
        "type": "modal",
        "callback_id": blocks.EDIT_MODAL,
        "private_metadata": json.dumps({"answer_id": 1, "channel": "CREVIEW", "ts": "1.2"})
        if metadata is None
        else metadata,
        "state": {"values": {blocks.EDIT_INPUT_BLOCK: {blocks.EDIT_INPUT: {"type": "x", "value": value}}}},
    }
    return {
        "type": "view_submission",
        "team": {"id": TEAM},
        "user": {"id": ADMIN},
        "trigger_id": "t",
        "view": view,
    } | change


@pytest.mark.parametrize(
    "payload",
    [
        _submission(metadata="not json"),
        _submission(metadata="[1]"),
        _submission(metadata=json.dumps({"answer_id": "x"})),
        _submission(metadata=json.dumps({"answer_id": 2**40})),
        _submission(metadata=json.dumps({"answer_id": 1, "channel": ["C"]})),
        _submission(metadata=json.dumps({"answer_id": 1, "ts": 1.5})),
        _submission(metadata=7),
        _submission(value=["text"]),
        _submission(value={"text": "x"}),
        _submission(view={"type": "modal", "callback_id": blocks.EDIT_MODAL, "state": {"values": []}}),
        _submission(view={"type": "modal", "callback_id": blocks.EDIT_MODAL, "state": "s"}),
        _submission(view={"callback_id": blocks.EDIT_MODAL}),
        _submission(view={"type": "modal", "callback_id": 3}),
        _submission(view="v"),
        _submission(user="UADMIN"),
        _submission(user=5),
    ],
)
def test_signed_modal_submissions_of_odd_shape_change_nothing(shared_slack, logs, payload):
    reply = shared_slack.send.interaction(payload)
    assert reply.status_code in (200, 400), reply.text
    assert_quiet(logs, 5000)
    with shared_slack.container.sessions() as s:
        assert s.scalars(select(Review)).all() == []  # nothing in this module reviews


@pytest.mark.parametrize(
    "fields",
    [
        {"user_id": "U" * 100},
        {"user_id": ""},
        {"channel_id": "C\x00"},
        {"command": "ask"},
        {"trigger_id": "t" * 200},
    ],
)
def test_signed_slash_commands_of_odd_shape_get_400(shared_slack, logs, fields):
    base = {
        "command": "/ask",
        "text": "hi",
        "user_id": ASKER,
        "channel_id": "CGENERAL",
        "trigger_id": "trig-1",
    }
    body = urllib.parse.urlencode(base | fields).encode()
    with nothing_changes(shared_slack):
        reply = raw(shared_slack.send.url, body, ctype=FORM, sign_with=SECRET)
    assert reply.status_code == 400, reply.text
    assert_quiet(logs)


@pytest.mark.slow
def test_a_slash_command_that_mentions_payload_is_still_a_command(slack):
    """Bolt reads any form containing the word "payload" as an interaction and finds nothing."""
    reply = slack.send.command("/ask", "what is the payload size limit for uploads?", ASKER, "CGENERAL")
    assert reply.status_code == 200
    posted = slack.peer.wait_for(
        lambda: slack.peer.calls_to("chat.postMessage", channel="CGENERAL"), what="post"
    )
    assert "payload size limit" in posted[0].args["text"]
