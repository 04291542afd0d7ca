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
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import retrieval_public  # noqa: E402

from bot.container import Container  # noqa: E402
from bot.settings import Settings  # noqa: E402
from retrieval.evaluate import evaluate  # noqa: E402
from retrieval.tune import TuneError  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sets", default="chitchat_fr,chitchat_es,hint3_powerplay11_en")
    ap.add_argument("--data", type=Path, default=retrieval_public.DATA)
    args = ap.parse_args()
    retrieval_public.DATA = args.data
    for name in args.sets.split(","):
        items, queries = retrieval_public.load_set(name, 1500)
        with tempfile.TemporaryDirectory(prefix="oracle-") as tmp:
            c = Container(Settings(_env_file=None, data_dir=Path(tmp)))
            c.ensure_schema()
            c.index.import_items(items)
            try:
                c.tune_embedder()
            except TuneError as exc:  # as `faq import` does: serve untuned
                print(f"  ({name} not tuned: {exc})")
            retrieval_public.configure(c.index, "now")

            def search(q: str, c=c):
                r = c.index.retrieve(q, 5)
                return r.hits, r.abstain, r.language

            report = evaluate(queries, search)
            c.close()
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
