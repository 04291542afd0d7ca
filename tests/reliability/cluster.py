"""A bot deployment on 127.0.0.1 for load and fault runs, and a driver that behaves like Slack.

``Cluster``: N ``supportbot serve --http`` processes sharing a fresh PostgreSQL database and a Chroma
server, answering through a local Slack Web API peer. ``Load``: askers who all write at once; each
event is signed as Slack signs it, redelivered as Slack does when the bot does not answer 200 in
time (``x-slack-retry-num``), and a share of events is redelivered anyway to the other replica,
as happens when an ack is slow. The figures come from the calls the Slack peer recorded.

Used by tests/reliability (assertions) and bench/slack_load.py (figures). Loopback only.
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import sqlalchemy as sa

from bot.slack.blocks import THINKING_TEXT
from tests.slack.slack_peer import BOT_USER, SlackPeer, SlackSender
from tests.support import POSTGRES_ADMIN_URL

SECRET = "reliability-signing-secret-0001"
QUESTIONS = [  # how employees of the sample company ask; every one is covered by examples/faq.csv
    "How do I reset my VPN password?",
    "where do I download my payslip",
    "how many vacation days do I get",
    "my badge doesn't open the door",
    "how do I book a meeting room",
    "how do I submit an expense claim",
    "my laptop is broken, what should I do",
    "how do I install the VPN client",
    "how do I report a phishing email",
    "what is the parental leave policy",
]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def restart_postgres(down_s: float = 3.0, while_down=None) -> None:
    """Stop the machine's PostgreSQL, run ``while_down()`` and keep it down for ``down_s``, start it again."""
    version = sorted(os.listdir("/etc/postgresql"))[0]
    for action in ("stop", "start"):
        subprocess.run(
            [
                "pg_ctlcluster",
                "--skip-systemctl-redirect",
                version,
                "main",
                action,
                *(["-m", "fast"] if action == "stop" else []),
            ],
            check=True,
            capture_output=True,
        )
        if action == "stop":
            stopped = time.monotonic()
            if while_down:
                while_down()
            time.sleep(max(0.0, down_s - (time.monotonic() - stopped)))
    deadline = time.monotonic() + 60
    while subprocess.run(["pg_isready", "-h", "127.0.0.1", "-q"]).returncode != 0:
        if time.monotonic() > deadline:
            raise RuntimeError("PostgreSQL did not come back")
        time.sleep(0.2)


class ChromaServer:
    def __init__(self, folder: Path):
        self.port = free_port()
        self.log = open(folder / "chroma.log", "w+")
        exe = Path(sys.executable).with_name("chroma")
        self.proc = subprocess.Popen(
            [
                str(exe),
                "run",
                "--path",
                str(folder / "chroma"),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{self.url}/api/v2/heartbeat", timeout=1)
                return
            except httpx.HTTPError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.log.seek(0)
                    raise RuntimeError(f"chroma server did not start: {self.log.read()[-2000:]}") from None
                time.sleep(0.2)

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.log.close()


class Cluster:
    """Bot processes on a fresh database; ``close()`` stops them and drops the database."""

    def __init__(
        self,
        workdir: Path,
        *,
        processes: int = 2,
        model_path: Path | None = None,
        chroma_url: str | None = None,
        env: dict[str, str] | None = None,
    ):
        from bot.container import Container
        from bot.db import migrate
        from bot.settings import Settings
        from retrieval.faq import load_faq

        self.workdir = workdir
        self.peer = SlackPeer()
        self.db_name = f"supportbot_load_{uuid.uuid4().hex[:10]}"
        # NullPool: a connection kept from before a PostgreSQL restart would be dead at clean-up
        self._admin = sa.create_engine(
            POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool
        )
        with self._admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{self.db_name}"'))
        self.database_url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{self.db_name}"
        self.chroma = None if chroma_url else ChromaServer(workdir)
        chroma_url = chroma_url or self.chroma.url
        collection = f"load{uuid.uuid4().hex[:12]}"
        settings = Settings(
            data_dir=workdir / "data",
            database_url=self.database_url,
            chroma_url=chroma_url,
            chroma_collection=collection,
            model_path=model_path,
        )
        migrate.upgrade(self.database_url)
        self.container = Container(settings)
        if model_path is None:  # the bench: install the bundled model into the work dir
            from bot.llm.registry import install_base_model

            with self.container.sessions() as session:
                install_base_model(session, settings.models_dir)
                session.commit()
        root = Path(__file__).resolve().parents[2]
        self.container.index.import_items(load_faq(root / "examples" / "faq.csv"))

        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORTBOT_")}
        self.env |= {
            "SUPPORTBOT_DATA_DIR": str(workdir / "data"),
            "SUPPORTBOT_DATABASE_URL": self.database_url,
            "SUPPORTBOT_CHROMA_URL": chroma_url,
            "SUPPORTBOT_CHROMA_COLLECTION": collection,
            "SUPPORTBOT_SLACK_BOT_TOKEN": "xoxb-load-token",
            "SUPPORTBOT_SLACK_SIGNING_SECRET": SECRET,
            "SUPPORTBOT_SLACK_API_URL": self.peer.url,
            "SUPPORTBOT_MODEL_THREADS": "1",
            "SUPPORTBOT_STREAM_UPDATE_INTERVAL_S": "1.0",
            # The scenarios are about answers that take the model's time (leases, recovery, a
            # database outage while answers are being written): the bundled model does not earn
            # generating under the default rule, so it is switched on here (tests/conftest.py).
            "SUPPORTBOT_GENERATION": "always",
            **(env or {}),
        }
        if model_path is not None:
            self.env["SUPPORTBOT_MODEL_PATH"] = str(model_path)
        self.procs: list[tuple[subprocess.Popen, Path]] = []
        self.urls: list[str] = []
        try:
            for i in range(processes):
                port, log = free_port(), workdir / f"bot{i}.log"
                exe = Path(sys.executable).with_name("supportbot")
                proc = subprocess.Popen(
                    [str(exe), "serve", "--http", "--host", "127.0.0.1", "--port", str(port)],
                    env=self.env,
                    stdout=log.open("w"),
                    stderr=subprocess.STDOUT,
                )
                self.procs.append((proc, log))
                self.urls.append(f"http://127.0.0.1:{port}")
            for (proc, log), url in zip(self.procs, self.urls):
                self.wait_ready(url, proc, log)
        except BaseException:
            self.close()
            raise
        self.senders = [SlackSender(url + "/slack/events", SECRET) for url in self.urls]

    @staticmethod
    def wait_ready(url: str, proc: subprocess.Popen, log: Path) -> None:
        """Until ``/readyz`` answers 200; the process's log in the error if it dies or never gets there."""
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"bot process exited: {log.read_text()[-3000:]}")
            try:
                if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"bot process not ready: {log.read_text()[-3000:]}")

    def kill(self, i: int) -> None:
        """SIGKILL one bot process: what a crash or an OOM kill does, no clean-up of any kind."""
        proc, _ = self.procs[i]
        proc.kill()
        proc.wait(timeout=10)

    def logs(self) -> str:
        return "\n".join(log.read_text() for _, log in self.procs)

    def close(self) -> None:
        for proc, _ in self.procs:
            proc.terminate()
        for proc, _ in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.peer.close()
        if self.chroma:
            self.chroma.close()
        from bot.db.session import get_engine

        get_engine(self.database_url).dispose()
        with self._admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)'))
        self._admin.dispose()


@dataclass
class Asked:
    n: int
    user: str
    channel: str
    ts: str
    text: str
    mention: bool
    sent_at: float = 0.0
    deliveries: int = 0
    refused: int = 0  # deliveries the bot did not ack with 200 (Slack redelivers those)


@dataclass
class LoadReport:
    asked: int
    answered: int
    duplicates: int
    extra_placeholders: int
    deliveries: int
    refused_deliveries: int
    placeholder_s: list[float] = field(default_factory=list)
    final_s: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    unanswered: list[str] = field(default_factory=list)
    reshown: int = 0  # final answers shown again in the message that already showed them

    def figures(self) -> dict:
        return {
            "asked": self.asked,
            "answered": self.answered,
            "delivered_ratio": round(self.answered / self.asked, 4) if self.asked else None,
            "duplicates": self.duplicates,
            "extra_placeholders": self.extra_placeholders,
            "reshown": self.reshown,
            "deliveries": self.deliveries,
            "refused_deliveries": self.refused_deliveries,
            "placeholder_p50_s": _r(percentile(self.placeholder_s, 50)),
            "placeholder_p95_s": _r(percentile(self.placeholder_s, 95)),
            "final_p50_s": _r(percentile(self.final_s, 50)),
            "final_p95_s": _r(percentile(self.final_s, 95)),
            "wall_s": round(self.wall_s, 1),
        }


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 3)


class Load:
    """``askers`` people who each ask one question at the same moment."""

    def __init__(self, cluster: Cluster, askers: int = 50, *, retry_share: float = 0.3, seed: int = 7):
        self.cluster = cluster
        self.rng = random.Random(seed)
        self.retry_share = retry_share
        base = int(time.time())
        self._base = base
        self.asked = [self._asker(n) for n in range(askers)]
        self._lock = threading.Lock()
        self._late: list[threading.Thread] = []
        self._patience_s = 120.0

    def _asker(self, n: int) -> Asked:
        return Asked(
            n,
            f"ULOAD{n:03d}",
            f"DLOAD{n:03d}" if n % 5 else "CLOADGENERAL",
            f"{self._base}.{n:06d}",
            QUESTIONS[n % len(QUESTIONS)],
            mention=n % 5 == 0,
        )

    def wave(self, count: int) -> None:
        """``count`` more people ask right now (e.g. while the database is down); counted with the rest."""
        start = threading.Event()
        with self._lock:
            new = [self._asker(len(self.asked) + i) for i in range(count)]
            self.asked.extend(new)
        for q in new:
            t = threading.Thread(target=self._ask, args=(q, start, self._patience_s))
            t.start()
            self._late.append(t)
        start.set()

    def _event(self, q: Asked, kind: str) -> dict:
        if q.mention:
            return {
                "type": kind,
                "channel": q.channel,
                "channel_type": "channel",
                "user": q.user,
                "text": f"<@{BOT_USER}> {q.text}",
                "ts": q.ts,
            }
        return {
            "type": "message",
            "channel": q.channel,
            "channel_type": "im",
            "user": q.user,
            "text": q.text,
            "ts": q.ts,
        }

    def _deliver(self, q: Asked, kind: str, first_replica: int, patience_s: float) -> None:
        """One Slack event: delivered until acked with 200, as Slack redelivers (compressed in time)."""
        event_id = "Ev" + uuid.uuid4().hex[:12]
        replica, attempt, backoff = first_replica, 0, 0.5
        deadline = time.monotonic() + patience_s
        while True:
            try:
                code = (
                    self.cluster.senders[replica]
                    .event(self._event(q, kind), event_id=event_id, retry_num=attempt or None)
                    .status_code
                )
            except httpx.HTTPError:
                code = None
            with self._lock:
                q.deliveries += 1
                q.refused += code != 200
            if code == 200 or time.monotonic() > deadline:
                return
            time.sleep(backoff)
            backoff = min(backoff * 2, 8.0)
            attempt += 1
            replica = (replica + 1) % len(self.cluster.senders)

    def _ask(self, q: Asked, start: threading.Event, patience_s: float) -> None:
        start.wait()
        n = len(self.cluster.senders)
        first = q.n % n
        q.sent_at = time.monotonic()
        extra = []
        if q.mention:  # Slack sends both `message` and `app_mention` for one mention
            extra.append(
                threading.Thread(target=self._deliver, args=(q, "app_mention", (first + 1) % n, patience_s))
            )
        if self.rng.random() < self.retry_share:  # a slow ack: Slack redelivers, maybe to the other replica
            extra.append(
                threading.Thread(target=self._deliver, args=(q, "message", (first + 1) % n, patience_s))
            )
        for t in extra:
            t.start()
        self._deliver(q, "message", first, patience_s)
        for t in extra:
            t.join()

    def run(self, *, timeout_s: float = 300, patience_s: float = 120, during=None) -> LoadReport:
        """Everyone asks at once; ``during(load)`` runs on its own thread meanwhile (a fault)."""
        peer = self.cluster.peer
        self._patience_s = patience_s
        start = threading.Event()
        threads = [threading.Thread(target=self._ask, args=(q, start, patience_s)) for q in self.asked]
        for t in threads:
            t.start()
        began = time.monotonic()
        start.set()
        fault = threading.Thread(target=during, args=(self,)) if during else None
        if fault:
            fault.start()
        for t in threads:
            t.join()
        if fault:
            fault.join()
        for t in self._late:
            t.join()

        def all_answered() -> bool:
            return all(peer.final_answers(q.channel, q.ts) for q in self.asked)

        try:
            peer.wait_for(all_answered, timeout=timeout_s, what="every answer")
        except AssertionError:
            pass  # reported below as unanswered
        time.sleep(2.0)  # anything late (a duplicate) has time to show
        wall = time.monotonic() - began
        report = LoadReport(
            asked=len(self.asked),
            answered=0,
            duplicates=0,
            extra_placeholders=0,
            deliveries=sum(q.deliveries for q in self.asked),
            refused_deliveries=sum(q.refused for q in self.asked),
            wall_s=wall,
        )
        for q in self.asked:
            finals = peer.final_answers(q.channel, q.ts)
            posts = [
                c
                for c in peer.calls_to("chat.postMessage", channel=q.channel)
                if c.args.get("thread_ts") == q.ts
            ]
            if finals:
                report.answered += 1
                report.final_s.append(finals[0].at - q.sent_at)
            else:
                report.unanswered.append(f"{q.channel}:{q.ts} {q.text!r}")
            # Answers the asker sees: one per message. A recorded answer shown again in the same
            # message (its delivery mark was lost with the database) is an update, not a second one.
            shown_in = {c.args["ts"] for c in finals}
            report.duplicates += max(0, len(shown_in) - 1)
            report.reshown += len(finals) - len(shown_in)
            withdrawn = {c.args.get("ts") for c in peer.calls_to("chat.delete", channel=q.channel)}
            placeholders = [c for c in posts if c.args.get("text") == THINKING_TEXT and c.ts not in withdrawn]
            report.extra_placeholders += max(0, len(placeholders) - 1)
            if placeholders:
                report.placeholder_s.append(placeholders[0].at - q.sent_at)
        return report


def answered_in_sql(cluster: Cluster) -> tuple[int, int]:
    """(questions recorded, answers recorded) in the shared database."""
    from bot.db.models import Answer, Message

    with cluster.container.sessions() as s:
        questions = s.scalar(sa.select(sa.func.count(Message.id)).where(Message.role == "user"))
        answers = s.scalar(sa.select(sa.func.count(Answer.id)))
    return questions, answers


def mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None
