"""Out-of-scope signals beyond the top cosine (research only).

For each signal: AUROC (test in-scope vs oos_val) and the oracle oos_abstain at 95% of in-scope
answered (a ceiling for any threshold on that signal), plus the hit@1 of the ranking it implies.
Usage: python bench/research/exp_oos.py [MODEL] [k] [--tuned DIR]
With --tuned (a folder from retrieval.tune.tune_embedder on the same k phrasings, made if missing):
the tuned embedder, and tuned ranking with the confidence mixed from the tuned and base top scores.
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import aggregate, auroc, build_faq, centroid_scores, encode, load_data, queries  # noqa: E402


def oracle(ins, oos, answered=0.95):
    t = np.quantile(ins, 1 - answered)
    return float((oos < t).mean())


def whiten_fit(P, shrink):
    mu = P.mean(0)
    X = P - mu
    C = X.T @ X / len(X)
    C = (1 - shrink) * C + shrink * np.trace(C) / C.shape[0] * np.eye(C.shape[0])
    w, V = np.linalg.eigh(C)
    W = V @ np.diag(w**-0.5) @ V.T
    return mu, W


def norm(X):
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    tuned_dir = sys.argv[sys.argv.index("--tuned") + 1] if "--tuned" in sys.argv else None
    if tuned_dir:
        args.remove(tuned_dir)
    m = args[0] if args else "minilm"
    k = int(args[1]) if len(args) > 1 else 5
    d = load_data()
    names, phr, own = build_faq(d, k)
    E = len(names)
    tq, ty = queries(d, "test", names)
    oq, _ = queries(d, "oos_val", names)
    P = encode(m, phr)
    Q = encode(m, tq + oq)
    n = len(tq)

    def report(name, S, conf=None):
        top = S.max(1) if conf is None else conf
        hit1 = float((S[:n].argmax(1) == ty).mean())
        print(
            f"{name:48s} hit@1={hit1:.4f} auroc={auroc(top[:n], top[n:]):.4f} "
            f"oracle_oos@95={oracle(top[:n], top[n:]):.3f}",
            flush=True,
        )

    sim = Q @ P.T
    base = aggregate(sim, own, E, "max")
    report("max cosine", base)
    prod = aggregate(sim, own, E, "lse", T=0.05) + 0.5 * centroid_scores(Q, P, own, E)
    report("lse+0.5 centroid", prod)

    if tuned_dir:
        if not Path(tuned_dir).exists():
            sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
            from common import minilm_path

            from retrieval.tune import tune_embedder

            tune_embedder(
                minilm_path(), [[p for p, o in zip(phr, own) if o == e] for e in range(E)], tuned_dir
            )
        Pt, Qt = encode(tuned_dir, phr), encode(tuned_dir, tq + oq)
        tuned = aggregate(Qt @ Pt.T, own, E, "lse", T=0.05) + 0.5 * centroid_scores(Qt, Pt, own, E)
        report("tuned lse+0.5 centroid", tuned)
        for a in (0.3, 0.5, 0.6):
            report(
                f"tuned rank, conf {a} base + {1 - a:.1f} tuned top",
                tuned,
                a * prod.max(1) + (1 - a) * tuned.max(1),
            )

    for shrink in (0.1, 0.3, 0.5, 0.7):
        mu, W = whiten_fit(P, shrink)
        Pw, Qw = norm((P - mu) @ W), norm((Q - mu) @ W)
        simw = Qw @ Pw.T
        report(f"whitened(shrink={shrink}) max", aggregate(simw, own, E, "max"))
        Sw = aggregate(simw, own, E, "lse", T=0.05) + 0.5 * centroid_scores(Qw, Pw, own, E)
        report(f"whitened(shrink={shrink}) lse+cent", Sw)
        report("  mix prod + whitened", prod + Sw)

    # Mahalanobis to class means with a shared (shrunk) covariance
    means = np.stack([P[own == e].mean(0) for e in range(E)])
    Xc = P - means[own]
    C = Xc.T @ Xc / len(Xc)
    for shrink in (0.2, 0.5, 0.8):
        Cs = (1 - shrink) * C + shrink * np.trace(C) / C.shape[0] * np.eye(C.shape[0])
        Ci = np.linalg.inv(Cs)
        qa = np.einsum("qd,de,qe->q", Q, Ci, Q)[:, None]
        ma = np.einsum("ed,df,ef->e", means, Ci, means)[None, :]
        D = qa - 2 * Q @ Ci @ means.T + ma
        report(f"mahalanobis(shrink={shrink})", -D)

    # residual outside the FAQ's principal subspace
    mu = P.mean(0)
    U, s, Vt = np.linalg.svd(P - mu, full_matrices=False)
    for r in (32, 64, 128, 256):
        V = Vt[:r]
        X = Q - mu
        res = np.linalg.norm(X - (X @ V.T) @ V, axis=1)
        top = prod.max(1)
        for beta in (0.5, 1.0, 2.0):
            report(f"prod top - {beta}*residual(r={r})", prod, top - beta * res)


if __name__ == "__main__":
    main()
