"""Slack's two socket-mode edges as local peers, shared by every socket-mode test (a pytest plugin,
loaded through ``pytest_plugins`` in tests/conftest.py).

``SocketModePeer`` is Slack's side of the websocket (a ``websockets`` server on 127.0.0.1): it says
``hello``, delivers envelopes and records what the bot sends back. ``ConnectingSlackPeer`` is the Web
API peer that also answers ``apps.connections.open`` (only for the app-level ``xapp-`` token, as
Slack does) with that server's ``ws://`` URL; slack_sdk's built-in client speaks plain websocket to
any port but 443. ``events_api`` and ``slash_command`` build the envelopes Slack sends.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve

from tests.slack.slack_peer import TEAM, Call, SlackPeer, event_callback

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

    def go_away(self) -> None:
        """Slack unreachable: the socket drops and no new one can be opened."""
        self.server.shutdown()
        with self._cond:
            open_now = list(self._open.values())
        for ws in open_now:
            ws.close()

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
    payload = event_callback(event, event_id=event_id)
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


@pytest.fixture
def socket_peer() -> Iterator[SocketModePeer]:
    peer = SocketModePeer()
    yield peer
    peer.close()


@pytest.fixture
def socket_slack_peer(socket_peer) -> Iterator[ConnectingSlackPeer]:
    """The Web API peer that hands out ``socket_peer``'s URL."""
    peer = ConnectingSlackPeer(socket_peer.url)
    yield peer
    peer.close()
