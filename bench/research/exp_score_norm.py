"""Research (issue 15): does normalising the top score by its cohorts separate right answers from
wrong ones better than the raw score? (score normalisation as in speaker verification: Z-, T- and
adaptive S-norm, Matejka et al. 2017; no product change)

The product answers when the top entry's score clears one threshold for the whole FAQ. But entries
differ: a short, general entry ("how do I apply?") or one with close siblings draws other entries'
questions at high scores, a specific one does not; and questions differ: a vague one ("what do I
need to do?") scores high against everything. Both are visible without labels:

- entry side (Z-norm): each entry's impostor scores, the scores the FAQ's *other* entries' own
  questions (question and alternatives) get against it; mean and spread of its top K;
- question side (T-norm): the question's scores against every entry but its top one; mean and
  spread of the top K of those;
- S-norm: the mean of the two z-scores.

For each set, the shipped ranking (`now`, bench/research/product_index.py), and per confidence the
AUROC of right answers against every other top (wrong entry, or an out-of-scope question), and the
highest coverage any threshold on the test itself reaches at precision 0.9 / 0.8 (a bound, as in
exp_oracle_now.py: what separation allows, before any calibration). Ranking unchanged except in
the `rerank` rows, where every entry's S-normalised score ranks.

    .venv/bin/python bench/research/exp_score_norm.py --data /tmp/sets --sets chitchat_fr,hint3_powerplay11_en
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from product_index import imported_now  # noqa: E402
from retrieval_public import coverage_at  # noqa: E402

from retrieval.search import HYBRID, LEXICAL  # noqa: E402


def entry_scores(index, snap, texts: list[str]) -> np.ndarray:
    """(len(texts), entries): each text's score against every entry on the product's ranking scale."""
    rows = []
    for t in texts:
        language = index._language(snap, t)
        mode = index._mode(snap, language)
        vec = None
        if mode != LEXICAL:
            vec = index._embedder_for(snap.embedder_path or index.base_embedder).encode([t])[0]
        scores, _ = index._rank(snap, t, vec, hybrid=mode == HYBRID)
        rows.append(scores)
    return np.vstack(rows).astype(np.float64)


def top_k_stats(values: np.ndarray, k: int) -> tuple[float, float]:
    v = np.sort(values[np.isfinite(values)])[::-1][:k]
    if len(v) < 2:
        return 0.0, 1.0
    return float(v.mean()), float(max(v.std(), 1e-3))


def separation(conf: np.ndarray, right: np.ndarray, n_in: int) -> tuple[float, float, float]:
    """(AUROC right vs not, best coverage at P >= 0.9, at P >= 0.8) over questions with a top."""
    pairs = list(zip(conf.tolist(), right.tolist()))
    best90, best80 = coverage_at(pairs, n_in, 0.9), coverage_at(pairs, n_in, 0.8)
    pos, neg = conf[right], conf[~right]
    if len(pos) and len(neg):
        ranks = np.argsort(np.argsort(np.r_[pos, neg], kind="stable"), kind="stable") + 1
        auroc = (ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg))
    else:
        auroc = float("nan")
    return float(auroc), best90, best80


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sets", default="chitchat_fr,hint3_powerplay11_en")
    ap.add_argument("--data", type=Path)
    ap.add_argument("--k", default="5,20", help="cohort sizes to report (the same for every set)")
    args = ap.parse_args()
    ks = [int(k) for k in args.k.split(",")]
    for name in args.sets.split(","):
        with imported_now(name, args.data) as (c, items, queries):
            index = c.index
            snap = index._fresh()
            row_of = snap.row_of
            unit_texts, unit_rows = [], []
            for item in items:
                for t in (item.question, *item.alt_questions):
                    unit_texts.append(t)
                    unit_rows.append(row_of[item.id])
            units = entry_scores(index, snap, unit_texts)
            units[
                np.arange(len(unit_rows)), unit_rows
            ] = -np.inf  # an entry's own questions are not impostors
            S = entry_scores(index, snap, [q.query for q in queries])
            conf = np.array([index.retrieve(q.query, 1).confidence for q in queries])
        expected = [q.expected_id for q in queries]
        n_in = sum(e is not None for e in expected)
        ids = snap.entry_ids
        top = S.argmax(1)
        top_score = S[np.arange(len(S)), top]
        right = np.array([ids[t] == e for t, e in zip(top, expected)])
        print(
            f"{name}: {len(items)} entries, {len(unit_texts)} impostor questions, {len(queries)} queries "
            f"({n_in} in scope), hit@1 {right[[e is not None for e in expected]].mean():.3f}",
            flush=True,
        )
        rows = {"top score (raw)": top_score, "product confidence": conf}
        for k in ks:
            ent = np.array([top_k_stats(units[:, e], k) for e in range(S.shape[1])])  # (entries, 2)
            z = (top_score - ent[top, 0]) / ent[top, 1]
            masked = S.copy()
            masked[np.arange(len(S)), top] = -np.inf
            qs = np.array([top_k_stats(row, k) for row in masked])
            t = (top_score - qs[:, 0]) / qs[:, 1]
            rows[f"Z-norm (entry, K={k})"] = z
            rows[f"T-norm (question, K={k})"] = t
            rows[f"S-norm (K={k})"] = (z + t) / 2
            rows[f"top - entry impostor mean (K={k})"] = top_score - ent[top, 0]
            # Rerank: every entry's own Z-normalised score (entry side only: the question side is the
            # same for every entry of one question, up to the top's exclusion).
            zall = (S - ent[:, 0]) / ent[:, 1]
            rtop = zall.argmax(1)
            rright = np.array([ids[t] == e for t, e in zip(rtop, expected)])
            inscope = np.array([e is not None for e in expected])
            auroc, b90, b80 = separation(zall[np.arange(len(S)), rtop], rright, n_in)
            print(
                f"  rerank by Z-norm (K={k}): hit@1 {rright[inscope].mean():.3f}, "
                f"AUROC {auroc:.3f}, best C at P>=0.9 {b90:.3f}, at P>=0.8 {b80:.3f}",
                flush=True,
            )
        for label, values in rows.items():
            auroc, b90, b80 = separation(np.asarray(values, float), right, n_in)
            print(
                f"  {label:38s} AUROC {auroc:.3f}  best C at P>=0.9 {b90:.3f}  at P>=0.8 {b80:.3f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
