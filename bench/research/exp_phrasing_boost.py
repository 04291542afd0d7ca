"""Research (issue 15): BM25 with an entry's questions counted more than its answer (a field boost).

LexicalScorer (retrieval/scoring.py) indexes each entry's whole text, questions and answer alike,
as one field. Search engines commonly weight a title field above the body (BM25F; Elasticsearch
and Solr setups boost titles by about 2). The cheapest form with one field: each of the entry's
questions (question, alternatives, learned phrasings) written ``--boost`` times before the answer.
Runs bench/retrieval_public.py (every other argument passed through) with that index; 1 is the
shipped one. Reaches every set ranked with BM25: untuned English (doc2dial), hybrid (the tuned
non-English sets, BM25 at equal weight) and words only (Chinese); a tuned English index ranks
without BM25.

    .venv/bin/python bench/research/exp_phrasing_boost.py --boost 2 --data /tmp/sets --sets doc2dial_gov_en
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import retrieval_public  # noqa: E402
from sqlalchemy import select  # noqa: E402

import retrieval.snapshot  # noqa: E402
from bot.db.models import FaqEntry  # noqa: E402
from retrieval.language import dominant_language  # noqa: E402
from retrieval.scoring import LexicalScorer  # noqa: E402

BOOST = 1


def boosted_lexical(self, entry_ids: list[str], offtopic: list[str]):
    """retrieval/snapshot.py's IndexSnapshots._lexical with each question written BOOST times."""
    with self.sessions() as session:
        entries = {e.id: e for e in session.scalars(select(FaqEntry).where(FaqEntry.id.in_(entry_ids)))}
        learned = self._learned(session, entry_ids)
    texts = []
    for eid in entry_ids:
        e = entries.get(eid)
        parts = [*[e.question, *e.alt_questions, *learned.get(eid, [])] * BOOST, e.answer] if e else []
        texts.append("\n".join(parts))
    language = dominant_language(
        [e.question for e in entries.values()] + [e.answer for e in entries.values()]
    )
    answers = [entries[eid].answer if eid in entries else "" for eid in entry_ids]
    return LexicalScorer(entry_ids, texts, language, offtopic), language, answers


def main() -> None:
    global BOOST
    args = sys.argv[1:]
    if "--boost" in args:
        at = args.index("--boost")
        BOOST = int(args[at + 1])
        del args[at : at + 2]
    retrieval.snapshot.IndexSnapshots._lexical = boosted_lexical
    print(f"# BM25: each question written {BOOST} times before the answer", flush=True)
    sys.argv = [sys.argv[0], *args]
    retrieval_public.main()


if __name__ == "__main__":
    main()
