"""Only a model that earns it generates (SUPPORTBOT_GENERATION=earned, the default): its faithful
share on held-out questions, measured with the sentence-level guard, must reach the bar."""

import json

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from bot.cli import app
from bot.db.models import Answer, ModelCheck
from bot.services.model_check import faithful_share, record_check
from tests.support import SAMPLE_FAQ


@pytest.fixture
def earned(container, sample_index):
    """The product's default rule, on the sample FAQ, serving the session's bundled model."""
    container.settings.generation = "earned"
    container.settings.model_poll_seconds = 0.0  # re-read the check on every question
    return container


def _measured(c, share: float, n: int) -> str:
    name = c.models.in_service().name
    scores = {"held_out": {"n": n, "rougeL": 0.5, "grounded": share, "support": 0.9, "reasons": {}}}
    with c.sessions() as session:
        record_check(session, name, "ctransformers", scores)
        session.commit()
    return name


def _must_not_generate(c, monkeypatch):
    def refuse(*a, **kw):
        raise AssertionError("the model was asked to generate")

    monkeypatch.setattr(c.engine, "submit", refuse)


@pytest.mark.slow
def test_an_unmeasured_model_does_not_generate(earned, monkeypatch):
    _must_not_generate(earned, monkeypatch)
    r = earned.answers.ask("my vpn password stopped working")
    assert (r.mode, r.fallback, r.tokens, r.abstained) == ("faq", "not_earned", 0, False)
    assert r.sources[0]["id"] == "vpn-password-reset"
    assert "not been measured" in r.why and "supportbot model check" in r.why
    assert earned.engine._model is None  # the answer took retrieval time only: nothing was loaded
    with earned.sessions() as s:
        row = s.get(Answer, r.answer_id)
        assert (row.mode, row.why) == ("faq", r.why)


def test_a_model_below_the_bar_never_generates(earned, monkeypatch):
    name = _measured(earned, 0.55, 40)
    _must_not_generate(earned, monkeypatch)
    for question in ("my vpn password stopped working", "where do I find my payslip"):
        r = earned.answers.ask(question)
        assert (r.mode, r.fallback, r.tokens) == ("faq", "not_earned", 0)
        assert f"model {name} was faithful in 55% of 40" in r.why and "below the bar of 90%" in r.why
    assert earned.metrics.fallbacks.labels("not_earned")._value.get() == 2


def test_a_share_measured_on_too_few_answers_does_not_count(earned, monkeypatch):
    _measured(earned, 1.0, earned.settings.model_check_min_answers - 1)
    _must_not_generate(earned, monkeypatch)
    r = earned.answers.ask("my vpn password stopped working")
    assert r.fallback == "not_earned" and "at least 20 are needed" in r.why


@pytest.mark.slow
def test_a_model_that_reaches_the_bar_generates_and_each_answer_is_still_guarded(earned):
    _measured(earned, 0.95, 40)
    r = earned.answers.ask("my vpn password stopped working")
    assert r.tokens > 0 and r.model_version  # the model was asked
    assert r.mode == "generated" or r.fallback == "ungrounded"  # and its answer was checked
    assert r.why


@pytest.mark.slow
def test_a_new_check_is_picked_up_without_a_restart(earned, monkeypatch):
    _measured(earned, 0.95, 40)
    assert earned.generation_gate.verdict().generates
    _measured(earned, 0.40, 40)  # e.g. the nightly gate re-measured the version on new questions
    _must_not_generate(earned, monkeypatch)
    assert earned.answers.ask("my vpn password stopped working").fallback == "not_earned"


@pytest.mark.slow
def test_generation_never_and_always_override_the_measurement(container, sample_index, monkeypatch):
    container.settings.generation = "never"
    _must_not_generate(container, monkeypatch)
    r = container.answers.ask("my vpn password stopped working")
    assert r.fallback == "not_earned" and "SUPPORTBOT_GENERATION=never" in r.why


def test_faithful_share_pools_the_sets_by_their_size():
    scores = {
        "held_out": {"n": 10, "grounded": 0.5, "reasons": {"negation": 3, "support": 2}},
        "regression": {"n": 30, "grounded": 1.0, "reasons": {}},
    }
    assert faithful_share(scores) == (0.875, 40, {"negation": 3, "support": 2})
    assert faithful_share({"held_out": {"n": 0, "grounded": None}}) == (None, 0, {})


@pytest.mark.slow
def test_model_check_measures_the_bundled_model_and_model_list_shows_the_verdict(
    monkeypatch, data_dir, model_store
):
    """Day 0: the bundled base model, measured with the guard on the sample FAQ's questions."""
    import shutil

    shutil.copy(model_store / "supportbot.db", data_dir / "supportbot.db")
    monkeypatch.setenv("SUPPORTBOT_DATA_DIR", str(data_dir))
    monkeypatch.setenv("SUPPORTBOT_GENERATION", "earned")
    runner = CliRunner()
    assert runner.invoke(app, ["faq", "import", str(SAMPLE_FAQ)]).exit_code == 0
    result = runner.invoke(app, ["model", "check", "--questions", "20", "--json"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert data["model"].startswith("base-") and data["n"] == 20 and 0 <= data["faithful_share"] <= 1
    assert data["generates"] == (data["faithful_share"] >= 0.9)
    assert sum(data["reasons"].values()) == round((1 - data["faithful_share"]) * 20)
    engine = sa.create_engine(f"sqlite:///{data_dir / 'supportbot.db'}")
    with engine.connect() as conn:
        (row,) = conn.execute(sa.select(ModelCheck.model_name, ModelCheck.faithful_share, ModelCheck.n)).all()
    assert tuple(row) == (data["model"], data["faithful_share"], 20)

    listed = json.loads(runner.invoke(app, ["model", "list", "--json"]).stdout)
    (version,) = listed
    assert version["generation"]["faithful_share"] == data["faithful_share"]
    assert version["generation"]["generates"] == data["generates"]

    # `ask` says which mode answered and why, and keeps start-up apart from the answer's time.
    asked = runner.invoke(app, ["ask", "How do I reset my VPN password?", "--json"])
    answer = json.loads(asked.stdout.strip().splitlines()[-1])
    assert answer["why"] and answer["startup_ms"] > 0 and answer["latency_ms"] > 0
    assert (answer["mode"] == "faq") == (not data["generates"])
