"""Research (issues 15 and 17): the tuned embedder averaged with the base one in weight space
(WiSE-FT, Wortsman et al., "Robust fine-tuning of zero-shot models", CVPR 2022). No product change.

`faq import` tunes MiniLM on the FAQ's own phrasings (retrieval/tune.py): a few dozen steps on three
to five phrasings an entry. Questions employees ask are worded more widely than those phrasings,
and a model tuned on a narrow set can lose what the base model knew. WiSE-FT keeps the tuned
weights only part-way: theta = alpha * tuned + (1 - alpha) * base, one model, no extra query time.
It was reported to help both on the tuning distribution and away from it, where averaging the two
models' *scores* did not help here (exp_base_mix.py: hit@1 fell on clinc150_3 as the base score's
weight rose).

For each alpha the set is imported and tuned through the product exactly as `faq import` does, the
tuning step followed by the interpolation (retrieval.tune.tune_embedder wrapped, its loop unchanged),
and the index re-embedded with the result; figures are the `now` variant of
bench/retrieval_public.py (hit@1, answer precision and coverage at the calibrated threshold) and the
best coverage any threshold on the test reaches at precision 0.9 (separation, before calibration).
alpha 1.0 is the product as shipped.

    .venv/bin/python bench/research/exp_wise_ft.py --data /tmp/sets --sets clinc150_3 --alphas 1,0.7,0.5
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from product_index import imported_now, now_figures  # noqa: E402

import retrieval.tune as tune_module  # noqa: E402

SHIPPED_TUNE = tune_module.tune_embedder


def interpolated(alpha: float):
    """tune_embedder, then the saved model's weights moved back towards the base's by 1 - alpha."""

    def tune(
        base_path, groups, out_dir, params=tune_module.TuneParams(), progress=None, negatives=None, prompt=""
    ):
        out = SHIPPED_TUNE(base_path, groups, out_dir, params, progress, negatives=negatives, prompt=prompt)
        if alpha == 1.0:
            return out
        from sentence_transformers import SentenceTransformer

        tuned = SentenceTransformer(str(out), device="cpu", local_files_only=True)
        base = SentenceTransformer(str(base_path), device="cpu", local_files_only=True).state_dict()
        state = tuned.state_dict()
        for key, value in state.items():
            if value.is_floating_point():
                value.copy_(alpha * value + (1 - alpha) * base[key])
        shutil.rmtree(out)
        tuned.save(str(out), safe_serialization=True)
        return out

    return tune


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sets", default="clinc150_3")
    ap.add_argument("--data", type=Path)
    ap.add_argument("--alphas", default="1,0.7,0.5")
    ap.add_argument("--clinc-sample", type=int, default=1500)
    args = ap.parse_args()
    for name in args.sets.split(","):
        for alpha in (float(a) for a in args.alphas.split(",")):
            tune_module.tune_embedder = interpolated(alpha)
            try:
                with imported_now(name, args.data, args.clinc_sample) as (c, _items, queries):
                    print(f"{name} alpha {alpha:.2f}: {now_figures(c, queries)}", flush=True)
            finally:
                tune_module.tune_embedder = SHIPPED_TUNE


if __name__ == "__main__":
    main()
