"""Build a chit-chat evaluation set in another language from the QnA Maker "Professional" chit-chat
knowledge base that Microsoft shipped with the Virtual Assistant template (MIT licence), the way
../shared/data/chitchat_fr and chitchat_es were built (their README.md): German (de-de) and Italian
(it-it) are in the same repository and were not among the shared sets, so the product had no
measurement in German at all.

Each knowledge-base entry has a title question, editors' alternative phrasings and an answer. The
FAQ keeps the title as `question`, the first two alternatives as `alt_questions`, the answer as
written. Ten entries, drawn with a fixed seed, are held out. Queries: up to 8 further alternatives
per kept entry (in scope), the title and up to 7 alternatives of each held-out entry (out of scope).
A phrasing that matches or nearly matches (character similarity >= 0.9 after normalisation) the
entry's question or alt_questions is never a query; phrasings listed under two entries are dropped.
The set is written outside the project (nothing from it is committed):

    fetch the repository github:microsoft/botframework-solutions (this session's mirror tool), then
    .venv/bin/python bench/research/build_chitchat.py --repo /work/.mirror/microsoft+botframework-solutions/repo \
        --locale de-de --out /tmp/sets/chitchat_de
    .venv/bin/python bench/retrieval_public.py --data /tmp/sets --sets chitchat_de
"""

from __future__ import annotations

import argparse
import csv
import difflib
import json
import random
import re
import subprocess
import unicodedata
from pathlib import Path

QNA = "templates/csharp/VA/VA/Deployment/Resources/QnA/{locale}/Chitchat.qna"
COMMIT = "08ad18f11250dc2f301dd33a27672184ea9624c4"  # the commit chitchat_fr/es name
HELD_OUT, ALTS, IN_QUERIES, OUT_QUERIES = 10, 2, 8, 7


def parse(text: str) -> list[tuple[str, list[str], str]]:
    """(title, alternatives, answer) per entry of a .qna file."""
    entries = []
    for block in re.split(r"^> Source:.*$", text, flags=re.M):
        title = re.search(r"^## \? (.+)$", block, flags=re.M)
        answer = re.search(r"```markdown\n(.*?)\n```", block, flags=re.S)
        if not title or not answer:
            continue
        alts = [m.strip() for m in re.findall(r"^- (.+)$", block.split("**Filters:**")[0], flags=re.M)]
        entries.append((title.group(1).strip(), alts, answer.group(1).strip()))
    return entries


def norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", unicodedata.normalize("NFKC", text).casefold()).split())


def near(a: str, b: str) -> bool:
    return difflib.SequenceMatcher(None, norm(a), norm(b)).ratio() >= 0.9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repo", type=Path, required=True, help="a git directory of botframework-solutions")
    ap.add_argument("--locale", default="de-de")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    text = subprocess.run(
        ["git", "--git-dir", str(args.repo), "show", f"{COMMIT}:{QNA.format(locale=args.locale)}"],
        check=True,
        capture_output=True,
    ).stdout.decode("utf-8")
    entries = parse(text)
    seen: dict[str, int] = {}
    for title, alts, _ in entries:
        for p in {norm(x) for x in [title, *alts]}:
            seen[p] = seen.get(p, 0) + 1
    rng = random.Random(0)
    held = set(rng.sample(range(len(entries)), HELD_OUT))
    lang = args.locale.split("-")[0]
    args.out.mkdir(parents=True, exist_ok=True)
    faq, queries = [], []
    for i, (title, alts, answer) in enumerate(entries):
        alts = [a for a in dict.fromkeys(alts) if seen[norm(a)] == 1 and norm(a) != norm(title)]
        if i in held:
            for q in [title, *alts][: 1 + OUT_QUERIES]:
                queries.append({"query": q, "expected_id": None})
            continue
        eid = f"chitchat-{args.locale}-{i + 1:03d}"
        kept = alts[:ALTS]
        faq.append({"id": eid, "question": title, "answer": answer, "alt_questions": "|".join(kept)})
        rest = [a for a in alts[ALTS:] if not any(near(a, k) for k in [title, *kept])]
        for q in rest[:IN_QUERIES]:
            queries.append({"query": q, "expected_id": eid})
    with (args.out / "faq.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, ["id", "question", "answer", "alt_questions", "url", "tags"])
        w.writeheader()
        for row in faq:
            w.writerow({**row, "url": "", "tags": "chitchat"})
    with (args.out / "queries.jsonl").open("w", encoding="utf-8") as fh:
        for q in queries:
            fh.write(json.dumps(q, ensure_ascii=False) + "\n")
    n_in = sum(q["expected_id"] is not None for q in queries)
    print(f"{args.out}: {len(faq)} entries ({lang}), {n_in} in scope / {len(queries) - n_in} out of scope")


if __name__ == "__main__":
    main()
