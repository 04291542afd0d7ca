"""`eval learning`'s replay: real answers and reviews on real SQLite, Chroma and the bundled embedder,
and what a day of reviews changes for the next questions."""

import json

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from bot.cli import app
from bot.container import Container
from bot.db.models import Answer, HardNegative, LearnedPhrasing, Review
from bot.services.learning import SimulatedAdmin, replay
from bot.settings import Settings
from bot.worker import run_nightly
from retrieval.evaluate import EvalQuery
from tests.support import SAMPLE_FAQ

# In the sample FAQ's scope, but worded so that the untuned index does not answer them right: one it
# abstains on (the admin attaches it to its entry), one it answers from another entry (corrected).
ABSTAINED = EvalQuery("the gadget by the front entrance beeps red when I hold my card to it", "office-access")
WRONG = EvalQuery("my pay slip password for the vpn portal expired", "payslip")
RIGHT = EvalQuery("How do I reset my VPN password please", "vpn-password-reset")
OUT_OF_SCOPE_ANSWERED = EvalQuery("how do I reset the password of my bike lock", None)
OUT_OF_SCOPE = EvalQuery("what will the weather be like in Lisbon tomorrow", None)


@pytest.fixture
def container(data_dir) -> Container:
    """The throwaway store `eval learning` builds: FAQ answers as written (no model), untuned."""
    c = Container(Settings(data_dir=data_dir, direct_answer_score=0.0, model_backend="mock"))
    c.ensure_schema()
    from retrieval.faq import load_faq

    c.index.import_items(load_faq(SAMPLE_FAQ))
    return c


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def _again(q: EvalQuery) -> EvalQuery:
    """The same question asked again later, in other words' order: what the test file holds."""
    return EvalQuery(
        q.query.replace("when I hold", "whenever I hold").replace("expired", "has expired"), q.expected_id
    )


@pytest.mark.slow
def test_a_day_of_reviews_makes_wrong_and_abstained_questions_right(container):
    stream = [ABSTAINED, WRONG, RIGHT, OUT_OF_SCOPE_ANSWERED, OUT_OF_SCOPE]
    test = [_again(ABSTAINED), _again(WRONG), OUT_OF_SCOPE]
    seen = {q.query: container.index.retrieve(q.query) for q in stream}
    # The stream's premises, checked on the real index rather than assumed.
    assert seen[ABSTAINED.query].abstain
    assert not seen[WRONG.query].abstain and seen[WRONG.query].top.id != WRONG.expected_id
    assert not seen[RIGHT.query].abstain and seen[RIGHT.query].top.id == RIGHT.expected_id
    assert not seen[OUT_OF_SCOPE_ANSWERED.query].abstain
    assert seen[OUT_OF_SCOPE.query].abstain

    nights = []

    def nightly() -> dict:
        nights.append(run_nightly(container, finetune=False))
        return nights[-1]

    report = replay(
        container.answers, container.reviews, stream, test, days=2, per_day=len(stream), nightly=nightly
    )
    assert report.before["coverage"] == 0.0  # neither in-scope test question was answered right
    (day,) = report.days  # the stream ran out after one day: no second day is made up
    assert day.actions == {"approve": 1, "correct": 1, "attach": 1, "reject": 1, "none": 1, "refused": 0}
    assert day.figures["coverage"] == 1.0 and day.figures["answer_precision"] == 1.0
    assert day.figures["oos_abstain"] == 1.0
    # As employees got them that day: of 3 answers (one in scope right), of 3 in-scope questions.
    assert day.live == {"answer_precision": 0.3333, "coverage": 0.3333}
    assert nights == [{"embedder_retuned": None}] and day.nightly == {"embedder_retuned": False}

    with container.sessions() as s:
        actions = sorted(s.scalars(select(Review.action)))
        learned = {(p.entry_id, p.text) for p in s.scalars(select(LearnedPhrasing))}
        negatives = {(n.text, n.entry_id) for n in s.scalars(select(HardNegative))}
        modes = set(s.scalars(select(Answer.mode)))
    assert actions == ["approve", "attach", "correct", "reject"]
    assert (ABSTAINED.expected_id, ABSTAINED.query) in learned and (WRONG.expected_id, WRONG.query) in learned
    assert negatives == {
        (WRONG.query, seen[WRONG.query].top.id),
        (OUT_OF_SCOPE_ANSWERED.query, seen[OUT_OF_SCOPE_ANSWERED.query].top.id),
    }
    assert modes <= {"faq", "abstain"}  # no answer cost model time


@pytest.mark.slow
def test_the_admin_rejects_only_answers_to_out_of_scope_questions(container):
    admin = SimulatedAdmin(container.reviews)
    refused = container.answers.ask(OUT_OF_SCOPE.query)
    assert refused.abstained and admin.review(refused, None) == "none"
    with container.sessions() as s:
        assert s.scalars(select(Review)).all() == []  # nothing to teach, nothing recorded


@pytest.mark.slow
def test_eval_learning_json_and_table(tmp_path, data_dir, monkeypatch):
    monkeypatch.setenv("SUPPORTBOT_DATA_DIR", str(data_dir))
    stream = tmp_path / "stream.jsonl"
    stream.write_text(
        "".join(
            json.dumps({"query": q.query, "expected_id": q.expected_id}) + "\n"
            for q in (ABSTAINED, RIGHT, OUT_OF_SCOPE)
        )
    )
    test = tmp_path / "test.jsonl"
    test.write_text(
        json.dumps({"query": _again(ABSTAINED).query, "expected_id": "office-access"})
        + "\n"
        + json.dumps({"query": OUT_OF_SCOPE.query, "expected_id": None})
        + "\n"
    )
    code, stdout, stderr = invoke(
        "eval",
        "learning",
        "--faq",
        str(SAMPLE_FAQ),
        "--stream",
        str(stream),
        "--test",
        str(test),
        "--days",
        "2",
        "--per-day",
        "2",
        "--json",
    )
    assert code == 0, stderr
    data = json.loads(stdout.strip().splitlines()[-1])
    assert set(data) == {"before", "days"}
    figures = {"answer_precision", "coverage", "oos_abstain", "hit@1"}
    assert figures <= set(data["before"])
    assert [d["day"] for d in data["days"]] == [1, 2]
    for d in data["days"]:
        assert figures | {"day", "actions"} <= set(d)
        assert set(d["actions"]) >= {"approve", "correct", "attach", "reject"}
    assert data["days"][0]["actions"]["attach"] == 1 and data["days"][0]["actions"]["approve"] == 1
    assert data["days"][1]["actions"]["none"] == 1  # day 2: the out-of-scope question, rightly refused
    assert data["before"]["coverage"] == 0.0 and data["days"][0]["coverage"] == 1.0
    assert "day 1" in stdout and "admin: attach" in stdout  # the table
    assert "also in" in stderr  # the out-of-scope question is in both files: said, not hidden
    assert list(data_dir.iterdir()) == []  # a throwaway store


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"query": "x"', "stream.jsonl:2: invalid JSON"),
        ('{"question": "where is my payslip"}', 'stream.jsonl:2: expected {"query"'),
        (
            '{"query": "where is my payslip", "expected_id": "no-such-entry"}',
            "expected_id not in the FAQ: no-such-entry",
        ),
    ],
)
def test_eval_learning_refuses_a_malformed_stream(tmp_path, line, message):
    stream = tmp_path / "stream.jsonl"
    stream.write_text('{"query": "where is my payslip", "expected_id": "payslip"}\n' + line + "\n")
    code, _, stderr = invoke(
        "eval", "learning", "--faq", str(SAMPLE_FAQ), "--stream", str(stream), "--test", str(stream)
    )
    assert code == 1 and message in stderr


def test_eval_learning_finetune_needs_an_installed_model(tmp_path, data_dir, monkeypatch):
    monkeypatch.setenv("SUPPORTBOT_DATA_DIR", str(data_dir))
    stream = tmp_path / "stream.jsonl"
    stream.write_text('{"query": "where is my payslip", "expected_id": "payslip"}\n')
    code, _, stderr = invoke(
        "eval",
        "learning",
        "--faq",
        str(SAMPLE_FAQ),
        "--stream",
        str(stream),
        "--test",
        str(stream),
        "--finetune",
    )
    assert code == 1 and "no model is installed" in stderr
