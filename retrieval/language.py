"""Languages: which one a text is written in, and how to cut it into words for lexical matching.

Detection is py3langid's (a maintained fork of langid.py that ships its model as a plain numpy
archive, loaded without pickle; ~1 s to load, well under a millisecond per text). Short texts are
ambiguous ("vpn", "ok"), so callers pass the languages that are plausible (the FAQ's own) and a
fallback for texts too short to tell.

Analysis, per language, so lexical matching works beyond English:
- Chinese: jieba word segmentation (its dictionary loads once, ~1 s);
- other text in CJK scripts (Japanese, Korean) with no segmenter installed: character bigrams;
- every language PyStemmer has a Snowball stemmer for: Unicode words, case-folded, stemmed;
- anything else: Unicode words, case-folded.
Stop words come from bm25s's lists where it has one for the language.
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

__all__ = [
    "Analyzer",
    "analyzer",
    "detect_language",
    "dominant_language",
    "is_cjk",
    "words",
]

# ISO 639-1 code -> PyStemmer (Snowball) algorithm.
SNOWBALL = {
    "ar": "arabic",
    "hy": "armenian",
    "eu": "basque",
    "ca": "catalan",
    "cs": "czech",
    "da": "danish",
    "nl": "dutch",
    "en": "english",
    "eo": "esperanto",
    "et": "estonian",
    "fi": "finnish",
    "fr": "french",
    "de": "german",
    "el": "greek",
    "hi": "hindi",
    "hu": "hungarian",
    "id": "indonesian",
    "ga": "irish",
    "it": "italian",
    "lt": "lithuanian",
    "ne": "nepali",
    "no": "norwegian",
    "nb": "norwegian",
    "fa": "persian",
    "pl": "polish",
    "pt": "portuguese",
    "ro": "romanian",
    "ru": "russian",
    "sr": "serbian",
    "es": "spanish",
    "sv": "swedish",
    "ta": "tamil",
    "tr": "turkish",
    "yi": "yiddish",
}
# ISO 639-1 code -> the bm25s stop-word list.
STOPWORDS = {
    "zh": "STOPWORDS_CHINESE",
    "da": "STOPWORDS_DANISH",
    "nl": "STOPWORDS_DUTCH",
    "en": "STOPWORDS_EN",
    "fr": "STOPWORDS_FRENCH",
    "de": "STOPWORDS_GERMAN",
    "it": "STOPWORDS_ITALIAN",
    "ko": "STOPWORDS_KOREAN",
    "no": "STOPWORDS_NORWEGIAN",
    "pt": "STOPWORDS_PORTUGUESE",
    "ru": "STOPWORDS_RUSSIAN",
    "es": "STOPWORDS_SPANISH",
    "sv": "STOPWORDS_SWEDISH",
    "tr": "STOPWORDS_TURKISH",
}

# Unicode words: letters, digits and marks of any script (Python's \w is Unicode for str patterns).
_WORD = re.compile(r"\w+")
_CJK_RANGES = (
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3400, 0x4DBF),  # CJK Extension A
    (0x4E00, 0x9FFF),  # CJK Unified Ideographs
    (0xAC00, 0xD7AF),  # Hangul syllables
    (0xF900, 0xFAFF),  # CJK Compatibility Ideographs
    (0x20000, 0x2FA1F),  # CJK Extensions B-F, Compatibility Supplement
)


_CJK_PARTS = re.compile("[" + "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in _CJK_RANGES) + "]+")


# The scripts of the languages the detector knows that are not written in the Latin alphabet
# (language_script). An embedder trained on English text shares word pieces, names and cognates with
# the other Latin-script languages, and none with these.
_SCRIPTS = {
    "Cyrillic": ("ru", "uk", "bg", "be", "mk", "sr", "kk", "ky", "mn"),
    "Greek": ("el",),
    "Armenian": ("hy",),
    "Georgian": ("ka",),
    "Hebrew": ("he",),
    "Arabic": ("ar", "fa", "ur", "ps", "ug"),
    "Devanagari": ("hi", "mr", "ne"),
    "Bengali": ("bn", "as"),
    "Gurmukhi": ("pa",),
    "Gujarati": ("gu",),
    "Oriya": ("or",),
    "Tamil": ("ta",),
    "Telugu": ("te",),
    "Kannada": ("kn",),
    "Malayalam": ("ml",),
    "Sinhala": ("si",),
    "Thai": ("th",),
    "Lao": ("lo",),
    "Khmer": ("km",),
    "Tibetan": ("dz",),
    "Ethiopic": ("am",),
    "Han": ("zh", "ja"),
    "Hangul": ("ko",),
}
_SCRIPT_OF = {code: script for script, codes in _SCRIPTS.items() for code in codes}


def language_script(language: str) -> str:
    """The script ``language`` (ISO 639-1) is written in: Latin unless listed in _SCRIPTS."""
    return _SCRIPT_OF.get(language, "Latin")


def is_cjk(ch: str) -> bool:
    code = ord(ch)
    return any(lo <= code <= hi for lo, hi in _CJK_RANGES)


def words(text: str) -> list[str]:
    """Unicode words, NFKC-normalised and case-folded (full-width forms become ASCII)."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


@lru_cache(maxsize=1)
def _identifier():
    import os

    import py3langid
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(
        os.path.join(os.path.dirname(py3langid.__file__), MODEL_FILE), norm_probs=True
    )


@lru_cache(maxsize=64)
def _restricted(languages: tuple[str, ...]):
    """A copy of the identifier restricted to ``languages`` (``set_languages`` reassigns the copy's
    own attributes, so the shared full identifier is untouched)."""
    import copy

    base = _identifier()
    ident = copy.copy(base)
    known = [lang for lang in languages if lang in base.nb_classes]
    if known:
        ident.set_languages(known)
    return ident


def detect_language(
    text: str, among: Iterable[str] | None = None, *, fallback: str | None = None, min_confidence: float = 0.5
) -> str | None:
    """The ISO 639-1 code of ``text``'s language, restricted to ``among`` when given; ``fallback``
    when the text has no letters or the detector's confidence is below ``min_confidence`` (short
    texts such as "vpn" or "ok" say little about their language)."""
    letters = sum(ch.isalpha() for ch in text)
    if letters == 0:
        return fallback
    if sum(is_cjk(ch) for ch in text) * 2 >= letters:
        # Mostly CJK: the script is decisive where the words are too few for the model.
        guess = "ja" if _has_kana(text) else "ko" if _has_hangul(text) else "zh"
        allowed = set(among) if among else None
        return guess if allowed is None or guess in allowed else (fallback or guess)
    among_t = tuple(sorted(set(among))) if among else ()
    ident = _restricted(among_t) if among_t else _identifier()
    lang, prob = ident.classify(text)  # reads the model only: safe from several threads
    if letters < 4 or prob < min_confidence:
        return fallback or (lang if prob >= min_confidence else None)
    return lang


def dominant_language(texts: Iterable[str], *, sample: int = 200) -> str | None:
    """The language most of ``texts`` are written in (the FAQ's language), from up to ``sample``."""
    from collections import Counter

    counts = Counter()
    for i, t in enumerate(texts):
        if i >= sample:
            break
        lang = detect_language(t)
        if lang:
            counts[lang] += 1
    return counts.most_common(1)[0][0] if counts else None


class Analyzer:
    """Cuts text in one language into the tokens lexical matching compares."""

    def __init__(self, language: str | None):
        self.language = language
        self._stemmer = None
        algorithm = SNOWBALL.get(language or "")
        if algorithm:
            import Stemmer

            self._stemmer = Stemmer.Stemmer(algorithm)
        self._stop = frozenset()
        name = STOPWORDS.get(language or "")
        if name:
            import bm25s.stopwords

            self._stop = frozenset(getattr(bm25s.stopwords, name))
        self._lock = threading.Lock()  # PyStemmer's stemmer objects are not thread-safe

    def tokens(self, text: str) -> list[str]:
        out: list[str] = []
        for word in words(text):
            if any(is_cjk(ch) for ch in word):
                out.extend(t for t in self._cjk(word) if t not in self._stop)
            elif word not in self._stop:
                out.append(word)
        return self.stems(out)

    def stems(self, tokens: list[str]) -> list[str]:
        """``tokens`` (case-folded words) stemmed by the language's Snowball stemmer; CJK tokens, and
        every token of a language without one, as given."""
        if self._stemmer is None or not tokens:
            return tokens
        with self._lock:
            return [
                t if any(is_cjk(ch) for ch in t) else s
                for t, s in zip(tokens, self._stemmer.stemWords(tokens))
            ]

    def _cjk(self, run: str) -> list[str]:
        """A run of CJK (and maybe Latin) characters as words: for Chinese, jieba's words and the
        run's character bigrams both (a query and an entry often cut the same phrase differently:
        on a Chinese help-desk FAQ, hit@1 0.67 with jieba alone, 0.77 with characters alone, 0.82
        with both; bench/research/results/abstain_final.txt); else bigrams."""
        if self.language == "zh" or (self.language is None and not _has_kana_or_hangul(run)):
            cut = [w for w in (t.strip() for t in _jieba().lcut(run)) if w and _WORD.fullmatch(w)]
            grams = [b for part in _CJK_PARTS.findall(run) for b in _bigrams(part)]
            return cut + [b for b in grams if b not in cut]
        return _bigrams(run)


def _has_kana(text: str) -> bool:
    return any(0x3040 <= ord(ch) <= 0x30FF for ch in text)


def _has_hangul(text: str) -> bool:
    return any(0xAC00 <= ord(ch) <= 0xD7AF for ch in text)


def _has_kana_or_hangul(text: str) -> bool:
    return _has_kana(text) or _has_hangul(text)


def _bigrams(run: str) -> list[str]:
    chars = [ch for ch in run if not ch.isspace()]
    if len(chars) < 2:
        return chars
    return ["".join(chars[i : i + 2]) for i in range(len(chars) - 1)]


@lru_cache(maxsize=1)
def _jieba():
    import jieba

    jieba.setLogLevel(logging.WARNING)  # it prints its dictionary loading at INFO otherwise
    jieba.initialize()
    return jieba


@lru_cache(maxsize=32)
def analyzer(language: str | None) -> Analyzer:
    """The shared analyzer of ``language`` (None: Unicode words, case-folded, no stemming)."""
    return Analyzer(language)
