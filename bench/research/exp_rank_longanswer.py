"""Issue #15 step 1: ranking for the real-FAQ shape (heading + long answer, no alternatives).

Dense document kinds: the question ("q"), answer chunks (chunking.chunk_text, "chunk"), sentences
("sent"), sliding windows of 2/3/4 sentences ("win2".."win4"), the same windows prefixed with the
heading ("hwin*"), heading + whole answer ("hans"). An entry's dense score is the max over its
documents of the chosen kinds (answer documents weighted by w_ans). BM25 over the entry's question,
alts and answer, fused with a weight and a per-FAQ normalisation (per query: / top lexical score;
or / median leave-one-out top lexical score, as exp_selective's "fused").

    nice -n 15 .venv/bin/python bench/research/exp_rank_longanswer.py --sets doc2dial_gov_en --model minilm
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sel_common import BM25, build_layout, encode, entry_max, load_set, oracle, rank_stats  # noqa: E402

from retrieval.language import analyzer, dominant_language  # noqa: E402

ALL_KINDS = ("q", "chunk", "sent", "win2", "win3", "win4", "hwin2", "hwin3", "hans")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", default="doc2dial_gov_en,hint3_powerplay11_en,clinc150_3")
    ap.add_argument("--model", default="minilm")
    args = ap.parse_args()
    for name in args.sets.split(","):
        faq, queries = load_set(name)
        ids = [e["id"] for e in faq]
        n = len(faq)
        lang = dominant_language([e["question"] for e in faq])
        an = analyzer(lang)
        L = build_layout(faq, kinds=ALL_KINDS)
        owner = np.array(L.doc_owner)
        kind = np.array(L.doc_kind)
        q_text = [q for q, _ in queries]
        expected = [e for _, e in queries]
        qv = encode(args.model, q_text)
        dv = encode(args.model, L.doc_text)
        sims = qv @ dv.T
        bm = BM25([an.tokens(" ".join([e["question"], *e["alts"], e["answer"]])) for e in faq])
        lex = bm.scores([an.tokens(q) for q in q_text])
        # LOO top lexical of each entry's question (the per-FAQ scale of the baseline)
        loo = bm.scores([an.tokens(e["question"]) for e in faq])
        np.fill_diagonal(loo, 0)
        loo_scale = float(np.median(loo.max(1))) or 1.0
        top_lex = lex.max(1, keepdims=True)
        lex_qnorm = np.where(top_lex > 0, lex / np.where(top_lex > 0, top_lex, 1), 0)
        print(f"\n== {name} ({args.model}): {n} entries, {len(L.doc_text)} docs, lang {lang}")

        def dense(kinds, w_ans=1.0):
            m = np.isin(kind, kinds)
            w = np.where(kind == "q", 1.0, w_ans)[m].astype(np.float32)
            return entry_max(sims[:, m], owner[m], n, w)

        def report(label, S):
            h1, h5 = rank_stats(S, ids, expected)
            pred = [ids[i] for i in S.argmax(1)]
            o = oracle(S.max(1), pred, expected)
            os_ = f"C {o[1]:.2f} oos {o[2]:.2f}" if o else "none"
            print(f"  {label:42s} hit@1 {h1:.3f} hit@5 {h5:.3f} | oracle@P.9 {os_}")

        base = dense(["q"])
        report("dense_q (baseline)", base)
        report("dense_q+chunk (0.9)", dense(["q", "chunk"], 0.9))
        for ks in (
            ["q", "sent"],
            ["q", "win2"],
            ["q", "win3"],
            ["q", "win4"],
            ["q", "hwin2"],
            ["q", "hwin3"],
            ["q", "hans"],
            ["q", "sent", "win3"],
            ["q", "hwin3", "sent"],
            ["q", "chunk", "hwin3"],
        ):
            for w in (0.9, 1.0):
                report(f"dense {'+'.join(ks)} ({w})", dense(ks, w))
        report("bm25", lex)
        # sum of top-2 doc kinds: max(q) and max(hwin3) averaged
        a, b = dense(["q"]), dense(["hwin3"])
        report("mean(dense_q, dense_hwin3)", (a + b) / 2)
        c = dense(["sent"])
        report("mean(q, hwin3, sent)", (a + b + c) / 3)
        for dk, D in (
            ("q+chunk", dense(["q", "chunk"], 0.9)),
            ("q+hwin3", dense(["q", "hwin3"], 1.0)),
            ("mean(q,hwin3)", (a + b) / 2),
        ):
            for w in (0.1, 0.2, 0.3, 0.5):
                report(f"{dk} + {w} bm25/top", D + w * lex_qnorm)
            for w in (0.1, 0.3):
                report(f"{dk} + {w} bm25/looscale", D + w * np.minimum(lex / loo_scale, 2.0))


if __name__ == "__main__":
    main()
