"""Research: selective answering (answer precision at a coverage) on every public set, standalone.

Scorers over an FAQ (dense MiniLM, BM25 with the language's analysis, fused), and abstention
thresholds read off the FAQ itself: leave-one-entry-out (each entry's own question asked of the
FAQ without that entry: the best score an in-domain question gets from a wrong entry).

    .venv/bin/python bench/research/exp_selective.py [--sets doc2dial_gov_en,crosswoz_zh]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from retrieval.chunking import chunk_text  # noqa: E402
from retrieval.embedder import get_embedder  # noqa: E402
from retrieval.language import analyzer, detect_language, dominant_language  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
SETS = ["doc2dial_gov_en", "hint3_powerplay11_en", "crosswoz_zh", "chitchat_fr", "chitchat_es", "clinc150_3"]


def load_set(name: str):
    if name.startswith("clinc150"):
        k = int(name.split("_")[1])
        data = json.loads((DATA / "clinc150" / "data_full_without_oos_test.json").read_text())
        by: dict[str, list[str]] = {}
        for t, i in data["train"]:
            by.setdefault(i, []).append(t)
        faq = [{"id": i, "question": v[0], "alts": v[1:k], "answer": v[0]} for i, v in sorted(by.items())]
        queries = [(t, i) for t, i in data["test"]] + [(t, None) for t, _ in data["oos_val"]]
        return faq, queries
    faq = []
    with open(DATA / name / "faq.csv", newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            alts = [a.strip() for a in (row.get("alt_questions") or "").split("|") if a.strip()]
            faq.append({"id": row["id"], "question": row["question"], "alts": alts, "answer": row["answer"]})
    queries = []
    for line in (DATA / name / "queries.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            o = json.loads(line)
            queries.append((o["query"], o["expected_id"]))
    return faq, queries


def bm25_matrix(docs_tokens, query_tokens, k1=1.5, b=0.75):
    import bm25s

    model = bm25s.BM25(k1=k1, b=b)
    model.index(docs_tokens, show_progress=False)
    vocab = model.vocab_dict
    out = np.zeros((len(query_tokens), len(docs_tokens)), np.float32)
    for i, toks in enumerate(query_tokens):
        toks = [t for t in toks if t in vocab]
        if toks:
            out[i] = model.get_scores(toks)
    return out


def selective(score, pred, expected, threshold):
    answered = score >= threshold
    right = np.array([p == e for p, e in zip(pred, expected)])
    n_ans = answered.sum()
    in_scope = np.array([e is not None for e in expected])
    prec = (answered & right).sum() / n_ans if n_ans else float("nan")
    cov = (answered & right & in_scope).sum() / in_scope.sum()
    oos_abs = (~answered & ~in_scope).sum() / max(1, (~in_scope).sum())
    return prec, cov, oos_abs, n_ans


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", default=",".join(SETS))
    args = ap.parse_args()
    emb = get_embedder(None)
    for name in args.sets.split(","):
        faq, queries = load_set(name)
        ids = [e["id"] for e in faq]
        lang = dominant_language([e["question"] for e in faq])
        an = analyzer(lang)
        # phrasings (question + alts), answer chunks
        ph_text, ph_owner, ch_text, ch_owner = [], [], [], []
        for j, e in enumerate(faq):
            for t in [e["question"], *e["alts"]]:
                ph_text.append(t)
                ph_owner.append(j)
            if e["answer"] != e["question"]:
                for c in chunk_text(e["answer"]):
                    ch_text.append(c)
                    ch_owner.append(j)
        ph_owner, ch_owner = np.array(ph_owner), np.array(ch_owner)
        q_text = [q for q, _ in queries]
        expected = [q_e for _, q_e in queries]
        qv = emb.encode(q_text)
        pv = emb.encode(ph_text)
        cv = emb.encode(ch_text) if ch_text else np.zeros((0, qv.shape[1]), np.float32)
        n = len(faq)

        def entry_max(sims, owner):
            out = np.full((sims.shape[0], n), -1.0, np.float32)
            for j in range(n):
                cols = np.flatnonzero(owner == j)
                if len(cols):
                    out[:, j] = sims[:, cols].max(axis=1)
            return out

        d_ph = entry_max(qv @ pv.T, ph_owner)
        d_ch = entry_max(qv @ cv.T, ch_owner) if len(ch_text) else np.full_like(d_ph, -1)
        docs = [an.tokens(" ".join([e["question"], *e["alts"], e["answer"]])) for e in faq]
        qtok = [an.tokens(q) for q in q_text]
        lex = bm25_matrix(docs, qtok)
        langs = [detect_language(q, among=[lang, "en"], fallback=lang) for q in q_text]
        # leave-one-entry-out null: each entry's question against the FAQ without it
        e_q = [e["question"] for e in faq]
        ev = emb.encode(e_q)
        loo_ph = entry_max(ev @ pv.T, ph_owner)
        loo_ch = entry_max(ev @ cv.T, ch_owner) if len(ch_text) else np.full_like(loo_ph, -1)
        loo_lex = bm25_matrix(docs, [an.tokens(t) for t in e_q])
        for j in range(n):
            loo_ph[j, j] = loo_ch[j, j] = -1
            loo_lex[j, j] = 0

        variants = {
            "dense_q": (d_ph, loo_ph),
            "dense_q+ans": (np.maximum(d_ph, 0.9 * d_ch), np.maximum(loo_ph, 0.9 * loo_ch)),
            "bm25": (lex, loo_lex),
        }
        # fused: dense + lexical scaled by a per-FAQ constant (median of LOO top lexical)
        lex_scale = float(np.median(loo_lex.max(axis=1))) or 1.0
        variants["fused"] = (
            np.maximum(d_ph, 0.9 * d_ch) + 0.3 * np.minimum(lex / lex_scale, 2.0),
            np.maximum(loo_ph, 0.9 * loo_ch) + 0.3 * np.minimum(loo_lex / lex_scale, 2.0),
        )
        print(
            f"\n== {name}: {n} entries, lang={lang}, {sum(e is not None for e in expected)} in / "
            f"{sum(e is None for e in expected)} oos; query langs {dict(zip(*np.unique(langs, return_counts=True)))}"
        )
        for vname, (S, L) in variants.items():
            pred = [ids[i] for i in S.argmax(axis=1)]
            top = S.max(axis=1)
            hit1 = np.mean([p == e for p, e in zip(pred, expected) if e is not None])
            loo_top = L.max(axis=1)
            line = f"  {vname:12s} hit@1 {hit1:.3f} |"
            for q in (0.5, 0.75, 0.9, 0.95):
                t = float(np.quantile(loo_top, q))
                p, c, o, na = selective(top, pred, expected, t)
                line += f" q{q}: P {p:.2f} C {c:.2f} oos {o:.2f} |"
            # oracle: best coverage at precision >= 0.9 over thresholds
            best = None
            for t in np.unique(top):
                p, c, o, na = selective(top, pred, expected, t)
                if p >= 0.9 and (best is None or c > best[1]):
                    best = (t, c, o)
            line += f" oracle@P.9: C {best[1]:.2f} (oos {best[2]:.2f})" if best else " oracle: none"
            print(line)


if __name__ == "__main__":
    main()
