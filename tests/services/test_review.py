"""Admin review: only admins approve; approval teaches retrieval at once."""

import pytest
from sqlalchemy import select

from bot.db.models import Review
from bot.services.review import NotAuthorized, ReviewError


@pytest.fixture
def reviews(container, sample_index):
    container.settings.admin_users = ["UADMIN"]
    container.__dict__.pop("reviews", None)
    return container.reviews


def test_non_admin_cannot_approve_and_nothing_is_learned(container, reviews):
    odd = "the tunnel thing for working from home rejects my secret word"
    r = container.answers.ask(odd, user_id="U1")
    before = container.index.search(odd, 1)[0]
    with pytest.raises(NotAuthorized):
        reviews.approve(r.answer_id, "UMALLORY")
    with container.sessions() as s:
        assert s.scalars(select(Review)).all() == []
    assert container.index.search(odd, 1)[0].score == pytest.approx(before.score)


def test_approval_makes_the_next_similar_question_find_the_entry(container, reviews):
    odd = "the tunnel thing for working from home rejects my secret word"
    first = container.answers.ask(odd, user_id="U1")
    assert not first.abstained  # weakly related: answered from the VPN entry, as an admin would see it
    entry = first.sources[0]["id"]
    outcome = reviews.approve(first.answer_id, "UADMIN")
    assert outcome.learned_entry == entry and outcome.action == "approve"
    again = container.index.retrieve("the tunnel thing for working from home rejects my secret word!", 1)
    assert again.top.id == entry and again.top.matched_kind == "learned" and not again.abstain
    assert again.confidence > first.sources[0]["score"]


def test_approving_an_abstention_needs_an_answer_and_creates_a_curated_entry(container, reviews):
    q = "Who won the football world cup in 1954?"
    r = container.answers.ask(q, user_id="U2")
    assert r.abstained
    with pytest.raises(ReviewError, match="approve it with the answer to give"):
        reviews.approve(r.answer_id, "UADMIN")
    outcome = reviews.approve(r.answer_id, "UADMIN", edited_text="West Germany, 3-2 against Hungary in Bern.")
    assert outcome.curated_entry and outcome.action == "edit"
    again = container.answers.ask("which team won the 1954 football world cup?", user_id="U3")
    assert not again.abstained and again.sources[0]["id"] == outcome.curated_entry


def test_reject_is_recorded_and_unknown_answers_are_errors(container, reviews):
    r = container.answers.ask("where do I download my salary slip", user_id="U1")
    reviews.reject(r.answer_id, "UADMIN")
    with container.sessions() as s:
        assert [(x.action, x.reviewer_id) for x in s.scalars(select(Review))] == [("reject", "UADMIN")]
    assert reviews.pending() == []
    with pytest.raises(ReviewError, match="no answer 9999"):
        reviews.approve(9999, "UADMIN")
