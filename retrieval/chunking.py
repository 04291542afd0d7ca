"""Split long answers into passages small enough for the embedder (MiniLM reads ~256 tokens)."""

from __future__ import annotations

import re

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])")


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
        for sentence in _SENTENCE_END.split(para):
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
