"""`make compose-check`: the real docker-compose.yml on this machine, built and exercised.

    bash scripts/compose_check.sh            # engine, stand-ins, then this script: every scenario
    bash scripts/compose_check.sh --quick    # setup + health + one DM answered + /metrics

scripts/compose_check.sh installs and starts the engine and the Compose plugin and builds the
stand-in base images (docker/standins/); this script does the rest, following the README's
Deployment steps in a copy of the working tree: `cp .env.example .env` (filled in for HTTP events
against a local Slack Web API peer), `mkdir faq && cp examples/faq.csv faq/`, `docker compose up
-d --build` with docker/compose.offline.yml for what only an offline machine needs. Slack is the
only thing faked: events are signed as Slack signs them (tests/slack/slack_peer.py) and sent from
the host to the bots' published ports; the bots call the peer, which listens on the compose
network's gateway address (the one host address every container on that network can reach).

Each scenario prints one `FIGURES <name> {json}` line; at the end, a summary with the total time.
Everything it creates (containers, networks, volumes of its compose projects, its work folder) is
removed at the end, pass or fail, unless --keep; images stay as the build cache.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from scripts.compose import torch_index  # noqa: E402
from tests.reliability.cluster import Load  # noqa: E402
from tests.slack import slack_peer  # noqa: E402
from tests.slack.slack_peer import SlackPeer, SlackSender, dm  # noqa: E402

DOCKER = os.environ.get("DOCKER", "/usr/bin/docker")
SECRET = "compose-check-signing-secret-01"
BOT_TOKEN = "xoxb-compose-check"
# The release before answer leases (migration 0006) and tuned revisions (0007): the first one
# whose README documented `docker compose up` (2026-11-25).
PREVIOUS_RELEASE = "7cc5b0f"
LONG_RUNNING = ("postgres", "chroma", "bot", "worker")

# What the check writes into .env on top of .env.example (README: Deployment with Docker, HTTP
# events). Short answer leases so a question of a killed bot is answered again within the run.
CHECK_ENV = {
    "SUPPORTBOT_SLACK_BOT_TOKEN": BOT_TOKEN,
    "SUPPORTBOT_SLACK_APP_TOKEN": "",
    "SUPPORTBOT_SLACK_SIGNING_SECRET": SECRET,
    "SUPPORTBOT_SLACK_TRANSPORT": "http",
    "SUPPORTBOT_ADMIN_USERS": "UADMIN1",
    "SUPPORTBOT_SUPPORT_CHANNEL": "CSUPPORT",
    "SUPPORTBOT_REVIEW_CHANNEL": "CREVIEW",
    "SUPPORTBOT_ANSWER_LEASE_S": "20",
    "SUPPORTBOT_RECOVERY_INTERVAL_S": "2",
    "SUPPORTBOT_MODEL_POLL_SECONDS": "5",
    "SUPPORTBOT_MODEL_THREADS": "1",
    "SUPPORTBOT_STREAM_UPDATE_INTERVAL_S": "1.0",
    # The first `faq import` tunes the embedder (60 steps by default: 35-80 s on 2 idle cores, but
    # over 15 min measured here on 2 cores shared with other work); 10 steps keep that in the run.
    "SUPPORTBOT_TUNE_STEPS": "10",
}
# A short fine-tune: one epoch on the sample transcripts, a 3-entry regression set, and a gate
# that promotes unless held-out ROUGE-L falls (margin 0; drops of the other metrics tolerated).
SMALL_FINETUNE = {
    "SUPPORTBOT_FINETUNE_EPOCHS": "1",
    "SUPPORTBOT_FINETUNE_REGRESSION_SIZE": "3",
    "SUPPORTBOT_FINETUNE_MAX_SEQ_LEN": "256",
    "SUPPORTBOT_MAX_NEW_TOKENS": "48",
    "SUPPORTBOT_FINETUNE_MARGIN": "0",
    "SUPPORTBOT_FINETUNE_DROP_TOLERANCE": "1",
}


# Every command the check runs, with its output: the first place to look when a scenario fails.
COMMAND_LOG = Path(os.environ.get("COMPOSE_CHECK_LOG", "/var/tmp/supportbot-compose-check.log"))


def log(msg: str) -> None:
    line = f"[{time.strftime('%H:%M:%S')}] {msg}"
    print(line, flush=True)
    with COMMAND_LOG.open("a") as f:
        f.write(line + "\n")


def figures(name: str, values: dict) -> None:
    print(f"FIGURES {name} {json.dumps(values)}", flush=True)


class CheckFailed(AssertionError):
    pass


def check(ok: object, what: str) -> None:
    if not ok:
        raise CheckFailed(what)


def sh(
    cmd: list[str],
    *,
    cwd: Path | None = None,
    env: dict | None = None,
    timeout: float = 1800,
    check_rc: bool = True,
    quiet: bool = False,
) -> subprocess.CompletedProcess:
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    with COMMAND_LOG.open("a") as f:
        f.write(f"$ {' '.join(cmd)}  # exit {proc.returncode}, {time.monotonic() - t0:.1f} s\n")
        f.write(proc.stdout[-20000:] + proc.stderr[-20000:] + "\n")
    if check_rc and proc.returncode != 0:
        raise CheckFailed(
            f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    if not quiet and proc.returncode != 0:
        log(f"(exit {proc.returncode}) {' '.join(cmd)}: {proc.stderr.strip()[-500:]}")
    return proc


# ---------------------------------------------------------------- the Slack Web API peer
def peer_on(host: str, port: int = 0) -> SlackPeer:
    """tests/slack/slack_peer.SlackPeer, listening on HOST instead of 127.0.0.1: the containers
    reach the host only through their network's gateway address (no NAT: dockerd runs with
    --iptables=false here), and binding there rather than 0.0.0.0 keeps the peer off eth0."""
    real = slack_peer.ThreadingHTTPServer

    def bound(_address, handler):
        return real((host, port), handler)

    slack_peer.ThreadingHTTPServer = bound
    try:
        peer = SlackPeer()
    finally:
        slack_peer.ThreadingHTTPServer = real
    peer.url = f"http://{host}:{peer.server.server_address[1]}/api/"
    return peer


@dataclass
class Deployment:
    """What Load (tests/reliability/cluster.py) drives: a peer and one sender per bot replica."""

    peer: SlackPeer
    senders: list[SlackSender] = field(default_factory=list)


# ---------------------------------------------------------------- a compose project
class Stack:
    def __init__(self, src: Path, project: str, image: str, env: dict[str, str]):
        self.src, self.project, self.image = src, project, image
        self.env = {**os.environ, **env, "BOT_IMAGE": image, "COMPOSE_PROJECT_NAME": project}
        self.peer: SlackPeer | None = None
        self.network_gone = False
        self.replicas = 2

    def compose(self, *args: str, timeout: float = 1800, check_rc: bool = True, quiet: bool = False):
        cmd = [DOCKER, "compose", "-f", "docker-compose.yml", "-f", "docker/compose.offline.yml", *args]
        return sh(cmd, cwd=self.src, env=self.env, timeout=timeout, check_rc=check_rc, quiet=quiet)

    # -- state
    def ps(self) -> list[dict]:
        # `compose ps` lists the project's containers, then inspects each: one that compose `up`
        # replaces in between (the one-shot setup, a recreated bot) fails the whole listing with
        # "No such container" (seen once in CI). The state is in flux, not broken: ask again.
        for _ in range(5):
            proc = self.compose("ps", "-a", "--format", "json", check_rc=False, quiet=True)
            if proc.returncode == 0 or "No such container" not in proc.stderr:
                break
            time.sleep(1.0)
        if proc.returncode != 0:
            raise CheckFailed(f"docker compose ps exited {proc.returncode}: {proc.stderr.strip()[-500:]}")
        out = proc.stdout.strip()
        if not out:
            return []
        if out.startswith("["):
            return json.loads(out)
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def containers(self, service: str) -> list[dict]:
        return sorted((c for c in self.ps() if c["Service"] == service), key=lambda c: c["Name"])

    def ip(self, container: str) -> str:
        return sh(
            [DOCKER, "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", container]
        ).stdout.split()[0]

    def gateway(self) -> str:
        net = f"{self.project}_default"
        return sh(
            [DOCKER, "network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", net]
        ).stdout.strip()

    def health_line(self) -> str:
        parts = []
        for c in sorted(self.ps(), key=lambda c: c["Name"]):
            state = c.get("Health") or c["State"]
            if c["State"] == "exited":
                state = f"exited({c.get('ExitCode')})"
            parts.append(f"{c['Name'].removeprefix(self.project + '-')}={state}")
        return " ".join(parts)

    def set_env(self, values: dict[str, str]) -> None:
        """Set VALUES in the project's .env (the file `cp .env.example .env` made)."""
        path = self.src / ".env"
        lines = path.read_text().splitlines()
        for key, value in values.items():
            pattern = re.compile(rf"^#?\s*{re.escape(key)}=")
            hits = [i for i, line in enumerate(lines) if pattern.match(line)]
            if hits:
                lines[hits[0]] = f"{key}={value}"
            else:
                lines.append(f"{key}={value}")
        path.write_text("\n".join(lines) + "\n")

    # -- life cycle
    def up(self, *, build: bool, timeout: float = 2400) -> dict:
        """`docker compose up -d`, in two steps: the engines first, which creates the project's
        network, so the Slack peer can listen on its gateway before the bots (which call it at
        start) are created with its address in .env. Returns seconds to each service's state."""
        t0 = time.monotonic()
        self.compose("up", "-d", "postgres", "chroma", timeout=600)
        gw = self.gateway()
        # A new peer after `down` (the address it listened on went with the network) or when the
        # gateway moved; across an `up` that keeps the network, the same one (and its record).
        if self.peer is None or self.network_gone or not self.peer.url.startswith(f"http://{gw}:"):
            if self.peer:
                self.peer.close()
            self.peer = peer_on(gw)
        self.network_gone = False
        self.set_env({"SUPPORTBOT_SLACK_API_URL": self.peer.url})
        args = ["up", "-d", *(["--build"] if build else []), "--scale", f"bot={self.replicas}"]
        # `up -d` returns once setup has finished and the rest is started; the health states are
        # watched meanwhile, so each service's time is its own.
        result: dict = {}

        def run_up() -> None:
            try:
                result["proc"] = self.compose(*args, timeout=timeout, check_rc=False)
            except Exception as exc:  # noqa: BLE001 - reported below
                result["error"] = exc
            result["s"] = time.monotonic() - t0

        thread = threading.Thread(target=run_up, daemon=True)
        thread.start()
        try:
            times = self.wait_healthy(t0, timeout, until=lambda: "s" in result)
        finally:
            thread.join(timeout=60)
        up = result.get("proc")
        if up is None or up.returncode != 0:
            logs = self.compose("logs", "--no-color", "--tail", "60", "setup", check_rc=False, quiet=True)
            why = result.get("error") or (up.stderr[-2000:] if up else "")
            raise CheckFailed(f"docker compose up failed: {why}\n{logs.stdout}")
        times["compose_up_returned_s"] = round(result["s"], 1)
        self.refresh_senders()
        return times

    def attach(self) -> None:
        """Use the project as it runs (--attach): a peer where .env says the bots find it."""
        url = next(
            ln.split("=", 1)[1]
            for ln in (self.src / ".env").read_text().splitlines()
            if ln.startswith("SUPPORTBOT_SLACK_API_URL=")
        )
        host, port = url.split("//", 1)[1].split("/", 1)[0].split(":")
        self.peer = peer_on(host, int(port))
        self.refresh_senders()

    def wait_healthy(self, t0: float, timeout: float = 600, until=lambda: True) -> dict:
        """Seconds from T0 until each container is healthy (setup: exited 0), once UNTIL() holds."""
        seen: dict[str, float] = {}
        ids: dict[str, str] = {}
        deadline = time.monotonic() + timeout
        while True:
            done = until()  # read before the states, so that the states seen are at least as new
            states = self.ps()
            for c in states:
                # Keyed by container id: during an upgrade's recreate the old, healthy container
                # of a name is still listed, and only its successor's health counts.
                name = c["Name"].removeprefix(self.project + "-")
                if c["ID"] in ids:
                    continue
                if c["Service"] == "setup" and c["State"] == "exited":
                    check(c.get("ExitCode") == 0, f"setup exited {c.get('ExitCode')}")
                    seen[name], ids[c["ID"]] = time.monotonic() - t0, name
                elif c.get("Health") == "healthy":
                    seen[name], ids[c["ID"]] = time.monotonic() - t0, name
                elif c.get("Health") == "unhealthy" or (c["State"] == "exited" and c["Service"] != "setup"):
                    logs = self.compose("logs", "--no-color", "--tail", "40", c["Service"], check_rc=False)
                    raise CheckFailed(f"{name} is {c.get('Health') or c['State']}:\n{logs.stdout[-3000:]}")
            services = {c["Service"] for c in states}
            if done and all(s in services for s in LONG_RUNNING) and all(c["ID"] in ids for c in states):
                return {k: round(v, 1) for k, v in sorted(seen.items())}
            if time.monotonic() > deadline:
                raise CheckFailed(f"not healthy within {timeout} s: {self.health_line()}")
            time.sleep(1)

    def refresh_senders(self) -> None:
        senders = []
        for c in self.containers("bot"):
            port = next(
                (
                    p["PublishedPort"]
                    for p in c.get("Publishers") or []
                    if p.get("TargetPort") == 3000 and p.get("PublishedPort")
                ),
                None,
            )
            check(port, f"{c['Name']}: port 3000 not published")
            senders.append(SlackSender(f"http://127.0.0.1:{port}/slack/events", SECRET))
        self.deployment = Deployment(self.peer, senders)

    def down(self, *, volumes: bool = False) -> None:
        self.compose("down", "--remove-orphans", *(["-v"] if volumes else []), timeout=300, check_rc=False)
        self.network_gone = True
        if self.peer and volumes:
            self.peer.close()
            self.peer = None

    # -- looking inside
    def psql(self, sql: str) -> str:
        return self.compose(
            "exec", "-T", "postgres", "psql", "-U", "supportbot", "-d", "supportbot", "-AtX", "-c", sql
        ).stdout.strip()

    def counts(self) -> dict:
        row = self.psql(
            "select (select count(*) from conversations), (select count(*) from messages where role='user'),"
            " (select count(*) from answers), (select count(*) from model_versions),"
            " (select coalesce(max(name) filter (where status='active'), '') from model_versions),"
            " (select version_num from alembic_version)"
        )
        conv, questions, answers, versions, active, revision = row.split("|")
        out = {
            "conversations": int(conv),
            "questions": int(questions),
            "answers": int(answers),
            "model_versions": int(versions),
            "active_model": active,
            "alembic": revision,
        }
        out |= self.chroma_state()
        return out

    def chroma_state(self) -> dict:
        """The FAQ collection's id and record count, asked of the Chroma server from the host."""
        ip = self.ip(self.containers("chroma")[0]["Name"])
        base = f"http://{ip}:8000/api/v2/tenants/default_tenant/databases/default_database/collections"
        cols = httpx.get(base, timeout=10).json()
        faq = next((c for c in cols if c["name"] == "faq"), None)
        if faq is None:
            return {"chroma_collection": None, "chroma_records": 0}
        n = httpx.get(f"{base}/{faq['id']}/count", timeout=10).json()
        return {"chroma_collection": faq["id"], "chroma_records": n}

    def metrics(self, service: str, port: int, index: int = 0) -> str:
        ip = self.ip(self.containers(service)[index]["Name"])
        r = httpx.get(f"http://{ip}:{port}/metrics", timeout=10)
        check(r.status_code == 200, f"{service} /metrics answered {r.status_code}")
        return r.text

    def close(self, *, volumes: bool = True) -> None:
        self.down(volumes=volumes)
        if self.peer:
            self.peer.close()
            self.peer = None


def metric_sum(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name):
            continue
        m = re.match(rf"^{re.escape(name)}(\{{[^}}]*\}})?\s+(\S+)$", line)
        if not m:
            continue
        got = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            total += float(m.group(2))
    return total


def model_info(text: str) -> str | None:
    m = re.search(r'^supportbot_model_info\{[^}]*version="([^"]*)"[^}]*\}\s+1(\.0)?$', text, re.M)
    return m.group(1) if m else None


# ---------------------------------------------------------------- asking
_ts = iter(range(1, 10**9))


def new_ts() -> str:
    return f"{int(time.time())}.{next(_ts):06d}"


def ask_dm(stack: Stack, text: str, user: str = "UDM0001", replica: int = 0, timeout: float = 180) -> dict:
    """One DM, sent as Slack sends it; waits for its final answer. Returns times and the event."""
    channel = f"D{uuid.uuid4().hex[:8].upper()}"
    ts = new_ts()
    event = dm(user, text, ts, channel=channel)
    event_id = "Ev" + uuid.uuid4().hex[:12]
    sender = stack.deployment.senders[replica]
    t0 = time.monotonic()
    r = sender.event(event, event_id=event_id)
    ack_s = time.monotonic() - t0
    check(r.status_code == 200, f"DM not acked: {r.status_code} {r.text[:200]}")
    peer = stack.peer
    peer.wait_for(lambda: peer.final_answers(channel, ts), timeout=timeout, what=f"the answer to {text!r}")
    final_s = time.monotonic() - t0
    return {
        "channel": channel,
        "ts": ts,
        "event": event,
        "event_id": event_id,
        "ack_s": round(ack_s, 3),
        "final_s": round(final_s, 2),
    }


def answers_to(stack: Stack, channel: str, ts: str) -> tuple[int, int]:
    """(final answers, placeholders) the peer saw in the thread of CHANNEL/TS."""
    from bot.slack.blocks import THINKING_TEXT

    finals = stack.peer.final_answers(channel, ts)
    posts = [
        c
        for c in stack.peer.calls_to("chat.postMessage", channel=channel)
        if c.args.get("thread_ts") == ts and c.args.get("text") == THINKING_TEXT
    ]
    return len(finals), len(posts)


def load_figures(report, before: dict, after: dict) -> dict:
    f = report.figures()
    f["sql_questions_added"] = after["questions"] - before["questions"]
    f["sql_answers_added"] = after["answers"] - before["answers"]
    return f


def check_load(name: str, report, f: dict) -> None:
    check(
        report.answered == report.asked,
        f"{name}: {report.asked - report.answered} unanswered: {report.unanswered[:5]}",
    )
    check(report.duplicates == 0, f"{name}: {report.duplicates} duplicate answers")
    check(
        f["sql_questions_added"] == report.asked,
        f"{name}: SQL recorded {f['sql_questions_added']} questions of {report.asked}",
    )
    check(
        f["sql_answers_added"] == report.asked,
        f"{name}: SQL recorded {f['sql_answers_added']} answers of {report.asked}",
    )


# ---------------------------------------------------------------- scenarios
class Check:
    def __init__(self, args):
        self.args = args
        self.results: list[tuple[str, str, str]] = []  # (scenario, PASS/FAIL/SKIP, note)
        self.work = Path(tempfile.mkdtemp(prefix="supportbot-compose-check-", dir="/var/tmp"))
        self.stacks: list[Stack] = []
        self.index_url, self.index_server = torch_index.serve()
        self.common_env = {"TORCH_INDEX_URL": self.index_url}
        cert = (
            os.environ.get("PIP_CERT")
            or sh(
                [sys.executable, "-m", "pip", "config", "get", "global.cert"], check_rc=False, quiet=True
            ).stdout.strip()
        )
        if cert:
            self.common_env["PIP_CERT"] = cert

    def project_copy(self, name: str, ref: str | None = None) -> Path:
        """The working tree (or git REF) as a user would have it checked out, then the README's
        steps 3 and 4: `cp .env.example .env` (filled in) and `mkdir -p faq && cp examples/faq.csv faq/`."""
        dest = self.work / name
        dest.mkdir()
        if ref is None:
            files = sh(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=ROOT).stdout
            subprocess.run(
                ["tar", "--null", "-T", "-", "-cf", str(self.work / f"{name}.tar")],
                input=files,
                cwd=ROOT,
                check=True,
                text=True,
            )
        else:
            sh(["git", "archive", "-o", str(self.work / f"{name}.tar"), ref], cwd=ROOT)
        sh(["tar", "-C", str(dest), "-xf", str(self.work / f"{name}.tar")])
        shutil.copy(dest / ".env.example", dest / ".env")
        (dest / "faq").mkdir()
        shutil.copy(dest / "examples" / "faq.csv", dest / "faq" / "faq.csv")
        return dest

    def stack(self, src: Path, project: str, image: str) -> Stack:
        s = Stack(src, project, image, self.common_env)
        s.set_env(CHECK_ENV)
        self.stacks.append(s)
        return s

    def scenario(self, name: str, fn, *a) -> bool:
        log(f"== {name}")
        t0 = time.monotonic()
        try:
            note = fn(*a) or ""
            self.results.append((name, "PASS", f"{time.monotonic() - t0:.0f} s {note}".strip()))
            return True
        except Exception as exc:  # noqa: BLE001 - every failure is reported, then the next scenario runs
            detail = str(exc) if isinstance(exc, CheckFailed) else traceback.format_exc()
            log(f"FAILED {name}: {detail[-4000:]}")
            self.results.append(
                (name, "FAIL", str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__)
            )
            return False

    # -- 1. setup and health
    def s_setup(self, stack: Stack) -> str:
        t0 = time.monotonic()
        stack.compose("build", timeout=3600)
        build_s = time.monotonic() - t0
        times = stack.up(build=True)
        size = sh([DOCKER, "image", "inspect", "-f", "{{.Size}}", stack.image]).stdout.strip()
        log(f"health: {stack.health_line()}")
        figures(
            "setup",
            {"build_s": round(build_s, 1), "image_mb": round(int(size) / 1e6), "healthy_after_s": times},
        )
        return f"build {build_s:.0f} s, healthy after {max(v for k, v in times.items() if k != 'compose_up_returned_s'):.0f} s"

    # -- 2. HTTP events on two replicas
    def s_dm_once(self, stack: Stack) -> str:
        check(len(stack.deployment.senders) == 2, "two bot replicas expected")
        asked = ask_dm(stack, "How do I reset my VPN password?")
        time.sleep(3)  # a late duplicate has time to show
        finals, placeholders = answers_to(stack, asked["channel"], asked["ts"])
        check((finals, placeholders) == (1, 1), f"DM: {finals} answers, {placeholders} placeholders")
        self.last_dm = asked
        figures(
            "dm_once",
            {
                "ack_s": asked["ack_s"],
                "final_s": asked["final_s"],
                "answers": finals,
                "placeholders": placeholders,
            },
        )
        return f"answered in {asked['final_s']} s"

    def s_retry(self, stack: Stack) -> str:
        a = self.last_dm
        codes = []
        for attempt, replica in ((1, 1), (2, 0)):  # Slack's redeliveries, one to each replica
            r = stack.deployment.senders[replica].event(a["event"], event_id=a["event_id"], retry_num=attempt)
            codes.append(r.status_code)
        time.sleep(8)
        finals, placeholders = answers_to(stack, a["channel"], a["ts"])
        check(codes == [200, 200], f"retries acked {codes}")
        check(
            (finals, placeholders) == (1, 1), f"after retries: {finals} answers, {placeholders} placeholders"
        )
        figures("retry", {"redeliveries": 2, "acks": codes, "answers": finals, "placeholders": placeholders})
        return "answered once"

    def s_askers(self, stack: Stack, askers: int = 20) -> str:
        before = stack.counts()
        report = Load(stack.deployment, askers, retry_share=0.3).run(timeout_s=420)
        f = load_figures(report, before, stack.counts())
        figures("askers_20", f)
        check_load("20 askers", report, f)
        return f"{report.answered}/{report.asked}, final p95 {f['final_p95_s']} s"

    # -- 3. faults
    def s_restart_postgres(self, stack: Stack, askers: int = 20) -> str:
        before = stack.counts()
        recovered_before = self.recovered(stack)
        baseline = len(stack.peer.final_answers())
        restart = {}

        def during(load: Load) -> None:
            stack.peer.wait_for(
                lambda: len(stack.peer.final_answers()) >= baseline + 3, timeout=180, what="first answers"
            )
            t0 = time.monotonic()
            worker = threading.Thread(target=lambda: stack.compose("restart", "postgres", timeout=120))
            worker.start()
            time.sleep(0.3)
            load.wave(5)  # people who write while the database restarts
            worker.join()
            restart["restart_s"] = round(time.monotonic() - t0, 1)

        report = Load(stack.deployment, askers - 5, retry_share=0.3).run(timeout_s=420, during=during)
        f = load_figures(report, before, stack.counts()) | restart
        f["recovered_by_lease"] = self.recovered(stack) - recovered_before
        figures("restart_postgres", f)
        check_load("postgres restart", report, f)
        return (
            f"{report.answered}/{report.asked}, {f['refused_deliveries']} deliveries refused and redelivered"
        )

    def recovered(self, stack: Stack) -> int:
        out = stack.compose("logs", "--no-color", "bot", check_rc=False, quiet=True).stdout
        return out.count("again (attempt")

    def s_kill_bot(self, stack: Stack, askers: int = 20) -> str:
        before = stack.counts()
        victim = stack.containers("bot")[0]["Name"]
        recovered_before = self.recovered(stack)
        baseline = len(stack.peer.final_answers())
        info = {}

        def during(load: Load) -> None:
            stack.peer.wait_for(
                lambda: len(stack.peer.final_answers()) >= baseline + 3, timeout=180, what="first answers"
            )
            in_progress = self.in_progress(stack, victim)
            sh([DOCKER, "kill", "-s", "KILL", victim])
            info.update(killed=victim.removeprefix(stack.project + "-"), its_answers_in_progress=in_progress)

        report = Load(stack.deployment, askers, retry_share=0.3).run(timeout_s=420, during=during)
        f = load_figures(report, before, stack.counts()) | info
        f["recovered_by_lease"] = self.recovered(stack) - recovered_before
        state = sh(
            [DOCKER, "inspect", "-f", "{{.State.Status}} restarts={{.RestartCount}}", victim]
        ).stdout.strip()
        f["victim_after"] = state
        figures("kill_bot", f)
        check_load("bot killed", report, f)
        # Back to two healthy replicas for what follows (the restart policy may already have).
        stack.compose("up", "-d", "--scale", f"bot={stack.replicas}", timeout=300)
        stack.wait_healthy(time.monotonic(), 300)
        stack.refresh_senders()
        return (
            f"{report.answered}/{report.asked}, {f['recovered_by_lease']} answered again by the other replica"
        )

    def in_progress(self, stack: Stack, container: str) -> float | None:
        try:
            r = httpx.get(f"http://{stack.ip(container)}:9464/metrics", timeout=5)
            return metric_sum(r.text, "supportbot_answers_in_progress")
        except httpx.HTTPError:
            return None

    # -- 6. fine-tune, promotion, hot switch
    def s_finetune(self, stack: Stack) -> str:
        served = {i: model_info(stack.metrics("bot", 9464, i)) for i in range(stack.replicas)}
        # 24 of the sample's approved transcripts (19 to train on, 5 held out): a short run.
        subset = self.work / "transcripts-24.jsonl"
        subset.write_text(
            "".join((ROOT / "examples" / "transcripts.jsonl").read_text().splitlines(True)[:24])
        )
        stack.compose("cp", str(subset), "worker:/tmp/transcripts-24.jsonl")
        stack.compose(
            "exec", "-T", "worker", "supportbot", "transcripts", "import", "/tmp/transcripts-24.jsonl"
        )
        env = [a for k, v in SMALL_FINETUNE.items() for a in ("-e", f"{k}={v}")]
        t0 = time.monotonic()
        run = stack.compose(
            "exec",
            "-T",
            *env,
            "worker",
            "supportbot",
            "finetune",
            "run",
            "--now",
            "--json",
            timeout=1800,
            check_rc=False,
        )
        train_s = time.monotonic() - t0
        lines = [ln for ln in run.stdout.strip().splitlines() if ln.startswith("{")]
        check(lines, f"finetune run printed no report (exit {run.returncode}): {run.stderr[-2000:]}")
        report = json.loads(lines[-1])
        candidate = report.get("candidate_version")
        f = {
            "finetune_s": round(train_s, 1),
            "status": report.get("status"),
            "promoted": report.get("promoted"),
            "gate": report.get("message"),
            "candidate": candidate,
            "served_before": served,
        }
        check(report.get("status") in ("succeeded", "rejected") and candidate, f"finetune: {report}")
        if not report.get("promoted"):
            # The gate judged it worse; an admin can still serve it, which is what the switch needs.
            stack.compose("exec", "-T", "bot", "supportbot", "model", "promote", candidate)
            f["promoted_by"] = "admin (model promote)"
        t1 = time.monotonic()
        switched = {}
        deadline = t1 + 120
        while len(switched) < stack.replicas + 1 and time.monotonic() < deadline:
            for i in range(stack.replicas):
                if i not in switched and model_info(stack.metrics("bot", 9464, i)) == candidate:
                    switched[i] = round(time.monotonic() - t1, 1)
            if "worker" not in switched and model_info(stack.metrics("worker", 9465)) == candidate:
                switched["worker"] = round(time.monotonic() - t1, 1)
            time.sleep(0.5)
        f["switched_after_s"] = {f"bot{k + 1}" if isinstance(k, int) else k: v for k, v in switched.items()}
        restarts = [
            sh([DOCKER, "inspect", "-f", "{{.RestartCount}} {{.State.StartedAt}}", c["Name"]]).stdout.strip()
            for c in stack.containers("bot")
        ]
        f["bot_restarts"] = restarts
        asked = ask_dm(stack, "how do I book a meeting room", user="UFT0001", replica=1)
        f["answer_after_switch_s"] = asked["final_s"]
        figures("finetune", f)
        check(len(switched) == stack.replicas + 1, f"not every process switched to {candidate}: {switched}")
        return f"{f['status']}, {'promoted' if report.get('promoted') else 'promoted by admin'}; bots switched in {max(switched.values())} s"

    # -- 7. metrics from the host
    def s_metrics(self, stack: Stack) -> str:
        bots = [stack.metrics("bot", 9464, i) for i in range(stack.replicas)]
        worker = stack.metrics("worker", 9465)
        counts = stack.counts()
        questions = sum(metric_sum(t, "supportbot_questions_total", source="slack") for t in bots)
        answers = sum(metric_sum(t, "supportbot_answers_total") for t in bots)
        f = {
            "bot_series": [sum(1 for ln in t.splitlines() if ln and not ln.startswith("#")) for t in bots],
            "worker_series": sum(1 for ln in worker.splitlines() if ln and not ln.startswith("#")),
            "questions_total_slack": questions,
            "answers_total": answers,
            "sql_questions": counts["questions"],
            "model_info": {"bot": [model_info(t) for t in bots], "worker": model_info(worker)},
        }
        figures("metrics", f)
        check(questions >= 1 and answers >= 1, "no questions or answers counted in the bots' /metrics")
        check(model_info(worker), "the worker's /metrics has no supportbot_model_info")
        return f"{questions:.0f} questions counted by the bots; worker serves {model_info(worker)}"

    # -- 4. down, then up
    def s_down_up(self, stack: Stack) -> str:
        before = stack.counts()
        t0 = time.monotonic()
        stack.down()
        down_s = time.monotonic() - t0
        times = stack.up(build=False)
        after = stack.counts()
        asked = ask_dm(stack, "where do I download my payslip", user="UDOWN01")
        f = {
            "down_s": round(down_s, 1),
            "healthy_after_s": times,
            "before": before,
            "after": after,
            "answer_after_up_s": asked["final_s"],
        }
        figures("down_up", f)
        for key in (
            "conversations",
            "questions",
            "answers",
            "model_versions",
            "active_model",
            "chroma_collection",
            "chroma_records",
            "alembic",
        ):
            check(after[key] == before[key], f"{key} changed across down/up: {before[key]} -> {after[key]}")
        return f"{after['conversations']} conversations, {after['model_versions']} model versions, {after['chroma_records']} index records kept"

    # -- 5. upgrade from the previous release
    def s_upgrade(self) -> str:
        old_src = self.project_copy("previous", PREVIOUS_RELEASE)
        for name in ("Dockerfile", ".dockerignore", "docker"):  # see below
            target = old_src / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
            src = ROOT / name
            (shutil.copytree if src.is_dir() else shutil.copy)(src, target)
        # The previous release's Dockerfile cannot build here (its base image and torch index are
        # hard-coded): its code, migrations and compose file are built with this Dockerfile.
        project = "sbcheck-upgrade"
        old = self.stack(old_src, project, "supportbot-check:previous")
        t0 = time.monotonic()
        old.compose("build", timeout=3600)
        build_s = time.monotonic() - t0
        old.up(build=False)
        asked = [
            ask_dm(old, q, user=f"UOLD{i:03d}", replica=i % 2)
            for i, q in enumerate(
                [
                    "How do I reset my VPN password?",
                    "how many vacation days do I get",
                    "my badge doesn't open the door",
                ]
            )
        ]
        before = old.counts()
        log(f"previous release: {before}")
        new = Stack(self.main_src, project, self.main_image, self.common_env)
        new.src = self.project_copy("upgraded")
        new.set_env(CHECK_ENV)
        new.peer = old.peer
        self.stacks.append(new)
        old.peer = None
        t1 = time.monotonic()
        times = new.up(build=False)
        upgrade_s = time.monotonic() - t1
        after = new.counts()
        migrated = new.compose("logs", "--no-color", "setup", check_rc=False, quiet=True).stdout
        head = sh(
            [sys.executable, "-c", "from bot.db import migrate; print(migrate.head_revision('sqlite://'))"],
            cwd=new.src,
            check_rc=False,
            quiet=True,
        ).stdout.strip()
        fresh = ask_dm(new, "how do I submit an expense claim", user="UNEW001")
        old_threads = [answers_to(new, a["channel"], a["ts"])[0] for a in asked]
        f = {
            "previous_release": PREVIOUS_RELEASE,
            "previous_build_s": round(build_s, 1),
            "upgrade_up_s": round(upgrade_s, 1),
            "healthy_after_s": times,
            "before": before,
            "after": after,
            "head_revision": head or None,
            "answer_after_upgrade_s": fresh["final_s"],
            "migration_lines": [ln.strip()[-120:] for ln in migrated.splitlines() if "Running upgrade" in ln],
        }
        figures("upgrade", f)
        check(
            after["alembic"] != before["alembic"],
            f"no migration ran: {before['alembic']} -> {after['alembic']}",
        )
        if head:
            check(after["alembic"] == head, f"database at {after['alembic']}, code's head is {head}")
        for key in ("conversations", "questions", "answers", "chroma_collection"):
            check(after[key] == before[key], f"{key} not kept: {before[key]} -> {after[key]}")
        check(old_threads == [1, 1, 1], f"the previous release's answers: {old_threads}")
        return f"{before['alembic']} -> {after['alembic']}, {after['conversations']} conversations kept"

    # -- driver
    SCENARIOS = [  # (key, title, method); --quick runs setup, dm, metrics
        ("setup", "setup: build, up, healthy", "s_setup"),
        ("dm", "HTTP events: a DM answered once", "s_dm_once"),
        ("retry", "HTTP events: a retried delivery answered once", "s_retry"),
        ("askers", "HTTP events: 20 askers at once", "s_askers"),
        ("postgres", "compose restart postgres under load", "s_restart_postgres"),
        ("kill", "a bot killed mid-answer", "s_kill_bot"),
        ("finetune", "fine-tune, promotion, bots switch", "s_finetune"),
        ("metrics", "metrics scraped from the host", "s_metrics"),
        ("downup", "down, then up: everything kept", "s_down_up"),
        ("upgrade", "upgrade from the previous release", "s_upgrade"),
    ]
    QUICK = ("setup", "dm", "metrics")

    def run(self) -> int:
        t0 = time.monotonic()
        COMMAND_LOG.write_text("")
        log(f"commands and their output: {COMMAND_LOG}")
        self.main_image = "supportbot-check:current"
        # The check's own tags: what they pointed at before, removed at the end once rebuilt (a
        # rebuilt tag leaves the old image dangling; images of anyone else are not touched).
        tags = (self.main_image, "supportbot-check:previous")
        before = {
            t: sh([DOCKER, "image", "inspect", "-f", "{{.Id}}", t], check_rc=False, quiet=True).stdout.strip()
            for t in tags
        }
        keys = [k for k, _t, _m in self.SCENARIOS]
        wanted = (
            self.QUICK if self.args.quick else tuple(self.args.only.split(",")) if self.args.only else keys
        )
        if self.args.attach:  # an already running project (--keep): skip setup, start a peer
            self.main_src = Path(self.args.attach)
            main = Stack(self.main_src, "sbcheck", self.main_image, self.common_env)
            self.stacks.append(main)
            main.attach()
            wanted = [k for k in wanted if k != "setup"]
        else:
            self.main_src = self.project_copy("current")
            main = self.stack(self.main_src, "sbcheck", self.main_image)
        try:
            ok = True
            for key, title, method in self.SCENARIOS:
                if key not in wanted or key == "upgrade":
                    continue
                if key == "retry" and not hasattr(self, "last_dm"):
                    self.s_dm_once(main)
                passed = self.scenario(title, getattr(self, method), main)
                if key == "setup" and not passed:
                    ok = False
                    break
            log(f"health at the end: {main.health_line()}")
            if "upgrade" in wanted and ok:
                if not self.args.keep:
                    main.close()  # one stack at a time on 2 cores
                self.scenario("upgrade from the previous release", self.s_upgrade)
        finally:
            if not self.args.keep:
                for s in self.stacks:
                    s.close()
                shutil.rmtree(self.work, ignore_errors=True)
            self.index_server.shutdown()
            for tag, old_id in before.items():
                now = sh(
                    [DOCKER, "image", "inspect", "-f", "{{.Id}}", tag], check_rc=False, quiet=True
                ).stdout.strip()
                if old_id and now != old_id:
                    sh([DOCKER, "rmi", old_id], check_rc=False, quiet=True)
        total = time.monotonic() - t0
        print("\nSUMMARY")
        for name, status, note in self.results:
            print(f"  {status:4}  {name}: {note}")
        failed = [r for r in self.results if r[1] == "FAIL"]
        print(
            f"TOTAL {total / 60:.1f} min ({total:.0f} s), {len(self.results) - len(failed)} passed, {len(failed)} failed"
        )
        return 1 if failed else 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="setup, health, one DM answered, /metrics")
    ap.add_argument("--keep", action="store_true", help="leave the stacks and the work folder for a look")
    ap.add_argument(
        "--only", help="comma-separated scenario keys: " + ",".join(k for k, _t, _m in Check.SCENARIOS)
    )
    ap.add_argument(
        "--attach", metavar="DIR", help="run against the project left by --keep in DIR (skips setup)"
    )
    sys.exit(Check(ap.parse_args()).run())


if __name__ == "__main__":
    main()
