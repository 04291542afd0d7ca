"""The one place prompts are built. Serving and fine-tuning both use it, so they never drift apart.

Alpaca format: instruction = the employee's question, input = the retrieved FAQ text with its ids
(and earlier turns of the same thread, for follow-ups), response = the answer.
"""

from __future__ import annotations

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


def format_context(entries: Sequence[ContextEntry], history: Sequence[Turn] = ()) -> str:
    parts = [f"[{e.id}] {e.question}\n{e.answer}" for e in entries]
    if history:
        convo = "\n".join(f"{'Employee' if t.role == 'user' else 'Support'}: {t.text}" for t in history)
        parts.append(f"Earlier in this conversation:\n{convo}")
    return "\n\n".join(parts)


def build_prompt(question: str, entries: Sequence[ContextEntry], history: Sequence[Turn] = ()) -> str:
    context = format_context(entries, history)
    body = f"### Instruction:\n{question.strip()}\n\n"
    if context:
        body += f"### Input:\n{context}\n\n"
    return f"{PREAMBLE}\n\n{body}### Response:\n"
