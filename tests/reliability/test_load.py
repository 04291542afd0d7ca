"""Fifty askers at once through the real HTTP transport, two bot processes sharing PostgreSQL, with
Slack's retries mixed in; then the same under faults: PostgreSQL restarted mid-load, and the Slack
Web API answering 429 (Retry-After) and 5xx. Every question is answered exactly once.

Figures for docs/reliability.md come from ``bench/slack_load.py``, which runs the same scenarios.
"""

from __future__ import annotations

import json

import pytest

from tests.reliability.cluster import Cluster, Load, answered_in_sql, restart_postgres

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.reliability]
ASKERS = 50
LATE = 10  # of them, asking while PostgreSQL is down
FAST_RECOVERY = {"SUPPORTBOT_ANSWER_LEASE_S": "20", "SUPPORTBOT_RECOVERY_INTERVAL_S": "2"}


@pytest.fixture
def cluster(tmp_path, model_path, chroma_server):
    c = Cluster(tmp_path, processes=2, model_path=model_path, chroma_url=chroma_server, env=FAST_RECOVERY)
    yield c
    c.close()


def _check(cluster: Cluster, report, label: str) -> None:
    figures = report.figures()
    print(f"\n{label}: {json.dumps(figures)}")
    assert report.unanswered == [], (
        f"{len(report.unanswered)} unanswered: {report.unanswered[:5]}\n{cluster.logs()[-4000:]}"
    )
    assert (report.answered, report.duplicates) == (ASKERS, 0), figures
    questions, answers = answered_in_sql(cluster)
    assert questions == ASKERS  # retries and the message + app_mention pairs recorded once each
    assert answers == ASKERS


def test_fifty_askers_two_processes_with_retries(cluster):
    report = Load(cluster, ASKERS).run()
    _check(cluster, report, "load")
    assert report.extra_placeholders == 0
    assert report.deliveries > ASKERS  # retries and mention pairs did arrive


@pytest.fixture
def default_cluster(tmp_path, model_path, chroma_server):
    """As ``cluster``, but with the default generation rule: the bundled model has not earned
    generating, so answers are FAQ text in ~0.1 s and most of them are written while the outage
    below is still on, not after it."""
    env = FAST_RECOVERY | {"SUPPORTBOT_GENERATION": "earned"}
    c = Cluster(tmp_path, processes=2, model_path=model_path, chroma_url=chroma_server, env=env)
    yield c
    c.close()


@pytest.mark.parametrize("generation", ["always", "earned"])
def test_postgres_restarted_mid_load_loses_nothing(generation, request):
    cluster = request.getfixturevalue("cluster" if generation == "always" else "default_cluster")

    def restart_when_answering(load: Load) -> None:
        cluster.peer.wait_for(
            lambda: len(cluster.peer.final_answers()) >= 5, timeout=120, what="first answers"
        )
        restart_postgres(down_s=4.0, while_down=lambda: load.wave(LATE))  # these arrive during the outage

    report = Load(cluster, ASKERS - LATE).run(during=restart_when_answering)
    _check(cluster, report, "postgres restart")
    assert report.refused_deliveries > 0  # not acked while the database was down, so Slack redelivered
    assert "OperationalError" in cluster.logs()  # the outage was real and seen by the bots


def test_slack_rate_limits_and_server_errors_lose_nothing(cluster):
    peer = cluster.peer
    peer.fail("chat.postMessage", 429, times=8, retry_after=1)
    peer.fail("chat.update", 503, times=8)
    report = Load(cluster, ASKERS).run()
    _check(cluster, report, "slack 429/5xx")
    assert len(peer.calls_to("chat.postMessage!429")) == 8 and len(peer.calls_to("chat.update!503")) == 8


def test_a_bot_process_killed_mid_load_loses_nothing(cluster):
    def kill_one_when_answering(load: Load) -> None:
        cluster.peer.wait_for(
            lambda: len(cluster.peer.final_answers()) >= 5, timeout=120, what="first answers"
        )
        cluster.kill(0)

    report = Load(cluster, ASKERS).run(during=kill_one_when_answering)
    _check(cluster, report, "process killed")
    assert "answering question" in cluster.logs() and "again" in cluster.logs()  # the survivor recovered some
