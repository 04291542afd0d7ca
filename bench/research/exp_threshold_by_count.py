"""Does the abstention threshold depend on how many phrasings the matched entry has? (research only)

The val-calibrated threshold of the shipped confidence rises with phrasings per entry (CLINC150,
150 entries: 0.375 at 5, 0.425 at 10, 0.439 at 20; exp_oos_candidates.py). Here every entry gets
its own count (3-15 train utterances, seeded), one embedder is tuned on that mixed FAQ, and the
threshold answering 96% of val is measured per count of the matched entry and fitted as
a + b * ln(n). The fit is then checked on the uniform FAQs (k = 5, 10, 20) against their own
test and oos_val queries.
Usage: python bench/research/exp_threshold_by_count.py
"""

import random
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from common import build_faq, encode, load_data, queries  # noqa: E402
from exp_oos_candidates import product_scores  # noqa: E402
from exp_oos_selfcal import tuned  # noqa: E402


def scored(model, texts, phr, own, E):
    St = product_scores(encode(model, texts), encode(model, phr), own, E)
    Sb = product_scores(encode("minilm", texts), encode("minilm", phr), own, E)
    return St.argmax(1), 0.5 * St.max(1) + 0.5 * Sb.max(1)


def main():
    d = load_data()
    names, _, _ = build_faq(d, 20)
    rng = random.Random(0)
    counts = {n: rng.randint(3, 15) for n in names}
    full_names, full_phr, full_own = build_faq(d, 15)
    phr, own = [], []
    for e, n in enumerate(full_names):
        mine = [p for p, o in zip(full_phr, full_own) if o == e][: counts[n]]
        phr += mine
        own += [e] * len(mine)
    own = np.array(own)
    E = len(full_names)
    model = tuned("/tmp/research_cache/ft_mixed3-15", phr, own, E)
    n_of = np.bincount(own, minlength=E)
    vq, vy = queries(d, "val", full_names)
    top, conf = scored(model, vq, phr, own, E)
    xs, ys = [], []
    for lo, hi in ((3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 15)):
        m = (n_of[top] >= lo) & (n_of[top] <= hi)
        t = float(np.quantile(conf[m], 0.04))
        print(f"matched entry has {lo}-{hi} phrasings: {m.sum():4d} val queries, threshold {t:.3f}")
        xs.append(np.log((lo + hi) / 2))
        ys.append(t)
    b, a = np.polyfit(xs, ys, 1)
    print(
        f"fit: t(n) = {a:.3f} + {b:.3f} ln n   (t(5)={a + b * np.log(5):.3f}, t(10)={a + b * np.log(10):.3f})"
    )
    tq, ty = queries(d, "test", full_names)
    oq, _ = queries(d, "oos_val", full_names)
    top, conf = scored(model, tq + oq, phr, own, E)
    t = a + b * np.log(n_of[top])
    t_flat = float(np.quantile(scored(model, vq, phr, own, E)[1], 0.04))
    n = len(tq)
    for name, th in (("mixed FAQ, t(n)", t), (f"mixed FAQ, flat {t_flat:.3f}", t_flat)):
        ok = conf >= th
        print(f"{name:36s} oos_abstain={float((~ok[n:]).mean()):.3f} answered={float(ok[:n].mean()):.3f}")
    for k in (5, 10, 20):
        _, kphr, kown = build_faq(d, k)
        top, conf = scored(f"/tmp/research_cache/ft_k{k}", tq + oq, kphr, kown, E)
        th = a + b * np.log(np.bincount(kown, minlength=E)[top])
        ok = conf >= th
        print(
            f"uniform k={k:2d}, t(n)={float(np.mean(th)):.3f}       oos_abstain={float((~ok[n:]).mean()):.3f} "
            f"answered={float(ok[:n].mean()):.3f}"
        )


if __name__ == "__main__":
    main()
