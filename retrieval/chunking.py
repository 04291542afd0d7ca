"""Split long answers into passages small enough for the embedder (MiniLM reads ~256 tokens)."""

from __future__ import annotations

import re

# Sentence-final punctuation of the scripts FAQs come in (Latin, CJK full-width, Devanagari danda,
# Arabic and Greek question marks, ellipsis), with the closing quotes and brackets that may follow.
_END = re.compile(
    r"[.!?\u2026\u203c\u2047-\u2049\u3002\uff01\uff1f\uff0e\u0964\u0965\u061f\u037e\u06d4]+[\"'\u2019\u201d\u00bb)\]\uff09\u300d\u300f]*"
)
_CLOSES_WITHOUT_SPACE = set("\u3002\uff01\uff1f\uff0e")  # 。！？． end a sentence with no space after


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text``, in any script: a cut after sentence-final punctuation followed by
    white space and a character that does not continue the sentence in lower case ("e.g. the",
    "3.5 GB" stay whole), or after a CJK full stop even with no space. Joining the pieces with
    single spaces gives back every word in order. Not bot.services.faithfulness.sentences (nor may
    retrieval import bot): its pieces are NFKC-normalised, not the text's own characters, and its
    other cuts (line breaks, abbreviations) would move the tuning pairs, calibration units and
    concise answers measured with these."""
    out: list[str] = []
    start = 0
    for m in _END.finditer(text):
        end = m.end()
        rest = text[end:]
        stripped = rest.lstrip()
        if not stripped:
            break
        spaced = len(stripped) < len(rest)
        if (spaced and not stripped[0].islower()) or (m.group(0)[0] in _CLOSES_WITHOUT_SPACE):
            piece = text[start:end].strip()
            if piece:
                out.append(piece)
            start = end
    tail = text[start:].strip()
    if tail:
        out.append(tail)
    return out


def chunk_text(text: str, max_chars: int = 600) -> list[str]:
    """Paragraphs packed into chunks of at most ``max_chars``; an overlong paragraph is split at
    sentence ends, and an overlong sentence at word boundaries. Never returns an empty list for
    non-empty text, and joining the chunks keeps every word in order."""
    text = text.strip()
    if not text:
        return []
    if len(text) <= max_chars:
        return [text]
    pieces: list[str] = []
    for para in re.split(r"\n\s*\n", text):
        para = para.strip()
        if not para:
            continue
        if len(para) <= max_chars:
            pieces.append(para)
            continue
        for sentence in split_sentences(para):
            while len(sentence) > max_chars:
                cut = sentence.rfind(" ", 0, max_chars)
                cut = cut if cut > max_chars // 2 else max_chars
                pieces.append(sentence[:cut].strip())
                sentence = sentence[cut:].strip()
            if sentence:
                pieces.append(sentence)
    chunks: list[str] = []
    for piece in pieces:
        if chunks and len(chunks[-1]) + 2 + len(piece) <= max_chars:
            chunks[-1] = f"{chunks[-1]}\n\n{piece}" if "\n" in text else f"{chunks[-1]} {piece}"
        else:
            chunks.append(piece)
    return chunks
