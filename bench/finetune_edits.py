"""Does the nightly fine-tune learn from admins' edits? (issue 16, item 5)

A simulated edit set from a public real-FAQ-shaped set (../shared/data/doc2dial_gov_en: government
FAQ sections with long answers, and questions people asked of them): for each in-scope question,
the admin's edit keeps the ``--keep`` sentences of the entry's answer that share the most words with
the question, in the entry's order, and drops the rest. That is what an admin shortening a long
answer does, and it is chosen without the product's embedder or ranking, so the benchmark does not
grade the product against itself. The edits are imported as approved transcripts (what an
Edit & approve becomes) and the real nightly pipeline runs on them: LoRA fine-tune of the bundled
model, export, and the promotion gate on the held-out edits (questions the fine-tune never saw).

Figures on the held-out edits, same run:
- ROUGE-L against the edit of: the FAQ text as written (the whole entry answer, what a bot that
  does not learn sends), the base model, the fine-tuned candidate;
- the share of each model's answers the serving guard accepts (faithful), and the mean answer length.

    .venv/bin/python bench/finetune_edits.py [--transcripts 150] [--keep 2] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.container import Container  # noqa: E402
from bot.llm.registry import install_base_model  # noqa: E402
from bot.services.evaluation import rouge_l  # noqa: E402
from bot.settings import Settings  # noqa: E402
from finetune.pipeline import FinetunePipeline  # noqa: E402
from retrieval.chunking import split_sentences  # noqa: E402
from retrieval.faq import load_faq  # noqa: E402
from retrieval.language import analyzer  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "doc2dial_gov_en"


def simulated_edits(keep: int, limit: int, seed: int) -> tuple[list, list[dict]]:
    """(FAQ items, transcripts): one edit per in-scope question, as an admin shortening the answer."""
    items = load_faq(DATA / "faq.csv")
    by_id = {i.id: i for i in items}
    words = analyzer("en")
    rows = []
    for line in (DATA / "queries.jsonl").read_text(encoding="utf-8").splitlines():
        q = json.loads(line) if line.strip() else None
        if not q or q["expected_id"] not in by_id:
            continue
        entry = by_id[q["expected_id"]]
        sentences = split_sentences(" ".join(entry.answer.split()))
        if len(sentences) <= keep:
            continue  # already short: an admin would approve it as written
        asked = set(words.tokens(q["query"]))
        overlap = [len(asked & set(words.tokens(s))) for s in sentences]
        chosen = sorted(sorted(range(len(sentences)), key=lambda i: (-overlap[i], i))[:keep])
        edit = " ".join(sentences[i] for i in chosen)
        rows.append({"question": q["query"], "answer": edit, "faq_ids": [entry.id]})
    random.Random(seed).shuffle(rows)
    return items, rows[:limit]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--transcripts", type=int, default=150, help="simulated edits to import")
    ap.add_argument("--keep", type=int, default=2, help="sentences an edit keeps")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="one JSON object on the last line")
    args = ap.parse_args()

    items, rows = simulated_edits(args.keep, args.transcripts, args.seed)
    answers = {i.id: i.answer for i in items}
    with tempfile.TemporaryDirectory(prefix="supportbot-edits-bench-") as tmp:
        c = Container(Settings(data_dir=Path(tmp)))
        c.ensure_schema()
        with c.sessions() as session:
            install_base_model(session, c.settings.models_dir)
            session.commit()
        c.index.import_items(items)
        c.reviews.transcripts.import_rows(rows)
        started = time.perf_counter()
        last = [0.0]

        def progress(stage: str, done: int, total: int) -> None:
            now = time.perf_counter() - started
            if not args.json and (done == total or now - last[0] > 30):
                last[0] = now
                print(f"  {now:7.1f}s  {stage:<9} {done}/{total}", flush=True)

        report = FinetunePipeline(c, progress=progress).run(force=True)
        held = [
            json.loads(line)
            for line in (Path(tmp) / "finetune" / f"run-{report.run_id}" / "held_out.jsonl")
            .read_text(encoding="utf-8")
            .splitlines()
            if line.strip()
        ]

    # The FAQ text as written, against the same held-out edits the gate scored the models on.
    as_written = [rouge_l(answers[e["input"][0]["id"]] if e["input"] else "", e["output"]) for e in held]
    out = {
        "set": "doc2dial_gov_en",
        "transcripts": len(rows),
        "keep_sentences": args.keep,
        "status": report.status,
        "n_train": report.n_train,
        "n_held_out": len(held),
        "wall_s": round(report.duration_s, 1),
        "edit_chars_mean": round(sum(len(e["output"]) for e in held) / max(1, len(held))),
        "faq_chars_mean": round(
            sum(len(answers[e["input"][0]["id"]]) for e in held if e["input"]) / max(1, len(held))
        ),
        "held_out": {
            "faq_as_written_rougeL": round(sum(as_written) / max(1, len(as_written)), 4),
            "base": report.metrics.get("served", {}).get("held_out"),
            "tuned": report.metrics.get("candidate", {}).get("held_out"),
        },
        "regression": {
            "base": report.metrics.get("served", {}).get("regression"),
            "tuned": report.metrics.get("candidate", {}).get("regression"),
        },
        "gate": report.message,
    }
    if args.json:
        print(json.dumps(out))
        return
    print(
        f"\n{out['transcripts']} simulated edits ({args.keep} sentences kept): {report.n_train} train, "
        f"{len(held)} held out; run {report.status} in {report.duration_s:.0f} s"
    )
    print(f"edit {out['edit_chars_mean']} chars on average, the entry as written {out['faq_chars_mean']}")
    h = out["held_out"]
    print(f"held-out edits ROUGE-L: FAQ as written {h['faq_as_written_rougeL']:.3f}", end="")
    for name in ("base", "tuned"):
        if h[name]:
            print(f" | {name} {h[name]['rougeL']:.3f} (faithful {h[name]['grounded']:.2f})", end="")
    print()
    for name in ("base", "tuned"):
        r = out["regression"][name]
        if r:
            print(f"regression (FAQ entries) {name}: ROUGE-L {r['rougeL']:.3f}, faithful {r['grounded']:.2f}")
    print("gate:", report.message)


if __name__ == "__main__":
    main()
