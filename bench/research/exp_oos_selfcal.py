"""Can a FAQ calibrate its own abstention threshold? (research only)

The val-calibrated threshold moves with the number of phrasings per entry (CLINC150: 0.375 at 5,
0.425 at 10), so one fixed default cannot hold for every FAQ. Self-calibration: hold out one
phrasing of every entry that has 3 or more, tune a calibration embedder on the rest, score each
held-out phrasing against the rest (the shipped confidence: mean of tuned and base top), and take
the quantile that answers a target share of them. That threshold is then applied to the production
embedder (tuned on everything) on test in-scope and oos_val queries.
Usage: python bench/research/exp_oos_selfcal.py K [N_ENTRIES]   (production embedder tuned if missing)
"""

import random
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from common import build_faq, encode, load_data, minilm_path, queries  # noqa: E402
from exp_oos_candidates import product_scores  # noqa: E402

from retrieval.tune import tune_embedder  # noqa: E402


def confidence(model, Q, P, own, E):
    return 0.5 * product_scores(encode(model, Q), encode(model, P), own, E).max(1) + 0.5 * product_scores(
        encode("minilm", Q), encode("minilm", P), own, E
    ).max(1)


def tuned(dir_, phr, own, E):
    if not Path(dir_).exists():
        tune_embedder(minilm_path(), [[p for p, o in zip(phr, own) if o == e] for e in range(E)], dir_)
    return dir_


def main():
    k = int(sys.argv[1])
    n_entries = int(sys.argv[2]) if len(sys.argv) > 2 else 150
    d = load_data()
    names, _, _ = build_faq(d, k)
    if n_entries < len(names):
        names = sorted(random.Random(0).sample(names, n_entries))
    names, phr, own = build_faq(d, k, names)
    E = len(names)
    tag = f"k{k}_e{E}"
    prod = tuned(f"/tmp/research_cache/ft_{tag}", phr, own, E)
    last = {e: max(j for j in range(len(own)) if own[j] == e) for e in range(E) if (own == e).sum() >= 3}
    keep = np.array([j not in last.values() for j in range(len(own))])
    cphr, cown = [p for p, m in zip(phr, keep) if m], own[keep]
    cal = tuned(f"/tmp/research_cache/cal_{tag}", cphr, cown, E)
    held = [phr[j] for j in last.values()]
    held_conf = confidence(cal, held, cphr, cown, E)

    tq, ty = queries(d, "test", names)
    tq = [t for t, y in zip(tq, ty) if y >= 0]
    oq, _ = queries(d, "oos_val", names)
    vq, vy = queries(d, "val", names)
    vq = [t for t, y in zip(vq, vy) if y >= 0]
    conf = confidence(prod, tq + oq, phr, own, E)
    ins, oos = conf[: len(tq)], conf[len(tq) :]
    vconf = confidence(prod, vq, phr, own, E)
    print(
        f"{tag}: {len(held)} held-out phrasings; oracle@95 {float((oos < np.quantile(ins, 0.05)).mean()):.3f}"
    )
    rows = [("val-calibrated (ans 96% of val)", np.quantile(vconf, 0.04)), ("fixed default 0.378", 0.378)]
    for q in (0.90, 0.93, 0.95, 0.96, 0.98):
        rows.append((f"self-calibrated: answer {q:.0%} of held-out", float(np.quantile(held_conf, 1 - q))))
    for name, t in rows:
        print(
            f"  {name:42s} t={t:.3f} oos_abstain={float((oos < t).mean()):.3f} "
            f"answered={float((ins >= t).mean()):.3f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
