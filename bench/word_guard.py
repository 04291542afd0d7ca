"""The grounding guard as it was before issue 16: word-level support alone, English words only.

Kept here, outside the product, as the baseline bench/faithfulness_guard.py measures the shipped
guard (bot.services.grounding.check) against, on the same variants in the same run. Nothing that
serves, evaluates or trains uses it: its word pattern reads ASCII letters only, which is why it was
replaced (issue 15: no ASCII-only word pattern in grounding).
"""

from __future__ import annotations

import re

from bot.services.grounding import Grounding, specifics

_WORD = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?")
STOPWORDS = frozenset(
    """
a an and are as at be been but by can could do does did for from has have had how i if in into is it its
just me my no not of on or our please so that the their them then there these they this to up was we
were what when where which who will with would you your yours also any all more most other some such
than too very should may might must here out about over after before again once only own same both each
few further off while s t don now get got go going need needs make sure use using one first next able
""".split()
)


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def content_words(text: str) -> list[str]:
    return [_stem(w) for w in _WORD.findall(text.lower()) if w not in STOPWORDS]


def check_words(
    answer: str, sources: str, question: str = "", threshold: float = 0.8, min_from_sources: int = 2
) -> Grounding:
    """The word-level guard alone (English words; the baseline the sentence checks are measured against)."""
    words = content_words(answer)
    if not words:
        return Grounding(False, 0.0, ())
    source_words, question_words = set(content_words(sources)), set(content_words(question))
    missing = [w for w in words if w not in source_words and w not in question_words]
    support = 1 - len(missing) / len(words)
    substance = len({w for w in words if w in source_words and w not in question_words})
    src_lower = sources.lower()
    bad_specifics = sorted(s for s in specifics(answer) if s not in src_lower)
    grounded = support >= threshold and not bad_specifics and substance >= min_from_sources
    return Grounding(grounded, round(support, 4), tuple(dict.fromkeys([*bad_specifics, *missing])), substance)
