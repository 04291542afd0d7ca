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


@pytest.mark.slow
def test_non_admin_cannot_approve_and_nothing_is_learned(container, reviews):
    odd = "the VPN rejects my secret word when I work from home"
    r = container.answers.ask(odd, user_id="U1")
    before = container.index.search(odd, 1)[0]
    with pytest.raises(NotAuthorized):
        reviews.approve(r.answer_id, "UMALLORY")
    with container.sessions() as s:
        assert s.scalars(select(Review)).all() == []
    assert container.index.search(odd, 1)[0].score == pytest.approx(before.score)


@pytest.mark.slow
def test_approval_makes_the_next_similar_question_find_the_entry(container, reviews):
    odd = "the VPN rejects my secret word when I work from home"
    first = container.answers.ask(odd, user_id="U1")
    assert not first.abstained  # loosely phrased: answered from the VPN entry, as an admin would see it
    entry = first.sources[0]["id"]
    outcome = reviews.approve(first.answer_id, "UADMIN")
    assert outcome.learned_entry == entry and outcome.action == "approve"
    again = container.index.retrieve(odd + "!", 1)
    assert again.top.id == entry and again.top.matched_kind == "learned" and not again.abstain
    assert again.confidence > first.sources[0]["score"]


@pytest.mark.slow
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


@pytest.mark.slow
def test_reject_is_recorded_and_unknown_answers_are_errors(container, reviews):
    r = container.answers.ask("where do I download my salary slip", user_id="U1")
    reviews.reject(r.answer_id, "UADMIN")
    with container.sessions() as s:
        assert [(x.action, x.reviewer_id) for x in s.scalars(select(Review))] == [("reject", "UADMIN")]
    assert reviews.pending() == []
    with pytest.raises(ReviewError, match="no answer 9999"):
        reviews.approve(9999, "UADMIN")


# ---- wrong entry -> the right one; an abstention -> an existing entry; hard negatives -------------
WORLD_CUP = "Who won the football world cup in 1954?"
# The sample FAQ answers this from laptop-broken; the admin says the asker wants laptop-replacement.
CRACKED = "my laptop screen cracked, can I get a new laptop?"
# The bot abstains on this one; parental-leave, among its nearest entries, answers it.
CHILD = "I want to take time off when my child is born"


def _wrong(container, question: str) -> tuple[int, str]:
    """Ask; the answer and the entry it cited."""
    r = container.answers.ask(question, user_id="U1")
    assert not r.abstained
    return r.answer_id, r.sources[0]["id"]


@pytest.mark.slow
def test_correct_teaches_the_right_entry_and_records_the_wrong_one(container, reviews):
    from bot.db.models import Transcript
    from retrieval.negatives import hard_negatives, negatives_by_entry

    odd, right = CRACKED, "laptop-replacement"
    answer_id, cited = _wrong(container, odd)
    assert cited == "laptop-broken"
    with pytest.raises(NotAuthorized):
        reviews.correct(answer_id, "UMALLORY", right)
    with pytest.raises(ReviewError, match="no FAQ entry 'no-such-entry'"):
        reviews.correct(answer_id, "UADMIN", "no-such-entry")
    with pytest.raises(ReviewError, match=f"already cites {cited}"):
        reviews.correct(answer_id, "UADMIN", cited)

    outcome = reviews.correct(answer_id, "UADMIN", right)
    assert (outcome.action, outcome.learned_entry, outcome.wrong_entry) == ("correct", right, cited)
    assert container.index.retrieve(odd).top.id == right
    (negative,) = hard_negatives(container.sessions)
    assert (negative.question, negative.entry_id, negative.action) == (odd, cited, "correct")
    assert negatives_by_entry(container.sessions) == {cited: [odd]}
    with container.sessions() as s:
        (review,) = s.scalars(select(Review)).all()
        assert (review.action, review.entry_id, review.reviewer_id) == ("correct", right, "UADMIN")
        (t,) = s.scalars(select(Transcript)).all()
        entry_answer = next(e.answer for e in container.index.search(right, 37) if e.id == right)
        assert (t.question, t.answer, t.faq_ids) == (odd, entry_answer, [right])

    # A second reviewer is told who reviewed it, and how.
    with pytest.raises(ReviewError, match=f"already reviewed \\(correct to {right}\\) by UADMIN"):
        reviews.reject(answer_id, "UADMIN")


@pytest.mark.slow
def test_attach_an_abstention_to_an_existing_entry(container, reviews):
    from retrieval.negatives import hard_negatives

    r = container.answers.ask(CHILD, user_id="U2")
    assert r.abstained
    nearest = reviews.entry_choices("", r.answer_id)
    assert len(nearest) == 3 and "parental-leave" in [i for i, _ in nearest]
    entries = container.index.count_entries()
    outcome = reviews.correct(r.answer_id, "UADMIN", "parental-leave")
    assert (outcome.action, outcome.learned_entry, outcome.wrong_entry) == ("attach", "parental-leave", None)
    found = container.index.retrieve(CHILD)
    assert found.top.id == "parental-leave" and not found.abstain
    assert container.index.count_entries() == entries  # no curated duplicate
    assert hard_negatives(container.sessions) == []  # nothing was cited wrongly


@pytest.mark.slow
def test_reject_records_the_cited_entry_as_a_hard_negative(container, reviews):
    from retrieval.negatives import hard_negatives

    answer_id, cited = _wrong(container, "where do I download my salary slip")
    outcome = reviews.reject(answer_id, "UADMIN")
    assert outcome.wrong_entry == cited
    assert [(n.entry_id, n.action, n.reviewer_id) for n in hard_negatives(container.sessions)] == [
        (cited, "reject", "UADMIN")
    ]
    # An abstention rejected: nothing was cited, nothing recorded.
    abstained = container.answers.ask(WORLD_CUP, user_id="U2")
    assert reviews.reject(abstained.answer_id, "UADMIN").wrong_entry is None
    assert len(hard_negatives(container.sessions)) == 1


@pytest.mark.slow
def test_entry_choices_match_typed_text_by_id_question_and_search(container, reviews):
    typed = reviews.entry_choices("vpn")
    ids = [i for i, _ in typed]
    assert "vpn-password-reset" in ids[:3] and len(ids) <= 100 and len(ids) == len(set(ids))
    assert all("vpn" in i.lower() or "vpn" in q.lower() for i, q in typed[:2])
    assert reviews.entry_choices("") == []  # nothing typed and no answer: nothing to be near


def test_two_reviews_racing_past_the_check_record_one_and_teach_once(container, reviews, monkeypatch):
    """Two admins in two processes both read "not reviewed yet" before either commits: the unique
    answer_id lets one review in; the other is told who reviewed it, and teaches nothing."""
    from bot.db.models import HardNegative, LearnedPhrasing
    from bot.services.review import AlreadyReviewed, ReviewService

    container.settings.generation = "never"
    r = container.answers.ask("the VPN rejects my secret word when I work from home", user_id="U1")
    reviews.approve(r.answer_id, "UADMIN")
    real = ReviewService._not_yet_reviewed
    monkeypatch.setattr(ReviewService, "_not_yet_reviewed", staticmethod(_passes_once(real)))
    with pytest.raises(AlreadyReviewed, match="UADMIN"):
        reviews.reject(r.answer_id, "UADMIN")
    with container.sessions() as s:
        assert [x.action for x in s.scalars(select(Review))] == ["approve"]
        assert len(s.scalars(select(LearnedPhrasing)).all()) == 1
        assert s.scalars(select(HardNegative)).all() == []  # the losing reject taught nothing


def _passes_once(check):
    """The race: the first "already reviewed?" read sees nothing (the other commit is not in yet)."""
    calls = []

    def racing(session, answer_id):
        calls.append(answer_id)
        if len(calls) > 1:
            check(session, answer_id)

    return racing
