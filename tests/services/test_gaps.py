"""Knowledge gaps on real components: questions the bot could not answer, grouped into topics by the
bundled embedder, published as entries or dismissed."""

import json

import pytest
from typer.testing import CliRunner

from bot.services.gaps import GapError

pytestmark = pytest.mark.slow  # over ~2 s each here: `make test-fast` leaves them out

DOGS = [
    "can I bring my dog to the office",
    "are dogs allowed at work",
    "what is the pet policy for the office",
]
COFFEE = ["the coffee machine in the kitchen is broken", "who repairs the coffee machine"]


@pytest.fixture
def asked(container, sample_index):
    """Five questions the sample FAQ has no entry for, from four people; one handed off and answered
    by the support team."""
    container.settings.generation = "never"
    results = {}
    for i, q in enumerate(DOGS + COFFEE):
        r = container.answers.ask(q, user_id=f"U{i % 4}")
        assert r.abstained, q  # the premise: the FAQ does not cover these
        results[q] = r
    handoff = container.handoffs.open(results[DOGS[0]].answer_id, "U0", "abstain")
    container.handoffs.record_human_reply(handoff, "UAGENT", "Dogs are welcome on Fridays, on a lead.", "d1")
    return results


def test_gap_questions_are_grouped_into_topics_ranked_by_askers_with_a_draft(container, asked):
    topics = container.gaps.topics()
    by_size = sorted([sorted(q.text for q in t.questions) for t in topics], key=len, reverse=True)
    assert by_size[:2] == [sorted(DOGS), sorted(COFFEE)]
    dogs = topics[0]
    assert dogs.askers == 3 and dogs.reasons == {"abstained": 3, "handoff": 1}
    assert dogs.draft_question in DOGS and dogs.draft_answer == "Dogs are welcome on Fridays, on a lead."
    assert topics[1].draft_answer is None
    assert container.gaps.get(dogs.id).to_json()["questions"] == [q.text for q in dogs.questions]


def test_topics_are_computed_once_until_a_new_signal(container, asked, monkeypatch):
    """App Home asks for the topics on every admin view: with nothing new they are not embedded and
    clustered again, and a new abstained question still shows up at once."""
    embedder = container.index.embedder  # the real bundled one, wrapped to count what it embeds
    encoded: list[list[str]] = []
    real_encode = embedder.encode

    def counting_encode(texts, *args, **kwargs):
        encoded.append(list(texts))
        return real_encode(texts, *args, **kwargs)

    monkeypatch.setattr(embedder, "encode", counting_encode)
    first = container.gaps.topics()
    assert len(encoded) == 1
    assert container.gaps.topics() == first and container.gaps.get(first[0].id) == first[0]
    assert len(encoded) == 1  # nothing new: nothing embedded again

    late = "when is the summer party this year"
    assert container.answers.ask(late, user_id="U7").abstained
    encoded.clear()
    assert late in {q.text for t in container.gaps.topics() for q in t.questions}
    assert encoded and late in encoded[-1]
    topic = next(t for t in container.gaps.topics() if late in {q.text for q in t.questions})
    container.gaps.dismiss(topic.id, "UADMIN")
    assert late not in {q.text for t in container.gaps.topics() for q in t.questions}  # a decision counts


def test_publishing_a_topic_makes_an_entry_its_questions_find(container, asked):
    dogs = container.gaps.topics()[0]
    entry = container.gaps.publish(dogs.id, "UADMIN")
    for q in DOGS:
        found = container.index.retrieve(q)
        assert not found.abstain and found.top.id == entry, q
    assert container.index.retrieve(DOGS[1]).top.answer == "Dogs are welcome on Fridays, on a lead."
    assert [sorted(q.text for q in t.questions) for t in container.gaps.topics()] == [sorted(COFFEE)]
    with pytest.raises(GapError, match="no open knowledge gap"):
        container.gaps.publish(dogs.id, "UADMIN")


def test_a_topic_without_a_human_reply_needs_an_answer_and_can_be_dismissed(container, asked):
    coffee = next(t for t in container.gaps.topics() if t.draft_answer is None)
    with pytest.raises(GapError, match="--answer"):
        container.gaps.publish(coffee.id, "UADMIN")
    assert container.gaps.dismiss(coffee.id, "UADMIN") == 2
    assert all(q.text not in COFFEE for t in container.gaps.topics() for q in t.questions)


def test_a_taught_question_leaves_the_gaps_and_a_rejected_answer_enters_them(container, asked):
    container.settings.admin_users = ["UADMIN"]
    container.__dict__.pop("reviews", None)
    container.reviews.correct(asked[COFFEE[0]].answer_id, "UADMIN", "it-helpdesk-hours")  # attach
    wrong = container.answers.ask("How do I reset my VPN password?", user_id="U9")
    container.reviews.reject(wrong.answer_id, "UADMIN")
    questions = {q.text: q.reasons for t in container.gaps.topics() for q in t.questions}
    assert COFFEE[0] not in questions and questions["How do I reset my VPN password?"] == {"rejected"}


def test_gaps_cli_list_show_publish(container, asked, monkeypatch):
    from bot.cli import app

    monkeypatch.setenv("SUPPORTBOT_DATA_DIR", str(container.settings.data_dir))
    monkeypatch.setenv("SUPPORTBOT_MODEL_PATH", str(container.settings.model_path))
    runner = CliRunner()
    listed = runner.invoke(app, ["gaps", "list", "--json"])
    assert listed.exit_code == 0, listed.stderr
    topics = json.loads(listed.stdout)
    coffee = next(t for t in topics if t["draft_answer"] is None)
    shown = runner.invoke(app, ["gaps", "show", str(coffee["id"])])
    assert shown.exit_code == 0 and COFFEE[1] in shown.stdout and "publish with --answer" in shown.stdout
    published = runner.invoke(
        app, ["gaps", "publish", str(coffee["id"]), "--answer", "Facilities fixes it: call extension 2020."]
    )
    assert published.exit_code == 0 and "Published topic" in published.stdout
    missing = runner.invoke(app, ["gaps", "show", str(coffee["id"])])
    assert missing.exit_code == 1 and "no open knowledge gap" in missing.stderr
