"""The one place prompts are built. Serving and fine-tuning both use it, so they never drift apart.

Alpaca format: instruction = the employee's question, input = the retrieved FAQ text with its ids
(and earlier turns of the same thread, for follow-ups), response = the answer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

PREAMBLE = (
    "Below is an instruction that describes a task, paired with an input that provides further "
    "context. Write a response that appropriately completes the request."
)
# The response ends where the model starts another section of the template.
STOP_SEQUENCES = ("\n### ", "### Instruction", "### Input", "### Response")


@dataclass(frozen=True)
class ContextEntry:
    id: str
    question: str
    answer: str


@dataclass(frozen=True)
class Turn:
    role: str  # "user" | "assistant"
    text: str


MARKER = re.compile(r"^[ \t]*#{3,}[ \t]*", re.MULTILINE)


def defuse(text: str) -> str:
    """Text from askers and from FAQ files is data, never template: a line starting with ``###``
    (``### Response:``, ``### Instruction:``) could end the section it sits in and open another, so
    such lines lose their marker."""
    return MARKER.sub("", text)


def format_context(entries: Sequence[ContextEntry], history: Sequence[Turn] = ()) -> str:
    parts = [defuse(f"[{e.id}] {e.question}\n{e.answer}") for e in entries]
    if history:
        convo = "\n".join(
            f"{'Employee' if t.role == 'user' else 'Support'}: {defuse(t.text)}" for t in history
        )
        parts.append(f"Earlier in this conversation:\n{convo}")
    return "\n\n".join(parts)


def build_prompt(question: str, entries: Sequence[ContextEntry], history: Sequence[Turn] = ()) -> str:
    context = format_context(entries, history)
    body = f"### Instruction:\n{defuse(question).strip()}\n\n"
    if context:
        body += f"### Input:\n{context}\n\n"
    return f"{PREAMBLE}\n\n{body}### Response:\n"
