"""Is a generated answer supported by the FAQ text it cites?

`check` is the guard the answer service, the evaluation and the fine-tune gate use. It runs the
word-level checks below on Unicode words of any language (retrieval.language's analyzer), then the
sentence-level ones of bot.services.faithfulness (every sentence said by a sentence of the entry:
negation, numbers and units, dates, names and contacts, word order, collapse, truncation,
repetition), and says which check failed and why (`Grounding.reason`, `Grounding.why`).
The word-level guard as it was (English words only), the baseline bench/faithfulness_guard.py
measures this one against, lives in bench/word_guard.py: nothing that serves or trains uses it.

The word-level checks, cheap and explainable:
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

from bot.services import faithfulness
from retrieval.language import detect_language

_SPECIFIC = re.compile(r"https?://\S+|[\w.+-]+@[\w-]+\.[\w.]+|\b\d[\d.,:/-]*\d\b|\b\d\b")


@dataclass(frozen=True)
class Grounding:
    grounded: bool
    support: float  # share of content words found in the sources
    unsupported: tuple[str, ...]  # content words and specifics not found in the sources
    from_sources: int = 0  # content words taken from the sources that the question did not contain
    reason: str = ""  # the check that failed: support, substance or one of faithfulness.CHECKS
    why: str = ""  # for the logs and the review post: which sentence, which check, what was wrong


def specifics(text: str) -> set[str]:
    return {m.group(0).rstrip(".,;:)").lower() for m in _SPECIFIC.finditer(text)}


def check(
    answer: str,
    sources: str,
    question: str = "",
    threshold: float = 0.8,
    min_from_sources: int = 2,
    *,
    language: str | None = None,
) -> Grounding:
    """Word-level support of the whole answer, then faithfulness sentence by sentence."""
    if language is None:
        language = detect_language(sources, fallback=None)
    words = faithfulness.content_tokens(answer, language)
    if not words:
        verdict = faithfulness.faithful(answer, sources, question, threshold=threshold, language=language)
        if verdict.faithful:  # the entry's own words, none of them a content word ("No tengo.")
            return Grounding(True, 1.0, (), 0)
        return Grounding(False, 0.0, (), 0, verdict.reason or "empty", verdict.why)
    source_words = set(faithfulness.content_tokens(sources, language))
    question_words = set(faithfulness.content_tokens(question, language))
    missing = [w for w in words if w not in source_words and w not in question_words]
    support = 1 - len(missing) / len(words)
    substance = len({w for w in words if w in source_words and w not in question_words})
    src_lower = sources.lower()
    bad_specifics = sorted(s for s in specifics(answer) if s not in src_lower)
    unsupported = tuple(dict.fromkeys([*bad_specifics, *missing]))
    result = Grounding(False, round(support, 4), unsupported, substance)
    verdict = faithfulness.faithful(answer, sources, question, threshold=threshold, language=language)
    if not verdict.faithful:
        return _with(result, verdict.reason, verdict.why)
    if support < threshold:
        shown = ", ".join(unsupported[:6])
        return _with(
            result, "support", f"{support:.0%} of the answer's content words are in the entry ({shown})"
        )
    needed = min_from_sources if len(set(words)) >= 4 else 1  # "No tengo cuerpo." has two in all
    if substance < needed:
        return _with(result, "substance", f"{substance} content words from the entry beyond the question's")
    if bad_specifics:  # the sentence checks look at each sentence's own; this is the whole answer's
        return _with(result, "number", f"not in the entry: {', '.join(bad_specifics)}")
    return Grounding(True, result.support, unsupported, substance)


def _with(g: Grounding, reason: str, why: str) -> Grounding:
    return Grounding(False, g.support, g.unsupported, g.from_sources, reason, why)
