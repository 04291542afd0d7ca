"""Research (issues 15, 17): would questions admins rejected, kept as "off-topic" neighbours, stop the
bot answering their like?

Today a rejection records a hard negative, which only the next embedder tuning uses: for an index
ranked on words (a language the embedder does not read, crosswoz_zh) or an untuned one (doc2dial) it
teaches nothing, and on every set off-topic questions are most of the wrong answers. Rasa keeps an
out_of_scope intent for this; here the estimate is:

1. the set split as bench/learning_public.py splits it (the stream half, the test half);
2. the FAQ imported and tuned as `faq import` does; every in-scope stream question learned as a
   phrasing of its entry (what approve / correct / attach teach, without the nightly re-tune);
3. the stream's out-of-scope questions that the product answers: what an admin would reject;
4. the test half asked: the product's answers as they are ("shipped"); then the rejected questions
   imported as entries of their own, and an answer vetoed when such an entry ranks first
   ("veto"); everything else as shipped.

    .venv/bin/python bench/research/exp_rejected_neighbours.py [--sets hint3_powerplay11_en,crosswoz_zh]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from learning_public import build  # noqa: E402

from bot.container import Container  # noqa: E402
from bot.settings import Settings  # noqa: E402
from retrieval.faq import FaqItem, load_faq  # noqa: E402
from retrieval.tune import TuneError  # noqa: E402

SETS = "hint3_powerplay11_en,crosswoz_zh,chitchat_fr,chitchat_es,doc2dial_gov_en"
PREFIX = "rejected-"


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def figures(test: list[dict], decisions: list[str | None]) -> str:
    n_in = sum(q["expected_id"] is not None for q in test)
    answers = [(q, d) for q, d in zip(test, decisions, strict=True) if d is not None]
    right = sum(q["expected_id"] == d for q, d in answers)
    oos_answered = sum(q["expected_id"] is None for q, _ in answers)
    return (
        f"P {right / max(1, len(answers)):.3f} C {right / max(1, n_in):.3f} answers {len(answers)} "
        f"(right {right}, wrong in scope {len(answers) - right - oos_answered}, out of scope {oos_answered})"
    )


def run(name: str, folder: Path) -> None:
    faq, stream_path, test_path = build(name, folder, 0)
    stream, test = read(stream_path), read(test_path)
    c = Container(Settings(_env_file=None, data_dir=folder / "data"))
    c.ensure_schema()
    c.index.import_items(load_faq(faq))
    try:
        c.tune_embedder()
    except TuneError as exc:
        print(f"  (not tuned: {exc})")
    rejected = []
    for q in stream:
        r = c.index.retrieve(q["query"], 5)
        if q["expected_id"] is None and not r.abstain:
            rejected.append(q["query"])
    for q in stream:
        if q["expected_id"] is not None:
            c.index.learn_phrasing(q["expected_id"], q["query"])
    shipped = []
    for q in test:
        r = c.index.retrieve(q["query"], 5)
        shipped.append(None if r.abstain or not r.hits else r.hits[0].id)
    n_oos = sum(q["expected_id"] is None for q in stream)
    print(f"\n== {name}: stream {len(stream)} ({n_oos} out of scope, {len(rejected)} answered -> rejected)")
    print(f"  shipped  {figures(test, shipped)}")
    c.index.import_items(
        [FaqItem(id=f"{PREFIX}{n}", question=text, answer=text) for n, text in enumerate(rejected)]
    )
    vetoed = []
    for q, d in zip(test, shipped, strict=True):
        r = c.index.retrieve(q["query"], 5)
        top = r.hits[0].id if r.hits else ""
        vetoed.append(None if top.startswith(PREFIX) else d)
    print(f"  veto     {figures(test, vetoed)}")
    c.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sets", default=SETS)
    args = ap.parse_args()
    for name in args.sets.split(","):
        with tempfile.TemporaryDirectory(prefix="supportbot-rejected-") as tmp:
            run(name, Path(tmp))


if __name__ == "__main__":
    main()
