"""Knowledge-gap topics on a public set with known intents (issue 17 item 5).

CLINC150 (read at run time from ../shared/data/clinc150, nothing copied): the test utterances of
``--intents`` intents drawn at random (30 each) and the out-of-scope val utterances play the
questions the bot could not answer. They go through the product's clustering
(bot.services.gaps.GapService._cluster, the bundled MiniLM) at the shipped distance and beside it;
for the top ``--top`` topics by size: purity (share of a topic's questions from its most common
intent, out-of-scope counted as its own "intent"), how many intents the top topics cover, and how
gathered each in-scope intent is (the share of its questions in its largest topic).

    .venv/bin/python bench/knowledge_gaps.py [--intents 20] [--top 10] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.services.gaps import GAP_DISTANCE, GapService  # noqa: E402
from retrieval.embedder import get_embedder  # noqa: E402

DATA = ROOT.parent / "shared" / "data"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--intents", type=int, default=20)
    ap.add_argument("--top", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    data = json.loads((DATA / "clinc150" / "data_full_without_oos_test.json").read_text())
    rng = random.Random(args.seed)
    intents = rng.sample(sorted({i for _, i in data["test"]}), args.intents)
    rows = [(t, i) for t, i in data["test"] if i in intents] + [(t, "oos") for t, _ in data["oos_val"]]
    vectors = get_embedder().encode([t for t, _ in rows])
    print(f"{len(rows)} questions: {args.intents} intents x 30 + {len(data['oos_val'])} out of scope")
    print(
        f"{'distance':>9}{'topics':>8}{'top purity':>12}{'intents in top':>16}{'in top':>8}{'gathered':>10}"
    )
    for distance in sorted({0.4, 0.5, GAP_DISTANCE, 0.6, 0.65, 0.7}):
        labels = GapService(None, None, distance=distance)._cluster(vectors)
        sizes = Counter(labels)
        top = [lab for lab, _ in sizes.most_common(args.top)]
        majority, covered, members = 0, set(), 0
        for lab in top:
            intents_here = Counter(rows[i][1] for i, x in enumerate(labels) if x == lab)
            name, count = intents_here.most_common(1)[0]
            majority += count
            members += sum(intents_here.values())
            covered.add(name)
        # gathered: per intent, the share of its questions in its largest topic (1.0: one topic each)
        by_intent: dict[str, Counter] = {}
        for (_, name), lab in zip(rows, labels):
            by_intent.setdefault(name, Counter())[lab] += 1
        in_scope = [c for name, c in by_intent.items() if name != "oos"]
        gathered = sum(c.most_common(1)[0][1] for c in in_scope) / sum(sum(c.values()) for c in in_scope)
        mark = "  (shipped)" if distance == GAP_DISTANCE else ""
        print(
            f"{distance:>9.2f}{len(sizes):>8}{majority / members:>12.3f}{len(covered):>16}{members:>8}"
            f"{gathered:>10.3f}{mark}"
        )


if __name__ == "__main__":
    main()
