"""The `supportbot` command line, as a user runs it."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from bot.cli import app
from retrieval.calibration import default_threshold
from retrieval.faq import load_faq
from tests.support import SAMPLE_FAQ

runner = CliRunner()


@pytest.fixture
def env(monkeypatch, data_dir, model_store):
    # Reuse the session's installed model: copy its SQLite (with the registered version) into this data dir.
    shutil.copy(model_store / "supportbot.db", data_dir / "supportbot.db")
    monkeypatch.setenv("SUPPORTBOT_DATA_DIR", str(data_dir))
    return data_dir


def invoke(*args):
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.slow
def test_ask_json_end_to_end_with_the_real_model(env):
    code, stdout, _ = invoke("faq", "import", str(SAMPLE_FAQ))
    assert code == 0 and "37 added" in stdout
    code, stdout, stderr = invoke("ask", "How do I reset my VPN password?", "--json")
    assert code == 0, stderr
    data = json.loads(stdout.strip().splitlines()[-1])
    assert set(data) >= {"answer", "sources", "abstained", "model_version", "latency_ms"}
    assert data["abstained"] is False and data["answer"].strip()
    assert data["sources"][0]["id"] == "vpn-password-reset"
    assert all(set(s) >= {"id", "score"} for s in data["sources"])
    assert data["model_version"].startswith("base-")

    engine = sa.create_engine(f"sqlite:///{env / 'supportbot.db'}")
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT text, abstained FROM answers")).all()
    assert stored == [(data["answer"], False)]


def test_reimport_reports_unchanged(env):
    invoke("faq", "import", str(SAMPLE_FAQ))
    code, stdout, _ = invoke("faq", "import", str(SAMPLE_FAQ))
    assert code == 0 and "0 added, 0 updated, 37 unchanged" in stdout


def test_bad_faq_is_refused_whole(env, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("id,question,answer\nok,Fine?,Yes.\nbroken,,\n")
    code, _, stderr = invoke("faq", "import", str(bad))
    assert code == 1
    assert "was not imported" in stderr and "bad.csv:3: empty question" in stderr
    engine = sa.create_engine(f"sqlite:///{env / 'supportbot.db'}")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM faq_entries")).scalar() == 0


@pytest.mark.slow
def test_empty_question_is_a_clear_error(env):
    code, _, stderr = invoke("ask", "   ")
    assert code == 1 and "The question is empty" in stderr


@pytest.mark.slow
def test_ask_without_a_model_says_how_to_install_one(monkeypatch, data_dir):
    monkeypatch.setenv("SUPPORTBOT_DATA_DIR", str(data_dir))
    invoke("faq", "import", str(SAMPLE_FAQ))
    code, _, stderr = invoke("ask", "How do I reset my VPN password?")
    assert code == 1 and "supportbot model install" in stderr


def test_db_commands(monkeypatch, data_dir):
    monkeypatch.setenv("SUPPORTBOT_DATA_DIR", str(data_dir))
    from bot.db.migrate import head_revision

    head = head_revision("sqlite://")
    assert invoke("db", "upgrade")[1].startswith(f"Database at revision {head}")
    assert f"current: {head}" in invoke("db", "current")[1]
    assert "at revision base" in invoke("db", "downgrade", "base")[1]


@pytest.mark.slow
@pytest.mark.postgres
def test_commands_refuse_an_unmigrated_server_database(monkeypatch, postgres_url, data_dir):
    monkeypatch.setenv("SUPPORTBOT_DATA_DIR", str(data_dir))
    monkeypatch.setenv("SUPPORTBOT_DATABASE_URL", postgres_url)
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", "faq", "import", str(SAMPLE_FAQ)],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
    )
    assert proc.returncode == 1 and "Run: supportbot db upgrade" in proc.stderr
    assert invoke("db", "upgrade")[0] == 0
    code, stdout, _ = invoke("faq", "import", str(SAMPLE_FAQ))
    assert code == 0 and "37 added" in stdout


@pytest.mark.slow
def test_console_script_runs_the_whole_loop(tmp_path, model_store):
    """The installed `supportbot` entry point, in a fresh process, as the README uses it."""
    exe = Path(sys.executable).with_name("supportbot")
    env = {**os.environ, "SUPPORTBOT_DATA_DIR": str(tmp_path / "d")}
    (tmp_path / "d").mkdir()
    shutil.copy(model_store / "supportbot.db", tmp_path / "d" / "supportbot.db")
    run = lambda *a: subprocess.run([str(exe), *a], capture_output=True, text=True, env=env, timeout=300)  # noqa: E731
    assert run("faq", "import", str(SAMPLE_FAQ)).returncode == 0
    proc = run("ask", "I forgot my VPN password", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["sources"][0]["id"] == "vpn-password-reset" and not data["abstained"]


@pytest.mark.slow
def test_eval_retrieval_on_the_sample_faq(monkeypatch, data_dir):
    """The product default, tuning included (60 steps, ~35 s)."""
    monkeypatch.setenv("SUPPORTBOT_DATA_DIR", str(data_dir))
    monkeypatch.setenv("SUPPORTBOT_TUNE_ON_IMPORT", "true")
    queries = SAMPLE_FAQ.with_name("queries.jsonl")
    per_query = data_dir.parent / "per-query.jsonl"
    code, stdout, stderr = invoke(
        "eval",
        "retrieval",
        "--faq",
        str(SAMPLE_FAQ),
        "--queries",
        str(queries),
        "--json",
        "--out",
        str(per_query),
    )
    assert code == 0, stderr
    data = json.loads(stdout.strip().splitlines()[-1])
    assert set(data) >= {"hit@1", "hit@5", "mrr", "oos_abstain", "in_scope_answered", "p50_ms", "p95_ms"}
    assert data["n_in_scope"] == 52 and data["n_out_of_scope"] == 20
    assert data["hit@1"] >= 0.9 and data["hit@5"] >= 0.98 and data["oos_abstain"] >= 0.9
    # Selective answering: of the answers given, how many cite the right entry; of the in-scope
    # questions, how many got it. Overall and per language.
    assert data["answer_precision"] >= 0.9 and data["coverage"] >= 0.6
    assert data["wrong_answers"] == pytest.approx(1 - data["answer_precision"], abs=1e-4)
    assert data["by_language"]["en"]["n_in_scope"] >= 50
    assert "answer_precision" in stdout and "coverage" in stdout  # the table
    assert "Retrieval now uses an embedder tuned to this FAQ" in stdout
    # Calibrated on the sample FAQ itself, never below the floor for its phrasings per entry.
    items = load_faq(SAMPLE_FAQ)
    per_entry = sum(len({i.question, *i.alt_questions}) for i in items) / len(items)
    assert data["threshold"] >= round(default_threshold(per_entry, tuned=True), 4)
    lines = [json.loads(line) for line in per_query.read_text().splitlines()]
    assert len(lines) == 72 and set(lines[0]) == {"query", "expected_id", "top", "abstained", "language"}
    wrong = [q for q in lines if not q["abstained"] and q["top"][0]["id"] != q["expected_id"]]
    answered = [q for q in lines if not q["abstained"]]
    assert len(wrong) / len(answered) == pytest.approx(data["wrong_answers"], abs=1e-4)
    assert list(data_dir.iterdir()) == []  # a throwaway store: the user's data dir is untouched


@pytest.mark.slow
def test_import_tunes_the_embedder_when_the_faq_changes(env, monkeypatch, tmp_path):
    monkeypatch.setenv("SUPPORTBOT_TUNE_ON_IMPORT", "true")
    monkeypatch.setenv(
        "SUPPORTBOT_TUNE_STEPS", "3"
    )  # the plumbing, not the quality (bench/retrieval_clinc.py)
    code, stdout, stderr = invoke("faq", "import", str(SAMPLE_FAQ))
    assert code == 0, stderr
    assert "37 added" in stdout and "Retrieval now uses an embedder tuned to this FAQ" in stdout
    tuned = sorted((env / "embedders").iterdir())
    assert len(tuned) == 1 and (tuned[0] / "model.safetensors").exists()

    code, stdout, _ = invoke("faq", "import", str(SAMPLE_FAQ))  # nothing changed: nothing to tune
    assert code == 0 and "37 unchanged" in stdout and "tuned" not in stdout

    changed = tmp_path / "faq.csv"
    changed.write_text(SAMPLE_FAQ.read_text().replace("Forgot password", "Forgotten password"))
    code, stdout, _ = invoke("faq", "import", str(changed), "--no-tune")
    assert code == 0 and "1 updated" in stdout and "tuned" not in stdout
    code, stdout, _ = invoke("faq", "import", str(changed))  # unchanged now, but re-tuned only on change
    assert "tuned" not in stdout

    code, stdout, stderr = invoke("ask", "I forgot my VPN password", "--json")
    assert code == 0, stderr
    assert json.loads(stdout.strip().splitlines()[-1])["sources"][0]["id"] == "vpn-password-reset"


def test_import_of_a_faq_too_small_to_tune_still_imports(env, monkeypatch, tmp_path):
    monkeypatch.setenv("SUPPORTBOT_TUNE_ON_IMPORT", "true")
    one = tmp_path / "one.csv"
    one.write_text("id,question,answer\nonly,Where is the office?,Main street 1.\n")
    code, stdout, stderr = invoke("faq", "import", str(one))
    assert code == 0 and "1 added" in stdout
    assert "Embedder not tuned: tuning needs at least 2 entries" in stderr


def test_eval_retrieval_rejects_unknown_expected_ids(tmp_path):
    q = tmp_path / "q.jsonl"
    q.write_text('{"query": "hi", "expected_id": "no-such-entry"}\n{"query": "x"\n')
    code, _, stderr = invoke("eval", "retrieval", "--faq", str(SAMPLE_FAQ), "--queries", str(q))
    assert code == 1 and "q.jsonl:2: invalid JSON" in stderr
    q.write_text('{"query": "hi", "expected_id": "no-such-entry"}\n')
    code, _, stderr = invoke("eval", "retrieval", "--faq", str(SAMPLE_FAQ), "--queries", str(q))
    assert code == 1 and "expected_id not in the FAQ: no-such-entry" in stderr


@pytest.mark.slow
def test_eval_answers_compares_guarded_and_naive(env, tmp_path, monkeypatch):
    monkeypatch.setenv("SUPPORTBOT_MAX_NEW_TOKENS", "24")
    qa = tmp_path / "qa.jsonl"
    qa.write_text(
        "\n".join(
            json.dumps(x)
            for x in [
                {
                    "question": "i forgot the password for the vpn",
                    "expected_id": "vpn-password-reset",
                    "reference_answer": "Reset it at https://id.brightwater.example with Forgot password.",
                },
                {
                    "question": "where is my payslip",
                    "expected_id": "payslip",
                    "reference_answer": "In Personio under Documents > Payslips.",
                },
                {"question": "what is the capital of Peru", "expected_id": None, "reference_answer": None},
            ]
        )
        + "\n"
    )
    lines = tmp_path / "answers.jsonl"
    code, stdout, stderr = invoke(
        "eval", "answers", "--faq", str(SAMPLE_FAQ), "--qa", str(qa), "--json", "--out", str(lines)
    )
    assert code == 0, stderr
    data = json.loads(stdout.strip().splitlines()[-1])
    guarded, naive = data["guarded"], data["naive"]
    # --out: one line per question, with what was served and the guard's verdict on it
    per_question = [json.loads(line) for line in lines.read_text().splitlines()]
    assert [p["question"] for p in per_question] == [
        json.loads(x)["question"] for x in qa.read_text().splitlines()
    ]
    vpn, _, peru = per_question
    assert set(vpn) >= {
        "question",
        "expected_id",
        "source_id",
        "source_text",
        "answer",
        "mode",
        "faithful",
        "reason",
    }
    assert vpn["source_id"] == "vpn-password-reset" and "Forgot password" in vpn["source_text"]
    assert (
        vpn["mode"] in ("generated", "faq")
        and vpn["faithful"] is True
        and vpn["reason"] is None
        and vpn["why"]
    )
    assert (peru["mode"], peru["source_id"], peru["faithful"]) == ("abstain", None, None)
    assert data["model_version"].startswith("base-")
    assert guarded["n_in_scope"] == naive["n_in_scope"] == 2
    assert guarded["grounded"] == 1.0 and guarded["invented_specifics"] == 0.0  # the guard's promise
    assert guarded["oos_abstain"] == 1.0 and naive["oos_abstain"] == 0.0
    assert guarded["correct_source"] == 1.0
    assert 0 <= naive["rougeL"] <= 1 and 0 < guarded["rougeL"] <= 1


def test_a_deleted_tuned_embedder_folder_is_a_clear_error_not_a_traceback(env, tmp_path, capsys):
    from bot.cli import main

    invoke("faq", "import", str(SAMPLE_FAQ))
    engine = sa.create_engine(f"sqlite:///{env / 'supportbot.db'}")
    gone = tmp_path / "embedders" / "embedder-deleted"
    with engine.begin() as conn:  # as if the tuned folder the index was built with had been removed
        conn.execute(sa.text("UPDATE index_state SET embedder_path = :p"), {"p": str(gone)})
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:  # the console script, as a user runs it
        main(["ask", "How do I reset my VPN password?"])
    stderr = capsys.readouterr().err
    assert exited.value.code == 1 and "Traceback" not in stderr
    assert str(gone) in stderr and "supportbot faq tune" in stderr
