"""Ranking + abstention sweep over dense / lexical / fused scorers on CLINC150-as-FAQ.

Usage:  python bench/research/exp_rank.py --models minilm [--k 5] [--subset 50] [--tag name]
        --models minilm,mpnet   (ensembles are added when >1 model is given)
        --models /path/to/finetuned  (any local sentence-transformers folder)
Hyper-parameters (alpha, w, T) are tuned on val hit@1; abstention signal chosen by val/oos_train AUROC;
thresholds chosen on val/oos_train (rule ans96: answer 96% of val).  Everything reported on test/oos_val.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
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

OUT = Path(__file__).resolve().parent / "results"
OUT.mkdir(exist_ok=True)


# ----------------------------------------------------------------------------- BM25
def bm25_matrix(docs: list[str], qs: list[str], stop=True, k1=1.2, b=0.75) -> np.ndarray:
    import bm25s
    import Stemmer

    st = Stemmer.Stemmer("english")
    sw = "en" if stop else None
    r = bm25s.BM25(k1=k1, b=b)
    r.index(bm25s.tokenize(docs, stopwords=sw, stemmer=st, show_progress=False), show_progress=False)
    qt = bm25s.tokenize(qs, stopwords=sw, stemmer=st, return_ids=False, show_progress=False)
    return np.stack([r.get_scores(t) if len(t) else np.zeros(len(docs)) for t in qt]).astype(np.float64)


def norm_max(s: np.ndarray) -> np.ndarray:
    m = s.max(1, keepdims=True)
    return np.where(m > 0, s / np.where(m > 0, m, 1), 0.0)


def rrf(*mats, k=60):
    tot = 0
    for m in mats:
        r = (-m).argsort(1).argsort(1) + 1
        tot = tot + 1.0 / (k + r)
    return tot


# ----------------------------------------------------------------------------- evaluation
def evaluate(name, S_tune, S_eval, y_tune, y_eval, extra=None, rule="ans96"):
    """S_*: (Q,E) score matrices with in-scope rows (y>=0) and OOS rows (y==-1)."""
    res = {"method": name, **rank_metrics(S_eval, y_eval)}
    res["val_hit@1"] = rank_metrics(S_tune, y_tune)["hit@1"]
    ct, ce = conf_signals(S_tune), conf_signals(S_eval)
    if extra:  # extra signals computed elsewhere: {sig: (tune_vec, eval_vec)}
        for k, (a, b) in extra.items():
            ct[k], ce[k] = a, b
    it, ot = y_tune >= 0, y_tune < 0
    ie, oe = y_eval >= 0, y_eval < 0
    aucs = {k: auroc(ct[k][it], ct[k][ot]) for k in ct}
    best = max(aucs, key=aucs.get)
    t = pick_threshold(ct[best][it], ct[best][ot], rule)
    res.update(
        {
            "abst_signal": best,
            "val_auroc": aucs[best],
            "threshold": t,
            **abstain_metrics(ce[best][ie], ce[best][oe], t),
        }
    )
    res["test_auroc"] = auroc(ce[best][ie], ce[best][oe])
    res["all_signals"] = {}
    for k in ct:
        tk = pick_threshold(ct[k][it], ct[k][ot], rule)
        res["all_signals"][k] = {
            "val_auroc": aucs[k],
            "threshold": tk,
            **abstain_metrics(ce[k][ie], ce[k][oe], tk),
        }
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="minilm")
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--tag", default="")
    ap.add_argument("--quick", action="store_true", help="only baseline + best variants")
    a = ap.parse_args()
    data = load_data()
    names, phr, owner = build_faq(data, a.k)
    E = len(names)
    vq, vy = queries(data, "val", names)
    oq, _ = queries(data, "oos_train", names)
    tq, ty = queries(data, "test", names)
    eq, _ = queries(data, "oos_val", names)
    tune_q, tune_y = vq + oq, np.concatenate([vy, -np.ones(len(oq), int)])
    eval_q, eval_y = tq + eq, np.concatenate([ty, -np.ones(len(eq), int)])

    models = a.models.split(",")
    sims = {}
    t0 = time.time()
    for m in models:
        P = encode(m, phr)
        Qt, Qe = encode(m, tune_q), encode(m, eval_q)
        sims[m] = (Qt @ P.T, Qe @ P.T, Qt, Qe, P)
    print(f"encoded in {time.time() - t0:.1f}s", flush=True)

    rows = []

    def add(r):
        rows.append(r)
        print(
            f"{r['method']:<42} hit@1={r['hit@1']:.4f} hit@5={r['hit@5']:.4f} MRR={r['MRR']:.4f} "
            f"oos_abst={r['oos_abstain']:.3f} ans={r['in_scope_answered']:.3f} ({r['abst_signal']}) "
            f"val_hit@1={r['val_hit@1']:.4f}",
            flush=True,
        )

    def tune(fn, grid):
        best, bp = -1, None
        for p in grid:
            h = rank_metrics(fn(0, p), tune_y)["hit@1"]
            if h > best:
                best, bp = h, p
        return bp

    dense = {}
    for m in models:
        st, se, Qt, Qe, P = sims[m]
        tag = Path(m).name
        mats = {}
        for how in ["max", "mean", "top2"]:
            mats[how] = (aggregate(st, owner, E, how), aggregate(se, owner, E, how))
            add(evaluate(f"{tag}:dense_{how}", *mats[how], tune_y, eval_y))
        Tgrid = [0.01, 0.02, 0.03, 0.05, 0.08, 0.12]
        cache = {}

        def lse(i, T):
            key = (i, T)
            if key not in cache:
                cache[key] = aggregate([st, se][i], owner, E, "lse", T=T)
            return cache[key]

        T = tune(lse, Tgrid)
        mats["lse"] = (lse(0, T), lse(1, T))
        add(evaluate(f"{tag}:dense_lse(T={T})", *mats["lse"], tune_y, eval_y))
        cen = (centroid_scores(Qt, P, owner, E), centroid_scores(Qe, P, owner, E))
        add(evaluate(f"{tag}:centroid", *cen, tune_y, eval_y))
        al = tune(lambda i, al: mats["max"][i] + al * cen[i], [0.25, 0.5, 0.75, 1.0, 1.5, 2.0])
        mats["max+cen"] = (mats["max"][0] + al * cen[0], mats["max"][1] + al * cen[1])
        add(evaluate(f"{tag}:max+{al}*centroid", *mats["max+cen"], tune_y, eval_y))
        al2 = tune(lambda i, al: mats["lse"][i] + al * cen[i], [0.25, 0.5, 0.75, 1.0, 1.5])
        mats["lse+cen"] = (mats["lse"][0] + al2 * cen[0], mats["lse"][1] + al2 * cen[1])
        add(evaluate(f"{tag}:lse(T={T})+{al2}*centroid", *mats["lse+cen"], tune_y, eval_y))
        dense[tag] = mats

    # ---------------------------------------------------------------- BM25
    bm = {}
    for stop in [True, False]:
        bt = bm25_matrix(phr, tune_q, stop)
        be = bm25_matrix(phr, eval_q, stop)
        bm[("phr", stop)] = (aggregate(bt, owner, E, "max"), aggregate(be, owner, E, "max"))
        cat = [" ".join(p for p, o in zip(phr, owner) if o == e) for e in range(E)]
        bm[("cat", stop)] = (bm25_matrix(cat, tune_q, stop), bm25_matrix(cat, eval_q, stop))
    for (kind, stop), (a1, a2) in bm.items():
        add(evaluate(f"bm25_{kind}{'_stop' if stop else ''}", a1, a2, tune_y, eval_y))
    bkey = max(bm, key=lambda k: rank_metrics(bm[k][0], tune_y)["hit@1"])
    bsel = (norm_max(bm[bkey][0]), norm_max(bm[bkey][1]))
    bname = f"bm25_{bkey[0]}{'_stop' if bkey[1] else ''}"
    # ---------------------------------------------------------------- ensembles
    if len(dense) > 1:
        tags = list(dense)
        for base in ["max", "lse+cen"]:
            mix = tuple(sum(dense[t][base][i] for t in tags) / len(tags) for i in (0, 1))
            add(evaluate(f"ens({'+'.join(tags)}):{base}", *mix, tune_y, eval_y))
            dense["ens:" + base] = {base: mix}
    # ---------------------------------------------------------------- fusion
    for tag, mats in dense.items():
        for base in [b for b in ["max", "lse+cen"] if b in mats]:
            d = mats[base]
            w = tune(lambda i, w: d[i] + w * bsel[i], [0.02, 0.05, 0.08, 0.1, 0.15, 0.2, 0.3])
            fz = (d[0] + w * bsel[0], d[1] + w * bsel[1])
            # abstention for fusion: also offer the dense-only signals as candidates
            cd_t, cd_e = conf_signals(d[0]), conf_signals(d[1])
            extra = {f"dense_{k}": (cd_t[k], cd_e[k]) for k in cd_t}
            add(evaluate(f"{tag}:{base}+{w}*{bname}", *fz, tune_y, eval_y, extra))
            r = (rrf(d[0], bsel[0]), rrf(d[1], bsel[1]))
            add(evaluate(f"{tag}:RRF({base},{bname})", *r, tune_y, eval_y, extra))

    out = OUT / f"rank_{a.tag or '_'.join(Path(m).name for m in models)}_k{a.k}.json"
    json.dump(rows, open(out, "w"), indent=1)
    print("wrote", out)


if __name__ == "__main__":
    main()
