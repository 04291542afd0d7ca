"""Reads exp_learned_threshold.py's dump: test precision / coverage per day under candidate abstention
rules, and at fixed thresholds (bench/research/results/learned_threshold_clinc150.txt).

    .venv/bin/python bench/research/analyze_learned_threshold.py DUMP.jsonl
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from retrieval.calibration import quantile_upper_bound  # noqa: E402

TARGET = 0.9
FIXED = (0.48, 0.50, 0.52, 0.54, 0.56, 0.58, 0.60)


def test_at(test, t: float) -> tuple[float, float, float]:
    """(answer precision, coverage, out-of-scope abstained) of the test rows at threshold ``t``."""
    given = [(top, exp) for c, top, exp in test if top is not None and c >= t]
    right = sum(top == exp for top, exp in given)
    in_scope = sum(exp is not None for _, _, exp in test)
    oos = [c for c, _, exp in test if exp is None]
    precision = right / len(given) if given else 1.0
    return precision, right / in_scope, float(np.mean([c < t for c in oos])) if oos else 1.0


def oracle(test) -> float:
    """The lowest threshold with test precision >= TARGET: picked on the test, a reference only."""
    for t in sorted({c for c, _, _ in test}):
        if test_at(test, t)[0] >= TARGET:
            return t
    return 1.0


def pool_rule(neg, pos, prior: float) -> float:
    """The lowest threshold with precision >= TARGET over held-out negatives and confirmed positives,
    weighted as if ``prior`` of the questions were in scope."""
    neg = np.array(neg)
    conf = np.array([c for c, _ in pos])
    right = np.array([k for _, k in pos])
    for t in np.unique(np.r_[neg, conf]):
        answered, correct, wrong_oos = (conf >= t).mean(), ((conf >= t) & right).mean(), (neg >= t).mean()
        given = prior * answered + (1 - prior) * wrong_oos
        if given == 0 or prior * correct / given >= TARGET:
            return float(t)
    return 1.0


def main(path: str) -> None:
    days = [json.loads(line) for line in open(path)]
    for d in days:
        test, neg, pos, floor = d["test"], d["neg"], d["pos"], d["floor"]
        rows = [
            ("current", d["threshold"]),
            ("oracle", oracle(test)),
            ("neg_q90", float(np.quantile(neg, 0.9))),
        ]
        if d.get("neg_written"):
            rows.append(("written_q90", max(floor, float(np.quantile(d["neg_written"], 0.9)))))
        print(f"day {d['day']} floor {floor:.3f}")
        if pos:
            conf = np.array([c for c, _ in pos])
            right = np.array([k for _, k in pos])
            rows.append(("pos_q10", max(floor, float(np.quantile(conf, 0.1)))))
            rows.append(("pos_q20", max(floor, float(np.quantile(conf, 0.2)))))
            rows += [(f"pool{p}", max(floor, pool_rule(neg, pos, p))) for p in (0.3, 0.5, 0.8)]
            print(
                f"  held-out learned phrasings: n={len(pos)} hit@1={right.mean():.3f} "
                f"confidence q10/q50={np.quantile(conf, 0.1):.3f}/{np.quantile(conf, 0.5):.3f}; "
                f"negatives q50/q90={np.quantile(neg, 0.5):.3f}/{np.quantile(neg, 0.9):.3f}"
            )
        conf = np.array(d.get("confirmed") or [])
        if len(conf):
            rejected = np.array(d.get("rejected") or [])
            guard = float(np.quantile(rejected, 0.9)) if len(rejected) else 0.0
            for q in (0.05, 0.075, 0.1):
                rule = min(float(np.quantile(neg, 0.9)), max(float(np.quantile(conf, q)), guard))
                rows.append((f"confirmed_q{q:g}", max(floor, rule)))
            # the order statistic at or above the true q-quantile with probability c (shipped: 0.05, 0.95)
            for q, c in ((0.05, 0.95), (0.05, 0.9), (0.1, 0.95)):
                bound = quantile_upper_bound(conf, q, c)
                rule = min(float(np.quantile(neg, 0.9)), max(bound, guard))
                rows.append((f"bound_q{q:g}_c{c:g}", max(floor, rule)))
            print(f"  confirmed fold: n={len(conf)}; rejected: n={len(rejected)} q90={guard:.3f}")
        for name, t in rows:
            p, cov, oos = test_at(test, t)
            print(f"   {name:17s} t={t:.3f}  P={p:.3f} C={cov:.3f} oos_abstained={oos:.3f}")
    print("fixed thresholds: precision/coverage per day")
    print("day " + " ".join(f"{t:>11.2f}" for t in FIXED))
    for d in days:
        cells = (test_at(d["test"], t) for t in FIXED)
        print(f"{d['day']:>3} " + " ".join(f"{p:5.3f}/{c:5.3f}" for p, c, _ in cells))


if __name__ == "__main__":
    main(sys.argv[1])
