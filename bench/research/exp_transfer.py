"""One recipe, full evaluation: ranking on the 150-entry FAQ, abstention thresholds tuned on val/oos_train,
then the SAME thresholds applied unchanged to a random 50-intent FAQ (its own test queries as in-scope;
oos_val as OOS; the other 100 intents' test queries reported separately as 'unknown-intent' OOS).

Usage:
  python bench/research/exp_transfer.py --model150 minilm --model50 minilm --recipe max
  python bench/research/exp_transfer.py --model150 /tmp/research_cache/ft_... --model50 /tmp/research_cache/ft_..._sub50-0 \
        --recipe fused --T 0.08 --alpha 1.5 --w 0.3
  recipes: max (baseline), fused = lse(T) + alpha*centroid + w*BM25(per-entry concatenation, stop+stem, max-normalised)
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    abstain_metrics,
    aggregate,
    auroc,
    build_faq,
    centroid_scores,
    conf_signals,
    encode,  # noqa
    load_data,
    pick_threshold,
    queries,
    rank_metrics,
)
from exp_rank import bm25_matrix, norm_max  # noqa

OUT = Path(__file__).resolve().parent / "results"


def score(model, phr, owner, E, qs, a):
    P, Q = encode(model, phr), encode(model, qs)
    s = Q @ P.T
    if a.recipe == "max":
        S = aggregate(s, owner, E, "max")
        return S, S
    dense = aggregate(s, owner, E, "lse", T=a.T) + a.alpha * centroid_scores(Q, P, owner, E)
    S = dense
    if a.w:
        cat = [" ".join(p for p, o in zip(phr, owner) if o == e) for e in range(E)]
        S = dense + a.w * norm_max(bm25_matrix(cat, qs, True))
    return S, dense


def signals(S, D):
    c = conf_signals(S)
    d = conf_signals(D)
    out = {
        "top": c["top"],
        "margin": c["margin"],
        "z": c["z"],
        "dense_top": d["top"],
        "dense_margin": d["margin"],
    }
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model150", default="minilm")
    ap.add_argument("--model50", default="minilm")
    ap.add_argument("--recipe", default="max")
    ap.add_argument("--T", type=float, default=0.08)
    ap.add_argument("--alpha", type=float, default=1.5)
    ap.add_argument("--w", type=float, default=0.3)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--subset-seed", type=int, default=0)
    ap.add_argument("--tag", default="")
    a = ap.parse_args()
    data = load_data()
    names, phr, owner = build_faq(data, a.k)
    E = len(names)
    vq, vy = queries(data, "val", names)
    oq, _ = queries(data, "oos_train", names)
    tq, ty = queries(data, "test", names)
    eq, _ = queries(data, "oos_val", names)
    St, Dt = score(a.model150, phr, owner, E, vq + oq, a)
    Se, De = score(a.model150, phr, owner, E, tq + eq, a)
    y_t = np.r_[vy, -np.ones(len(oq), int)]
    y_e = np.r_[ty, -np.ones(len(eq), int)]
    res = {"args": vars(a), "full150": rank_metrics(Se, y_e), "val150_hit@1": rank_metrics(St, y_t)["hit@1"]}
    ct, ce = signals(St, Dt), signals(Se, De)
    it, ot, ie, oe = y_t >= 0, y_t < 0, y_e >= 0, y_e < 0
    # logistic calibration on val/oos_train over all signals
    from sklearn.linear_model import LogisticRegression

    keys = list(ct)
    Xt = np.stack([ct[k] for k in keys], 1)
    lr = LogisticRegression(class_weight="balanced", C=1.0, max_iter=2000).fit(Xt, it.astype(int))
    ct["logit"] = lr.decision_function(Xt)
    ce["logit"] = lr.decision_function(np.stack([ce[k] for k in keys], 1))
    res["logit_coef"] = dict(zip(keys, lr.coef_[0].round(3).tolist())) | {"bias": float(lr.intercept_[0])}
    thr = {}
    res["abstain150"] = {}
    for k in ct:
        for rule in ["ans96", "youden"]:
            t = pick_threshold(ct[k][it], ct[k][ot], rule)
            thr[(k, rule)] = t
            res["abstain150"][f"{k}/{rule}"] = {
                "threshold": t,
                "val_auroc": auroc(ct[k][it], ct[k][ot]),
                "test_auroc": auroc(ce[k][ie], ce[k][oe]),
                **abstain_metrics(ce[k][ie], ce[k][oe], t),
            }
    # ---------------- 50-intent FAQ, thresholds frozen
    sel = sorted(random.Random(a.subset_seed).sample(names, 50))
    n2, p2, o2 = build_faq(data, a.k, sel)
    q2, y2 = queries(data, "test", n2)
    S2, D2 = score(a.model50, p2, o2, 50, q2 + eq, a)
    y2e = np.r_[y2, -np.ones(len(eq), int)]
    c2 = signals(S2, D2)
    c2["logit"] = lr.decision_function(np.stack([c2[k] for k in keys], 1))
    ins, unk = y2 >= 0, y2 < 0
    n_q = len(q2)
    res["sub50"] = rank_metrics(S2, y2e)
    res["abstain50"] = {}
    for (k, rule), t in thr.items():
        sig = c2[k]
        res["abstain50"][f"{k}/{rule}"] = {
            "in_scope_answered": float((sig[:n_q][ins] >= t).mean()),
            "oos_abstain": float((sig[n_q:] < t).mean()),
            "other_intent_abstain": float((sig[:n_q][unk] < t).mean()),
        }
    out = OUT / f"transfer_{a.tag or a.recipe}.json"
    json.dump(res, open(out, "w"), indent=1)
    f = res["full150"]
    print(
        f"150: hit@1={f['hit@1']:.4f} hit@5={f['hit@5']:.4f} MRR={f['MRR']:.4f} | 50: hit@1={res['sub50']['hit@1']:.4f} "
        f"hit@5={res['sub50']['hit@5']:.4f} MRR={res['sub50']['MRR']:.4f}"
    )
    print(
        f"{'signal/rule':<22}{'thr':>8}{'valAUC':>8}{'tstAUC':>8} | 150: {'abst':>6}{'ans':>6} | 50: {'abst':>6}{'ans':>6}{'unkInt':>7}"
    )
    for key, r in res["abstain150"].items():
        r5 = res["abstain50"][key]
        print(
            f"{key:<22}{r['threshold']:8.3f}{r['val_auroc']:8.3f}{r['test_auroc']:8.3f} | {r['oos_abstain']:10.3f}"
            f"{r['in_scope_answered']:6.3f} | {r5['oos_abstain']:9.3f}{r5['in_scope_answered']:6.3f}"
            f"{r5['other_intent_abstain']:7.3f}"
        )
    print("logit coef", res["logit_coef"])
    print("wrote", out)


if __name__ == "__main__":
    main()
