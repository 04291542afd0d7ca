"""`serve_socket`'s ops endpoints: ready only while the Slack socket is up, stopped cleanly.

Slack's two socket-mode edges are local peers: the Web API peer answers ``apps.connections.open``
(for the app-level token only, as Slack does) with the URL of a websocket server on 127.0.0.1 that
says ``hello`` like Slack's does.
"""

from __future__ import annotations

import json
import threading
import time

import httpx
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve

from bot.container import Container
from bot.settings import Settings
from bot.slack.server import serve_socket
from tests.slack.slack_peer import SlackPeer
from tests.support import free_port


class SocketSlack:
    def __init__(self) -> None:
        self.connections: list[ServerConnection] = []
        self.server = serve(self._session, "127.0.0.1", 0)
        self.url = f"ws://127.0.0.1:{self.server.socket.getsockname()[1]}/link/?ticket=t&app_id=A0001"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _session(self, ws: ServerConnection) -> None:
        self.connections.append(ws)
        ws.send(
            json.dumps(
                {
                    "type": "hello",
                    "num_connections": 1,
                    "connection_info": {"app_id": "A0001"},
                    "debug_info": {"host": "applink-local", "approximate_connection_time": 18060},
                }
            )
        )
        try:
            for _ in ws:
                pass
        except ConnectionClosed:
            pass

    def go_away(self) -> None:
        """Slack unreachable: the socket drops and no new one can be opened."""
        self.server.shutdown()
        for ws in self.connections:
            ws.close()


class ConnectingPeer(SlackPeer):
    def __init__(self, ws_url: str) -> None:
        super().__init__()
        self.ws_url = ws_url

    def _handle(self, method: str, raw: bytes, ctype: str, auth: str):
        if method == "apps.connections.open":
            if not auth.startswith("Bearer xapp-"):
                return 200, {}, {"ok": False, "error": "not_allowed_token_type"}
            return 200, {}, {"ok": True, "url": self.ws_url}
        return super()._handle(method, raw, ctype, auth)


def _until(predicate, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_socket_mode_is_ready_only_while_connected_and_stops_cleanly(data_dir):
    slack = SocketSlack()
    peer = ConnectingPeer(slack.url)
    port = free_port()
    container = Container(
        Settings(
            data_dir=data_dir,
            slack_bot_token="xoxb-test-token",
            slack_app_token="xapp-1-A0001-test",
            slack_api_url=peer.url,
            metrics_port=port,
        )
    )
    container.ensure_schema()
    stop = threading.Event()
    bot = threading.Thread(target=serve_socket, args=(container, stop), daemon=True)
    bot.start()
    ops = f"http://127.0.0.1:{port}"
    try:
        _until(lambda: httpx.get(ops + "/readyz").status_code == 200, "ready once connected")
        assert slack.connections, "no websocket was opened"
        metrics = httpx.get(ops + "/metrics").text
        assert 'supportbot_answers_total{mode="generated"} 0.0' in metrics

        slack.go_away()
        not_ready = _until(lambda: (r := httpx.get(ops + "/readyz")).status_code == 503 and r, "not ready")
        assert not_ready.text.startswith("slack: ConnectionError")
        assert httpx.get(ops + "/healthz").status_code == 200  # alive: it keeps trying to reconnect
    finally:
        stop.set()
        bot.join(timeout=30)
        peer.close()
    assert not bot.is_alive()
    try:
        httpx.get(ops + "/healthz", timeout=2)
        raise AssertionError("the ops port is still open after stopping")
    except httpx.ConnectError:
        pass
