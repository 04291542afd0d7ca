"""Two `supportbot serve --http` processes sharing PostgreSQL and a Chroma server: one answer."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.container import Container
from bot.db import migrate
from bot.db.models import Answer, Message
from bot.settings import Settings
from tests.reliability.cluster import Cluster
from tests.slack.harness import ASKER, SECRET
from tests.slack.slack_peer import BOT_USER, SlackSender
from tests.support import SAMPLE_FAQ, free_port

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def _start(env: dict, port: int, log: Path) -> subprocess.Popen:
    exe = Path(sys.executable).with_name("supportbot")
    return subprocess.Popen(
        [str(exe), "serve", "--http", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )


_wait_ready = Cluster.wait_ready


def test_two_bot_processes_answer_a_message_once(
    postgres_url, chroma_server, model_path, slack_peer, tmp_path
):
    collection = f"t{os.getpid()}{int(time.time())}"
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=postgres_url,
        chroma_url=chroma_server,
        chroma_collection=collection,
        model_path=model_path,
    )
    migrate.upgrade(postgres_url)
    from retrieval.faq import load_faq

    Container(settings).index.import_items(load_faq(SAMPLE_FAQ))

    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORTBOT_")}
    env |= {
        "SUPPORTBOT_DATA_DIR": str(tmp_path / "data"),
        "SUPPORTBOT_DATABASE_URL": postgres_url,
        "SUPPORTBOT_CHROMA_URL": chroma_server,
        "SUPPORTBOT_CHROMA_COLLECTION": collection,
        "SUPPORTBOT_MODEL_PATH": str(model_path),
        "SUPPORTBOT_SLACK_BOT_TOKEN": "xoxb-test-token",
        "SUPPORTBOT_SLACK_SIGNING_SECRET": SECRET,
        "SUPPORTBOT_SLACK_API_URL": slack_peer.url,
        "SUPPORTBOT_MODEL_THREADS": "1",
    }
    procs, urls = [], []
    try:
        for i in range(2):
            port = free_port()
            log = tmp_path / f"bot{i}.log"
            procs.append((_start(env, port, log), log))
            urls.append(f"http://127.0.0.1:{port}")
        for (proc, log), url in zip(procs, urls):
            _wait_ready(url, proc, log)

        senders = [SlackSender(url + "/slack/events", SECRET) for url in urls]
        event = {
            "type": "message",
            "channel": "CGENERAL",
            "channel_type": "channel",
            "user": ASKER,
            "text": f"<@{BOT_USER}> How do I reset my VPN password?",
            "ts": "9900.0001",
        }
        mention = {**event, "type": "app_mention"}
        # A load balancer spreads Slack's deliveries (and its retries) over both replicas at once.
        deliveries = [
            (senders[0], event, None),
            (senders[1], mention, None),
            (senders[1], event, 1),
            (senders[0], mention, 1),
        ]
        codes = []
        threads = [
            threading.Thread(target=lambda s=s, e=e, r=r: codes.append(s.event(e, retry_num=r).status_code))
            for s, e, r in deliveries
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert codes == [200] * 4

        slack_peer.wait_for(lambda: slack_peer.final_answers("CGENERAL"), timeout=180, what="the answer")
        time.sleep(2.0)
        assert len(slack_peer.final_answers("CGENERAL")) == 1
        assert len(slack_peer.calls_to("chat.postMessage", channel="CGENERAL")) == 1
        with Container(settings).sessions() as s:
            assert s.scalar(select(func.count(Message.id)).where(Message.role == "user")) == 1
            assert s.scalar(select(func.count(Answer.id))) == 1
        # Three of the four deliveries were refused by the unique key, in both processes' logs.
        refused = [log.read_text().count("already taken") for _, log in procs]
        assert sum(refused) == 3, refused
    finally:
        for proc, _ in procs:
            proc.terminate()
        for proc, _ in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
