"""Research (issues 15 and 17): tuning with the token-embedding table frozen. No product change
unless measured better (retrieval/tune.py: TuneParams.freeze_token_embeddings, off by default).

`faq import` tunes every weight of MiniLM on the FAQ's own phrasings. Half of MiniLM's 22M weights
are its token-embedding table, and only the rows of words that occur in the phrasings get
gradients: tuning moves those words and leaves every other word where the base model put it, so a
question worded with words the FAQ never used meets a transformer tuned to inputs it no longer
sees. Frozen, the tuning changes only how words are combined, for seen and unseen words alike. It
is also what a 300M multilingual embedder needs to be tunable at all on a small machine
(EmbeddingGemma: 200M of its 300M weights are its 262k-token table, with optimizer state for each).

For each setting the set is imported and tuned through the product as `faq import` does
(retrieval.tune.tune_embedder wrapped, its loop unchanged: only the parameter differs); figures are
the `now` variant of bench/retrieval_public.py and the best coverage any threshold on the test
reaches at precision 0.9 and 0.8.

    .venv/bin/python bench/research/exp_freeze_embeddings.py --data /tmp/sets --sets clinc150_3,chitchat_fr
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from product_index import imported_now, now_figures  # noqa: E402

import retrieval.tune as tune_module  # noqa: E402

SHIPPED_TUNE = tune_module.tune_embedder


def with_frozen(frozen: bool, learning_rate: float | None = None):
    """tune_embedder with ``freeze_token_embeddings`` (and the learning rate, when given) set as
    asked, everything else as passed."""

    def tune(base_path, groups, out_dir, params=tune_module.TuneParams(), *args, **kwargs):
        params = dataclasses.replace(params, freeze_token_embeddings=frozen)
        if learning_rate is not None:
            params = dataclasses.replace(params, learning_rate=learning_rate)
        return SHIPPED_TUNE(base_path, groups, out_dir, params, *args, **kwargs)

    return tune


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sets", default="clinc150_3")
    ap.add_argument("--data", type=Path)
    ap.add_argument("--frozen", default="0,1", help="comma-separated: 0 = as shipped, 1 = frozen table")
    ap.add_argument("--lr", type=float, help="learning rate (default: the product's)")
    ap.add_argument("--clinc-sample", type=int, default=1500)
    args = ap.parse_args()
    for name in args.sets.split(","):
        for frozen in (bool(int(f)) for f in args.frozen.split(",")):
            tune_module.tune_embedder = with_frozen(frozen, args.lr)
            start = time.perf_counter()
            try:
                with imported_now(name, args.data, args.clinc_sample) as (c, _items, queries):
                    took = time.perf_counter() - start
                    print(
                        f"{name} frozen={int(frozen)} lr={args.lr or tune_module.TuneParams().learning_rate:g}: "
                        f"{now_figures(c, queries)} (import + tuning {took:.0f} s)",
                        flush=True,
                    )
            finally:
                tune_module.tune_embedder = SHIPPED_TUNE


if __name__ == "__main__":
    main()
