"""What operators see of the Slack bot: metrics that move when things happen, health endpoints,
request ids in JSON logs, and the App Home figures. The real Bolt app over signed HTTP events."""

from __future__ import annotations

import io
import json
import logging
import time

import httpx
import pytest
from sqlalchemy import select

from bot.db.models import Answer, Message
from bot.db.session import session_factory
from bot.observability.http import database_check, ops_app, serve_ops
from bot.observability.logs import JsonFormatter, RequestIdFilter
from bot.slack import blocks
from tests.metrics_scrape import Scrape
from tests.slack.harness import ADMIN, ASKER, REVIEW, SUPPORT
from tests.slack.slack_peer import button_click, dm

IN_SCOPE = "How do I reset my VPN password?"
OUT_OF_SCOPE = "Who won the football world cup in 1954?"


@pytest.fixture
def ops(slack):
    """The bot process's ops endpoints, as `supportbot serve` starts them (on a free port here)."""
    server = serve_ops(
        slack.container.metrics.registry,
        {"database": database_check(slack.container.sessions)},
        "127.0.0.1",
        0,
    )
    yield f"http://127.0.0.1:{server.port}"
    server.stop()


def _ask(slack, text: str, ts: str, **kw) -> tuple[int, str]:
    slack.send.event(dm(ASKER, text, ts=ts), **kw)
    final = slack.peer.wait_for(
        lambda: slack.peer.final_answers("D0USER1", ts), what=f"the answer to {text!r}"
    )[0]
    with slack.container.sessions() as s:
        answer_id = s.scalar(
            select(Answer.id)
            .join(Message, Message.id == Answer.question_message_id)
            .where(Message.slack_ts == ts)
        )
    return answer_id, final.args["ts"]


def eventually(check, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@pytest.mark.slow
def test_metrics_move_with_questions_answers_abstentions_escalations_and_approvals(slack, ops):
    before = Scrape(ops + "/metrics")
    assert before.value("supportbot_questions_total") == 0
    assert (
        before.value("supportbot_reviews_total", action="approve") == 0
    )  # known labels exist from the start

    answered, answered_ts = _ask(slack, IN_SCOPE, "7000.0001")
    abstained, _ = _ask(slack, OUT_OF_SCOPE, "7000.0002")
    slack.peer.wait_for(lambda: slack.peer.calls_to("chat.postMessage", channel=SUPPORT), what="the hand-off")
    slack.peer.wait_for(
        lambda: [
            c
            for c in slack.peer.calls_to("chat.postMessage", channel=REVIEW)
            if c.args["blocks"][-1].get("block_id") == f"review-{abstained}"
        ],
        what="the review post, the last step of answering",
    )
    slack.send.interaction(button_click(blocks.HELPFUL, str(answered), ASKER, "D0USER1", answered_ts))
    slack.send.interaction(button_click(blocks.APPROVE, str(answered), ADMIN, REVIEW, "1.0"))
    slack.peer.wait_for(
        lambda: slack.peer.calls_to("chat.postEphemeral", user=ADMIN), what="the admin's note"
    )

    m = Scrape(ops + "/metrics")
    assert m.value("supportbot_questions_total", source="slack") == 2
    assert m.value("supportbot_answers_total") == 2
    assert m.value("supportbot_answers_total", mode="abstain") == 1
    assert m.value("supportbot_abstentions_total") == 1
    assert m.value("supportbot_escalations_total", reason="abstain") == 1  # handed to the support channel
    assert m.value("supportbot_reviews_total", action="approve") == 1
    assert m.value("supportbot_feedback_total", kind="helpful") == 1
    assert m.value("supportbot_answer_latency_seconds_count") == 2
    assert m.value("supportbot_answer_latency_seconds_sum") > 0
    assert m.value("supportbot_retrieval_seconds_count") == 2
    assert m.value("supportbot_generation_seconds_count") == 1  # the abstention never reached the model
    assert m.value("supportbot_queue_depth") == 0
    assert eventually(lambda: Scrape(ops + "/metrics").value("supportbot_answers_in_progress") == 0)
    (model,) = m.labels("supportbot_model_info")
    assert model["version"].startswith("base-") and model["backend"] == "ctransformers"
    assert model["generates"] == "true"  # SUPPORTBOT_GENERATION=always in the tests


@pytest.mark.slow
def test_health_endpoints(slack, ops):
    assert httpx.get(ops + "/healthz").text == "ok\n"
    ready = httpx.get(ops + "/readyz")
    assert ready.status_code == 200 and ready.text == "ready\n"
    assert httpx.get(ops + "/slack/events").status_code == 404  # Slack's endpoint is not on the ops port
    assert httpx.get(slack.url + "/readyz").status_code == 200  # and the HTTP events port keeps its probes
    assert httpx.get(slack.url + "/metrics").status_code != 200  # but never exposes the figures


def test_readiness_names_the_unreachable_database():
    from prometheus_client import CollectorRegistry

    from bot.observability.http import BackgroundServer

    unreachable = session_factory("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
    server = BackgroundServer(ops_app(CollectorRegistry(), {"database": database_check(unreachable)}))
    try:
        base = f"http://127.0.0.1:{server.port}"
        ready = httpx.get(base + "/readyz", timeout=10)
        assert ready.status_code == 503 and ready.text.startswith("database: OperationalError")
        assert httpx.get(base + "/healthz").status_code == 200  # alive, just not ready
    finally:
        server.stop()


@pytest.mark.slow
def test_json_log_lines_carry_the_slack_event_id(slack, caplog):
    caplog.set_level(logging.INFO)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    logging.getLogger().addHandler(handler)
    try:
        _ask(slack, IN_SCOPE, "7100.0001", event_id="EvTRACE0001")
        _ask(slack, OUT_OF_SCOPE, "7100.0002", event_id="EvTRACE0002")
        slack.send.event(dm(ASKER, IN_SCOPE, ts="7100.0001"), event_id="EvTRACE0001", retry_num=1)

        def lines() -> list[dict]:
            return [json.loads(line) for line in stream.getvalue().splitlines()]

        deadline = time.monotonic() + 30
        while sum("answered question" in e["message"] for e in lines()) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        logging.getLogger().removeHandler(handler)
    entries = lines()
    assert all({"ts", "level", "logger", "message"} <= set(e) for e in entries)
    answered = {e["request_id"]: e for e in entries if e["message"].startswith("answered question")}
    assert set(answered) == {"EvTRACE0001", "EvTRACE0002"}  # logged on the answer pool, id carried over
    assert answered["EvTRACE0001"]["thread"].startswith("slack-answer")
    retried = [e for e in entries if "already taken" in e["message"]]
    assert [e["request_id"] for e in retried] == ["EvTRACE0001"]


@pytest.mark.slow
def test_app_home_shows_deflection_approval_rate_and_top_gaps(slack):
    _ask(slack, IN_SCOPE, "7200.0001")
    _ask(slack, OUT_OF_SCOPE, "7200.0002")
    slack.send.event({"type": "app_home_opened", "user": ADMIN, "channel": "D0ADMIN", "tab": "home"})
    view = slack.peer.wait_for(
        lambda: slack.peer.calls_to("views.publish", user_id=ADMIN), what="the home view"
    )
    shown = json.dumps(view[0].args["view"])
    assert "*Today:* 2 questions" in shown
    assert "*Last 7 days:* 2 questions \\u00b7 50% answered without a human" in shown
    assert "Not in the FAQ, most asked" in shown and "1954? \\u00d71" in shown


@pytest.mark.slow
def test_serve_command_takes_the_transport_from_settings_and_logs_json(data_dir, slack_peer, tmp_path):
    """`supportbot serve` as the container runs it: no flag, SUPPORTBOT_SLACK_TRANSPORT=http, JSON logs."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from bot.container import Container
    from bot.settings import Settings
    from retrieval.faq import load_faq
    from tests.slack.harness import SECRET
    from tests.slack.slack_peer import SlackSender
    from tests.support import SAMPLE_FAQ, free_port

    seeded = Container(Settings(data_dir=data_dir))
    seeded.ensure_schema()
    seeded.index.import_items(load_faq(SAMPLE_FAQ))
    http_port, ops_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORTBOT_")}
    env |= {
        "SUPPORTBOT_DATA_DIR": str(data_dir),
        "SUPPORTBOT_SLACK_TRANSPORT": "http",
        "SUPPORTBOT_HTTP_PORT": str(http_port),
        "SUPPORTBOT_METRICS_PORT": str(ops_port),
        "SUPPORTBOT_LOG_FORMAT": "json",
        "SUPPORTBOT_SLACK_BOT_TOKEN": "xoxb-test-token",
        "SUPPORTBOT_SLACK_SIGNING_SECRET": SECRET,
        "SUPPORTBOT_SLACK_API_URL": slack_peer.url,
    }
    log = tmp_path / "serve.log"
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("supportbot")), "serve", "--host", "127.0.0.1"],
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    ops = f"http://127.0.0.1:{ops_port}"
    try:
        deadline = time.monotonic() + 180
        while not eventually(lambda: proc.poll() is not None or _ready(ops), timeout=1):
            assert time.monotonic() < deadline, log.read_text()[-3000:]
        assert proc.poll() is None, log.read_text()[-3000:]
        sender = SlackSender(f"http://127.0.0.1:{http_port}/slack/events", SECRET)
        assert sender.event(dm(ASKER, OUT_OF_SCOPE, ts="7300.0001"), event_id="EvSERVE001").status_code == 200
        slack_peer.wait_for(lambda: slack_peer.final_answers("D0USER1"), what="the answer")
        assert eventually(lambda: Scrape(ops + "/metrics").value("supportbot_abstentions_total") == 1)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    entries = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    answered = [e for e in entries if e["message"].startswith("answered question")]
    assert [e.get("request_id") for e in answered] == ["EvSERVE001"]
    assert any("ops endpoints on" in e["message"] for e in entries)


def _ready(ops: str) -> bool:
    try:
        return httpx.get(ops + "/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
