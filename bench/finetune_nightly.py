"""A nightly fine-tune end to end, timed by stage: N approved transcripts of the sample company,
the bundled model as the served base, default training settings.

    .venv/bin/python bench/finetune_nightly.py --transcripts 50
    .venv/bin/python bench/finetune_nightly.py --transcripts 200 --json

Everything happens in a throwaway data dir (fresh weight cache included, so the figure is what a
first night costs). Prints the wall time of each stage, the whole run, and the served (base) vs
candidate model on the held-out approved pairs and the regression set, as the gate saw them.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.container import Container  # noqa: E402
from bot.llm.registry import install_base_model  # noqa: E402
from bot.services.transcripts import load_jsonl  # noqa: E402
from bot.settings import Settings  # noqa: E402
from finetune.pipeline import FinetunePipeline  # noqa: E402
from retrieval.faq import load_faq  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--transcripts", type=int, default=50, help="approved transcripts to train on (max 200)")
    ap.add_argument("--file", type=Path, default=ROOT / "examples" / "transcripts.jsonl")
    ap.add_argument("--faq", type=Path, default=ROOT / "examples" / "faq.csv")
    ap.add_argument("--epochs", type=int, help="override SUPPORTBOT_FINETUNE_EPOCHS")
    ap.add_argument("--json", action="store_true", help="one JSON object on the last line")
    args = ap.parse_args()

    rows = load_jsonl(args.file)
    if args.transcripts > len(rows):
        ap.error(f"{args.file} has {len(rows)} transcripts")
    with tempfile.TemporaryDirectory(prefix="supportbot-ft-bench-") as tmp:
        extra = {"finetune_epochs": args.epochs} if args.epochs else {}
        c = Container(Settings(data_dir=Path(tmp), **extra))
        c.ensure_schema()
        with c.sessions() as session:
            install_base_model(session, c.settings.models_dir)
            session.commit()
        c.index.import_items(load_faq(args.faq))
        c.reviews.transcripts.import_rows(rows[: args.transcripts])

        stages: dict[str, list[float]] = {}
        started = time.perf_counter()

        def progress(stage: str, done: int, total: int) -> None:
            now = time.perf_counter() - started
            span = stages.setdefault(stage, [now, now])
            span[1] = now
            if not args.json and (done == total or done % 10 == 0):
                print(f"  {now:7.1f}s  {stage:<9} {done}/{total}", flush=True)

        report = FinetunePipeline(c, progress=progress).run(force=True)

    out = report.to_json()
    out["bench"] = {
        "transcripts": args.transcripts,
        "stage_s": {k: round(v[1] - v[0], 1) for k, v in stages.items()},
        "wall_s": round(report.duration_s, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cpus",
    }
    if args.json:
        print(json.dumps(out))
        return
    print(
        f"\nrun {report.status} in {report.duration_s:.0f} s ({args.transcripts} transcripts: "
        f"{report.n_train} train, {report.n_eval} held out, {report.n_regression} regression)"
    )
    print("stages:", ", ".join(f"{k} {v} s" for k, v in out["bench"]["stage_s"].items()))
    for split in ("held_out", "regression"):
        if split in report.metrics.get("served", {}):
            sv, cd = report.metrics["served"][split], report.metrics["candidate"][split]
            print(
                f"{split:<10} ROUGE-L {sv['rougeL']:.3f} -> {cd['rougeL']:.3f}  grounded {sv['grounded']:.2f} -> "
                f"{cd['grounded']:.2f}  support {sv['support']:.2f} -> {cd['support']:.2f}  (n={sv['n']})"
            )
    print("gate:", report.message)


if __name__ == "__main__":
    main()
