"""Is a generated answer supported by the FAQ text it cites?

Two checks, both cheap and explainable:
- specifics: every number, URL, e-mail address or extension in the answer must appear in the
  sources (an invented phone number is the worst kind of wrong answer);
- support: the share of the answer's content words that appear in the sources or the question;
- substance: at least a few of its content words come from the sources and not from the question.
  An answer that only echoes the question ("Yes, you can bring your dog on Fridays") says nothing
  the FAQ backs, however well its words are "supported".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_WORD = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?")
_SPECIFIC = re.compile(r"https?://\S+|[\w.+-]+@[\w-]+\.[\w.]+|\b\d[\d.,:/-]*\d\b|\b\d\b")
STOPWORDS = frozenset(
    """
a an and are as at be been but by can could do does did for from has have had how i if in into is it its
just me my no not of on or our please so that the their them then there these they this to up was we
were what when where which who will with would you your yours also any all more most other some such
than too very should may might must here out about over after before again once only own same both each
few further off while s t don now get got go going need needs make sure use using one first next able
""".split()
)


@dataclass(frozen=True)
class Grounding:
    grounded: bool
    support: float  # share of content words found in the sources
    unsupported: tuple[str, ...]  # content words and specifics not found in the sources
    from_sources: int = 0  # content words taken from the sources that the question did not contain


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def content_words(text: str) -> list[str]:
    return [_stem(w) for w in _WORD.findall(text.lower()) if w not in STOPWORDS]


def _specifics(text: str) -> set[str]:
    return {m.group(0).rstrip(".,;:)").lower() for m in _SPECIFIC.finditer(text)}


def check(
    answer: str, sources: str, question: str = "", threshold: float = 0.8, min_from_sources: int = 2
) -> Grounding:
    words = content_words(answer)
    if not words:
        return Grounding(False, 0.0, ())
    source_words, question_words = set(content_words(sources)), set(content_words(question))
    missing = [w for w in words if w not in source_words and w not in question_words]
    support = 1 - len(missing) / len(words)
    substance = len({w for w in words if w in source_words and w not in question_words})
    src_lower = sources.lower()
    bad_specifics = sorted(s for s in _specifics(answer) if s not in src_lower)
    grounded = support >= threshold and not bad_specifics and substance >= min_from_sources
    return Grounding(grounded, round(support, 4), tuple(dict.fromkeys([*bad_specifics, *missing])), substance)
