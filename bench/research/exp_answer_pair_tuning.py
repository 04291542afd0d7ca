"""Issue 15, real-FAQ shape: does tuning the embedder on (question, answer passage) and (answer
sentence, other passage) pairs (retrieval/tune.py, for entries with one question) pay on a set with
one question per entry? Through the product's own FaqIndex: one untuned and one tuned import of the
same FAQ, each ranked at lexical weights 0 and 0.3. Reported: the calibrated figures, and the
oracle coverage at answer precision >= 0.9 (the best any threshold on the confidence reaches, read
off the test set: it separates the ranking-and-confidence quality from the threshold choice).

    .venv/bin/python bench/research/exp_answer_pair_tuning.py --set doc2dial_gov_en --keep /tmp/exp
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from retrieval_public import configure, load_set  # noqa: E402

from bot.container import Container  # noqa: E402
from bot.settings import Settings  # noqa: E402


def oracle(rows: list[tuple[float, bool, bool]], bar: float = 0.9) -> tuple[float, float]:
    """(coverage, threshold): the most in-scope questions answered right at precision >= bar."""
    n_in = sum(in_scope for _, _, in_scope in rows)
    best = (0.0, float("inf"))
    order = sorted(rows, key=lambda r: -r[0])
    right = given = 0
    for conf, ok, _ in order:
        given += 1
        right += ok
        if right / given >= bar and right / n_in > best[0]:
            best = (right / n_in, conf)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", default="doc2dial_gov_en")
    ap.add_argument("--keep", type=Path, default=Path("/tmp/exp"))
    ap.add_argument("--weights", default="0,0.3")
    args = ap.parse_args()
    items, queries = load_set(args.set, 1000)
    for tuned in (False, True):
        d = args.keep / f"{args.set}-{'tuned' if tuned else 'untuned'}"
        fresh = not d.exists()
        d.mkdir(parents=True, exist_ok=True)
        c = Container(Settings(_env_file=None, data_dir=d, tune_on_import=False))
        c.ensure_schema()
        if fresh:
            c.index.import_items(items)
            if tuned:
                t0 = time.perf_counter()
                c.tune_embedder()
                print(f"tuned in {time.perf_counter() - t0:.0f} s", flush=True)
        for w in args.weights.split(","):
            configure(c.index, f"now@{w}")
            rows, answered = [], []
            for q in queries:
                r = c.index.retrieve(q.query, 5)
                ok = bool(r.hits) and r.hits[0].id == q.expected_id
                rows.append((r.confidence, ok, q.expected_id is not None))
                answered.append((not r.abstain, ok))
            n_in = sum(q.expected_id is not None for q in queries)
            given = sum(a for a, _ in answered)
            right = sum(a and ok for a, ok in answered)
            hit1 = sum(ok for _, ok, i in rows if i) / n_in
            cov, thr = oracle(rows)
            print(
                f"{args.set} {'tuned' if tuned else 'untuned'} lexical {w}: hit@1 {hit1:.3f} | calibrated "
                f"P {right / max(given, 1):.3f} C {right / n_in:.3f} (threshold {c.index.threshold(mode=r.mode):.3f}) "
                f"| oracle C@P0.9 {cov:.3f} at {thr:.3f}",
                flush=True,
            )
        c.close()


if __name__ == "__main__":
    csv.field_size_limit(10**8)
    main()
