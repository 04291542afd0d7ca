"""Questions admins rejected, kept as off-topic neighbours: a question that ranks closer to one of
them than to every FAQ entry is not answered.

A rejection records a hard negative (retrieval/negatives.py), which only the next embedder tuning
reads; an index ranked on words (a language the embedder does not read) or an untuned one (an FAQ
with one question per entry) is never tuned, so there a rejection taught nothing, and on every
public set most wrong answers are to off-topic questions. Off-topic traffic repeats itself (the
same requests a support FAQ does not cover come back), which is what Rasa's out_of_scope intent
relies on. Each rejected question is ranked as an entry of one phrasing would be: its cosine to the
question, fused with its BM25 in the same corpus as the entries' (retrieval/scoring.py:
LexicalScorer's extra texts) at the same weight. Estimated on the public sets before it shipped
(bench/research/exp_rejected_neighbours.py; docs/benchmarks.md, "Learning from reviews"): with the
stream half's rejected questions, crosswoz_zh's wrong answers to off-topic test questions fell from
115 to 11 for 5 right answers lost, hint3's from 28 to 14 for 1.

A question an admin has since taught as a phrasing of an entry (approve, correct, attach) is no
longer off-topic; an entry's own questions never are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db.models import HardNegative

__all__ = ["OffTopicCache", "rejected_questions"]


def _key(text: str) -> str:
    return " ".join(text.split()).casefold()


def rejected_questions(session: Session, phrasings: Iterable[str]) -> list[str]:
    """The questions admins rejected an answer to, oldest first, once each, leaving out any that is
    (now) a phrasing of an entry."""
    known = {_key(t) for t in phrasings}
    out: dict[str, str] = {}
    query = select(HardNegative.text).where(HardNegative.action == "reject").order_by(HardNegative.id)
    for text in session.scalars(query):
        key = _key(text)
        if key and key not in known:
            out.setdefault(key, text)
    return list(out.values())


class OffTopicCache:
    """Vectors of rejected questions per embedder: a snapshot is rebuilt at every change to the FAQ,
    and only the questions rejected since the last one are embedded."""

    def __init__(self) -> None:
        self._path: str | None = None
        self._vectors: dict[str, np.ndarray] = {}

    def vectors(
        self, path: str | None, texts: list[str], encode: Callable[[list[str]], np.ndarray]
    ) -> np.ndarray:
        if path != self._path:  # a re-tuned embedder: every vector changes
            self._path, self._vectors = path, {}
        new = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if new:
            for text, vector in zip(new, encode(new), strict=True):
                self._vectors[text] = np.asarray(vector, np.float32)
        if not texts:
            return np.zeros((0, 0), np.float32)
        return np.stack([self._vectors[t] for t in texts])
