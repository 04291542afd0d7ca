"""A question an admin rejected keeps questions like it from being answered, at once and in every
process (retrieval/offtopic.py): the real bundled embedder, real Chroma, real SQL, real jieba."""

from pathlib import Path

import pytest

from bot.container import Container
from bot.settings import Settings
from retrieval.faq import load_faq
from retrieval.index import LEXICAL

pytestmark = pytest.mark.slow

FAQS = Path(__file__).parents[1] / "retrieval" / "faqs"
OFF_TOPIC = "my home printer is broken"  # the office-printer entry answers it: the sample FAQ's words
LIKE_IT = "my personal printer at home does not work"


@pytest.fixture
def reviews(container, sample_index):
    container.settings.admin_users = ["UADMIN"]
    container.__dict__.pop("reviews", None)
    return container.reviews


def test_a_rejected_question_stops_answers_to_questions_like_it_in_every_process(container, reviews):
    first = container.answers.ask(OFF_TOPIC, user_id="U1")
    assert not first.abstained and first.sources[0]["id"] == "printer-setup"
    before = container.index.retrieve(LIKE_IT)
    assert not before.abstain and before.top.id == "printer-setup"  # answered today, and wrongly

    reviews.reject(first.answer_id, "UADMIN")

    after = container.index.retrieve(LIKE_IT)
    assert after.abstain and after.off_topic
    assert after.top.id == "printer-setup"  # still ranked (the admin's picker reads it), not answered
    asked = container.answers.ask(LIKE_IT, user_id="U2")
    assert asked.abstained and "admin" in asked.why
    # The entry still answers its own kind of question.
    office = container.index.retrieve("How do I connect to the office printer?")
    assert office.top.id == "printer-setup" and not office.abstain and not office.off_topic
    # Another process (a second container on the same SQL and vector store) sees it on its next question.
    other = Container(container.settings)
    try:
        assert other.index.retrieve(LIKE_IT).off_topic
    finally:
        other.close()


def test_a_rejected_question_an_admin_then_attaches_to_an_entry_is_answered_again(container, reviews):
    first = container.answers.ask(OFF_TOPIC, user_id="U1")
    reviews.reject(first.answer_id, "UADMIN")
    again = container.answers.ask(OFF_TOPIC, user_id="U1")
    assert again.abstained
    # A second admin decides the FAQ does answer it after all: the question becomes a phrasing.
    reviews.correct(again.answer_id, "UADMIN", "printer-setup")
    found = container.index.retrieve(OFF_TOPIC)
    assert not found.abstain and not found.off_topic and found.top.id == "printer-setup"


def test_a_question_ranked_on_words_is_refused_like_one_an_admin_rejected(data_dir):
    # A Chinese FAQ with the English embedder: ranked on words alone, where a rejection's hard
    # negative (read only by an embedder tuning) teaches nothing.
    c = Container(Settings(data_dir=data_dir, tune_on_import=False, admin_users=["UADMIN"]))
    try:
        c.ensure_schema()
        c.index.import_items(load_faq(FAQS / "faq_zh.csv"))
        dog = c.answers.ask("我可以带狗来办公室吗", user_id="U1")  # "can I bring a dog to the office"
        assert not dog.abstained and c.index.retrieve("我可以带狗来办公室吗").mode == LEXICAL
        cat = "我可以带猫来办公室吗"  # "can I bring a cat to the office": answered from the same entry
        assert not c.index.retrieve(cat).abstain
        c.reviews.reject(dog.answer_id, "UADMIN")
        like_it = c.index.retrieve(cat)
        assert like_it.mode == LEXICAL and like_it.abstain and like_it.off_topic
        vpn = c.index.retrieve("我怎么重置VPN密码")
        assert vpn.top.id == "vpn-mima" and not vpn.abstain
    finally:
        c.close()
