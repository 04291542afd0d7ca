"""`serve_socket`'s ops endpoints: ready only while the Slack socket is up, stopped cleanly.

Slack's two socket-mode edges are the shared local peers of tests/slack/socket_peer.py: the Web API
peer answers ``apps.connections.open`` (for the app-level token only, as Slack does) with the URL of
a websocket server on 127.0.0.1 that says ``hello`` like Slack's does.
"""

from __future__ import annotations

import threading
import time

import httpx

from bot.container import Container
from bot.settings import Settings
from bot.slack.server import serve_socket
from tests.slack.socket_peer import APP_TOKEN
from tests.support import free_port


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


def test_socket_mode_is_ready_only_while_connected_and_stops_cleanly(
    data_dir, socket_peer, socket_slack_peer
):
    slack, peer = socket_peer, socket_slack_peer
    port = free_port()
    container = Container(
        Settings(
            data_dir=data_dir,
            slack_bot_token="xoxb-test-token",
            slack_app_token=APP_TOKEN,
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
        assert slack.sessions, "no websocket was opened"
        metrics = httpx.get(ops + "/metrics").text
        assert 'supportbot_answers_total{mode="generated"} 0.0' in metrics

        slack.go_away()
        not_ready = _until(lambda: (r := httpx.get(ops + "/readyz")).status_code == 503 and r, "not ready")
        assert not_ready.text.startswith("slack: ConnectionError")
        assert httpx.get(ops + "/healthz").status_code == 200  # alive: it keeps trying to reconnect
    finally:
        stop.set()
        bot.join(timeout=30)
    assert not bot.is_alive()
    try:
        httpx.get(ops + "/healthz", timeout=2)
        raise AssertionError("the ops port is still open after stopping")
    except httpx.ConnectError:
        pass
