"""How many tuning steps an FAQ with more phrasings needs (research only).

retrieval/tune.py trains a fixed number of steps (TuneParams.steps, 60), one pair of phrasings per
entry per step, whatever the FAQ holds: at 3 phrasings an entry's 3 pairs are each seen about four
times, at 11 (CLINC150 after five days of learning) most of its 55 are never seen. This tunes the
bundled MiniLM on CLINC150 as an FAQ of K phrasings per intent for several step counts and reports
hit@1 on test with the shipped aggregation (exp_phrasing_counts.scores "mean") and the coverage at
precision >= 0.90 (threshold chosen on val + oos_train).

Usage: .venv/bin/python bench/research/exp_tune_steps.py [--ks 3,11] [--steps 60,120,240]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from common import encode, load_data, minilm_path  # noqa: E402
from exp_phrasing_counts import evaluate, faq, scores, splits  # noqa: E402

from retrieval.tune import TuneParams, tune_embedder  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ks", default="3,11")
    ap.add_argument("--steps", default="60,120,240")
    args = ap.parse_args()
    data = load_data()
    intents = sorted({i for _, i in data["train"]})
    vt, vl, tt, tl, oos_tr, oos = splits(data)
    for k in map(int, args.ks.split(",")):
        names, phr, owner = faq(data, {i: k for i in intents})
        idx = {n: i for i, n in enumerate(names)}
        y_val, y_test = np.array([idx[l] for l in vl]), np.array([idx[l] for l in tl])
        groups = [[p for p, o in zip(phr, owner) if o == e] for e in range(len(names))]
        for steps in [0, *map(int, args.steps.split(","))]:
            t0 = time.time()
            with tempfile.TemporaryDirectory() as tmp:
                path = minilm_path()
                if steps:
                    path = str(tune_embedder(minilm_path(), groups, Path(tmp) / "m", TuneParams(steps=steps)))
                took = time.time() - t0
                p, qv, qo, qt, qs = (encode(path, x, cache=False) for x in (phr, vt, oos_tr, tt, oos))
            s = [scores(q, p, owner, len(names), "mean") for q in (qv, qo, qt, qs)]
            hit1, prec, cov = evaluate(s[0], y_val, s[1], s[2], y_test, s[3])
            print(
                f"k={k:2d} steps={steps:4d} tune {took:5.0f}s  hit@1 {hit1:.4f}  P {prec:.3f} C {cov:.3f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
