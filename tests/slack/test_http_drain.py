"""SIGTERM in HTTP mode (``docker stop``): no new requests, the answers in progress finished and
delivered, then exit 0, within SUPPORTBOT_DRAIN_TIMEOUT_S; past it, exit 1 without waiting.

A real ``supportbot serve --http`` process against the local Slack peer; the peer holds its reply
to the "thinking" placeholder, so the SIGTERM certainly lands while the answer is in progress.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from bot.container import Container
from bot.settings import Settings
from bot.slack.server import DRAIN_TIMEOUT_S, DrainingServer
from tests.reliability.cluster import Cluster
from tests.slack.harness import ASKER, SECRET
from tests.slack.slack_peer import SlackPeer, SlackSender, dm
from tests.support import SAMPLE_FAQ, free_port


class SlowPlaceholderPeer(SlackPeer):
    """Records the "thinking" placeholder at once, and answers it ``hold_s`` later."""

    def __init__(self, hold_s: float):
        super().__init__()
        self.hold_s = hold_s
        self.placeholder_seen = threading.Event()

    def _handle(self, method, raw, ctype, auth):
        reply = super()._handle(method, raw, ctype, auth)
        if method == "chat.postMessage" and b"hourglass_flowing_sand" in raw:
            self.placeholder_seen.set()
            time.sleep(self.hold_s)
        return reply


def _serve(
    tmp_path: Path, model_path: Path, peer: SlackPeer, drain_s: float
) -> tuple[subprocess.Popen, str, str, Path]:
    from retrieval.faq import load_faq

    data = tmp_path / "data"
    container = Container(Settings(data_dir=data, model_path=model_path))
    container.ensure_schema()
    container.index.import_items(load_faq(SAMPLE_FAQ))
    container.close()
    port, ops_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORTBOT_")}
    env |= {
        "SUPPORTBOT_DATA_DIR": str(data),
        "SUPPORTBOT_MODEL_PATH": str(model_path),
        "SUPPORTBOT_SLACK_BOT_TOKEN": "xoxb-test-token",
        "SUPPORTBOT_SLACK_SIGNING_SECRET": SECRET,
        "SUPPORTBOT_SLACK_API_URL": peer.url,
        "SUPPORTBOT_MODEL_THREADS": "1",
        "SUPPORTBOT_METRICS_PORT": str(ops_port),
        "SUPPORTBOT_STREAM_UPDATE_INTERVAL_S": "0.3",
        "SUPPORTBOT_TUNE_ON_IMPORT": "false",
        "SUPPORTBOT_DRAIN_TIMEOUT_S": str(drain_s),
    }
    log = tmp_path / "bot.log"
    exe = Path(sys.executable).with_name("supportbot")
    proc = subprocess.Popen(
        [str(exe), "serve", "--http", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        Cluster.wait_ready(url, proc, log)
    except BaseException:
        proc.kill()
        raise
    return proc, url, f"http://127.0.0.1:{ops_port}", log


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=10)


@pytest.mark.slow
def test_sigterm_finishes_the_answer_in_progress_then_exits_0(tmp_path, model_path):
    peer = SlowPlaceholderPeer(hold_s=3.0)
    drain_s = 25.0
    proc, url, ops, log = _serve(tmp_path, model_path, peer, drain_s)
    try:
        send = SlackSender(url + "/slack/events", SECRET)
        assert (
            send.event(
                dm(ASKER, "How do I reset my VPN password?", "9100.0001", channel="D0DRAIN")
            ).status_code
            == 200
        )
        assert peer.placeholder_seen.wait(60), log.read_text()[-3000:]
        assert peer.final_answers("D0DRAIN") == []  # the answer is in progress...
        proc.send_signal(signal.SIGTERM)
        stopped_at = time.monotonic()
        # ...the process takes no new request while it finishes it, and says it is not ready.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                httpx.post(url + "/slack/events", content=b"{}", timeout=2)
            except httpx.ConnectError:
                break
            time.sleep(0.1)
        else:
            pytest.fail("still accepting connections 5 s after SIGTERM")
        ready = httpx.get(ops + "/readyz", timeout=5)
        assert ready.status_code == 503 and "stopping" in ready.text
        assert proc.wait(timeout=drain_s + 10) == 0, log.read_text()[-3000:]
        took = time.monotonic() - stopped_at
        assert took < drain_s
        (final,) = peer.final_answers("D0DRAIN")
        assert final.args["text"]
        assert "every answer in progress was finished" in log.read_text()
    finally:
        _stop(proc)
        peer.close()


@pytest.mark.slow
def test_an_answer_that_outlasts_the_drain_time_does_not_hold_the_exit(tmp_path, model_path):
    # Given through SUPPORTBOT_DRAIN_TIMEOUT_S; a Settings without that field serves the default.
    drain_s = 4.0 if "drain_timeout_s" in Settings.model_fields else DRAIN_TIMEOUT_S
    peer = SlowPlaceholderPeer(hold_s=drain_s + 30)
    proc, url, _, log = _serve(tmp_path, model_path, peer, drain_s)
    try:
        send = SlackSender(url + "/slack/events", SECRET)
        assert (
            send.event(dm(ASKER, "where do I download my payslip", "9200.0001", channel="D0SLOW")).status_code
            == 200
        )
        assert peer.placeholder_seen.wait(60), log.read_text()[-3000:]
        proc.send_signal(signal.SIGTERM)
        stopped_at = time.monotonic()
        assert proc.wait(timeout=drain_s + 15) == 1, log.read_text()[-3000:]
        assert time.monotonic() - stopped_at < drain_s + 5
        assert "work unfinished" in log.read_text()
        assert peer.final_answers("D0SLOW") == []  # left for the lease to hand to another process
    finally:
        _stop(proc)
        peer.close()


def _slow_app(started: threading.Event, hold_s: float):
    def app(environ, start_response):
        started.set()
        time.sleep(hold_s)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"done"]

    return app


@pytest.mark.slow
def test_the_server_refuses_new_connections_and_finishes_the_request_in_flight():
    started = threading.Event()
    server = DrainingServer(_slow_app(started, 1.5), "127.0.0.1", 0, threads=2)
    url = f"http://127.0.0.1:{server.port}/"
    replies: list[httpx.Response] = []
    client = threading.Thread(target=lambda: replies.append(httpx.get(url, timeout=10)))
    client.start()
    assert started.wait(5)
    server.stop_accepting()
    time.sleep(0.2)
    with pytest.raises(httpx.ConnectError):
        httpx.get(url, timeout=2)
    assert server.busy()
    assert server.wait_idle(time.monotonic() + 10)
    server.close()
    client.join(5)
    assert [r.text for r in replies] == ["done"]
    assert not server.thread.is_alive()


@pytest.mark.slow
def test_waiting_for_the_requests_in_flight_is_bounded():
    started = threading.Event()
    server = DrainingServer(_slow_app(started, 5.0), "127.0.0.1", 0, threads=2)
    outcome: list[str] = []

    def ask() -> None:
        try:
            outcome.append(httpx.get(f"http://127.0.0.1:{server.port}/", timeout=10).text)
        except httpx.HTTPError as exc:
            outcome.append(type(exc).__name__)

    client = threading.Thread(target=ask)
    client.start()
    assert started.wait(5)
    server.stop_accepting()
    began = time.monotonic()
    assert not server.wait_idle(began + 0.5)
    assert time.monotonic() - began < 1.5
    server.close()
    client.join(10)
    assert outcome == ["RemoteProtocolError"]  # past the bound its connection is closed, unanswered
