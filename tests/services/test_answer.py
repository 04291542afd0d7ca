"""The answer path with real components: retrieval, the bundled model, SQL."""

import pytest
from sqlalchemy import select

from bot.db.models import Answer, Conversation, Message
from bot.services.answer import QuestionError


@pytest.mark.slow
def test_answers_from_the_matching_entry_and_records_everything(container, sample_index):
    result = container.answers.ask("How do I reset my VPN password?", user_id="U1")
    assert not result.abstained
    assert result.sources[0]["id"] == "vpn-password-reset"
    assert result.answer.strip() and result.tokens > 0
    assert result.model_version and result.latency_ms > 0

    with container.sessions() as s:
        convo = s.get(Conversation, result.conversation_id)
        roles = [(m.role, m.user_id) for m in convo.messages]
        assert roles == [("user", "U1"), ("bot", None)]
        assert convo.messages[0].text == "How do I reset my VPN password?"
        answer = s.get(Answer, result.answer_id)
        assert answer.text == result.answer == convo.messages[1].text
        assert answer.message_id == convo.messages[1].id
        assert answer.sources[0]["id"] == "vpn-password-reset" and not answer.abstained
        assert answer.tokens == result.tokens


def test_out_of_scope_question_abstains_without_the_model(container, sample_index):
    result = container.answers.ask("Who won the football world cup in 1954?")
    assert result.abstained and result.model_version is None and result.tokens == 0
    assert "won't guess" in result.answer
    assert container.engine._model is None  # no model load was needed to say "I don't know"
    with container.sessions() as s:
        assert s.get(Answer, result.answer_id).mode == "abstain"


@pytest.mark.parametrize(
    "question, message", [("", "empty"), ("  \n\t ", "empty"), ("x" * 40_000, "40,000 characters")]
)
def test_empty_and_huge_questions_are_refused_before_anything_is_stored(container, question, message):
    with pytest.raises(QuestionError, match=message):
        container.answers.ask(question)
    with container.sessions() as s:
        assert s.scalars(select(Message)).all() == []


@pytest.mark.slow
def test_thread_keeps_one_conversation(container, sample_index):
    a = container.answers.ask("where do I find my payslip", source="slack", channel_id="C1", thread_ts="1.0")
    b = container.answers.ask("and when is payday?", source="slack", channel_id="C1", thread_ts="1.0")
    assert a.conversation_id == b.conversation_id


def test_every_model_failure_falls_back_to_the_faq_answer(container, sample_index, monkeypatch):
    from bot.llm.base import GenerationError
    from bot.llm.engine import Busy

    vpn_answer = sample_index.search("How do I reset my VPN password?", 1)[0].answer

    def busy(*a, **kw):
        raise Busy(32, 32)

    monkeypatch.setattr(container.engine, "submit", busy)
    r = container.answers.ask("my vpn password stopped working")
    assert (r.answer, r.mode, r.fallback, r.abstained) == (vpn_answer, "faq", "busy", False)
    assert r.sources[0]["id"] == "vpn-password-reset"

    def crash(*a, **kw):
        raise GenerationError("runtime crashed")

    monkeypatch.setattr(container.engine, "submit", crash)
    r = container.answers.ask("my vpn password stopped working")
    assert (r.answer, r.mode, r.fallback) == (vpn_answer, "faq", "error")


@pytest.mark.slow
def test_timeout_falls_back(container, sample_index):
    container.settings.generation_timeout_s = 0.05
    r = container.answers.ask("my vpn password stopped working")
    assert (r.mode, r.fallback) == ("faq", "timeout")


@pytest.mark.slow
def test_ungrounded_generation_is_replaced_and_recorded(container, sample_index):
    container.settings.grounding_threshold = 1.0  # nothing the model writes is good enough
    r = container.answers.ask("my vpn password stopped working")
    assert r.mode == "faq" and r.fallback == "ungrounded" and r.tokens > 0 and r.model_version
    with container.sessions() as s:
        row = s.get(Answer, r.answer_id)
        assert (row.mode, row.grounded, row.text) == ("faq", True, r.answer)


def test_direct_answer_for_near_exact_matches_skips_the_model(container, sample_index):
    container.settings.direct_answer_score = 0.85
    r = container.answers.ask("How do I reset my VPN password?")
    assert (r.mode, r.tokens, r.model_version) == ("faq", 0, None)
    assert container.engine._model is None
