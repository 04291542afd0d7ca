"""Faithfulness at sentence level: does the cited FAQ entry say what each sentence of an answer says?

The word-level guard (grounding.check_words) accepts any text made of the entry's words, such as
"The virus is not a vector for the virus" cut from an entry that says the virus has not been
detected in drinking water. Here every sentence of the answer must be supported by one sentence of
the entry, or by two adjacent ones, and pass the checks that words alone miss:

- contact, number, unit, date, name: every URL, e-mail address, phone number, number (with the
  unit or currency written next to it), month or weekday, and name-like word (capitalised inside a
  sentence, an acronym, letters mixed with digits) must be in the supporting sentence;
- unsupported: at least ``threshold`` of the sentence's content words are in it (words of the
  user's question and of the entry's own question count, as framing), and at least one is;
- order: content words keep the entry's order (each is next to, within 3 words, a neighbour it
  has in the entry); two or more that are not are a swap ("the employer pays the employee" ->
  "the employee pays the employer");
- collapse: a word said twice in one clause where the entry says it once ("X is not a vector for X");
- negation: the negation words (not, n't, ne/pas, no, nicht, 不, 没有 ...) in the sentence match those
  in the part of the entry it rests on, clause by clause;
- truncated: the answer's last sentence does not stop where its entry sentence continues;
- repetition: a sentence or a pair of content words said more often than in the entry.

Any language: words are Unicode words (Chinese cut with jieba), content words are what
retrieval.language's analyzer keeps (Snowball stems, bm25s stop words), sentences end at . ! ? …
followed by a space and not a lowercase letter, and at 。！？ and the full stops of other scripts.
The verdict says which sentence failed which check and why, for the logs, the metrics and the
review post.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache

from retrieval.language import analyzer, detect_language, is_cjk

__all__ = ["CHECKS", "Verdict", "content_tokens", "faithful", "sentences"]

# The checks, in the order a sentence meets them; `Verdict.reason` is one of these (bounded: fit
# for a metric label).
CHECKS = (
    "empty",
    "repetition",
    "contact",
    "number",
    "unit",
    "date",
    "name",
    "unsupported",
    "order",
    "collapse",
    "negation",
    "truncated",
)

ORDER_WINDOW = 3  # a content word is in place when a neighbour of it is within this many words in the entry
MAX_UNANCHORED = 1  # words out of place tolerated per sentence (one moved word is a rewording)
CANDIDATES = 4  # supporting sentences (or pairs) tried per answer sentence, best overlap first

NEGATIONS = {
    "en": {
        "not",
        "no",
        "never",
        "none",
        "nobody",
        "nothing",
        "nowhere",
        "neither",
        "nor",
        "cannot",
        "without",
    },
    "fr": {"ne", "n", "pas", "jamais", "rien", "aucun", "aucune", "aucuns", "aucunes", "nul", "nulle", "sans"}
    | {"ni", "non", "guère"},
    "es": {"no", "nunca", "jamás", "nada", "nadie", "ningún", "ninguno", "ninguna", "ningunos", "ningunas"}
    | {"sin", "ni", "tampoco"},
    "de": {"nicht", "kein", "keine", "keinen", "keinem", "keiner", "keines", "nie", "niemals", "nichts"}
    | {"niemand", "nirgends", "ohne", "weder"},
    "it": {"non", "mai", "nessuno", "nessuna", "niente", "nulla", "senza", "né"},
    "pt": {"não", "nunca", "nada", "ninguém", "nenhum", "nenhuma", "sem", "nem", "jamais"},
    "nl": {"niet", "geen", "nooit", "niets", "niemand", "zonder", "noch", "nergens"},
    "zh": {
        "不",
        "没",
        "没有",
        "无",
        "未",
        "别",
        "非",
        "勿",
        "莫",
        "否",
        "无法",
        "未能",
        "尚未",
        "从未",
        "并非",
    }
    | {
        "无需",
        "无须",
        "毫无",
        "绝非",
        "未曾",
        "不是",
        "不能",
        "不会",
        "不要",
        "不用",
        "不可",
        "不得",
        "不必",
    },
}
_ALL_NEGATIONS = frozenset().union(*NEGATIONS.values()) - {"mai"}  # "mai" is May in French
_ZH_NOT_NEGATION = {"不过", "不少", "不断", "不仅", "不但", "不久", "不管", "不论", "不如", "不然"}

DATE_WORDS = {
    "en": "january february march april june july august september october november december "
    "monday tuesday wednesday thursday friday saturday sunday",  # not "may": it is also a verb
    "fr": "janvier février mars avril mai juin juillet août septembre octobre novembre décembre "
    "lundi mardi mercredi jeudi vendredi samedi dimanche",
    "es": "enero febrero marzo abril mayo junio julio agosto septiembre setiembre octubre noviembre "
    "diciembre lunes martes miércoles jueves viernes sábado domingo",
    "de": "januar februar märz april mai juni juli august september oktober november dezember "
    "montag dienstag mittwoch donnerstag freitag samstag sonnabend sonntag",
    "it": "gennaio febbraio marzo aprile maggio giugno luglio agosto settembre ottobre novembre dicembre "
    "lunedì martedì mercoledì giovedì venerdì sabato domenica",
    "pt": "janeiro fevereiro março abril maio junho julho agosto setembro outubro novembro dezembro "
    "segunda terça quarta quinta sexta sábado domingo",
    "nl": "januari februari maart april mei juni juli augustus september oktober november december "
    "maandag dinsdag woensdag donderdag vrijdag zaterdag zondag",
    "zh": "星期一 星期二 星期三 星期四 星期五 星期六 星期日 星期天 周一 周二 周三 周四 周五 周六 周日 "
    "礼拜一 礼拜二 礼拜三 礼拜四 礼拜五 礼拜六 礼拜天 今天 明天 昨天",
}
DATE_WORDS = {lang: frozenset(text.split()) for lang, text in DATE_WORDS.items()}
_ALL_DATE_WORDS = frozenset().union(*DATE_WORDS.values())

# Words that carry no claim of their own: the analyzer's stop-word lists are short for English.
_FILLERS = frozenset(
    """
yes yeah sure ok okay certainly please hello hi thanks oui si sí vale claro ja gern gerne 是的 好的 好 对
a an and are as at be been but by can could do does did for from has have had how i if in into is it its
just me my of on or our so that the their them then there these they this to up was we were what when
where which who will with would you your yours also any all more most other some such than too very
should may might must here out about over after before again once only own same both each few further
off while s t d ll re ve m us now
""".split()
)

_URL = re.compile(r"(?:https?://|www\.)[^\s<>\"'()\[\]]+", re.I)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"(?<![\w.,])\+?\(?\d{1,4}\)?(?:\s{0,2}[-–.\s/]\s{0,2}\(?\d{2,4}\)?){2,}(?![\w])")
_NUMBER = re.compile(r"\d+(?:[.,:/]\d+)*")
_WORD = re.compile(r"\w+")
_LETTERS = re.compile(r"[^\W\d_]+")
_CLAUSE = re.compile(r"[,;:()\[\]{}—–、]")
_BOUNDARY = re.compile(r"[.!?…。؟।॥።]+[\"'”’»)\]」』]*")
_ALWAYS_ENDS = set("。؟।॥።")
_TERMINAL_END = re.compile(r"[.!?…。؟।॥።][\"'”’»)\]」』]*\s*$")
_DANGLING_END = re.compile(r"[,;:(\-–—/]\s*$")


@dataclass(frozen=True)
class Verdict:
    faithful: bool
    reason: str = ""  # the check that failed, one of CHECKS; "" when faithful
    why: str = ""  # which sentence, which check, what was wrong
    sentence: int = 0  # 1-based index of the failing answer sentence, 0 for the whole answer
    language: str | None = None


# --------------------------------------------------------------------------------------- text


def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def _abbreviation(before: str) -> bool:
    """Whether the period that ends ``before`` belongs to an abbreviation or initial (U.S., J., e.g.)."""
    m = re.search(r"(\w+)$", before)
    if not m:
        return False
    word = m.group(1)
    return (len(word) == 1 and word.isalpha()) or bool(re.search(r"\.\w{1,3}$", before))


def sentences(text: str) -> list[str]:
    """``text`` cut into sentences: at line breaks, at 。 (and the full stops of Arabic, Devanagari,
    Ethiopic), and at . ! ? … when a space and no lowercase letter follow or a CJK character does
    ("8 a.m. and" and "U.S. Born" stay whole). Pieces with no letter ("1.") join the next one.
    Not retrieval.chunking.split_sentences, whose contract differs: it keeps the text's own
    characters (no NFKC), ignores line breaks and cuts "(e.g. Jamf)" in two, so the claims judged
    here, and the acceptance figures measured with them, would change."""
    out: list[str] = []
    carry = ""
    for line in re.split(r"\s*\n\s*", _nfkc(text)):
        start = 0
        pieces: list[str] = []
        for m in _BOUNDARY.finditer(line):
            end, rest = m.end(), line[m.end() :]
            if any(c in _ALWAYS_ENDS for c in m.group(0)) or not rest:
                cut = True
            elif rest[0].isspace():
                nxt = rest.lstrip()[:1]
                cut = bool(nxt) and not nxt.islower()
                if cut and m.group(0).startswith(".") and _abbreviation(line[: m.start()]):
                    cut = False
            else:
                cut = is_cjk(rest[0])
            if cut:
                pieces.append(line[start:end])
                start = end
        pieces.append(line[start:])
        for piece in pieces:
            piece = piece.strip()
            if not piece:
                continue
            if not any(ch.isalpha() for ch in piece):
                carry = f"{carry} {piece}".strip()
                continue
            out.append(f"{carry} {piece}".strip() if carry else piece)
            carry = ""
    if carry:
        out.append(carry)
    return out


_jieba_lock = threading.Lock()


@lru_cache(maxsize=1)
def _jieba():
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


def _cut(run: str) -> list[str]:
    """A \\w+ run as words: Chinese (and other CJK) runs cut by jieba, others whole."""
    if not any(is_cjk(ch) for ch in run):
        return [run]
    with _jieba_lock:
        return [w for w in (t.strip() for t in _jieba().lcut(run)) if w and _WORD.fullmatch(w)]


@lru_cache(maxsize=65536)
def _content(language: str | None, low: str) -> str | None:
    """The content token of one case-folded word: its stem, or None for a stop word or filler."""
    if low in _FILLERS or (len(low) == 1 and low.isalpha() and not is_cjk(low)):
        return None
    toks = analyzer(language).tokens(low)
    if any(is_cjk(ch) for ch in low):
        return low if low in toks else None
    return "".join(toks) or None


@dataclass
class _Word:
    raw: str
    low: str
    tok: str | None
    neg: bool
    clause: int


@dataclass
class _Sentence:
    text: str
    words: list[_Word]
    question: bool = False
    tokens: list[str] = field(default_factory=list)  # content tokens, in order
    tok_word: list[int] = field(default_factory=list)  # index in words of each token
    contacts: set[str] = field(default_factory=set)
    numbers: list[tuple[str, str, tuple[str, ...]]] = field(default_factory=list)  # number, signs, next words
    lows: set[str] = field(default_factory=set)
    terminal: bool = True


def _is_negation(language: str | None, low: str, prev: str) -> bool:
    cues = NEGATIONS.get(language or "", _ALL_NEGATIONS)
    if low in cues:
        return True
    if low == "t" and prev.endswith("n"):  # don't, can't, isn't (\w+ splits the apostrophe)
        return True
    if any(is_cjk(ch) for ch in low):
        return low[0] in "不没" and low not in _ZH_NOT_NEGATION and (language in (None, "zh"))
    return False


def _name_like(raw: str, first: bool, language: str | None) -> bool:
    letters = [ch for ch in raw if ch.isalpha()]
    if not letters:
        return False
    if any(ch.isdigit() for ch in raw):
        return True  # B12, COVID19, W-2 as one token
    if len(letters) >= 2 and all(ch.isupper() for ch in letters):
        return True  # an acronym: SSA, VPN
    # Inside a sentence a capital marks a name, except in German, which capitalises every noun.
    return not first and raw[0].isupper() and language != "de"


def _numbers(text: str, language: str | None) -> tuple[set[str], list[tuple[str, str, tuple[str, ...]]]]:
    """The contacts (URLs, e-mail addresses, phone numbers as digits) and the numbers of a text,
    each number with the currency or percent sign written next to it and the words that follow."""
    contacts: set[str] = set()
    for pattern in (_URL, _EMAIL):
        for m in pattern.finditer(text):
            contacts.add(m.group(0).rstrip(".,;:!?").casefold())
        text = pattern.sub(" ", text)
    for m in _PHONE.finditer(text):
        digits = re.sub(r"\D", "", m.group(0))
        if len(digits) >= 7:
            contacts.add(digits)
            text = text[: m.start()] + " " * (m.end() - m.start()) + text[m.end() :]
    numbers = []
    for m in _NUMBER.finditer(text):
        before, after = text[max(0, m.start() - 2) : m.start()], text[m.end() : m.end() + 2]
        symbols = "".join(
            sorted({ch for ch in before + after if unicodedata.category(ch) == "Sc" or ch in "%‰"})
        )
        follow = []
        for w in _LETTERS.findall(text[m.end() : m.end() + 60])[:3]:
            for part in _cut(w.casefold()):
                follow.append(_content(language, part) or "")
        numbers.append((m.group(0), symbols, tuple(follow[:3])))
    return contacts, numbers


def _analyse(text: str, language: str | None) -> _Sentence:
    words: list[_Word] = []
    clause, prev = 0, ""
    # URLs and e-mail addresses are compared whole (the contact check), not as words.
    plain = _EMAIL.sub(" ", _URL.sub(" ", text))
    for k, part in enumerate(_CLAUSE.split(plain)):
        clause = k
        for m in _WORD.finditer(part):
            for raw in _cut(m.group(0)):
                low = raw.casefold()
                tok = _content(language, low)
                words.append(_Word(raw, low, tok, _is_negation(language, low, prev), clause))
                prev = low
    for i in range(1, len(words)):
        if words[i].low == "t" and words[i - 1].low.endswith("n"):  # don't, haven t: a negation
            words[i - 1].tok = None
    s = _Sentence(text, words)
    s.question = text.rstrip().endswith("?") or text.lstrip().startswith("¿")
    for i, w in enumerate(words):
        if w.tok:
            s.tokens.append(w.tok)
            s.tok_word.append(i)
    s.contacts, s.numbers = _numbers(text, language)
    s.lows = {w.low for w in words}
    s.terminal = bool(_TERMINAL_END.search(text))
    return s


@dataclass
class _Entry:
    language: str | None
    sentences: list[_Sentence]
    framing: set[str]  # tokens of the entry's own questions
    tokens: Counter
    bigrams: Counter
    keys: Counter
    trigrams: Counter  # of words, stop words included
    bare: set[tuple[str, ...]]  # sentences without a content word ("No.")


@lru_cache(maxsize=512)
def _entry(source: str, language: str | None) -> _Entry:
    sents = [_analyse(s, language) for s in sentences(source)]
    framing = {t for s in sents if s.question for t in s.tokens}
    tokens = Counter(t for s in sents if not s.question for t in s.tokens)
    bigrams = Counter(b for s in sents for b in zip(s.tokens, s.tokens[1:]))
    keys = Counter(_key(s) for s in sents if s.words)
    trigrams = Counter(g for s in sents for g in _trigrams(s))
    bare = {_bare(s) for s in sents if not s.tokens}
    return _Entry(language, sents, framing, tokens, bigrams, keys, trigrams, bare)


def _key(s: _Sentence) -> tuple[str, ...]:
    """What a sentence says, to find it said twice: its content tokens, else its words."""
    return tuple(s.tokens) or ("", *_bare(s))


def _bare(s: _Sentence) -> tuple[str, ...]:
    return tuple(w.low for w in s.words if w.low not in _FILLERS)


def _in_entry(entry: _Entry, lows: list[str]) -> bool:
    n = len(lows)
    for s in entry.sentences:
        el = [w.low for w in s.words]
        if any(el[k : k + n] == lows for k in range(len(el) - n + 1)):
            return True
    return False


def _trigrams(s: _Sentence) -> list[tuple[str, str, str]]:
    lows = [w.low for w in s.words]
    return list(zip(lows, lows[1:], lows[2:]))


def _join(a: _Sentence, b: _Sentence) -> _Sentence:
    """Two adjacent entry sentences as one supporting unit (their clauses kept apart)."""
    offset = (a.words[-1].clause + 1) if a.words else 0
    words = a.words + [_Word(w.raw, w.low, w.tok, w.neg, w.clause + offset) for w in b.words]
    s = _Sentence(f"{a.text} {b.text}", words)
    s.tokens = a.tokens + b.tokens
    s.tok_word = a.tok_word + [i + len(a.words) for i in b.tok_word]
    s.contacts = a.contacts | b.contacts
    s.numbers = a.numbers + b.numbers
    s.lows = a.lows | b.lows
    s.terminal = b.terminal
    return s


# ------------------------------------------------------------------------------------- checks


def _short(text: str, limit: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _Fail(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def _check_unit(
    ans: _Sentence,
    unit: _Sentence,
    split: int | None,
    question: set[str],
    threshold: float,
    language: str | None,
    last: bool,
) -> None:
    """Raises _Fail when ``unit`` (an entry sentence, or two with the second's tokens from index
    ``split``) does not support ``ans``."""
    # Specifics: exact, never from the question.
    for c in sorted(ans.contacts):
        if c not in unit.contacts:
            raise _Fail("contact", f"{c!r} is not in the entry's sentence")
    unit_numbers: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
    for num, sym, follow in unit.numbers:
        unit_numbers.setdefault(num, []).append((sym, follow))
    for num, sym, follow in ans.numbers:
        if num not in unit_numbers:
            raise _Fail("number", f"{num!r} is not in the entry's sentence")
        occurrences = unit_numbers[num]
        if sym and not any(set(sym) <= set(s) for s, _ in occurrences):
            raise _Fail("unit", f"{sym}{num}: the entry writes {num} without {sym!r}")
        nxt = follow[0] if follow else ""
        # The word right after a number is its unit (minutes, days, euros): where the entry writes
        # one after the same number, the answer must write the same one (or one of the next two).
        if nxt and not any(nxt in f for _, f in occurrences):
            if any(f and f[0] for _, f in occurrences) or nxt not in unit.tokens:
                raise _Fail("unit", f"{num} {nxt!r}: the entry does not write {nxt!r} after {num}")
    dates = DATE_WORDS.get(language or "", _ALL_DATE_WORDS)
    for w in ans.words:
        if w.low in dates and w.low not in unit.lows:
            raise _Fail("date", f"{w.raw!r} is not in the entry's sentence")
    unit_set = set(unit.tokens)
    for i, w in enumerate(ans.words):
        if w.tok and w.tok not in unit_set and _name_like(w.raw, i == 0, language):
            raise _Fail("name", f"{w.raw!r} is not in the entry's sentence")

    # Coverage.
    toks = ans.tokens
    missing = [t for t in toks if t not in unit_set and t not in question]
    seq = [t for t in toks if t in unit_set]
    if not seq or 1 - len(missing) / len(toks) < threshold:
        shown = ", ".join(dict.fromkeys(missing[:6]))
        raise _Fail("unsupported", f"{len(missing)} of {len(toks)} content words not in the entry ({shown})")

    # Where each word sits in the unit: the nearest occurrence after the previous word's.
    occ: dict[str, list[int]] = {}
    for j, t in enumerate(unit.tokens):
        occ.setdefault(t, []).append(j)
    mapped, pos = [], -1
    for t in seq:
        after = [j for j in occ[t] if j > pos]
        pos = after[0] if after else occ[t][-1]
        mapped.append(pos)
    if split is not None:
        left = {unit.tokens[j] for j in mapped if j < split}
        right = {unit.tokens[j] for j in mapped if j >= split}
        need_l = min(2, len(set(unit.tokens[:split])))
        need_r = min(2, len(set(unit.tokens[split:])))
        if len(left) < need_l or len(right) < need_r or not (left - right) or not (right - left):
            raise _Fail("unsupported", "no single sentence of the entry says it (a word from each of two)")
        # Two sentences joined: each clause of the answer rests on one of them ("A, and B").
        seq_clause = [ans.words[ans.tok_word[i]].clause for i, t in enumerate(toks) if t in unit_set]
        sides: dict[int, set[bool]] = {}
        for c, j in zip(seq_clause, mapped):
            sides.setdefault(c, set()).add(j >= split)
        if any(len(v) > 1 for v in sides.values()):
            raise _Fail("unsupported", "one clause mixes words of two sentences of the entry")

    # Collapse: a word twice in one clause of the answer where no clause of the entry says it twice.
    per_clause = Counter((unit.words[unit.tok_word[j]].clause, t) for j, t in enumerate(unit.tokens))
    most: dict[str, int] = {}
    for (_, t), n in per_clause.items():
        most[t] = max(most.get(t, 0), n)
    by_clause: dict[tuple[int, str], int] = Counter(
        (ans.words[ans.tok_word[i]].clause, t) for i, t in enumerate(toks) if t in unit_set
    )
    for (_, t), n in by_clause.items():
        if n >= 2 and n > most.get(t, 0):
            raise _Fail(
                "collapse", f"{t!r} said {n} times in one clause, at most {most.get(t, 0)} in the entry's"
            )

    # Order. Within one clause of the entry, words that trade places around a word that stays
    # ("the virus ... drinking water" -> "drinking water ... the virus") swap subject and object:
    # their entry positions, in the answer's order, go down three times. Moving a whole clause or
    # phrase ("after 5 failed attempts") past another is rewording and passes. Across the whole
    # sentence, each word must sit near (within ORDER_WINDOW, same direction) a neighbour it has in
    # the entry; one that does not is tolerated, and counts with the missing words.
    clause_of = [unit.words[unit.tok_word[j]].clause for j in mapped]
    for c in dict.fromkeys(clause_of):
        ps = [p for p, cc in zip(mapped, clause_of) if cc == c]
        down = [1] * len(ps)
        for b in range(len(ps)):
            for a in range(b):
                if ps[a] > ps[b]:
                    down[b] = max(down[b], down[a] + 1)
        if max(down, default=0) >= 3:
            moved = [unit.tokens[p] for p in ps]
            raise _Fail("order", f"words trade places within a clause of the entry: {', '.join(moved[:6])}")

    def near(a: str, b: str) -> bool:
        return any(0 < q - p <= ORDER_WINDOW for p in occ[a] for q in occ[b])

    unanchored = [
        t
        for i, t in enumerate(seq)
        if len(seq) > 1
        and not ((i > 0 and near(seq[i - 1], t)) or (i + 1 < len(seq) and near(t, seq[i + 1])))
    ]
    budget = max(1, int(len(toks) * (1 - threshold) + 1e-9))
    if len(unanchored) > MAX_UNANCHORED or len(unanchored) + len(missing) > budget:
        raise _Fail(
            "order",
            f"words out of the entry's order: {', '.join(unanchored[:4])}"
            + (f" (and not in it: {', '.join(missing[:4])})" if missing else ""),
        )

    # Negation: the answer's negation words against those of the clauses it rests on.
    lo_w, hi_w = unit.tok_word[min(mapped)], unit.tok_word[max(mapped)]
    lo_c, hi_c = unit.words[lo_w].clause, unit.words[hi_w].clause
    # Clauses without a content word of their own ("If not,", "No soy yo,") belong to their neighbour.
    with_content = {w.clause for w in unit.words if w.tok}
    clauses = {w.clause for w in unit.words}
    while lo_c - 1 in clauses and lo_c - 1 not in with_content:
        lo_c -= 1
    while hi_c + 1 in clauses and hi_c + 1 not in with_content:
        hi_c += 1
    span_neg = sum(w.neg for w in unit.words if lo_c <= w.clause <= hi_c)
    ans_neg = sum(w.neg for w in ans.words)
    if span_neg != ans_neg:
        cues = [w.raw for w in ans.words if w.neg] or [
            w.raw for w in unit.words if lo_c <= w.clause <= hi_c and w.neg
        ]
        what = "added" if ans_neg > span_neg else "dropped"
        raise _Fail(
            "negation",
            f"negation {what} ({' '.join(cues[:3])}): {ans_neg} in the answer, {span_neg} in the entry",
        )

    # Truncation: the last sentence stops mid-way where its entry sentence goes on.
    if last and not ans.terminal:
        end_w = unit.tok_word[max(mapped)]
        content_after = max(mapped) < len(unit.tokens) - 1
        last_tok = max(i for i, w in enumerate(ans.words) if w.tok)
        tail_ans = [w.low for w in ans.words[last_tok + 1 :]]
        tail_unit = [w.low for w in unit.words[end_w + 1 :]]
        reaches_end = not content_after and tail_ans == tail_unit  # it stops where the entry stops
        if not reaches_end and (
            _DANGLING_END.search(ans.text) or content_after or len(tail_unit) > len(tail_ans)
        ):
            raise _Fail("truncated", "the last sentence stops before its end in the entry")


def faithful(
    answer: str,
    source: str,
    question: str = "",
    *,
    threshold: float = 0.8,
    language: str | None = None,
) -> Verdict:
    """Whether every sentence of ``answer`` is said by a sentence (or two adjacent sentences) of
    ``source`` (the cited entry, its question and answer)."""
    if language is None:
        language = detect_language(source, fallback=None)
    entry = _entry(_nfkc(source), language)
    framing = entry.framing | {t for t in (_content(language, w) for w in _words_of(question)) if t}
    answer_sents = [_analyse(s, language) for s in sentences(answer)]
    # Repetition: a sentence, or a pair of content words, said more often than the entry says it.
    keys = Counter(_key(s) for s in answer_sents if s.words)
    for i, s in enumerate(answer_sents, 1):
        key = _key(s)
        if s.words and keys[key] > max(1, entry.keys[key]):
            return Verdict(
                False,
                "repetition",
                f"sentence {i} is said {keys[key]} times: {_short(s.text)!r}",
                i,
                language,
            )
    # A run of words said twice in a row ("you may you have worked you may"), and three words
    # said twice that the entry never says: a model looping.
    for i, s in enumerate(answer_sents, 1):
        lows = [w.low for w in s.words]
        for n in range(2, 9):
            for k in range(len(lows) - 2 * n + 1):
                if lows[k : k + n] == lows[k + n : k + 2 * n] and not _in_entry(entry, lows[k : k + 2 * n]):
                    return Verdict(
                        False,
                        "repetition",
                        f"sentence {i}: {' '.join(lows[k : k + n])!r} said twice in a row: {_short(s.text)!r}",
                        i,
                        language,
                    )
    trigrams = Counter(g for s in answer_sents for g in _trigrams(s))
    for i, s in enumerate(answer_sents, 1):
        for g in _trigrams(s):
            if trigrams[g] >= 2 and not entry.trigrams[g]:
                return Verdict(
                    False,
                    "repetition",
                    f"sentence {i}: {' '.join(g)!r} said {trigrams[g]} times, never in the entry: {_short(s.text)!r}",
                    i,
                    language,
                )

    if not any(s.tokens for s in answer_sents):
        # Only an entry whose own sentences have no content word ("No tengo.") can be quoted so.
        if answer_sents and all(_bare(s) in entry.bare for s in answer_sents):
            return Verdict(True, "", "", 0, language)
        return Verdict(False, "empty", "the answer has no content words", 0, language)

    sents = entry.sentences
    ok = [bool(s.tokens) and not s.question for s in sents]
    units = [(k, None, set(s.tokens)) for k, s in enumerate(sents) if ok[k]]
    units += [
        (k, k + 1, set(sents[k].tokens) | set(sents[k + 1].tokens))
        for k in range(len(sents) - 1)
        if ok[k] and ok[k + 1]
    ]
    # An entry's own questions support only sentences that are questions too ("Have questions?").
    asking = units + [(k, None, set(s.tokens)) for k, s in enumerate(sents) if s.tokens and s.question]
    last_index = max(i for i, s in enumerate(answer_sents) if s.tokens)
    for i, s in enumerate(answer_sents):
        if not s.tokens and i == len(answer_sents) - 1 and not s.terminal and s.words:
            return Verdict(
                False,
                "truncated",
                f"sentence {i + 1}, truncated: a fragment without a content word: {_short(s.text)!r}",
                i + 1,
                language,
            )
        if not s.tokens:
            if any(w.neg for w in s.words) and _bare(s) not in entry.bare:  # "No." is a claim
                return Verdict(
                    False,
                    "negation",
                    f"sentence {i + 1} is a bare negation: {_short(s.text)!r}",
                    i + 1,
                    language,
                )
            continue
        want = set(s.tokens)
        ranked = sorted(
            asking if s.question else units, key=lambda u: (-len(want & u[2]), u[1] is not None, len(u[2]))
        )
        best: _Fail | None = None
        for k, k2, _ in ranked[:CANDIDATES]:
            unit, split = (
                (sents[k], None) if k2 is None else (_join(sents[k], sents[k2]), len(sents[k].tokens))
            )
            try:
                _check_unit(s, unit, split, framing, threshold, language, last=i == last_index)
                best = None
                break
            except _Fail as fail:
                if best is None or CHECKS.index(fail.reason) > CHECKS.index(best.reason):
                    best = fail
        if not units:
            best = _Fail("unsupported", "the entry has no sentence to support it")
        if best is not None:
            return Verdict(
                False,
                best.reason,
                f"sentence {i + 1}, {best.reason}: {best.detail}: {_short(s.text)!r}",
                i + 1,
                language,
            )
    return Verdict(True, "", "", 0, language)


def _words_of(text: str) -> list[str]:
    return [part for m in _WORD.finditer(_nfkc(text).casefold()) for part in _cut(m.group(0))]


def content_tokens(text: str, language: str | None) -> list[str]:
    """The content tokens of ``text`` as the sentence checks see them (Unicode, any language)."""
    return [t for t in (_content(language, w) for w in _words_of(text)) if t]
