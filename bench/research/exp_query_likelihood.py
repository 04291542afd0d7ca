"""Query likelihood from the bundled model as a reranker and an abstention signal (research).

UPR (Sachan et al., "Improving Passage Retrieval with Zero-Shot Question Generation", 2022) reranks
retrieved passages by how likely a language model finds the *question* given each passage. Here the
model is the bundled SmolLM2-135M (dequantised to fp32, finetune/weights.py), the candidates are the
product's top K entries for each question (the `now` ranking), and three scores are read per
(question, entry):

- ``cond``: mean log-probability of the question's tokens after the entry's text;
- ``null``: the same with no passage (how likely the question is anyway);
- ``pmi`` = cond - null: how much the entry makes the question more likely. It has a natural zero
  (the entry does not help), which a threshold could be set against without the test set.

Reported: hit@1 after reranking the top K by each score (alone and added to the product's
confidence after z-scoring over the K), and for abstention, the coverage the best threshold on the
test reaches at precision 0.9 (an oracle bound, the same measure as bench/retrieval_public.py's)
for the product's confidence and for each LM score of the chosen entry.

    .venv/bin/python bench/research/exp_query_likelihood.py --set doc2dial_gov_en [--k 5] [--limit 0]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from product_index import imported_now  # noqa: E402


def best_coverage_at(conf, right, n_in, precision=0.9):
    """Highest coverage any threshold on ``conf`` reaches with precision >= ``precision``."""
    order = np.argsort(-np.asarray(conf))
    r = np.asarray(right, dtype=float)[order]
    cum_right = np.cumsum(r)
    prec = cum_right / np.arange(1, len(r) + 1)
    ok = prec >= precision
    return float(cum_right[ok].max() / n_in) if ok.any() else 0.0


def auroc(pos, neg):
    pos, neg = np.asarray(pos), np.asarray(neg)
    if not len(pos) or not len(neg):
        return float("nan")
    allv = np.concatenate([pos, neg])
    ranks = allv.argsort().argsort() + 1
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


class Scorer:
    def __init__(self, max_passage_tokens: int):
        import torch

        from bot.llm.registry import bundled_gguf
        from finetune.weights import load_trainable

        torch.set_num_threads(2)
        self.torch = torch
        self.model, self.tok = load_trainable(bundled_gguf(), Path("/tmp/research_cache/qlm_weights"))
        self.model.eval()
        self.max_passage = max_passage_tokens

    def prompt(self, passage: str | None) -> list[int]:
        if passage is None:
            text = "Please write a question.\nQuestion:"
        else:
            ids = self.tok(passage, add_special_tokens=False)["input_ids"][: self.max_passage]
            text = (
                "Passage: "
                + self.tok.decode(ids)
                + "\nPlease write a question based on this passage.\nQuestion:"
            )
        return self.tok(text, add_special_tokens=False)["input_ids"]

    def score(self, pairs: list[tuple[list[int], list[int]]], batch: int = 8) -> list[float]:
        """Mean log p(question tokens | prompt) for each (prompt ids, question ids)."""
        torch = self.torch
        out = []
        for b in range(0, len(pairs), batch):
            chunk = pairs[b : b + batch]
            seqs = [p + q for p, q in chunk]
            L = max(map(len, seqs))
            ids = torch.zeros((len(seqs), L), dtype=torch.long)
            att = torch.zeros((len(seqs), L), dtype=torch.long)
            for i, s in enumerate(seqs):
                ids[i, : len(s)] = torch.tensor(s)
                att[i, : len(s)] = 1
            with torch.inference_mode():
                logp = torch.log_softmax(self.model(input_ids=ids, attention_mask=att).logits.float(), -1)
            for i, (p, q) in enumerate(chunk):
                pos = torch.arange(len(p) - 1, len(p) + len(q) - 1)
                out.append(float(logp[i, pos, torch.tensor(q)].mean()))
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", default="doc2dial_gov_en")
    ap.add_argument("--data", type=Path)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--limit", type=int, default=0, help="Only the first N queries (0: all).")
    ap.add_argument("--passage-tokens", type=int, default=192)
    ap.add_argument("--clinc-sample", type=int, default=500)
    ap.add_argument("--no-tune", action="store_true")
    ap.add_argument("--dump", type=Path)
    args = ap.parse_args()
    rows = []
    with imported_now(args.set, args.data, args.clinc_sample, tune=not args.no_tune) as (c, items, queries):
        if args.limit:
            queries = queries[: args.limit]
        for q in queries:
            r = c.index.retrieve(q.query, args.k)
            rows.append(
                {
                    "query": q.query,
                    "expected": q.expected_id,
                    "ids": [h.id for h in r.hits],
                    "scores": [h.score for h in r.hits],
                    "conf": r.confidence,
                    "abstain": r.abstain,
                    "language": r.language,
                }
            )
    scorer = Scorer(args.passage_tokens)
    t0 = time.perf_counter()
    prompts: dict[str | None, list[int]] = {None: scorer.prompt(None)}
    for it in items:
        prompts[it.id] = scorer.prompt(f"{it.question}\n{it.answer}")
    pairs, where = [], []
    for n, row in enumerate(rows):
        qids = scorer.tok(" " + row["query"].strip(), add_special_tokens=False)["input_ids"][:64]
        pairs.append((prompts[None], qids))
        where.append((n, None))
        for eid in row["ids"]:
            pairs.append((prompts[eid], qids))
            where.append((n, eid))
    # Sort by length so batches pad little.
    order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]) + len(pairs[i][1]))
    scored = scorer.score([pairs[i] for i in order])
    values = [0.0] * len(pairs)
    for i, v in zip(order, scored):
        values[i] = v
    for (n, eid), v in zip(where, values):
        if eid is None:
            rows[n]["null"] = v
        else:
            rows[n].setdefault("cond", []).append(v)
    lm_s = time.perf_counter() - t0
    print(
        f"{args.set}: {len(rows)} queries, {len(pairs)} LM scorings in {lm_s:.0f} s ({1000 * lm_s / len(rows):.0f} ms/query)"
    )
    if args.dump:
        args.dump.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows))

    n_in = sum(r["expected"] is not None for r in rows)

    def z(v):
        v = np.asarray(v, dtype=float)
        return (v - v.mean()) / (v.std() + 1e-9) if len(v) > 1 else v * 0

    def evaluate(name, pick):
        """pick(row) -> (chosen id, confidence)."""
        chosen = [pick(r) for r in rows]
        right = [cid is not None and cid == r["expected"] for (cid, _), r in zip(chosen, rows)]
        conf = [cv for _, cv in chosen]
        hit1 = sum(right) / n_in
        pos = [cv for (_, cv), ok in zip(chosen, right) if ok]
        neg = [cv for (_, cv), ok in zip(chosen, right) if not ok]
        print(
            f"  {name:38s} hit@1 {hit1:.3f}  AUROC right-vs-rest {auroc(pos, neg):.3f}  "
            f"oracle coverage @P0.9 {best_coverage_at(conf, right, n_in):.3f}  @P0.95 {best_coverage_at(conf, right, n_in, 0.95):.3f}"
        )

    has = [r for r in rows if r["ids"]]
    rows[:] = has
    answered = [r for r in rows if not r["abstain"]]
    good = sum(r["ids"][0] == r["expected"] for r in answered)
    print(
        f"  product as shipped: precision {good / max(1, len(answered)):.3f} coverage {good / n_in:.3f} "
        f"({len(answered)} answers)"
    )
    evaluate("product (top 1, product confidence)", lambda r: (r["ids"][0], r["conf"]))
    evaluate("product top 1, cond", lambda r: (r["ids"][0], r["cond"][0]))
    evaluate("product top 1, pmi", lambda r: (r["ids"][0], r["cond"][0] - r["null"]))

    def rerank(weight_lm, use_pmi=True):
        def pick(r):
            lm = np.asarray(r["cond"])
            s = z(r["scores"]) + weight_lm * z(lm)
            i = int(np.argmax(s))
            return r["ids"][i], (lm[i] - r["null"]) if use_pmi else lm[i]

        return pick

    for w in (0.5, 1.0, 2.0, 100.0):
        evaluate(f"rerank z(score)+{w}z(lm), pmi conf", rerank(w))
    # Confidence mixing the product's and the LM's: rank-normalised over all questions.
    conf_all = np.asarray([r["conf"] for r in rows])
    pmi_all = np.asarray([r["cond"][0] - r["null"] for r in rows])
    zc = (conf_all - conf_all.mean()) / conf_all.std()
    zp = (pmi_all - pmi_all.mean()) / pmi_all.std()
    for a in (0.25, 0.5, 1.0):
        mix = {id(r): float(zc[i] + a * zp[i]) for i, r in enumerate(rows)}
        evaluate(f"product top 1, z(conf)+{a}z(pmi)", lambda r, mix=mix: (r["ids"][0], mix[id(r)]))
    oos = [r for r in rows if r["expected"] is None]
    ins = [r for r in rows if r["expected"] is not None]
    right_pmi = np.mean([r["cond"][0] - r["null"] for r in ins if r["ids"][0] == r["expected"]] or [np.nan])
    wrong_pmi = np.mean([r["cond"][0] - r["null"] for r in ins if r["ids"][0] != r["expected"]] or [np.nan])
    oos_pmi = np.mean([r["cond"][0] - r["null"] for r in oos] or [np.nan])
    print(
        f"  pmi of the top entry: in scope & right mean {right_pmi:.3f}, in scope & wrong {wrong_pmi:.3f}, "
        f"out of scope {oos_pmi:.3f}"
    )


if __name__ == "__main__":
    main()
