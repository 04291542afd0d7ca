"""Diagnostic only (NOT a tuned figure): best oos_abstain reachable on test/oos_val at in_scope_answered>=0.95,
for the top-score signal of a recipe, i.e. the ceiling any threshold rule could reach.
Usage: python bench/research/oracle_abstain.py MODEL [k] [T alpha w]"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import aggregate, build_faq, centroid_scores, encode, load_data, queries  # noqa
from exp_rank import bm25_matrix, norm_max  # noqa

m = sys.argv[1]
k = int(sys.argv[2]) if len(sys.argv) > 2 else 5
T, al, w = (float(x) for x in sys.argv[3:6]) if len(sys.argv) > 5 else (None, 0, 0)
d = load_data()
names, phr, own = build_faq(d, k)
E = len(names)
tq, ty = queries(d, "test", names)
eq, _ = queries(d, "oos_val", names)
P, Q = encode(m, phr), encode(m, tq + eq)
S = (
    aggregate(Q @ P.T, own, E, "max")
    if T is None
    else aggregate(Q @ P.T, own, E, "lse", T=T) + al * centroid_scores(Q, P, own, E)
)
if w:
    cat = [" ".join(p for p, o in zip(phr, own) if o == e) for e in range(E)]
    S = S + w * norm_max(bm25_matrix(cat, tq + eq, True))
top = S.max(1)
ins, oos = top[: len(tq)], top[len(tq) :]
t = np.quantile(ins, 0.05)
print(f"ORACLE {Path(m).name} k={k}: at answered={np.mean(ins >= t):.3f} oos_abstain={np.mean(oos < t):.3f}")
