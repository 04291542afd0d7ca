"""Entry aggregation when entries have different numbers of phrasings (research only).

Learning gives some entries many learned phrasings and others few. The shipped smoothed max,
T * log(mean(exp(cos / T))), subtracts about T * log(n / k) from an entry whose n phrasings hold k
close to the question, so an entry taught more loses against one taught less when the question
matches one of its phrasings. This compares aggregators on CLINC150 as an FAQ whose entries have a
seeded random count of phrasings (3..MAX) against the same at a uniform count.

Usage: .venv/bin/python bench/research/exp_phrasing_counts.py [--max 15] [--seeds 0,1,2]
Reports hit@1 on test and, for the abstention, the coverage at precision >= 0.90 with the
threshold chosen on val + oos_train (the lowest with precision >= 0.90 there) and applied to
test + oos_val.
"""

from __future__ import annotations

import argparse
import sys
from collections import OrderedDict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import encode, load_data  # noqa: E402

T = 0.05
CENTROID = 0.5


def faq(data, counts: dict[str, int]):
    per: OrderedDict[str, list[str]] = OrderedDict()
    for text, intent in data["train"]:
        per.setdefault(intent, [])
        if len(per[intent]) < counts[intent]:
            per[intent].append(text)
    names = sorted(per)
    phr, owner = [], []
    for i, n in enumerate(names):
        phr += per[n]
        owner += [i] * len(per[n])
    return names, phr, np.array(owner)


def splits(data) -> tuple[list[str], list[str], list[str], list[str], list[str], list[str]]:
    """(val texts, val intents, test texts, test intents, oos_train texts, oos_val texts)."""
    vt, vl = zip(*data["val"])
    tt, tl = zip(*data["test"])
    oos_tr = [t for t, _ in data["oos_train"]]
    return list(vt), list(vl), list(tt), list(tl), oos_tr, [t for t, _ in data["oos_val"]]


def scores(q: np.ndarray, p: np.ndarray, owner: np.ndarray, n: int, how: str) -> np.ndarray:
    sim = q @ p.T
    out = np.empty((len(q), n))
    cents = np.stack([p[owner == e].sum(0) for e in range(n)])
    cents /= np.linalg.norm(cents, axis=1, keepdims=True)
    cent = q @ cents.T
    for e in range(n):
        s = sim[:, owner == e]
        m = s.max(1, keepdims=True)
        ex = np.exp((s - m) / T)
        c = s.shape[1]
        if how == "mean":  # shipped
            agg = m[:, 0] + T * np.log(ex.mean(1))
        elif how == "max":
            agg = m[:, 0]
        elif how.startswith("top"):  # smoothed max over the k closest phrasings only
            k = min(int(how[3:]), c)
            top = np.sort(ex, 1)[:, -k:]
            agg = m[:, 0] + T * np.log(top.mean(1))
        elif how.startswith("cap"):  # mean over min(n, k): extra phrasings no longer dilute
            k = min(int(how[3:]), c)
            agg = m[:, 0] + T * np.log(ex.sum(1) / k)
            agg = np.minimum(agg, m[:, 0])  # never above the best phrasing
        else:
            raise ValueError(how)
        out[:, e] = agg
    return (out + CENTROID * cent) / (1 + CENTROID)


def evaluate(s_val, y_val, s_oos_tr, s_test, y_test, s_oos):
    def pr(s, y, s_o, t):
        top, arg = s.max(1), s.argmax(1)
        ans = top >= t
        right = (ans & (arg == y)).sum()
        wrong = (ans & (arg != y)).sum() + (s_o.max(1) >= t).sum()
        return right / max(right + wrong, 1), right / len(y)

    grid = np.unique(np.r_[s_val.max(1), s_oos_tr.max(1)])
    t_pick = grid[-1]
    for t in grid:  # lowest with precision >= 0.9 on val
        p, _ = pr(s_val, y_val, s_oos_tr, t)
        if p >= 0.9:
            t_pick = t
            break
    p, c = pr(s_test, y_test, s_oos, t_pick)
    return float((s_test.argmax(1) == y_test).mean()), p, c


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--max", type=int, default=15)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--hows", default="mean,max,top3,top5,cap3,cap5")
    ap.add_argument("--model", default="minilm")
    args = ap.parse_args()
    data = load_data()
    intents = sorted({i for _, i in data["train"]})
    vt, vl, tt, tl, oos_tr, oos = splits(data)
    q_val, q_test, q_oos_tr, q_oos = (encode(args.model, x) for x in (vt, tt, oos_tr, oos))
    layouts = [("uniform 3", {i: 3 for i in intents}), ("uniform 10", {i: 10 for i in intents})]
    for seed in map(int, args.seeds.split(",")):
        rng = np.random.default_rng(seed)
        layouts.append(
            (f"mixed 3..{args.max} seed {seed}", {i: int(rng.integers(3, args.max + 1)) for i in intents})
        )
    for name, counts in layouts:
        names, phr, owner = faq(data, counts)
        idx = {n: i for i, n in enumerate(names)}
        p = encode(args.model, phr)
        y_val, y_test = np.array([idx[l] for l in vl]), np.array([idx[l] for l in tl])
        for how in args.hows.split(","):
            s = [scores(q, p, owner, len(names), how) for q in (q_val, q_oos_tr, q_test, q_oos)]
            hit1, prec, cov = evaluate(s[0], y_val, s[1], s[2], y_test, s[3])
            # hit@1 split by the right entry's phrasing count: does a taught entry lose?
            n_right = np.array([counts[names[y]] for y in y_test])
            right = s[2].argmax(1) == y_test
            lo, hi = (
                right[n_right <= 6].mean() if (n_right <= 6).any() else float("nan"),
                right[n_right >= 11].mean() if (n_right >= 11).any() else float("nan"),
            )
            print(
                f"{name:22s} {how:5s} hit@1 {hit1:.4f}  P {prec:.3f} C {cov:.3f}  hit@1 by count <=6 {lo:.3f} >=11 {hi:.3f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
