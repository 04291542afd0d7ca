"""Load and fault figures through the real HTTP Slack transport (loopback only, bounded).

    .venv/bin/python bench/slack_load.py                       # all scenarios, a table
    .venv/bin/python bench/slack_load.py --scenarios load --json

Each scenario starts a fresh deployment: two `supportbot serve --http` processes on a new
PostgreSQL database (127.0.0.1:5432, or SUPPORTBOT_TEST_POSTGRES_URL) and a Chroma server, the
bundled model installed into a temporary folder, and a local Slack Web API peer. ASKERS people ask
at once; a share of events is redelivered as Slack does. Scenarios:

  load      nothing goes wrong
  postgres  PostgreSQL is stopped for 4 s once 5 answers are out, and a fifth of the askers write
            during the outage (`postgres` needs root, as in CI)
  slack     the Slack Web API answers 8 chat.postMessage calls with 429 (Retry-After: 1) and 8
            chat.update calls with 503
  kill      one bot process is SIGKILLed once 5 answers are out

Answer leases are short here (20 s, swept every 2 s) so recoveries show within the run.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.reliability.cluster import Cluster, Load, answered_in_sql, restart_postgres  # noqa: E402

FAST_RECOVERY = {"SUPPORTBOT_ANSWER_LEASE_S": "20", "SUPPORTBOT_RECOVERY_INTERVAL_S": "2"}


def after_first_answers(cluster: Cluster, action):
    def during(load: Load) -> None:
        cluster.peer.wait_for(
            lambda: len(cluster.peer.final_answers()) >= 5, timeout=120, what="first answers"
        )
        action()

    return during


def run(name: str, askers: int, model_path: Path | None) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"supportbot-load-{name}-") as tmp:
        cluster = Cluster(Path(tmp), processes=2, model_path=model_path, env=FAST_RECOVERY)
        try:
            during = None
            late = askers // 5 if name == "postgres" else 0
            if name == "postgres":
                during = after_first_answers(
                    cluster, lambda: restart_postgres(down_s=4.0, while_down=lambda: load.wave(late))
                )
            elif name == "kill":
                during = after_first_answers(cluster, lambda: cluster.kill(0))
            elif name == "slack":
                cluster.peer.fail("chat.postMessage", 429, times=8, retry_after=1)
                cluster.peer.fail("chat.update", 503, times=8)
            load = Load(cluster, askers - late)
            report = load.run(during=during)
            figures = {"scenario": name, **report.figures()}
            figures["sql_questions"], figures["sql_answers"] = answered_in_sql(cluster)
            figures["recovered"] = cluster.logs().count("again (attempt")
            return figures
        finally:
            cluster.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--askers", type=int, default=50)
    ap.add_argument("--scenarios", default="load,postgres,slack,kill")
    ap.add_argument("--model", type=Path, help="a GGUF to serve (default: install the bundled model)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = [run(name, args.askers, args.model) for name in args.scenarios.split(",")]
    if args.json:
        print(json.dumps(rows))
        return
    cols = [
        "scenario",
        "asked",
        "answered",
        "delivered_ratio",
        "duplicates",
        "extra_placeholders",
        "deliveries",
        "refused_deliveries",
        "recovered",
        "placeholder_p50_s",
        "placeholder_p95_s",
        "final_p50_s",
        "final_p95_s",
        "wall_s",
    ]
    print("| " + " | ".join(cols) + " |")
    print("|" + " --- |" * len(cols))
    for r in rows:
        print("| " + " | ".join(str(r[c]) for c in cols) + " |")
    bad = [r["scenario"] for r in rows if r["delivered_ratio"] != 1.0 or r["duplicates"]]
    if bad:
        raise SystemExit(f"lost or duplicated answers in: {', '.join(bad)}")


if __name__ == "__main__":
    main()
