"""Retrieval at scale: ingest rate and query latency with ~100k indexed chunks.

Synthetic FAQ built from CLINC150 utterances (CC BY 3.0, read from ../shared/data/clinc150; not
copied into the project): each entry has a question, 3 alternative phrasings and a one-chunk answer,
so N entries make 5N chunks. Figures are printed next to the raw components measured in the same
run: the embedder alone (chunks/s) and a bare Chroma query on a precomputed embedding (ms), and
next to the plain-dense baseline (max cosine over an entry's phrasings) on the same index.

Queries are timed only once the process is idle again: Chroma goes on indexing in background
threads after an import returns, and on 2 cores that work doubles every latency measured meanwhile.
`--tune` also tunes the embedder to the FAQ (as `faq import` does by default) and times the tuned
query path, which embeds each query twice (tuned and base) for abstention.

    .venv/bin/python bench/retrieval_scale.py --chunks 100000 [--tune]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.container import Container  # noqa: E402
from bot.settings import Settings  # noqa: E402
from retrieval.embedder import get_embedder  # noqa: E402
from retrieval.faq import FaqItem  # noqa: E402
from retrieval.index import FaqIndex  # noqa: E402
from retrieval.scoring import ScoringWeights  # noqa: E402
from retrieval.tune import TuneParams  # noqa: E402

CLINC = ROOT.parent / "shared" / "data" / "clinc150" / "data_full_without_oos_test.json"


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def wait_idle(max_s: float = 900, window_s: float = 5.0, busy_below: float = 0.1) -> float:
    """Wait until this process uses under ``busy_below`` of a core over ``window_s``; seconds waited."""
    import os

    start = time.perf_counter()
    while time.perf_counter() - start < max_s:
        t = os.times()
        time.sleep(window_s)
        u = os.times()
        if (u.user + u.system - t.user - t.system) / window_s < busy_below:
            break
    return time.perf_counter() - start


def timed(fn, queries: list[str]) -> list[float]:
    out = []
    for q in queries:
        t = time.perf_counter()
        fn(q)
        out.append((time.perf_counter() - t) * 1000)
    return out


def synthetic_faq(n_entries: int, seed: int = 0) -> tuple[list[FaqItem], list[str]]:
    data = json.loads(CLINC.read_text())
    pool = [t for split in ("train", "val") for t, _ in data[split]]
    queries = [t for t, _ in data["test"]]
    rng = random.Random(seed)
    items = []
    for i in range(n_entries):
        q, a1, a2, a3, s1, s2, s3 = rng.sample(pool, 7)
        items.append(FaqItem(id=f"e{i}", question=q, alt_questions=(a1, a2, a3), answer=f"{s1}. {s2}. {s3}."))
    rng.shuffle(queries)
    return items, queries


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chunks", type=int, default=100_000, help="indexed chunks (5 per entry)")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--tune", action="store_true", help="then tune the embedder and time the tuned path too")
    ap.add_argument("--json", action="store_true", help="print one JSON object at the end")
    args = ap.parse_args()

    items, queries = synthetic_faq(args.chunks // 5)
    queries = queries[: args.queries]
    with tempfile.TemporaryDirectory(prefix="supportbot-bench-") as tmp:
        c = Container(Settings(data_dir=Path(tmp)))
        c.ensure_schema()
        index = c.index

        # Raw embedder throughput on the same kind of text, same batch size as import.
        sample = [t for it in items[:1000] for t in (*it.phrasings, it.answer)]
        c.embedder.encode(sample[:64])
        t0 = time.perf_counter()
        c.embedder.encode(sample)
        raw_rate = len(sample) / (time.perf_counter() - t0)

        t0 = time.perf_counter()
        last = [0.0]

        def progress(n: int) -> None:
            done = progress.done = getattr(progress, "done", 0) + n
            if time.perf_counter() - last[0] > 15:
                last[0] = time.perf_counter()
                print(f"  imported {done}/{len(items)} entries", file=sys.stderr, flush=True)

        index.import_items(items, progress=progress)
        ingest_s = time.perf_counter() - t0
        n_chunks = c.store.count()

        settle_s = wait_idle()
        # Query latencies: bare Chroma on a precomputed embedding, plain dense search, product path.
        plain = FaqIndex(
            c.sessions,
            c._store_for,
            get_embedder,
            collection=c.settings.chroma_collection,
            weights=ScoringWeights(temperature=0.0, centroid=0.0, bm25=0.0),
        )
        embeddings = c.embedder.encode(queries)
        index.retrieve(queries[0])
        plain.retrieve(queries[0])
        raw = []
        for e in embeddings:  # Chroma's own HNSW search, as a floor: the product never queries it
            t = time.perf_counter()
            c.store.collection.query(
                query_embeddings=[e], n_results=20, include=["documents", "metadatas", "distances"]
            )
            raw.append((time.perf_counter() - t) * 1000)  # noqa: E702
        dense = timed(lambda q: plain.retrieve(q, 5), queries)
        product = timed(lambda q: index.retrieve(q, 5), queries)
        tuned: dict = {}
        if args.tune:
            t0 = time.perf_counter()
            index.tune(Path(tmp) / "embedders", TuneParams())
            tuned["tune_and_reindex_s"] = round(time.perf_counter() - t0, 1)
            tuned["tuned_settle_s"] = round(wait_idle(), 1)
            index.retrieve(queries[0])
            ms = timed(lambda q: index.retrieve(q, 5), queries)
            tuned["tuned_query_p50_ms"] = round(statistics.median(ms), 2)
            tuned["tuned_query_p95_ms"] = round(percentile(ms, 95), 2)

    result = {
        "entries": len(items),
        "chunks": n_chunks,
        "ingest_s": round(ingest_s, 1),
        "ingest_chunks_per_s": round(n_chunks / ingest_s, 1),
        "raw_embedder_chunks_per_s": round(raw_rate, 1),
        "ingest_vs_raw_embedder": round(n_chunks / ingest_s / raw_rate, 3),
        "settle_s": round(settle_s, 1),
        "query_p50_ms": round(statistics.median(product), 2),
        "query_p95_ms": round(percentile(product, 95), 2),
        "plain_dense_p50_ms": round(statistics.median(dense), 2),
        "plain_dense_p95_ms": round(percentile(dense, 95), 2),
        "raw_chroma_query_p50_ms": round(statistics.median(raw), 2),
        "raw_chroma_query_p95_ms": round(percentile(raw, 95), 2),
        **tuned,
    }
    width = max(map(len, result))
    for k, v in result.items():
        print(f"{k:<{width}}  {v}")
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
