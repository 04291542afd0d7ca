"""Questions in a language the embedder does not read are ranked and judged on their words, in the
FAQ's own language analysis (issue 15), fused with the embedder only where it is tuned to the FAQ or
the language shares its script: the real bundled English embedder, real Chroma, real jieba."""

from pathlib import Path

import pytest

from bot.container import Container
from bot.settings import Settings
from retrieval.faq import load_faq
from retrieval.index import HYBRID, LEXICAL, SEMANTIC

FAQS = Path(__file__).parent / "faqs"


def _index(data_dir: Path, name: str, **settings):
    c = Container(Settings(data_dir=data_dir, tune_on_import=False, **settings))
    c.ensure_schema()
    c.index.import_items(load_faq(FAQS / name))
    return c


@pytest.fixture
def german(data_dir):
    c = _index(data_dir, "faq_de.csv")
    yield c.index
    c.close()


def test_a_german_question_is_matched_on_its_stemmed_words_and_the_embedder_together(german):
    """German is written in the English embedder's script: its similarity is fused with the words,
    never used alone (retrieval/search.py HYBRID)."""
    result = german.retrieve("Ich möchte mein VPN Passwort zurücksetzen")
    assert result.mode == HYBRID and result.language == "de"
    assert result.top.id == "vpn-passwort" and not result.abstain
    assert all(hit.mode == HYBRID for hit in result.hits)
    # "Urlaubstage" in the FAQ, "Urlaubstagen" asked: the Snowball stemmer makes them one word.
    assert german.retrieve("Wie viele Urlaubstagen bekomme ich?").top.id == "urlaubstage"


def test_a_german_question_the_faq_does_not_answer_is_refused(german):
    # Shares only common words with the FAQ: the embedder's similarity alone would have answered it.
    refused = german.retrieve("Wo kann ich mein Fahrrad parken?")
    assert refused.abstain and refused.mode == HYBRID
    assert refused.threshold is not None and refused.confidence < refused.threshold


def test_an_embedder_of_another_script_leaves_german_to_its_words(data_dir):
    c = _index(data_dir, "faq_de.csv", embedding_languages="ru")
    try:
        result = c.index.retrieve("Ich möchte mein VPN Passwort zurücksetzen")
        assert result.mode == LEXICAL and result.top.id == "vpn-passwort" and not result.abstain
        assert c.index.retrieve("Wo kann ich mein Fahrrad parken?").abstain
    finally:
        c.close()


def test_an_english_question_still_goes_through_the_embedder(german):
    assert german.retrieve("How do I reset my VPN password?").mode == SEMANTIC


def test_a_chinese_question_is_segmented_and_matched(data_dir):
    c = _index(data_dir, "faq_zh.csv")
    try:
        result = c.index.retrieve("我忘了VPN的密码怎么办")
        assert result.mode == LEXICAL and result.language == "zh"
        assert result.top.id == "vpn-mima" and not result.abstain
        assert c.index.retrieve("工资单在哪里下载？").top.id == "gongzidan"
        assert c.index.retrieve("公司食堂几点开门？").abstain
    finally:
        c.close()


def test_a_multilingual_embedder_ranks_every_question_itself(data_dir):
    c = _index(data_dir, "faq_de.csv", embedding_languages="multilingual")
    try:
        assert c.index.retrieve("Ich möchte mein VPN Passwort zurücksetzen").mode == SEMANTIC
    finally:
        c.close()


@pytest.mark.slow
def test_an_index_tuned_on_the_faqs_own_german_phrasings_fuses_its_embedder_with_the_words(data_dir):
    c = _index(data_dir, "faq_de.csv")
    try:
        c.tune_embedder(steps=10)
        result = c.index.retrieve("Ich möchte mein VPN Passwort zurücksetzen")
        assert result.mode == HYBRID and result.top.id == "vpn-passwort" and not result.abstain
        assert c.index.retrieve("Wo kann ich mein Fahrrad parken?").abstain
        assert c.index.retrieve("How do I reset my VPN password?").mode == SEMANTIC
    finally:
        c.close()
