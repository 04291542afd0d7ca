"""Approved transcripts become redacted Alpaca examples built with the serving prompt module."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from bot.db.models import Transcript
from bot.prompts import build_prompt
from bot.services.transcripts import TranscriptFormatError, load_jsonl
from finetune import data


@pytest.fixture
def transcripts(container, sample_index):
    return container.reviews.transcripts


@pytest.mark.slow
def test_approval_writes_a_transcript_once(container, sample_index):
    container.reviews.admins.add("UADMIN")
    r = container.answers.ask("my vpn password stopped working, what do I do", user_id="U1")
    container.reviews.approve(r.answer_id, "UADMIN")
    with container.sessions() as s:
        (t,) = s.scalars(select(Transcript)).all()
        assert (t.question, t.answer, t.faq_ids, t.origin, t.answer_id) == (
            "my vpn password stopped working, what do I do",
            r.answer,
            [r.sources[0]["id"]],
            "review",
            r.answer_id,
        )


def test_examples_use_the_serving_prompt_and_redact_pii(container, transcripts, tmp_path):
    transcripts.add(
        "I'm jane@brightwater.example, call me on +44 7700 900123: how do I reset my VPN password?",
        "Go to https://id.brightwater.example and choose Forgot password. Token xoxb-1234567890-abcdefghij",
        ["vpn-password-reset"],
        "import",
    )
    transcripts.add("how do i reset my vpn password?", "Go to https://id.brightwater.example.", [], "import")
    (first, second) = data.approved_examples(container.sessions, retrieve=lambda q: "vpn-password-reset")
    assert "jane@" not in first.instruction and "7700" not in first.instruction
    assert "[EMAIL]" in first.instruction and "[PHONE]" in first.instruction
    assert "xoxb" not in first.output and "[SECRET]" in first.output
    assert [e.id for e in first.input] == ["vpn-password-reset"]
    assert [e.id for e in second.input] == ["vpn-password-reset"]  # filled in by retrieval
    assert first.prompt == build_prompt(first.instruction, first.input)
    data.write_jsonl(tmp_path / "train.jsonl", [first, second])
    written = (tmp_path / "train.jsonl").read_text()
    assert "jane@" not in written and "7700 900123" not in written and "xoxb-" not in written


def test_duplicates_collapse_and_the_split_is_stable(container, transcripts):
    rows = [
        {
            "question": f"question number {i} about payslips",
            "answer": f"answer {i}: see the HR portal",
            "faq_ids": ["payslip-location"],
        }
        for i in range(40)
    ]
    added, dupes = transcripts.import_rows(
        rows + [{**rows[0], "question": "QUESTION  number 0 about payslips"}]
    )
    assert (added, dupes) == (40, 1)
    examples = data.approved_examples(container.sessions)
    train, held = data.split(examples, 0.2)
    assert len(train) + len(held) == 40 and 3 <= len(held) <= 14
    again_train, again_held = data.split(list(reversed(examples)), 0.2)
    assert {e.key for e in held} == {e.key for e in again_held}  # same side, run after run


def test_transcript_files_are_validated_whole(tmp_path):
    good = tmp_path / "good.jsonl"
    good.write_text(
        json.dumps({"question": "q?", "answer": "a.", "faq_ids": ["x"]})
        + "\n\n"
        + json.dumps({"question": "q2?", "answer": "a2."})
        + "\n"
    )
    assert [r["faq_ids"] for r in load_jsonl(good)] == [["x"], []]
    for body, message in [
        ("{not json\n", "good.jsonl:1: not valid JSON"),
        ('{"question": "q"}\n', "'answer' must be a non-empty string"),
        ('{"question": "q", "answer": "a", "faq_ids": "x"}\n', "'faq_ids' must be a list"),
        ("", "no transcripts"),
    ]:
        good.write_text(body)
        with pytest.raises(TranscriptFormatError, match=message):
            load_jsonl(good)


def test_cli_import_refuses_unknown_entries_and_imports_the_rest(tmp_path, data_dir, monkeypatch):
    from typer.testing import CliRunner

    from bot.cli import app
    from tests.support import SAMPLE_FAQ

    monkeypatch.setenv("SUPPORTBOT_DATA_DIR", str(data_dir))
    runner = CliRunner()
    assert runner.invoke(app, ["faq", "import", str(SAMPLE_FAQ)]).exit_code == 0
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"question": "q?", "answer": "a.", "faq_ids": ["no-such-entry"]}) + "\n")
    r = runner.invoke(app, ["transcripts", "import", str(bad)])
    assert r.exit_code == 1 and "no-such-entry" in r.output
    good = tmp_path / "good.jsonl"
    good.write_text(
        "".join(
            json.dumps(
                {
                    "question": f"vpn question {i}?",
                    "answer": "Use the SSO password.",
                    "faq_ids": ["vpn-password-reset"],
                }
            )
            + "\n"
            for i in range(3)
        )
    )
    r = runner.invoke(app, ["transcripts", "import", str(good)])
    assert r.exit_code == 0 and "3 added, 0 already there" in r.output
    r = runner.invoke(app, ["transcripts", "import", str(good)])
    assert "0 added, 3 already there" in r.output


def test_contacts_published_in_the_faq_are_not_redacted(container, transcripts):
    transcripts.add(
        "lost my badge, I'm tom@gmail.example",
        "Report it to security@brightwater.example so it can be blocked.",
        [],
        "import",
    )
    (example,) = data.approved_examples(container.sessions, retrieve=lambda q: None)
    assert example.output == "Report it to security@brightwater.example so it can be blocked."
    assert "tom@" not in example.instruction


def test_a_regression_file_is_checked_whole_and_its_problems_named_by_line(container, sample_index, tmp_path):
    """SUPPORTBOT_FINETUNE_REGRESSION_FILE is read before anything trains: a line that is not an
    object, lacks a field or cites an unknown entry fails the run at once, in one line that names
    the setting and the lines; a good file gives the examples, out-of-scope lines skipped."""
    good = {"question": "vpn password?", "expected_id": "vpn-password-reset", "reference_answer": "Use id."}
    path = tmp_path / "regression.jsonl"
    path.write_text(
        "\n".join(
            [
                json.dumps(good),
                json.dumps({"question": "weather?", "expected_id": None, "reference_answer": ""}),
                "[1, 2]",
                json.dumps({"question": "x", "expected_id": 5, "reference_answer": "y"}),
                json.dumps({**good, "expected_id": "no-such-entry"}),
                "{not json",
            ]
        ),
        encoding="utf-8",
    )
    with pytest.raises(data.RegressionFileError) as err:
        data.regression_examples(path, container.sessions)
    message = str(err.value)
    assert message.startswith("SUPPORTBOT_FINETUNE_REGRESSION_FILE: ") and "\n" not in message
    assert f"{path}:3: expected a JSON object" in message and f"{path}:4: question, expected_id" in message
    assert f"{path}:5: unknown FAQ entry 'no-such-entry'" in message
    assert message.endswith("(and 1 more)")  # line 6's broken JSON: counted, not listed

    path.write_text(json.dumps(good) + "\n\n" + json.dumps({**good, "expected_id": None}), encoding="utf-8")
    (example,) = data.regression_examples(path, container.sessions)
    assert (example.key, example.output, example.origin) == ("reg-1", "Use id.", "regression")

    path.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(data.RegressionFileError, match="SUPPORTBOT_FINETUNE_REGRESSION_FILE"):
        data.regression_examples(path, container.sessions)
