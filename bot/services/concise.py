"""Concise answers from long entries: the reply leads with the part of the entry that answers.

A real FAQ entry is often a whole section of a help page (doc2dial_gov_en: half of its 208 entries
are over 500 characters, the longest over 6,000). Sent as written, the asker has to find the one sentence that answers
them in a wall of text. So a long entry's reply is its *lead*: the sentence of the entry closest
to the question (retrieval's own similarity, ``FaqIndex.passage_scores``) with the neighbours that
fit, in the entry's order. The whole entry stays one click away: its link, the Slack answer's
"Whole entry" button, ``ask`` prints it below. An entry up to ``LONG_ANSWER_CHARS`` goes out as
written. The lead is the entry's own sentences, so it is faithful by construction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from retrieval.chunking import split_sentences

__all__ = ["LEAD_CHARS", "LONG_ANSWER_CHARS", "Lead", "lead", "units"]

# A chat message people read whole: about five sentences. Longer entries are led (bench/concise_answers.py
# measures what the lead keeps of the reference answers on a public real-FAQ set).
LONG_ANSWER_CHARS = 500
LEAD_CHARS = 350  # about three sentences

Scorer = Callable[[str, Sequence[str]], np.ndarray]  # (question, passages) -> closeness per passage


@dataclass(frozen=True)
class Lead:
    text: str
    start: int  # the lead's first and past-last unit of the entry (units())
    stop: int
    total_units: int


def units(answer: str) -> list[str]:
    """The entry's lines, each cut into sentences: a list item or a heading on its own line is a
    unit of its own even without a full stop."""
    out: list[str] = []
    for line in answer.splitlines():
        line = " ".join(line.split())
        if line:
            out.extend(split_sentences(line))
    return out


def lead(
    question: str,
    answer: str,
    scores: Scorer,
    *,
    long_chars: int = LONG_ANSWER_CHARS,
    lead_chars: int = LEAD_CHARS,
) -> Lead | None:
    """The lead of a long ``answer`` for ``question``; None when the answer is short enough to send
    whole (or cannot be cut). Starting from the closest unit, it grows by the closer neighbour that
    still fits in ``lead_chars`` (the other one if that one does not), and never splits a unit."""
    if len(answer) <= long_chars:
        return None
    parts = units(answer)
    if len(parts) < 2:
        return None
    closeness = np.asarray(scores(question, parts), dtype=np.float64)
    best = int(np.argmax(closeness))
    start, stop, size = best, best + 1, len(parts[best])
    while True:
        options = [i for i in (start - 1, stop) if 0 <= i < len(parts)]
        options.sort(key=lambda i: -closeness[i])
        fits = [i for i in options if size + 1 + len(parts[i]) <= lead_chars]
        if not fits:
            break
        i = fits[0]
        size += 1 + len(parts[i])
        start, stop = min(start, i), max(stop, i + 1)
    if start == 0 and stop == len(parts):
        return None  # the whole entry fits: nothing to shorten
    return Lead(" ".join(parts[start:stop]), start, stop, len(parts))
