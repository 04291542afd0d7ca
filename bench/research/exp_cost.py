"""Issue #15: cost of the recommended design on doc2dial (the largest long-answer FAQ here).

Import-time: encoding the extra documents (heading-prefixed 3-sentence windows) and the self-made
query rows (answer sentences), fitting the per-FAQ logistic model. Query-time: scoring one query
(dense max over documents, BM25, features, logistic probability) excluding the query embedding.
Reports process CPU seconds beside wall seconds: the machine is shared, wall time is inflated.

    nice -n 15 .venv/bin/python bench/research/exp_cost.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sel_common import BM25, build_layout, entry_max, load_set, model_path  # noqa: E402

from retrieval.language import analyzer  # noqa: E402


def clock():
    return time.perf_counter(), time.process_time()


def since(t):
    w, c = clock()
    return f"wall {w - t[0]:.2f}s cpu {c - t[1]:.2f}s"


def main() -> None:
    import torch
    from sentence_transformers import SentenceTransformer
    from sklearn.linear_model import LogisticRegression

    torch.set_num_threads(2)
    faq, queries = load_set("doc2dial_gov_en")
    an = analyzer("en")
    t = clock()
    m = SentenceTransformer(model_path("minilm"), device="cpu", local_files_only=True)
    print("load MiniLM", since(t))
    L = build_layout(faq, kinds=("q", "chunk"))
    L2 = build_layout(faq, kinds=("q", "hwin3"))
    chunks = [d for d, k in zip(L.doc_text, L.doc_kind) if k == "chunk"]
    wins = [d for d, k in zip(L2.doc_text, L2.doc_kind) if k == "hwin3"]
    units = [u for u, k in zip(L2.unit_text, L2.unit_kind) if k == "s"]
    for label, texts in (
        ("chunks (today's documents)", chunks),
        ("heading+3-sentence windows", wins),
        ("answer sentences (self-made rows)", units),
    ):
        t = clock()
        m.encode(texts, batch_size=32, normalize_embeddings=True, show_progress_bar=False)
        print(f"encode {len(texts)} {label}", since(t))
    # scoring cost per query
    rng = np.random.default_rng(0)
    D = rng.standard_normal((len(L2.doc_text), 384)).astype(np.float32)
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    owner = np.array(L2.doc_owner)
    bm = BM25([an.tokens(" ".join([e["question"], e["answer"]])) for e in faq])
    X = rng.standard_normal((3000, 4))
    y = rng.integers(0, 2, 3000)
    t = clock()
    lr = LogisticRegression(max_iter=1000).fit(X, y)
    print("fit logistic on 3000 self-made rows", since(t))
    qs = [q for q, _ in queries[:200]]
    qv = rng.standard_normal((len(qs), 384)).astype(np.float32)
    t = clock()
    for i, q in enumerate(qs):
        d = entry_max((D @ qv[i])[None, :], owner, len(faq))
        x = bm.scores([an.tokens(q)])
        top = x.max()
        s = d + 0.3 * (x / top if top > 0 else x)
        ss = np.sort(s[0])
        lr.predict_proba(np.array([[ss[-1], ss[-1] - ss[-2], float(d.argmax() == x.argmax()), top]]))
    w, c = clock()
    print(
        f"score one query ({len(L2.doc_text)} documents, {len(faq)} entries): "
        f"wall {(w - t[0]) / len(qs) * 1000:.2f} ms cpu {(c - t[1]) / len(qs) * 1000:.2f} ms"
    )


if __name__ == "__main__":
    main()
