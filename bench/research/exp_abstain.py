"""Issue #15 step 2 (and 3, 4): abstention read off the FAQ itself, per set, language and embedder.

Ranking: dense max over the chosen document kinds (sel_common.build_layout) fused with BM25 over
the entry's text (the language's analyzer), normalised per query by its top lexical score. For a
language the embedder does not read (MiniLM/mpnet: English only) the dense part is dropped: lexical
only. Self-made data, from the FAQ alone:
  - positives: each unit (a question/alt phrasing; for long-answer FAQs each answer sentence) asked
    of the FAQ with that unit taken out of its own entry (documents holding it masked, its words
    subtracted from the entry's BM25 counts); correct when its entry still ranks first;
  - negatives (leave-one-entry-out nulls): the same units asked of the FAQ without their entry.
Rules compared (all thresholds from self-made data only; no constant tuned to a set):
  baseline      exp_selective "fused" (q + 0.9 chunk dense + 0.3 BM25/LOO-scale), threshold the
                q0.9 quantile of LOO-null top scores of the entries' questions;
  null_q90      the new score, threshold the 0.9 quantile of all nulls (questions and sentences);
  est_p90       smallest threshold whose estimated precision on (positives + nulls, one null per
                positive) reaches 0.9;
  lr_null90     a logistic model per FAQ on [top, margin, dense/lexical top-1 agreement, lexical
                top] fitted on self-made rows (1 = positive ranked right), threshold the 0.9
                quantile of the nulls' probability;
  lr_est90      the same model, threshold by estimated precision 0.9;
  agree_null90  answer only when dense and lexical top-1 agree, threshold the 0.9 quantile of the
                nulls that agree (English only).
Reports hit@1/hit@5, precision, coverage, oos abstained, and the oracle coverage at P >= 0.9.

    nice -n 15 .venv/bin/python bench/research/exp_abstain.py --sets doc2dial_gov_en --model minilm
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sel_common import (  # noqa: E402
    BM25,
    build_layout,
    encode,
    entry_max,
    has_long_answers,
    load_set,
    oracle,
    rank_stats,
    selective,
)

from retrieval.language import analyzer, detect_language, dominant_language  # noqa: E402

EMBEDDER_LANGS = {"minilm": {"en"}, "mpnet": {"en"}}


def qnorm(lex):
    top = lex.max(1, keepdims=True)
    return np.where(top > 0, lex / np.where(top > 0, top, 1), 0).astype(np.float32)


def features(S, D, X, cover=None):
    """Per row: top fused, margin, agreement of dense and lexical top-1, lexical top (raw), second
    over top, and the idf-weighted share of the query's words found in the top entry."""
    ss = np.sort(S, 1)
    top, margin = ss[:, -1], ss[:, -1] - ss[:, -2]
    agree = (D.argmax(1) == X.argmax(1)).astype(np.float32) if D is not None else np.ones(len(S), np.float32)
    ratio = np.where(np.abs(top) > 1e-9, ss[:, -2] / np.where(np.abs(top) > 1e-9, top, 1), 1)
    cols = [top, margin, agree, X.max(1), ratio]
    if cover is not None:
        cols.append(cover(S.argmax(1)))
    return np.stack(cols, 1)


def coverage_fn(bm, toks_list, tf_override=None):
    """idf-weighted share of each query's distinct words that occur in the chosen entry (words
    unknown to the FAQ count with the highest idf)."""
    top_idf = float(bm.idf.max()) if len(bm.idf) else 1.0

    def f(choice):
        out = np.zeros(len(toks_list), np.float32)
        for r, toks in enumerate(toks_list):
            ws = set(toks)
            if not ws:
                continue
            tf = bm.tf[choice[r]] if tf_override is None else tf_override(r, choice[r])
            tot = got = 0.0
            for w in ws:
                i = bm.vocab.get(w)
                idf = top_idf if i is None else float(bm.idf[i])
                tot += idf
                if i is not None and tf[i] > 0:
                    got += idf
            out[r] = got / tot if tot else 0
        return out

    return f


def est_threshold(pos_score, pos_right, neg_score, target=0.9, ratio=1.0):
    """Smallest threshold at which (right positives) / (positives + ratio * nulls, per positive)
    answered reaches ``target`` (scanning down from the top, stopping at the first violation after
    a minimum of answers, so a noisy tail cannot pull it down)."""
    w_neg = ratio * len(pos_score) / max(1, len(neg_score))
    cand = np.sort(np.unique(np.r_[pos_score, neg_score]))[::-1]
    best = cand[0] + 1e-6
    for t in cand:
        a = pos_score >= t
        right = (a & pos_right).sum()
        tot = a.sum() + w_neg * (neg_score >= t).sum()
        if tot < 5:
            continue
        if right / tot >= target:
            best = t
        else:
            break
    return float(best)


def fit_lr(F, y):
    from sklearn.linear_model import LogisticRegression

    mu, sd = F.mean(0), F.std(0) + 1e-6
    m = LogisticRegression(C=1.0, max_iter=1000).fit((F - mu) / sd, y)
    return lambda G: m.predict_proba((G - mu) / sd)[:, 1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", default="doc2dial_gov_en,hint3_powerplay11_en,clinc150_3,clinc150_5")
    ap.add_argument("--model", default="minilm")
    ap.add_argument(
        "--kinds", default="auto", help="dense document kinds; auto: q,hwin3 for long answers, q,chunk else"
    )
    ap.add_argument("--bm25", type=float, default=0.3, help="weight of BM25 / top lexical score")
    ap.add_argument("--k1", type=float, default=1.5)
    ap.add_argument("--b", type=float, default=0.75)
    ap.add_argument("--zh", default="jieba", help="jieba | char12 (character uni+bigrams) | both")
    ap.add_argument("--target", type=float, default=0.9)
    ap.add_argument(
        "--dense-feature",
        action="store_true",
        help="languages the embedder does not read: rank lexically, but give the logistic model "
        "the embedder's scores as features (lr+d rows)",
    )
    args = ap.parse_args()
    print(
        f"# exp_abstain --model {args.model} --kinds {args.kinds} --bm25 {args.bm25} --k1 {args.k1} --b {args.b} --zh {args.zh}"
    )
    for name in args.sets.split(","):
        run_set(name, args)


def tokenizer_for(lang, zh_mode):
    an = analyzer(lang)
    if lang != "zh" or zh_mode == "jieba":
        return an.tokens

    def chars(text):
        from retrieval.language import words

        cs = [c for w in words(text) for c in w]
        uni = cs
        bi = [cs[i] + cs[i + 1] for i in range(len(cs) - 1)]
        if zh_mode == "char12":
            return uni + bi
        return an.tokens(text) + bi  # "both": jieba words + character bigrams

    return chars


def run_set(name, args):
    faq, queries = load_set(name)
    ids = [e["id"] for e in faq]
    n = len(faq)
    lang = dominant_language([e["question"] for e in faq])
    tok = tokenizer_for(lang, args.zh)
    long = has_long_answers(faq)
    kinds = (
        (("q", "hwin3") if long else ("q", "chunk")) if args.kinds == "auto" else tuple(args.kinds.split(","))
    )
    L = build_layout(faq, kinds=kinds, answer_units=long)
    owner = np.array(L.doc_owner)
    q_text = [q for q, _ in queries]
    expected = [e for _, e in queries]
    in_scope = np.array([e is not None for e in expected])
    reads = lang in EMBEDDER_LANGS.get(args.model, set())
    q_langs = [detect_language(q, among=[lang, "en"], fallback=lang) for q in q_text]

    # ------------------------------------------------------------------ lexical
    bm = BM25([tok(" ".join([e["question"], *e["alts"], e["answer"]])) for e in faq], k1=args.k1, b=args.b)
    q_tok = [tok(q) for q in q_text]
    lex_q = bm.scores(q_tok)
    # self-made rows: units usable as queries
    units = [u for u in range(len(L.unit_text)) if L.unit_kind[u] in ("q", "s")]
    u_owner = np.array([L.unit_owner[u] for u in units])
    u_tok = [tok(L.unit_text[u]) for u in units]
    lex_u = bm.scores(u_tok)
    lex_pos = lex_u.copy()
    for r, _unit in enumerate(units):
        lex_pos[r, u_owner[r]] = bm.score_without(u_tok[r], u_owner[r], u_tok[r])

    # ------------------------------------------------------------------ dense
    use_dense = reads or args.dense_feature
    if use_dense:
        qv = encode(args.model, q_text)
        dv = encode(args.model, L.doc_text)
        uv = encode(args.model, [L.unit_text[u] for u in units])
        D_q = entry_max(qv @ dv.T, owner, n)
        su = uv @ dv.T
        D_neg = entry_max(su, owner, n)
        for r, u in enumerate(units):
            su[r, [d for d in np.flatnonzero(owner == u_owner[r]) if u in L.doc_units[d]]] = -1.0
        D_pos = entry_max(su, owner, n)
    rows = np.arange(len(units))

    def fuse(D, X):
        return (D + args.bm25 * qnorm(X)) if reads else X  # lexical only: raw BM25

    S_q = fuse(D_q if reads else None, lex_q)
    # positives: the unit's own entry kept minus the unit; valid where anything of the entry remains
    S_pos = fuse(D_pos if reads else None, lex_pos)
    valid = (D_pos[rows, u_owner] > -1) if reads else (lex_pos[rows, u_owner] >= 0)
    # negatives: the entry left out
    lex_neg = lex_u.copy()
    lex_neg[rows, u_owner] = 0
    S_neg = fuse(D_neg if reads else None, lex_neg)
    S_neg[rows, u_owner] = -9
    if use_dense:
        D_neg2 = D_neg.copy()
        D_neg2[rows, u_owner] = -9
    cov_q = coverage_fn(bm, q_tok)

    def tf_pos(r, j):  # the positive's own entry lacks the unit's words
        tf = bm.tf[j]
        if j != u_owner[r]:
            return tf
        tf = tf.copy()
        for t in u_tok[r]:
            i = bm.vocab.get(t)
            if i is not None and tf[i] > 0:
                tf[i] -= 1
        return tf

    vi = np.flatnonzero(valid)
    cov_pos = coverage_fn(bm, [u_tok[r] for r in vi], lambda k, j: tf_pos(vi[k], j))
    cov_neg = coverage_fn(bm, u_tok)
    F_q = features(S_q, D_q if reads else None, lex_q, cov_q)
    F_pos = features(S_pos[valid], D_pos[valid] if reads else None, lex_pos[valid], cov_pos)
    F_neg = features(S_neg, D_neg2 if reads else None, lex_neg, cov_neg)
    pos_right = S_pos[valid].argmax(1) == u_owner[valid]
    if (
        use_dense and not reads
    ):  # dense as evidence only: its score for the lexical choice, its top, agreement

        def dfeat(S, D):
            ch = S.argmax(1)
            return np.stack([D[np.arange(len(D)), ch], D.max(1), (D.argmax(1) == ch).astype(np.float32)], 1)

        F_q = np.c_[F_q, dfeat(S_q, D_q)]
        F_pos = np.c_[F_pos, dfeat(S_pos[valid], D_pos[valid])]
        F_neg = np.c_[F_neg, dfeat(S_neg, D_neg2)]

    pred = [ids[i] for i in S_q.argmax(1)]
    right = np.array([p == e for p, e in zip(pred, expected)])
    h1, h5 = rank_stats(S_q, ids, expected)
    print(
        f"\n== {name} ({args.model}{'' if reads else ', lexical only: embedder does not read ' + str(lang)}): "
        f"{n} entries, kinds {','.join(kinds)}, {in_scope.sum()} in / {(~in_scope).sum()} oos; "
        f"self rows {valid.sum()} positives (right {pos_right.mean():.2f}) / {len(units)} nulls; "
        f"query langs {dict(zip(*np.unique(q_langs, return_counts=True)))}"
    )
    print(
        f"  ranking: hit@1 {h1:.3f} hit@5 {h5:.3f}; real right-answer top {np.median(F_q[right & in_scope, 0]):.3f} "
        f"vs self positive {np.median(F_pos[pos_right, 0]):.3f} (median); null {np.median(F_neg[:, 0]):.3f}"
    )

    def line(label, score, t):
        p, c, o, na = selective(score, pred, expected, t)
        print(f"  {label:14s} t={t:8.3f}  P {p:.3f} C {c:.3f} oos_abst {o:.3f} answered {na}")

    top_q = F_q[:, 0]
    baseline(faq, ids, queries, lang, tok, args, line_fn=print)
    line("null_q90", top_q, float(np.quantile(F_neg[:, 0], 0.9)))
    q_only = np.array([L.unit_kind[u] == "q" for u in units])
    line("nullQ_q90", top_q, float(np.quantile(F_neg[q_only, 0], 0.9)))
    line("est_p90", top_q, est_threshold(F_pos[:, 0], pos_right, F_neg[:, 0], args.target))
    line("est_p95", top_q, est_threshold(F_pos[:, 0], pos_right, F_neg[:, 0], 0.95))
    # logistic on the self-made rows (lr: top, margin, agreement, lexical top; lr+: also
    # second/top and the idf-weighted share of the query's words found in the top entry)
    yz = np.r_[pos_right, np.zeros(len(F_neg), bool)].astype(int)
    sets_ = [("lr", [0, 1, 2, 3]), ("lr+", list(range(6)))]
    if F_q.shape[1] > 6:
        sets_.append(("lr+d", list(range(F_q.shape[1]))))
    for tag, cols in sets_:
        if yz.min() == yz.max():
            break
        pr = fit_lr(np.r_[F_pos, F_neg][:, cols], yz)
        p_q, p_pos, p_neg = pr(F_q[:, cols]), pr(F_pos[:, cols]), pr(F_neg[:, cols])
        line(f"{tag}_null90", p_q, float(np.quantile(p_neg, 0.9)))
        line(f"{tag}_null95", p_q, float(np.quantile(p_neg, 0.95)))
        line(f"{tag}_est90", p_q, est_threshold(p_pos, pos_right, p_neg, args.target))
        o = oracle(p_q, pred, expected)
        print(f"  oracle({tag})    C {o[1]:.3f} oos {o[2]:.3f}" if o else f"  oracle({tag}) none")
    if reads:
        ag_q, ag_n = F_q[:, 2] > 0, F_neg[:, 2] > 0
        t = float(np.quantile(F_neg[ag_n, 0], 0.9)) if ag_n.any() else 9
        line("agree_null90", np.where(ag_q, top_q, -9), t)
        t2 = float(np.quantile(F_neg[:, 0], 0.9))
        ans = (ag_q & (top_q >= t)) | (top_q >= t2)
        line("agree|null90", ans.astype(float), 0.5)
    o = oracle(top_q, pred, expected)
    print(f"  oracle(top)    C {o[1]:.3f} oos {o[2]:.3f}" if o else "  oracle(top) none")


def baseline(faq, ids, queries, lang, tok, args, line_fn=print):
    """exp_selective's fused and bm25 scorers with its LOO q0.9 threshold, recomputed here."""
    n = len(faq)
    q_text = [q for q, _ in queries]
    expected = [e for _, e in queries]
    bm = BM25([tok(" ".join([e["question"], *e["alts"], e["answer"]])) for e in faq])
    lex = bm.scores([tok(q) for q in q_text])
    loo_lex = bm.scores([tok(e["question"]) for e in faq])
    np.fill_diagonal(loo_lex, 0)
    out = {"bm25": (lex, loo_lex)}
    if True:  # the baseline's dense part is MiniLM, whatever the language (as exp_selective)
        L = build_layout(faq, kinds=("q", "chunk"), answer_units=False)
        owner, kind = np.array(L.doc_owner), np.array(L.doc_kind)
        dv = encode("minilm", L.doc_text)
        w = np.where(kind == "q", 1.0, 0.9).astype(np.float32)
        D = entry_max(encode("minilm", q_text) @ dv.T, owner, n, w)
        Dl = entry_max(encode("minilm", [e["question"] for e in faq]) @ dv.T, owner, n, w)
        np.fill_diagonal(Dl, -1)
        scale = float(np.median(loo_lex.max(1))) or 1.0
        out["fused"] = (D + 0.3 * np.minimum(lex / scale, 2.0), Dl + 0.3 * np.minimum(loo_lex / scale, 2.0))
        mq = kind == "q"
        Dq = entry_max(encode("minilm", q_text) @ dv[mq].T, owner[mq], n)
        out["dense_q"] = (Dq, None)
    for k, (S, Ln) in out.items():
        pred = [ids[i] for i in S.argmax(1)]
        h1, h5 = rank_stats(S, ids, expected)
        msg = f"  base_{k:9s} hit@1 {h1:.3f} hit@5 {h5:.3f}"
        if Ln is not None:
            for qq in (0.75, 0.9):
                t = float(np.quantile(Ln.max(1), qq))
                p, c, o, na = selective(S.max(1), pred, expected, t)
                msg += f" | LOO q{qq}: P {p:.3f} C {c:.3f} oos_abst {o:.3f}"
            o = oracle(S.max(1), pred, expected)
            msg += f" | oracle C {o[1]:.3f}" if o else " | oracle none"
        line_fn(msg)


if __name__ == "__main__":
    main()
