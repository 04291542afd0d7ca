"""Research (issue 15): is the product's precision on a set bound by its threshold, or by how well its
confidence separates right answers from wrong ones? For each set, the product as it ships (`now`,
tuned where the set allows) and the highest coverage any threshold *on the test itself* reaches at
precision 0.9 and 0.8 (bench/retrieval_public.py's best_coverage_at, on the top entry's score: the
confidence itself for questions ranked on the hybrid or on words, close to it for a tuned English
index, whose confidence also averages in the base embedder).

    .venv/bin/python bench/research/exp_oracle_now.py --sets chitchat_fr,chitchat_es [--data /tmp/sets]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import retrieval_public  # noqa: E402
from product_index import imported_now  # noqa: E402

from retrieval.evaluate import evaluate  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sets", default="chitchat_fr,chitchat_es,hint3_powerplay11_en")
    ap.add_argument("--data", type=Path)
    args = ap.parse_args()
    for name in args.sets.split(","):
        with imported_now(name, args.data) as (c, _items, queries):

            def search(q: str, c=c):
                r = c.index.retrieve(q, 5)
                return r.hits, r.abstain, r.language

            report = evaluate(queries, search)
        data = report.to_json()
        at90 = retrieval_public.best_coverage_at(report.results, 0.9)
        at80 = retrieval_public.best_coverage_at(report.results, 0.8)
        print(
            f"{name}: now P {data['answer_precision']:.3f} C {data['coverage']:.3f}; "
            f"best threshold on the test: C {at90:.3f} at P >= 0.9, {at80:.3f} at P >= 0.8",
            flush=True,
        )


if __name__ == "__main__":
    main()
