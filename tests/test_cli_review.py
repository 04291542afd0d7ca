"""`supportbot review correct ANSWER_ID ENTRY_ID`, as a user runs it: a wrongly answered question
corrected to the right entry, an abstention attached to one, and one-line errors."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from bot.cli import main
from bot.container import Container
from bot.settings import Settings
from retrieval.negatives import hard_negatives
from tests.support import SAMPLE_FAQ

pytestmark = pytest.mark.slow  # over ~2 s each here: `make test-fast` leaves them out

CRACKED = "my laptop screen cracked, can I get a new laptop?"  # answered from laptop-broken
CHILD = "I want to take time off when my child is born"  # abstained on


@pytest.fixture
def cli(capsys, monkeypatch, data_dir):
    monkeypatch.setenv("SUPPORTBOT_DATA_DIR", str(data_dir))
    monkeypatch.setenv("SUPPORTBOT_DIRECT_ANSWER_SCORE", "0")  # the FAQ's answer as written: no model

    def run(*args: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as exited:
            main(list(args))
        captured = capsys.readouterr()
        assert "Traceback" not in captured.err
        return exited.value.code, captured.out, captured.err

    return run


def _answers(data_dir) -> list[tuple[int, bool, list]]:
    engine = sa.create_engine(f"sqlite:///{data_dir / 'supportbot.db'}")
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT id, abstained, sources FROM answers ORDER BY id")).all()
    engine.dispose()
    return [(i, bool(a), json.loads(s) if isinstance(s, str) else s) for i, a, s in rows]


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


def test_review_correct_and_attach(cli, data_dir):
    assert cli("faq", "import", str(SAMPLE_FAQ), "--no-tune")[0] == 0
    assert cli("ask", CRACKED)[0] == 0
    assert cli("ask", CHILD)[0] == 0
    (wrong, abstained_wrong, sources), (gap, abstained, _) = _answers(data_dir)
    assert not abstained_wrong and sources[0]["id"] == "laptop-broken" and abstained

    # Unknown answer, unknown entry: one line each, exit 1 as `review approve` of an unknown answer.
    code, _, stderr = cli("review", "correct", "9999", "laptop-replacement")
    assert code == 1 and _errors(stderr) == ["Error: no answer 9999"]
    code, _, stderr = cli("review", "correct", str(wrong), "no-such-entry")
    assert code == 1 and _errors(stderr) == ["Error: no FAQ entry 'no-such-entry'"]

    code, stdout, _ = cli("review", "correct", str(wrong), "laptop-replacement", "--as", "alice")
    assert code == 0 and "Corrected" in stdout and "laptop-broken is recorded as not answering" in stdout
    code, _, stderr = cli("review", "correct", str(wrong), "laptop-broken")
    assert code == 1 and _errors(stderr) == [
        f"Error: answer {wrong} was already reviewed (correct to laptop-replacement) by alice"
    ]

    code, stdout, _ = cli("review", "correct", str(gap), "parental-leave")
    assert code == 0 and "Attached" in stdout and "parental-leave" in stdout

    # What the decisions taught, as the next process sees it.
    c = Container(Settings(_env_file=None, data_dir=data_dir))
    try:
        assert c.index.retrieve(CRACKED).top.id == "laptop-replacement"
        found = c.index.retrieve(CHILD)
        assert found.top.id == "parental-leave" and not found.abstain
        assert [(n.question, n.entry_id, n.reviewer_id) for n in hard_negatives(c.sessions)] == [
            (CRACKED, "laptop-broken", "alice")
        ]
    finally:
        c.close()
