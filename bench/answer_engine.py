"""Answer engine: served tokens/s against a raw runtime loop, time to first token, end-to-end ask
latency at 1, 4 and 16 concurrent askers, peak memory.

    .venv/bin/python bench/answer_engine.py            # needs `supportbot model install` first
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.container import Container  # noqa: E402
from bot.llm.base import GenerationParams  # noqa: E402
from bot.prompts import ContextEntry, build_prompt  # noqa: E402
from bot.settings import Settings  # noqa: E402
from retrieval.faq import load_faq  # noqa: E402

QUESTIONS = [
    "my vpn password stopped working",
    "where do I download my salary slip",
    "how do I book days off",
    "my access card stopped working at the door",
]


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    user = Container(Settings())
    user.ensure_schema()
    model_path = Path(user.models.load_active().runtime.path)

    with tempfile.TemporaryDirectory(prefix="supportbot-bench-") as tmp:
        settings = Settings(
            data_dir=Path(tmp),
            model_path=model_path,
            max_new_tokens=args.tokens,
            generation_timeout_s=600,
            queue_capacity=64,
        )
        c = Container(settings)
        c.ensure_schema()
        c.index.import_items(load_faq(ROOT / "examples" / "faq.csv"))
        top = c.index.search(QUESTIONS[0], 1)[0]
        # No stop sequences and a fixed length: both loops produce exactly the same tokens.
        prompt = build_prompt(QUESTIONS[0], [ContextEntry(top.id, top.question, top.answer)])
        params = lambda: GenerationParams(max_new_tokens=args.tokens)  # noqa: E731

        engine = c.engine.start()
        raw_rt = engine.model.runtime
        raw_rates, served_rates, ttft = [], [], []
        for _ in range(args.repeats):
            # raw: ctransformers' own generate loop, nothing of ours around it but a counter
            llm = raw_rt._llm
            t0 = time.perf_counter()
            ids = []
            for tok in llm.generate(
                llm.tokenize(prompt, add_bos_token=False),
                top_k=1,
                temperature=1.0,
                repetition_penalty=1.0,
                reset=True,
            ):
                ids.append(tok)
                if len(ids) >= args.tokens:
                    break
            llm.detokenize(ids)
            raw_rates.append(len(ids) / (time.perf_counter() - t0))
            # served: through the engine's queue and worker thread, consumed as a stream
            t0 = time.perf_counter()
            job = engine.submit(prompt, params())
            first = None
            for _piece in job.stream():
                first = first or time.perf_counter() - t0
            result = job.wait()
            served_rates.append(result.tokens / (time.perf_counter() - t0))
            ttft.append(first * 1000)

        e2e = {}
        for n in (1, 4, 16):
            latencies: list[float] = []
            lock = threading.Lock()

            def asker(i):
                t = time.perf_counter()
                r = c.answers.ask(QUESTIONS[i % len(QUESTIONS)], user_id=f"U{i}")
                with lock:
                    latencies.append((time.perf_counter() - t) * 1000)
                assert not r.abstained

            threads = [threading.Thread(target=asker, args=(i,)) for i in range(n)]
            t0 = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            e2e[n] = {
                "answered": len(latencies),
                "p50_ms": round(statistics.median(latencies)),
                "p95_ms": round(pct(latencies, 95)),
                "wall_s": round(time.perf_counter() - t0, 1),
            }
        engine.stop()

    raw, served = statistics.median(raw_rates), statistics.median(served_rates)
    result = {
        "tokens_per_answer": args.tokens,
        "raw_tokens_per_s": round(raw, 1),
        "served_tokens_per_s": round(served, 1),
        "served_vs_raw": round(served / raw, 3),
        "ttft_p50_ms": round(statistics.median(ttft)),
        "e2e": e2e,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    print(f"raw runtime loop     {result['raw_tokens_per_s']} tokens/s")
    print(f"served (engine)      {result['served_tokens_per_s']} tokens/s  ({result['served_vs_raw']}x raw)")
    print(f"time to first token  {result['ttft_p50_ms']} ms (p50)")
    for n, row in e2e.items():
        print(
            f"ask x{n:<2} concurrent   p50 {row['p50_ms']} ms  p95 {row['p95_ms']} ms  "
            f"answered {row['answered']}/{n}  wall {row['wall_s']} s"
        )
    print(f"peak RSS             {result['peak_rss_mb']} MB")
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
