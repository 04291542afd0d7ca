"""The worker's ops endpoints and metrics, the `healthcheck` command the containers use, and log formats."""

from __future__ import annotations

import io
import json
import logging
import shutil
import threading
import time
from datetime import UTC, datetime

import httpx
import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.container import Container
from bot.observability.http import serve_ops
from bot.observability.logs import configure_logging, request_scope
from bot.services.transcripts import TranscriptService
from bot.settings import Settings
from bot.worker import JOB_ID, build_scheduler, run_worker, worker_metrics
from tests.metrics_scrape import Scrape
from tests.support import free_port


def _until(predicate, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if value := predicate():
                return value
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def installed(data_dir, model_store) -> Settings:
    """A data dir whose database has the bundled model registered, and three approved transcripts."""
    shutil.copy(model_store / "supportbot.db", data_dir / "supportbot.db")
    settings = Settings(data_dir=data_dir, worker_metrics_port=free_port())
    c = Container(settings)
    c.ensure_schema()
    for i in range(3):
        TranscriptService(c.sessions).add(f"question {i}?", f"answer {i}.", ["vpn-password-reset"], "import")
    return settings


def test_worker_serves_readiness_and_its_metrics(installed, monkeypatch):
    stop = threading.Event()
    worker = threading.Thread(target=run_worker, args=(installed, stop), daemon=True)
    worker.start()
    ops = f"http://127.0.0.1:{installed.worker_metrics_port}"
    try:
        _until(lambda: httpx.get(ops + "/readyz").status_code == 200, "the worker to be ready")
        m = Scrape(ops + "/metrics")
        assert m.value("supportbot_finetune_pending_transcripts") == 3  # the nightly learning's queue
        assert m.value("supportbot_finetune_next_run_timestamp_seconds") > time.time()
        (model,) = m.labels("supportbot_model_info")
        assert model["version"].startswith("base-") and model["backend"] == "ctransformers"
        assert m.value("supportbot_finetune_runs_total") == 0

        # The container health check, as docker runs it inside the worker's container.
        monkeypatch.setenv("SUPPORTBOT_WORKER_METRICS_PORT", str(installed.worker_metrics_port))
        checked = CliRunner().invoke(app, ["healthcheck", "--worker"])
        assert checked.exit_code == 0 and "ready" in checked.stdout
    finally:
        stop.set()
        worker.join(timeout=30)
    assert not worker.is_alive()
    gone = CliRunner().invoke(app, ["healthcheck", "--worker"])
    assert gone.exit_code == 1 and "Connection refused" in gone.stderr


def explode() -> None:
    raise RuntimeError("the job broke")


def test_scheduled_runs_are_counted_by_outcome(installed, monkeypatch):
    monkeypatch.setenv("SUPPORTBOT_DATA_DIR", str(installed.data_dir))  # the job builds its own settings
    c = Container(installed)
    for func, outcome in (
        ("bot.worker:nightly_finetune", "skipped"),
        ("tests.test_ops_endpoints:explode", "error"),
    ):
        scheduler = build_scheduler(installed, func=func)
        metrics = worker_metrics(c, scheduler)
        server = serve_ops(metrics.registry, {}, "127.0.0.1", 0)
        try:
            scheduler.modify_job(JOB_ID, next_run_time=datetime.now(UTC))
            scheduler.resume()
            url = f"http://127.0.0.1:{server.port}/metrics"
            # 3 transcripts, fewer than finetune_min_examples: the real pipeline skips, quickly.
            _until(
                lambda: Scrape(url).value("supportbot_finetune_runs_total", status=outcome) == 1,
                outcome,
                timeout=180,
            )
            assert Scrape(url).value("supportbot_finetune_runs_total") == 1
        finally:
            scheduler.shutdown(wait=True)
            server.stop()


def test_healthcheck_reports_what_is_not_ready(monkeypatch):
    from prometheus_client import CollectorRegistry

    def database() -> None:
        raise ConnectionError("connection refused by db:5432")

    server = serve_ops(CollectorRegistry(), {"database": database}, "127.0.0.1", 0)
    try:
        monkeypatch.setenv("SUPPORTBOT_METRICS_PORT", str(server.port))
        monkeypatch.setenv("SUPPORTBOT_METRICS_HOST", "0.0.0.0")  # as in the image: probed on 127.0.0.1
        not_ready = CliRunner().invoke(app, ["healthcheck"])
        assert (
            not_ready.exit_code == 1
            and "503 database: ConnectionError: connection refused" in not_ready.stderr
        )
        alive = CliRunner().invoke(app, ["healthcheck", "--path", "/healthz"])
        assert alive.exit_code == 0
    finally:
        server.stop()


def test_a_taken_ops_port_is_reported_not_fatal(caplog):
    from prometheus_client import CollectorRegistry

    first = serve_ops(CollectorRegistry(), {}, "127.0.0.1", 0)
    try:
        assert serve_ops(CollectorRegistry(), {}, "127.0.0.1", first.port) is None
        assert "set SUPPORTBOT_METRICS_PORT" in caplog.text
    finally:
        first.stop()


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_logs_one_object_per_line_with_the_request_id(restore_logging):
    stream = io.StringIO()
    configure_logging("json", "INFO", stream)
    log = logging.getLogger("supportbot.test")
    with request_scope("Ev0123ABC"):
        log.info("answering %s", "question 7")
    log.debug("not at INFO")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "answering question 7" and first["request_id"] == "Ev0123ABC"
    assert (
        first["level"] == "INFO" and first["logger"] == "supportbot.test" and first["ts"].endswith("+00:00")
    )
    assert "request_id" not in second and "ValueError: boom" in second["exception"]


def test_text_logs_show_the_request_id_too(restore_logging):
    stream = io.StringIO()
    configure_logging("text", "INFO", stream)
    with request_scope("Ev0123ABC"):
        logging.getLogger("supportbot.test").info("hello")
    assert "INFO supportbot.test [Ev0123ABC]: hello" in stream.getvalue()


def test_ops_server_answers_when_the_process_holds_over_1024_descriptors():
    """A long-lived process (the full suite did) can hold more than 1024 open files; select() then
    fails on the listening socket's number and the ops port went silent. It polls instead."""
    import os

    from prometheus_client import CollectorRegistry

    pipes = [os.pipe() for _ in range(520)]  # pushes the next descriptor numbers past 1024
    try:
        server = serve_ops(CollectorRegistry(), {}, "127.0.0.1", 0)
        try:
            assert httpx.get(f"http://127.0.0.1:{server.port}/healthz", timeout=10).status_code == 200
        finally:
            server.stop()
    finally:
        for r, w in pipes:
            os.close(r)
            os.close(w)
