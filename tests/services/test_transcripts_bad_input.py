"""`supportbot transcripts import` gives the same verdict on the same file whichever database it writes
to: what PostgreSQL would refuse (NUL in text) SQLite would have stored, so the file is checked before
either sees it, refused whole with every bad line listed, and nothing is written."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from bot.cli import main
from bot.db import migrate


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request) -> str:
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    migrate.upgrade(url)  # both at the latest schema, empty: the verdict is all that can differ
    return url


@pytest.fixture
def import_file(capsys, monkeypatch, data_dir, database_url):
    monkeypatch.setenv("SUPPORTBOT_DATA_DIR", str(data_dir))
    monkeypatch.setenv("SUPPORTBOT_DATABASE_URL", database_url)

    def run(path) -> tuple[int, str]:
        with pytest.raises(SystemExit) as exited:
            main(["transcripts", "import", str(path)])
        captured = capsys.readouterr()
        assert "Traceback" not in captured.err
        return exited.value.code, captured.out + captured.err

    return run


def stored(database_url: str) -> int:
    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        count = conn.execute(sa.text("SELECT count(*) FROM transcripts")).scalar()
    engine.dispose()
    return count


def line(**row) -> str:
    return json.dumps(row) + "\n"


GOOD = line(question="How do I reset my VPN password?", answer="At the identity portal.")


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (line(question="q?", answer="a\u0000b"), "t.jsonl:2: 'answer' contains the control character U+0000"),
        (
            line(question="q\u0007?", answer="a"),
            "t.jsonl:2: 'question' contains the control character U+0007",
        ),
        (line(question="q?", answer="\ud800"), "t.jsonl:2: 'answer' contains the control character U+D800"),
        (
            line(question="q?", answer="x" * 5_000_000),
            "t.jsonl:2: 'answer' is 5000000 characters, over the 20000",
        ),
        (
            '{"question": "q?", "answer": "raw \x00 NUL"}\n',
            "t.jsonl:2: not valid JSON (Invalid control character",
        ),
        (line(question="q?", answer="a", faq_id=["vpn"]), "t.jsonl:2: unknown key(s) 'faq_id'"),
        (
            line(question="q?", answer="a", faq_ids=["no spaces allowed"]),
            "t.jsonl:2: 'faq_ids' must be a list",
        ),
        (
            line(question="q?", answer="a", faq_ids=[f"e{i}" for i in range(51)]),
            "lists 51 entries, over the 50",
        ),
        (line(question="", answer="a"), "t.jsonl:2: 'question' must be a non-empty string"),
        ("[1, 2]\n", "t.jsonl:2: expected an object with question and answer"),
        ('{"question": ' + "9" * 5000 + "}\n", "t.jsonl:2: not valid JSON"),
    ],
    ids=[
        "NUL",
        "BEL",
        "surrogate",
        "5 MB answer",
        "raw NUL",
        "unknown key",
        "bad id",
        "51 ids",
        "empty",
        "array",
        "huge int",
    ],
)
def test_a_bad_line_refuses_the_file_on_either_database(import_file, database_url, tmp_path, body, problem):
    path = tmp_path / "t.jsonl"
    path.write_text(GOOD + body + GOOD.replace("VPN", "vpn"), encoding="utf-8")
    code, output = import_file(path)
    assert code == 1 and f"{path} was not imported: " in output and problem in output
    assert stored(database_url) == 0


def test_every_bad_line_is_listed(import_file, database_url, tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text(GOOD + line(question="q?", answer="a\u0000") + "{oops\n" + line(answer="only an answer"))
    code, output = import_file(path)
    assert code == 1 and "(3 problems)" in output
    for problem in [
        "t.jsonl:2: 'answer' contains",
        "t.jsonl:3: not valid JSON",
        "t.jsonl:4: 'question' must be",
    ]:
        assert problem in output
    assert stored(database_url) == 0


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (GOOD.encode("utf-16"), "not UTF-8 text (looks like UTF-16); save it as UTF-8"),
        (GOOD.encode("utf-16-le"), "not UTF-8 text (looks like UTF-16); save it as UTF-8"),
        (bytes(range(256)) * 16, "not text (looks like a binary file)"),
        (GOOD.replace("VPN", "VPN é").encode("latin-1"), "not UTF-8 text (byte 0xe9 on line 1)"),
    ],
    ids=["utf-16", "utf-16 without BOM", "binary", "latin-1"],
)
def test_a_file_that_is_not_utf8_is_named(import_file, database_url, tmp_path, content, why):
    path = tmp_path / "t.jsonl"
    path.write_bytes(content)
    code, output = import_file(path)
    assert code == 1 and f"{path}: {why}" in output
    assert stored(database_url) == 0


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(
    import_file, database_url, tmp_path, monkeypatch
):
    path = tmp_path / "t.jsonl"
    with open(path, "wb") as fh:
        fh.truncate(30 * 1024 * 1024)
    code, output = import_file(path)
    assert code == 1 and f"{path}: 30 MB, over the 20 MB limit (SUPPORTBOT_MAX_IMPORT_FILE_MB)" in output

    monkeypatch.setenv("SUPPORTBOT_MAX_IMPORT_FILE_MB", "1")
    path.write_text(GOOD * 20_000)  # ~1.3 MB of good lines
    code, output = import_file(path)
    assert code == 1 and "over the 1 MB limit (SUPPORTBOT_MAX_IMPORT_FILE_MB)" in output
    assert stored(database_url) == 0


def test_a_good_file_imports_the_same_on_either_database(import_file, database_url, tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text(
        GOOD
        + "\n"
        + line(question="Tabs\tand\nnewlines?", answer="Are fine: \t\r\n kept. Unicode too: é 字 🙂 \u2028.")
        + line(question="HOW DO I RESET MY VPN PASSWORD?", answer="at the  identity portal.")  # a duplicate
    )
    code, output = import_file(path)
    assert code == 0 and "2 added, 1 already there (2 in all)" in output
    assert stored(database_url) == 2
