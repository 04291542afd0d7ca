"""Base-embedder confidence restricted to the tuned ranking's candidates (research only).

The shipped confidence averages the tuned top score with the base embedder's top score over the
whole FAQ, which costs a second full scoring pass (about 15 ms at 100k chunks). Is the base score of
the tuned ranking's own candidates as good a signal? Reports, per confidence: the oracle
oos_abstain at 95% answered on test, and the val-calibrated result (threshold answering 96% of val
in-scope, applied to test in-scope and oos_val).
Usage: python bench/research/exp_oos_candidates.py [k] [--tuned DIR]  (DIR made if missing)
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import aggregate, auroc, build_faq, centroid_scores, encode, load_data, minilm_path, queries  # noqa: E402


def product_scores(Q, P, own, E):
    return (aggregate(Q @ P.T, own, E, "lse", T=0.05) + 0.5 * centroid_scores(Q, P, own, E)) / 1.5


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    tuned_dir = (
        sys.argv[sys.argv.index("--tuned") + 1] if "--tuned" in sys.argv else "/tmp/research_cache/ft_auto"
    )
    if tuned_dir in args:
        args.remove(tuned_dir)
    k = int(args[0]) if args else 5
    d = load_data()
    names, phr, own = build_faq(d, k)
    E = len(names)
    tq, ty = queries(d, "test", names)
    oq, _ = queries(d, "oos_val", names)
    vq, _ = queries(d, "val", names)
    voq, _ = queries(d, "oos_train", names)
    texts = tq + oq + vq + voq
    n1, n2, n3 = len(tq), len(tq) + len(oq), len(tq) + len(oq) + len(vq)
    if not Path(tuned_dir).exists():
        sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
        from retrieval.tune import tune_embedder

        tune_embedder(minilm_path(), [[p for p, o in zip(phr, own) if o == e] for e in range(E)], tuned_dir)
    Sb = product_scores(encode("minilm", texts), encode("minilm", phr), own, E)
    St = product_scores(encode(tuned_dir, texts), encode(tuned_dir, phr), own, E)
    order = np.argsort(-St, axis=1)
    print(f"tuned hit@1={float((St[:n1].argmax(1) == ty).mean()):.4f}")

    def report(name, conf):
        ins, oos, vins = conf[:n1], conf[n1:n2], conf[n2:n3]
        t95 = np.quantile(ins, 0.05)
        tv = np.quantile(vins, 0.04)
        print(
            f"{name:44s} auroc={auroc(ins, oos):.4f} oracle@95={float((oos < t95).mean()):.3f} "
            f"| val threshold {tv:.3f}: oos_abstain={float((oos < tv).mean()):.3f} "
            f"answered={float((ins >= tv).mean()):.3f}",
            flush=True,
        )

    rows = np.arange(len(texts))
    report("tuned top only", St.max(1))
    report("base top only", Sb.max(1))
    for a in (0.4, 0.5, 0.6):
        report(f"{1 - a:.1f} tuned + {a} base top (all entries)", (1 - a) * St.max(1) + a * Sb.max(1))
    for a in (0.4, 0.5, 0.6):
        report(
            f"{1 - a:.1f} tuned + {a} base of tuned top-1", (1 - a) * St.max(1) + a * Sb[rows, order[:, 0]]
        )
    for c in (3, 5, 10, 20):
        cand = np.take_along_axis(Sb, order[:, :c], axis=1).max(1)
        report(f"0.5 tuned + 0.5 base max over tuned top-{c}", 0.5 * St.max(1) + 0.5 * cand)


if __name__ == "__main__":
    main()
