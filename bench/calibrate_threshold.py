"""Measure the default abstention thresholds against phrasings per entry, on CLINC150 val.

The threshold that answers a given share of in-scope questions rises with the number of phrasings
each entry has (more phrasings, higher top scores; a tuned embedder learns more from more). For each
N: one FAQ entry per intent with its first N train utterances, imported through the product; the
val in-scope questions (never test) are run untuned and then tuned as shipped, and the score that
answers --answered of them is printed. The rows go into retrieval/calibration.py.

    .venv/bin/python bench/calibrate_threshold.py [--phrasings 2,3,5,10,15,20] [--answered 0.96]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from retrieval_clinc import CLINC, build, run  # noqa: E402

from bot.container import Container  # noqa: E402
from bot.settings import Settings  # noqa: E402
from retrieval.tune import TuneParams  # noqa: E402


def threshold(index, queries, answered: float) -> float:
    tops = sorted(run(index, queries)[0])
    return tops[int((1 - answered) * len(tops))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--phrasings", default="2,3,5,10,15,20")
    ap.add_argument("--answered", type=float, default=0.96)
    args = ap.parse_args()
    data = json.loads(CLINC.read_text())
    val = [(t, i) for t, i in data["val"]]
    rows = []
    for n in (int(x) for x in args.phrasings.split(",")):
        with tempfile.TemporaryDirectory(prefix="supportbot-calibrate-") as tmp:
            c = Container(Settings(data_dir=Path(tmp), tune_on_import=False))
            c.ensure_schema()
            c.index.import_items(build(data, n))
            untuned = threshold(c.index, val, args.answered)
            c.index.tune(Path(tmp) / "embedders", TuneParams())
            tuned = threshold(c.index, val, args.answered)
            c.close()
        rows.append((n, round(untuned, 3), round(tuned, 3)))
        print(f"phrasings per entry {n:3d}: untuned {untuned:.3f}  tuned {tuned:.3f}", flush=True)
    print(json.dumps({"answered": args.answered, "rows": rows}))


if __name__ == "__main__":
    main()
