"""Why doc2dial's precision falls as admins teach phrasings (research, issue 17).

The learning replay (bench/learning_public.py --sets doc2dial_gov_en) shows precision on the test half
falling from 0.935 to 0.871 over five days while the threshold stays put. This probe does the five
days at once: the FAQ imported untuned (as the product leaves it), the test half asked, every in-scope
question of the stream half taught to its labelled entry (what approve, correct and attach do), the
test half asked again. It prints both tallies and, for every test question that was refused or right
before and is answered wrongly after, the entry it got and the text that matched (kind "learned": a
taught phrasing).

    .venv/bin/python bench/research/exp_learned_siblings.py [--data /tmp/sets]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import retrieval_public  # noqa: E402

from bot.container import Container  # noqa: E402
from bot.settings import Settings  # noqa: E402

SET = "doc2dial_gov_en"


def ask(c: Container, test: list[dict]) -> list[dict]:
    out = []
    for q in test:
        r = c.index.retrieve(q["query"], 5)
        top = r.top
        out.append(
            {
                "query": q["query"],
                "expected": q["expected_id"],
                "top": top.id if top else None,
                "confidence": r.confidence,
                "abstain": r.abstain,
                "kind": top.matched_kind if top else None,
                "matched": top.matched if top else "",
                "threshold": r.threshold,
            }
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=retrieval_public.DATA)
    args = ap.parse_args()
    retrieval_public.DATA = args.data
    items, _ = retrieval_public.load_set(SET, 0)
    lines = (args.data / SET / "queries.jsonl").read_text(encoding="utf-8").splitlines()
    queries = [json.loads(line) for line in lines if line.strip()]
    random.Random(0).shuffle(queries)  # the split bench/learning_public.py makes
    stream, test = queries[: len(queries) // 2], queries[len(queries) // 2 :]
    with tempfile.TemporaryDirectory(prefix="siblings-") as tmp:
        c = Container(Settings(_env_file=None, data_dir=Path(tmp), tune_on_import=False))
        c.ensure_schema()
        c.index.import_items(items)
        before = ask(c, test)
        taught = sum(c.index.learn_phrasing(q["expected_id"], q["query"]) for q in stream if q["expected_id"])
        after = ask(c, test)
        c.close()
    print(f"{SET}: {taught} phrasings taught from the stream half; test half {len(test)} questions")
    for name, res in (("before", before), ("after", after)):
        answered = [r for r in res if not r["abstain"]]
        right = sum(r["top"] == r["expected"] for r in answered)
        print(f"  {name}: {len(answered)} answers, {right} right, threshold {res[0]['threshold']:.4f}")
    for b, a in zip(before, after):
        if not a["abstain"] and a["top"] != a["expected"] and (b["abstain"] or b["top"] == b["expected"]):
            was = "refused" if b["abstain"] else "right"
            print(f"\n  newly wrong ({was} before, confidence {b['confidence']:.3f}): {a['query'][:150]}")
            print(f"    expected {a['expected']}")
            print(
                f"    answered {a['top']} at {a['confidence']:.3f}, matched {a['kind']}: {a['matched'][:150]}"
            )


if __name__ == "__main__":
    main()
