"""Concise answers from long entries (issue 16 item 4), on the public real-FAQ-shaped set.

doc2dial_gov_en (read at run time from ../shared/data, nothing copied): 208 help-page sections as
FAQ entries; its qa.jsonl gives, per in-scope question, the reference answer an agent wrote, which
is a span of the entry's text. For each such question the product's reply is built as the answer
service builds it (bot.services.concise.lead with the index's own passage_scores) from the entry
retrieval cites, and from the right entry (so a retrieval miss does not hide what the lead keeps).
Measured next to the entry sent whole and to a lead by position (the entry's first sentences, up to
the same length), in the same run, on the questions whose entry is long enough to be led:

- reply length (characters, median and 90th percentile);
- reference recall: the share of the reference answer's words (ROUGE-L recall) the reply holds;
- on topic: the share of the reply's words that are in the reference (ROUGE-L precision);
- holds a reference sentence: replies with at least one sentence the reference answer says.
doc2dial's references are long (a median of 775 characters where the entry is long enough to be
led), so no lead of about three sentences holds a whole one: on topic and the reference sentence
say whether the lead is the right part of the entry.

    .venv/bin/python bench/concise_answers.py [--set doc2dial_gov_en] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.container import Container, quiet_libraries  # noqa: E402
from bot.services.concise import LEAD_CHARS, lead, units  # noqa: E402
from bot.services.evaluation import rouge_l_score  # noqa: E402
from bot.settings import Settings  # noqa: E402
from retrieval.faq import load_faq  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
HOLDS = 0.8


def rouge(reply: str, reference: str) -> tuple[float, float]:
    """(recall: the share of the reference the reply holds, precision: the share of the reply that
    is in the reference), ROUGE-L as the product scores it (words of any script)."""
    score = rouge_l_score(reply, reference)
    return score.recall, score.precision


def holds_a_reference_sentence(reply: str, reference: str) -> bool:
    """Whether some sentence of the reply is one the reference answer says (the share of that
    sentence's words found in the reference, ROUGE-L, of at least HOLDS)."""
    return any(rouge(unit, reference)[1] >= HOLDS for unit in units(reply))


def by_position(answer: str, limit: int = LEAD_CHARS) -> str:
    parts, out, size = units(answer), [], 0
    for p in parts:
        if out and size + 1 + len(p) > limit:
            break
        out.append(p)
        size += len(p) + (1 if len(out) > 1 else 0)
    return " ".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--set", default="doc2dial_gov_en")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    quiet_libraries()
    folder = DATA / args.set
    items = load_faq(folder / "faq.csv")
    by_id = {it.id: it for it in items}
    qa = [json.loads(line) for line in (folder / "qa.jsonl").read_text().splitlines() if line.strip()]
    qa = [q for q in qa if q.get("expected_id") and q.get("reference_answer")]
    with tempfile.TemporaryDirectory() as tmp:
        c = Container(Settings(data_dir=Path(tmp), tune_on_import=False))
        c.ensure_schema()
        started = time.perf_counter()
        c.index.import_items(items)
        print(
            f"{args.set}: {len(items)} entries imported in {time.perf_counter() - started:.0f} s; "
            f"{len(qa)} questions with a reference answer"
        )
        rows = {"whole entry": [], "lead by position": [], "lead (product)": []}
        cited_rows, cited_right, long_entries = [], 0, 0
        for q in qa:
            entry = by_id[q["expected_id"]]
            found = lead(q["question"], entry.answer, c.index.passage_scores)
            if found is None:
                continue  # a short entry goes out whole: every variant is the same
            long_entries += 1
            replies = {
                "whole entry": entry.answer,
                "lead by position": by_position(entry.answer),
                "lead (product)": found.text,
            }
            for name, text in replies.items():
                ref = q["reference_answer"]
                rec, prec = rouge(text, ref)
                rows[name].append((len(text), rec, prec, holds_a_reference_sentence(text, ref)))
            retrieved = c.index.retrieve(q["question"], k=1)
            if not retrieved.abstain and retrieved.top.id == entry.id:
                cited_right += 1
                cited_rows.append(rows["lead (product)"][-1])
    out = {"set": args.set, "n": len(qa), "led": long_entries, "retrieved_right": cited_right, "variants": {}}
    print(
        f"{long_entries} of {len(qa)} right entries are long enough to be led "
        f"(> {c.settings.long_answer_chars} characters); retrieval cites the right entry for {cited_right}"
    )
    print(
        f"{'reply':<32}{'chars p50':>10}{'chars p90':>10}{'ref recall':>12}{'on topic':>10}{'holds a ref sentence':>22}"
    )
    for name, values in {**rows, "lead, where retrieval is right": cited_rows}.items():
        if not values:
            continue
        chars = np.array([v[0] for v in values])
        rec = np.array([v[1] for v in values])
        prec = np.array([v[2] for v in values])
        figures = {
            "chars_p50": float(np.percentile(chars, 50)),
            "chars_p90": float(np.percentile(chars, 90)),
            "reference_recall": round(float(rec.mean()), 3),
            "on_topic": round(float(prec.mean()), 3),
            "holds_reference_sentence": round(float(np.mean([v[3] for v in values])), 3),
            "n": len(values),
        }
        out["variants"][name] = figures
        print(
            f"{name:<32}{figures['chars_p50']:>10.0f}{figures['chars_p90']:>10.0f}"
            f"{figures['reference_recall']:>12.3f}{figures['on_topic']:>10.3f}"
            f"{figures['holds_reference_sentence']:>22.3f}"
        )
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
