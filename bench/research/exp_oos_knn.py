"""k-th nearest phrasing as an out-of-scope signal (research only; Sun et al., "Out-of-Distribution
Detection with Deep Nearest Neighbors", ICML 2022), alone and mixed with the shipped confidence.
Usage: python bench/research/exp_oos_knn.py [k] [--tuned DIR]  (DIR from exp_oos_candidates.py)
"""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import build_faq, encode, load_data, queries  # noqa: E402
from exp_oos_candidates import product_scores  # noqa: E402


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    tuned_dir = sys.argv[sys.argv.index("--tuned") + 1] if "--tuned" in sys.argv else "/tmp/research_cache/ft_k5"
    if tuned_dir in args:
        args.remove(tuned_dir)
    k = int(args[0]) if args else 5
    d = load_data()
    names, phr, own = build_faq(d, k)
    E = len(names)
    tq, ty = queries(d, "test", names)
    oq, _ = queries(d, "oos_val", names)
    vq, _ = queries(d, "val", names)
    texts = tq + oq + vq
    n1, n2 = len(tq), len(tq) + len(oq)

    def report(name, conf):
        ins, oos, vins = conf[:n1], conf[n1:n2], conf[n2:]
        t95, tv = np.quantile(ins, 0.05), np.quantile(vins, 0.04)
        print(f"{name:44s} oracle@95={float((oos < t95).mean()):.3f} | val-calibrated: "
              f"oos_abstain={float((oos < tv).mean()):.3f} answered={float((ins >= tv).mean()):.3f}", flush=True)

    Qb, Pb = encode("minilm", texts), encode("minilm", phr)
    Qt, Pt = encode(tuned_dir, texts), encode(tuned_dir, phr)
    shipped = 0.5 * product_scores(Qt, Pt, own, E).max(1) + 0.5 * product_scores(Qb, Pb, own, E).max(1)
    report("shipped (0.5 tuned + 0.5 base top)", shipped)
    for name, Q, P in (("base", Qb, Pb), ("tuned", Qt, Pt)):
        srt = -np.sort(-(Q @ P.T), axis=1)
        for kk in (1, 2, 3, 5, 10, 20):
            report(f"{name} {kk}-th nearest phrasing", srt[:, kk - 1])
        for kk in (3, 5, 10):
            report(f"{name} mean of {kk} nearest", srt[:, :kk].mean(1))
    sb = -np.sort(-(Qb @ Pb.T), axis=1)
    st = -np.sort(-(Qt @ Pt.T), axis=1)
    for kk in (3, 5, 10):
        report(f"shipped + base&tuned {kk}-th nearest (avg)", (shipped + 0.5 * (sb[:, kk - 1] + st[:, kk - 1])) / 2)
        report(f"0.5 tuned {kk}-th + 0.5 base {kk}-th", 0.5 * (sb[:, kk - 1] + st[:, kk - 1]))


if __name__ == "__main__":
    main()
