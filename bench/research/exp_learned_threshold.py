"""Issue 17: does the abstention threshold hold back what admins taught? Replays the CLINC150 learning
stream (bench/learning_public.py's clinc150 files) through the real answer and review services and,
after each day, dumps for offline analysis (one JSON line per day):

- ``test``: (confidence, top entry, expected entry) of every test question on the index as it is;
- ``neg``: the confidences calibration computes today (each entry's question and answer sentences
  with that entry left out: questions of the FAQ's domain it has no entry for);
- ``pos``: (confidence, top entry right?) of a sample of learned phrasings, each asked against the
  index with that fold of learned phrasings left out (vectors and BM25 text): questions an admin
  confirmed, asked as if new;
- ``confirmed``: the confidences calibration computes for its confirmed fold (learned phrasings held
  out of tuning, asked with the fold left out: retrieval/calibration.py), at any count;
- ``rejected``: the confidences of the questions admins rejected, as calibration asks them.

    .venv/bin/python bench/research/exp_learned_threshold.py --days 5 --per-day 300 [--tune] [--set S] --out F
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from learning_public import build  # noqa: E402

import retrieval.calibration as calibration  # noqa: E402
from bot.cli._common import _settings  # noqa: E402
from bot.cli.evaluate import _eval_inputs, _import_for_eval, _throwaway_store  # noqa: E402
from bot.services.learning import SimulatedAdmin  # noqa: E402
from retrieval.search import SEMANTIC  # noqa: E402

FOLD = 400


def negatives(index, snap) -> list[float]:
    caught: list[np.ndarray] = []
    real = calibration.self_calibrated_threshold
    calibration.self_calibrated_threshold = lambda c, q=0.9: caught.append(c) or real(c, q)
    try:
        index._calibrate(snap, SEMANTIC)
    finally:
        calibration.self_calibrated_threshold = real
    return [round(float(c), 4) for c in caught[0]]


def without(snap, drop: set[int]):
    """``snap`` as if the phrasings at scorer rows ``drop`` had never been learned (what calibration
    now uses for the confirmed fold: retrieval/calibration.py)."""
    return calibration.without_phrasings(snap, drop)


def learned_rows(snap) -> list[int]:
    return [i for i, k in enumerate(snap.kinds) if k == "learned"]


def positives(index, snap, rng) -> list[tuple[float, bool]]:
    """Learned phrasings, a fold at a time left out of the index and asked: what admins confirmed."""
    learned = learned_rows(snap)
    if not learned:
        return []
    owners = np.repeat(snap.scorer.group_owner, snap.scorer.counts)
    fold = set(rng.choice(learned, min(FOLD, len(learned)), replace=False).tolist())
    held_snap = without(snap, fold)
    base_embedder = index._embedder_for(index.base_embedder)
    order = sorted(fold)
    base_vecs = (
        base_embedder.encode([snap.texts[i] for i in order])
        if held_snap.base_scorer is not None
        else [None] * len(order)
    )
    out = []
    for i, bv in zip(order, base_vecs):
        text = snap.texts[i]
        scores, _ = index._rank(held_snap, text, snap.scorer.embeddings[i])
        conf = index._confidence(held_snap, scores, text, bv)
        out.append((round(conf, 4), bool(int(np.argmax(scores)) == owners[i])))
    return out


def confirmed(index, snap) -> list[float]:
    real = calibration.MIN_CONFIRMED
    calibration.MIN_CONFIRMED = 1  # every day's fold, however small
    try:
        return [round(float(c), 4) for c in index._confirmed_confidences(snap, SEMANTIC)]
    finally:
        calibration.MIN_CONFIRMED = real


def dump(day, index, test, rng) -> dict:
    t0 = time.time()
    snap = index._fresh()
    rows = []
    for q in test:
        r = index.retrieve(q.query)
        rows.append((round(r.confidence, 4), r.hits[0].id if r.hits else None, q.expected_id))
    return {
        "day": day,
        "threshold": index.threshold(),
        "floor": calibration.default_threshold(snap.phrasings_per_entry, snap.embedder_path is not None),
        "test": rows,
        "neg": negatives(index, snap),
        # calibration on the FAQ as written: the learned phrasings left out of the index
        "neg_written": negatives(index, without(snap, set(learned_rows(snap))))
        if learned_rows(snap)
        else None,
        "pos": positives(index, snap, rng),
        "confirmed": confirmed(index, snap),
        "rejected": [round(float(c), 4) for c in index._rejected_confidences(snap, SEMANTIC)],
        "seconds": round(time.time() - t0, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=5)
    ap.add_argument("--per-day", type=int, default=300)
    ap.add_argument("--test-sample", type=int, default=500)
    ap.add_argument("--tune", action="store_true")
    ap.add_argument("--set", default="clinc150", help="a set bench/learning_public.py builds")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    from bot.worker import run_nightly

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp, open(args.out, "w") as fh:
        faq, stream, test = build(args.set, Path(tmp), args.test_sample)
        items, (asked, measured) = _eval_inputs(faq, stream, test)
        base = _settings()
        changes = {"direct_answer_score": 0.0, "model_backend": "mock", "tune_on_import": args.tune}
        with _throwaway_store(base, **changes) as c:
            _import_for_eval(c, items, args.tune)
            admin = SimulatedAdmin(c.reviews)
            fh.write(json.dumps(dump(0, c.index, measured, rng)) + "\n")
            fh.flush()
            for day in range(1, args.days + 1):
                for i, q in enumerate(asked[(day - 1) * args.per_day : day * args.per_day]):
                    result = c.answers.ask(q.query, user_id=f"e{day}-{i}", source="cli")
                    admin.review(result, q.expected_id)
                if args.tune:
                    run_nightly(c, finetune=False)
                fh.write(json.dumps(dump(day, c.index, measured, rng)) + "\n")
                fh.flush()
                print("day", day, "done", flush=True)


if __name__ == "__main__":
    main()
