"""An untuned index chooses its own BM25 fusion weight on its FAQ's phrasings (issue 15): real
bundled MiniLM, real Chroma, real SQLite."""

from __future__ import annotations

import dataclasses

import pytest

from bot.container import Container
from bot.settings import Settings
from retrieval.calibration import LEXICAL_WEIGHTS, MIN_WEIGHT_QUESTIONS
from retrieval.faq import FaqItem
from retrieval.index import LEXICAL_WEIGHT, TUNED_LEXICAL_WEIGHT, FaqIndex

pytestmark = pytest.mark.slow  # a real import of some 50 entries, each test

VERBS = ["renew", "cancel", "order", "return", "replace", "book", "report", "update", "transfer"]
NOUNS = ["parking permit", "laptop", "desk", "badge", "phone contract", "train ticket"]
TOPICS = [f"{verb} my {noun}" for verb in VERBS for noun in NOUNS]


def _misleading_words(n: int) -> list[FaqItem]:
    """An FAQ whose phrasings cite the next entry's reference number: asked such a question, the
    embedder finds its topic, while the words point at the entry that holds the reference."""
    return [
        FaqItem(
            id=f"t{i}",
            question=f"How do I {topic}?",
            alt_questions=(f"I want to {topic}, reference RX{(i + 1) % n:03d}",),
            answer=f"To {topic}, open the service portal. Reference RX{i:03d}.",
        )
        for i, topic in enumerate(TOPICS[:n])
    ]


def _container(data_dir, **settings) -> Container:
    c = Container(Settings(data_dir=data_dir, tune_on_import=False, **settings))
    c.ensure_schema()
    return c


def test_the_weight_chosen_is_the_one_that_ranks_the_faqs_own_phrasings_best_left_out(data_dir):
    items = _misleading_words(MIN_WEIGHT_QUESTIONS + 10)
    c = _container(data_dir)
    try:
        c.index.import_items(items)
        chosen = c.index.chosen_lexical_weight(c.index._fresh())
        assert c.index._lexical_weight(c.index._fresh(), hybrid=False) == chosen  # what ranking uses
    finally:
        c.close()
    # What the choice stands for: each entry's second phrasing asked of the FAQ imported without it
    # (its vector and its words gone), at every weight, through the public search.
    without = _container(data_dir / "without")
    try:
        without.index.import_items([dataclasses.replace(it, alt_questions=()) for it in items])
        right = {}
        for weight in LEXICAL_WEIGHTS:
            without.index.lexical_weight = weight
            without.index._snapshot = None
            right[weight] = sum(without.index.search(it.alt_questions[0], 1)[0].id == it.id for it in items)
    finally:
        without.close()
    assert right[chosen] == max(right.values())
    # The words mislead here (each phrasing cites the next entry's reference): the default ranks
    # fewer of them first, and the choice is below it.
    assert right[LEXICAL_WEIGHT] < right[chosen] and chosen < LEXICAL_WEIGHT


def test_a_tuned_index_ranks_with_its_own_weight_not_the_chosen_one(data_dir):
    c = _container(data_dir)
    try:
        c.index.import_items(_misleading_words(MIN_WEIGHT_QUESTIONS + 10))
        c.tune_embedder(steps=2)
        assert c.index._lexical_weight(c.index._fresh(), hybrid=False) == TUNED_LEXICAL_WEIGHT
    finally:
        c.close()


def test_too_few_entries_with_two_phrasings_keep_the_default(data_dir):
    c = _container(data_dir)
    try:
        c.index.import_items(_misleading_words(MIN_WEIGHT_QUESTIONS - 1))
        assert c.index.chosen_lexical_weight(c.index._fresh()) == LEXICAL_WEIGHT
    finally:
        c.close()


def test_the_choice_is_stored_for_other_processes_until_the_index_changes(data_dir, monkeypatch):
    items = _misleading_words(MIN_WEIGHT_QUESTIONS + 10)
    c = _container(data_dir)
    try:
        c.index.import_items(items)
        first = c.index.chosen_lexical_weight(c.index._fresh())
        calls = []
        real = FaqIndex._choose_lexical_weight
        monkeypatch.setattr(
            FaqIndex, "_choose_lexical_weight", lambda self, snap: calls.append(1) or real(self, snap)
        )
        other = _container(data_dir)  # another process: nothing in memory
        assert other.index.chosen_lexical_weight(other.index._fresh()) == first
        assert other.index.search(items[0].alt_questions[0], 1)[0].id == items[0].id
        assert calls == []  # read from SQL, not chosen again
        other.index.import_items(_misleading_words(MIN_WEIGHT_QUESTIONS + 11))  # a new entry: chosen afresh
        other.index.chosen_lexical_weight(other.index._fresh())
        assert calls == [1]
        other.close()
    finally:
        c.close()
