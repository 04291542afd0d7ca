"""Socket mode end to end: the real Bolt app and slack_sdk's SocketModeHandler against local peers.

Slack is faked at both of its socket-mode edges. ``SocketModePeer`` is Slack's side of the websocket
(a ``websockets`` server on 127.0.0.1): it says ``hello``, delivers envelopes and records what the bot
sends back. ``ConnectingSlackPeer`` is the Web API peer that also answers ``apps.connections.open``
(only for the app-level ``xapp-`` token, as Slack does) with that server's ``ws://`` URL; slack_sdk's
built-in client speaks plain websocket to any port but 443.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from slack_bolt.adapter.socket_mode import SocketModeHandler
from sqlalchemy import select
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve

from bot.container import Container
from bot.db.models import Message
from bot.settings import Settings
from bot.slack.bot import SlackBot
from bot.slack.listeners.commands import USAGE
from bot.slack.server import build
from tests.slack.harness import ADMIN, ASKER, REVIEW, SUPPORT
from tests.slack.slack_peer import BOT_USER, TEAM, Call, SlackPeer, dm
from tests.support import SAMPLE_FAQ

APP_TOKEN = "xapp-1-A0001-test"


class SocketModePeer:
    """Slack's end of the socket: one websocket server, the messages each connection sent back."""

    def __init__(self) -> None:
        self.received: list[tuple[int, dict]] = []  # (connection number, message from the bot)
        self.sessions = 0
        self._open: dict[int, ServerConnection] = {}
        self._cond = threading.Condition()
        self.server = serve(self._session, "127.0.0.1", 0)
        port = self.server.socket.getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}/link/?ticket={uuid.uuid4()}&app_id=A0001"
        self.thread = threading.Thread(target=self.server.serve_forever, name="socket-mode-peer", daemon=True)
        self.thread.start()

    def _session(self, ws: ServerConnection) -> None:
        with self._cond:
            self.sessions += 1
            number = self.sessions
        ws.send(
            json.dumps(
                {
                    "type": "hello",
                    "num_connections": 1,
                    "debug_info": {"host": "applink-local", "approximate_connection_time": 18060},
                    "connection_info": {"app_id": "A0001"},
                }
            )
        )
        with self._cond:
            self._open[number] = ws
            self._cond.notify_all()
        try:
            for raw in ws:
                with self._cond:
                    self.received.append((number, json.loads(raw)))
                    self._cond.notify_all()
        except ConnectionClosed:
            pass  # the built-in client drops the TCP connection without a close frame
        finally:
            with self._cond:
                self._open.pop(number, None)
                self._cond.notify_all()

    def wait(self, predicate, timeout: float = 30.0, what: str = "the bot"):
        with self._cond:
            if not self._cond.wait_for(predicate, timeout):
                raise AssertionError(f"timed out waiting for {what}; received: {self.received}")
            return predicate()

    def wait_connected(self, number: int = 1) -> None:
        self.wait(lambda: number in self._open, what=f"socket connection #{number}")

    def send(self, message: dict, *, connection: int | None = None) -> None:
        with self._cond:
            ws = self._open[connection or max(self._open)]
        ws.send(json.dumps(message))

    def acks(self, envelope_id: str) -> list[dict]:
        with self._cond:
            return [m for _, m in self.received if m.get("envelope_id") == envelope_id]

    def wait_ack(self, envelope_id: str) -> dict:
        return self.wait(lambda: self.acks(envelope_id), what=f"the ack of {envelope_id}")[0]

    def close(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=10)


class ConnectingSlackPeer(SlackPeer):
    """The Web API peer, plus ``apps.connections.open``: a socket URL for an app-level token."""

    def __init__(self, socket_url: str) -> None:
        super().__init__()
        self.socket_url = socket_url

    def _handle(self, method: str, raw: bytes, ctype: str, auth: str) -> tuple[int, dict, dict]:
        if method != "apps.connections.open":
            return super()._handle(method, raw, ctype, auth)
        with self._lock:
            self.calls.append(Call(method, {"token_type": auth.removeprefix("Bearer ").split("-", 1)[0]}))
            self._lock.notify_all()
        if not auth.startswith("Bearer xapp-"):
            return 200, {}, {"ok": False, "error": "not_allowed_token_type"}
        return 200, {}, {"ok": True, "url": self.socket_url}


def events_api(
    event: dict,
    *,
    envelope_id: str | None = None,
    event_id: str | None = None,
    retry_attempt: int = 0,
    retry_reason: str = "",
) -> dict:
    """An ``events_api`` envelope: the same event callback as over HTTP, inside a socket envelope."""
    payload = {
        "token": "legacy",
        "team_id": TEAM,
        "api_app_id": "A0001",
        "type": "event_callback",
        "event_id": event_id or "Ev" + uuid.uuid4().hex[:10],
        "event_time": int(time.time()),
        "authorizations": [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}],
        "is_ext_shared_channel": False,
        "event_context": "4-eyJldCI6Im1lc3NhZ2UifQ",
        "event": {"event_ts": event.get("ts"), **event},
    }
    return {
        "envelope_id": envelope_id or str(uuid.uuid4()),
        "type": "events_api",
        "payload": payload,
        "accepts_response_payload": False,
        "retry_attempt": retry_attempt,
        "retry_reason": retry_reason,
    }


def slash_command(command: str, text: str, user: str, channel: str) -> dict:
    """A ``slash_commands`` envelope: the command's form fields as a dict."""
    payload = {
        "token": "legacy",
        "team_id": TEAM,
        "team_domain": "acme",
        "channel_id": channel,
        "channel_name": "general",
        "user_id": user,
        "user_name": "asker",
        "command": command,
        "text": text,
        "api_app_id": "A0001",
        "is_enterprise_install": "false",
        "response_url": "http://127.0.0.1:9/unused",
        "trigger_id": "trig-" + uuid.uuid4().hex[:8],
    }
    return {
        "envelope_id": str(uuid.uuid4()),
        "type": "slash_commands",
        "payload": payload,
        "accepts_response_payload": True,
    }


@dataclass
class SocketHarness:
    peer: ConnectingSlackPeer
    socket: SocketModePeer
    container: Container
    bot: SlackBot
    handler: SocketModeHandler


@pytest.fixture
def socket_peer() -> Iterator[SocketModePeer]:
    peer = SocketModePeer()
    yield peer
    peer.close()


@pytest.fixture
def slack_peer(socket_peer) -> Iterator[ConnectingSlackPeer]:
    peer = ConnectingSlackPeer(socket_peer.url)
    yield peer
    peer.close()


@pytest.fixture
def socket_settings(data_dir, model_path, slack_peer) -> Settings:
    # No signing secret: socket mode needs only the bot token and the app-level token. The questions
    # below are FAQ phrasings, sent as written (direct_answer_score): this module tests the transport,
    # test_conversations.py the model's answers over the same listeners.
    return Settings(
        data_dir=data_dir,
        model_path=model_path,
        slack_bot_token="xoxb-test-token",
        slack_app_token=APP_TOKEN,
        slack_api_url=slack_peer.url,
        admin_users=[ADMIN],
        review_channel=REVIEW,
        support_channel=SUPPORT,
        review_mode="flagged",
        stream_update_interval_s=0.3,
        direct_answer_score=0.85,
    )


@pytest.fixture
def socket_mode(socket_settings, slack_peer, socket_peer) -> Iterator[SocketHarness]:
    from retrieval.faq import load_faq

    container = Container(socket_settings)
    container.ensure_schema()
    container.index.import_items(load_faq(SAMPLE_FAQ))
    app, bot = build(container, http=False)
    handler = SocketModeHandler(app, socket_settings.slack_app_token.get_secret_value())
    handler.connect()  # returns once connected; listening runs on the client's own threads
    socket_peer.wait_connected()
    yield SocketHarness(slack_peer, socket_peer, container, bot, handler)
    handler.close()
    socket_peer.close()  # before the bot's pool: nothing may arrive once answering stops
    bot.close(wait=True)


def test_dm_over_the_socket_is_acked_after_recording_and_answered_once(socket_mode):
    peer, socket = socket_mode.peer, socket_mode.socket
    opened = peer.calls_to("apps.connections.open")
    assert [c.args["token_type"] for c in opened] == ["xapp"]  # the app-level token, not the bot token
    assert socket_mode.handler.client.is_connected()

    envelope = events_api(dm(ASKER, "How do I reset my VPN password?", ts="1000.0001"), event_id="EvSOCK1")
    sent = time.monotonic()
    socket.send(envelope)
    ack = socket.wait_ack(envelope["envelope_id"])
    assert ack == {"envelope_id": envelope["envelope_id"]}  # events take no response payload
    assert time.monotonic() - sent < 3
    with socket_mode.container.sessions() as s:  # recorded before the ack
        question = s.scalar(select(Message).where(Message.role == "user"))
        assert question.slack_ts == "1000.0001" and question.user_id == ASKER

    # Slack redelivers when an ack is late: the same envelope again, then a retry with a new envelope.
    socket.send(envelope)
    retry = events_api(
        envelope["payload"]["event"], event_id="EvSOCK1", retry_attempt=1, retry_reason="timeout"
    )
    socket.send(retry)
    socket.wait(
        lambda: len(socket.acks(envelope["envelope_id"])) == 2 and socket.acks(retry["envelope_id"]),
        what="acks of both redeliveries",
    )

    placeholder = peer.wait_for(
        lambda: peer.calls_to("chat.postMessage", channel="D0USER1"), what="the placeholder"
    )[0]
    assert placeholder.args["thread_ts"] == "1000.0001"
    final = peer.wait_for(lambda: peer.final_answers("D0USER1", "1000.0001"), what="the answer")
    assert final[0].args["ts"] == placeholder.ts and "VPN uses your Brightwater" in final[0].args["text"]
    time.sleep(1.0)
    assert len(peer.final_answers("D0USER1")) == 1
    assert len(peer.calls_to("chat.postMessage", channel="D0USER1")) == 1
    with socket_mode.container.sessions() as s:
        assert [m.role for m in s.scalars(select(Message).order_by(Message.id))] == ["user", "bot"]


def test_slash_command_over_the_socket_is_answered_in_its_thread(socket_mode):
    peer, socket = socket_mode.peer, socket_mode.socket
    empty = slash_command("/ask", "  ", ASKER, "CGENERAL")
    socket.send(empty)
    assert socket.wait_ack(empty["envelope_id"]) == {
        "envelope_id": empty["envelope_id"],
        "payload": {"text": USAGE},
    }

    command = slash_command("/ask", "How do I reset my VPN password?", ASKER, "CGENERAL")
    socket.send(command)
    assert socket.wait_ack(command["envelope_id"]) == {"envelope_id": command["envelope_id"]}
    question_post = peer.calls_to("chat.postMessage", channel="CGENERAL")[0]  # posted before the ack
    assert "asked" in question_post.args["text"] and "thread_ts" not in question_post.args
    final = peer.wait_for(lambda: peer.final_answers("CGENERAL", question_post.ts), what="the answer")
    assert len(final) == 1


def test_a_refresh_request_reconnects_and_events_keep_flowing(socket_mode):
    peer, socket = socket_mode.peer, socket_mode.socket
    # Slack asks clients to move to a fresh connection every few hours.
    socket.send(
        {"type": "disconnect", "reason": "refresh_requested", "debug_info": {"host": "applink-local"}}
    )
    socket.wait_connected(2)
    assert len(peer.calls_to("apps.connections.open")) == 2
    mention = {
        "type": "app_mention",
        "channel": "CGENERAL",
        "user": ASKER,
        "text": f"<@{BOT_USER}> Where can I find my payslip?",
        "ts": "2000.0001",
    }
    envelope = events_api(mention)
    socket.send(envelope, connection=2)
    socket.wait_ack(envelope["envelope_id"])
    assert [n for n, m in socket.received if m.get("envelope_id") == envelope["envelope_id"]] == [2]
    final = peer.wait_for(lambda: peer.final_answers("CGENERAL", "2000.0001"), what="the answer")
    assert "Personio" in final[0].args["text"]
