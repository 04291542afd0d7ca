"""Research (issue 15): which prompt a sentence-transformers folder with task prompts reads FAQ
questions best with (plain dense, max cosine over each entry's phrasings; no product change).

Models such as EmbeddingGemma were trained with a prompt before each text and declare them in
config_sentence_transformers.json. For each variant (none; the folder's query / document prompts;
its STS prompt on both sides; its query prompt on both) prints hit@1 and the best coverage any
threshold on the test reaches at precision 0.9 and 0.8.

    .venv/bin/python bench/research/exp_prompts.py --model /path/to/embeddinggemma-300m --data /tmp/sets --sets chitchat_fr,crosswoz_zh
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import retrieval_public  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--sets", default="chitchat_fr")
    ap.add_argument("--data", type=Path)
    ap.add_argument("--clinc-sample", type=int, default=600)
    args = ap.parse_args()
    if args.data:
        retrieval_public.DATA = args.data
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(args.model), device="cpu", local_files_only=True)
    p = model.prompts
    variants = {
        "none": ("", ""),
        "query/document": (p["query"], p["document"]),
        "sts both": (p["STS"], p["STS"]),
        "query both": (p["query"], p["query"]),
    }
    for name in args.sets.split(","):
        items, queries = retrieval_public.load_set(name, args.clinc_sample)
        texts, owner = [], []
        for item in items:
            for t in (item.question, *item.alt_questions):
                texts.append(t)
                owner.append(item.id)
        n_in = sum(q.expected_id is not None for q in queries)
        for label, (query_prompt, text_prompt) in variants.items():
            docs = model.encode([text_prompt + t for t in texts], normalize_embeddings=True, batch_size=64)
            asked = model.encode(
                [query_prompt + q.query for q in queries], normalize_embeddings=True, batch_size=64
            )
            sims = asked @ docs.T
            hits, pairs = 0, []
            for i, q in enumerate(queries):
                j = int(np.argmax(sims[i]))  # the entry of the closest phrasing: max over phrasings
                top = owner[j]
                hits += q.expected_id is not None and top == q.expected_id
                pairs.append((float(sims[i, j]), top == q.expected_id))
            print(
                f"{name} {label:15s} hit@1 {hits / n_in:.3f}  best C at P>=0.9 "
                f"{retrieval_public.coverage_at(pairs, n_in, 0.9):.3f}  at P>=0.8 "
                f"{retrieval_public.coverage_at(pairs, n_in, 0.8):.3f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
