"""Research (issue 15): which lexical confidence tells an out-of-scope question apart, for questions
ranked on words alone (a language the embedder does not read: crosswoz_zh in the public sets)?

Today the confidence is the raw top BM25 score, thresholded at the 0.9 quantile of held-out
questions (each entry's question and answer sentences, asked with that entry left out), as
retrieval/calibration.py does. Raw BM25 grows with the question's length and its rare words, so a
long off-topic question that shares one name with an entry can outscore a short on-topic one.
Candidates, each calibrated the same way on the same held-out questions:

- ``raw``: top BM25 (shipped);
- ``covered``: top BM25 / the sum of the idf of every query token, where a token the FAQ never uses
  gets the idf of a word in no entry: the share of the question's information the best entry
  matches, so words the FAQ has never seen count against answering;
- ``covered_vocab``: the same over in-vocabulary tokens only (unknown words ignored);
- ``margin``: (top - second) / top.

    .venv/bin/python bench/research/exp_lexical_confidence.py [--sets crosswoz_zh,chitchat_fr]

Uses only the product's analyzer and BM25 scorer (retrieval.language, retrieval.scoring).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from retrieval.chunking import split_sentences  # noqa: E402
from retrieval.faq import load_faq  # noqa: E402
from retrieval.language import dominant_language  # noqa: E402
from retrieval.scoring import LexicalScorer  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
QUANTILE, UNITS, MIN_TOKENS = 0.9, 600, 3


def run(name: str) -> None:
    items = load_faq(DATA / name / "faq.csv")
    texts = ["\n".join([i.question, *i.alt_questions, i.answer]) for i in items]
    language = dominant_language(texts)
    scorer = LexicalScorer([i.id for i in items], texts, language)
    tokenized = [scorer.analyzer.tokens(t) for t in texts]
    n = len(items)
    df = Counter(t for doc in tokenized for t in set(doc))
    unseen_idf = math.log(1 + (n + 0.5) / 0.5)  # Lucene idf of a token in no entry

    def idf(t: str, left_out: set[str]) -> float:
        # a held-out question's own entry is not in the FAQ: its words count as the FAQ would then
        d = df[t] - (t in left_out)
        return math.log(1 + (n - d + 0.5) / (d + 0.5)) if d > 0 else unseen_idf

    def confidences(text: str, exclude: int | None = None) -> tuple[int, dict[str, float]]:
        s = scorer.scores(text).astype(np.float64)
        left_out: set[str] = set()
        if exclude is not None:
            s[exclude] = 0.0
            left_out = set(tokenized[exclude])
        order = np.argsort(-s)
        top, second = float(s[order[0]]), float(s[order[1]]) if n > 1 else 0.0
        toks = scorer.analyzer.tokens(text)
        total = sum(idf(t, left_out) for t in toks)
        vocab = sum(idf(t, left_out) for t in toks if df[t] - (t in left_out) > 0)
        return int(order[0]), {
            "raw": top,
            "covered": top / total if total else 0.0,
            "covered_vocab": top / vocab if vocab else 0.0,
            "margin": (top - second) / top if top > 0 else 0.0,
        }

    units = []
    for row, item in enumerate(items):
        units.append((row, item.question))
        for sentence in split_sentences(" ".join(item.answer.split())):
            if (
                sentence.strip() != item.question.strip()
                and len(scorer.analyzer.tokens(sentence)) >= MIN_TOKENS
            ):
                units.append((row, sentence))
    if len(units) > UNITS:
        pick = np.random.default_rng(0).choice(len(units), UNITS, replace=False)
        units = [units[i] for i in sorted(pick)]
    held = [confidences(text, exclude=row)[1] for row, text in units]
    kinds = list(held[0])
    thresholds = {k: float(np.quantile([h[k] for h in held], QUANTILE)) for k in kinds}

    queries = [json.loads(x) for x in (DATA / name / "queries.jsonl").read_text().splitlines() if x.strip()]
    ids = [i.id for i in items]
    results = [(q["expected_id"], *confidences(q["query"])) for q in queries]
    n_in = sum(1 for e, _, _ in results if e is not None)
    print(
        f"\n== {name} ({language}): {n} entries, {n_in} in scope / {len(results) - n_in} out; "
        f"{len(units)} held-out units"
    )
    print(
        f"  {'confidence':<15} {'threshold':>9} {'precision':>9} {'coverage':>9} {'oos_abst':>9} {'answers':>8}"
        f"  {'oracle C@P0.9':>13}"
    )
    for k in kinds:
        answered = [(e, ids[top] == e) for e, top, c in results if c[k] >= thresholds[k]]
        right = sum(ok for _, ok in answered)
        oos_answered = sum(1 for e, _ in answered if e is None)
        # the best coverage any threshold reaches at precision >= 0.9 (an upper bound, read off the test)
        ranked = sorted(((c[k], ids[top] == e) for e, top, c in results), key=lambda x: -x[0])
        best, hits = 0.0, 0
        for i, (_, ok) in enumerate(ranked, 1):
            hits += ok
            if hits / i >= 0.9:
                best = max(best, hits / n_in)
        print(
            f"  {k:<15} {thresholds[k]:9.3f} {right / max(1, len(answered)):9.3f} {right / n_in:9.3f} "
            f"{1 - oos_answered / max(1, len(results) - n_in):9.3f} {len(answered):8d}  {best:13.3f}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--sets", default="crosswoz_zh,chitchat_fr,chitchat_es,doc2dial_gov_en,hint3_powerplay11_en"
    )
    for name in ap.parse_args().sets.split(","):
        run(name)


if __name__ == "__main__":
    main()
