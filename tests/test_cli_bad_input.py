"""Bad values for settings, options and arguments end the real CLI (bot.cli.main, the console script's
entry point) with one line per problem naming the setting or argument and what it allows, and a non-zero
status: 2 for an invalid command line or setting, 1 for a command that cannot be done. Never a traceback.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.slack.slack_peer import SlackPeer

SAMPLE_FAQ = Path(__file__).resolve().parents[1] / "examples" / "faq.csv"


def error_lines(stderr: str) -> list[str]:
    assert "Traceback" not in stderr
    return [line for line in stderr.splitlines() if line.startswith("Error: ")]


BAD_SETTINGS = [
    ("CHANNEL_MODES", "malformed", "expected CHANNEL_ID:all|mention|never"),
    ("CHANNEL_MODES", "C123:all,#general:never", "'#general:never'"),
    ("RETRIEVAL_TOP_K", "-1", "greater than or equal to 1"),
    ("HTTP_PORT", "-5", "greater than or equal to 1"),
    ("METRICS_PORT", "70000", "less than or equal to 65535"),
    ("MAX_NEW_TOKENS", "abc", "valid integer"),
    ("MAX_NEW_TOKENS", "4000", "less than or equal to 2048"),
    ("DATABASE_URL", "notaurl", "not a database URL"),
    ("DATABASE_URL", "mysql://u@db/bot", "'mysql' is not supported"),
    ("DATABASE_URL", "postgresql+psycopg://u@db:99999/bot", "port 99999 is not in 1-65535"),
    ("DATABASE_URL", "postgresql+asyncpg://u@db/bot", "driver 'asyncpg' is not installed"),
    ("CHROMA_URL", "chroma:8000", "http:// or https:// URL"),
    ("SLACK_API_URL", "http://slack:70000/api/", "invalid port number"),
    ("ADMIN_USERS", "U0123,alice", "item 2: must be a Slack id like U0123ABCD"),
    ("REVIEW_CHANNEL", "#reviews", "must be a Slack id like C0123ABCD"),
    ("LOG_FORMAT", "xml", "'text' or 'json'"),
    ("LOG_LEVEL", "verbose", "'DEBUG', 'INFO', 'WARNING' or 'ERROR'"),
    ("FINETUNE_TIME", "25:00", "HH:MM"),
    ("FINETUNE_TIMEZONE", "Mars/Olympus", "IANA time zone"),
    ("GENERATION_TIMEOUT_S", "inf", "finite number"),
    ("ANSWER_LEASE_S", "1e300", "less than or equal to 86400"),
    ("TUNE_ON_IMPORT", "maybe", "valid boolean"),
    ("DATA_DIR", "/etc/hostname", "exists and is not a directory"),
    ("MODEL_PATH", "/nonexistent/model.gguf", "does not exist"),
    ("CHROMA_COLLECTION", "a", "3-32 letters"),
    ("METRICS_HOST", "not a host", "IP address or a host name"),
    ("DRAIN_TIMEOUT_S", "0", "greater than 0"),
    ("MAX_IMPORT_FILE_MB", "0", "greater than or equal to 1"),
    ("DATABASE_URL", "sqlite://", "an SQLite database needs a file path"),
    ("HANDOFF_WEBHOOK_URL", "https://tickets.example:0/hook", "(port 0)"),
    ("METRICS_HOST", "300.0.0.1", "IP address or a host name"),
]


@pytest.mark.parametrize(
    ("name", "value", "allowed"), BAD_SETTINGS, ids=[f"{n}={v}" for n, v, _ in BAD_SETTINGS]
)
def test_a_bad_setting_is_one_line_naming_it(cli, name, value, allowed):
    code, _, stderr = cli("db", "current", **{f"SUPPORTBOT_{name}": value})
    assert code == 2
    (line,) = error_lines(stderr)
    assert line.startswith(f"Error: SUPPORTBOT_{name}") and allowed in line


def test_every_bad_setting_gets_its_line_and_secrets_are_never_repeated(cli):
    code, _, stderr = cli(
        "stats",
        SUPPORTBOT_RETRIEVAL_TOP_K="0",
        SUPPORTBOT_SLACK_BOT_TOKEN="xapp-s3cr3t-value",
        SUPPORTBOT_DATABASE_URL="mysql://admin:hunter2@db/bot",
    )
    assert code == 2
    lines = error_lines(stderr)
    assert len(lines) == 3 and len(stderr.strip().splitlines()) == 3
    assert {line.split()[1].rstrip(":") for line in lines} == {
        "SUPPORTBOT_RETRIEVAL_TOP_K",
        "SUPPORTBOT_SLACK_BOT_TOKEN",
        "SUPPORTBOT_DATABASE_URL",
    }
    assert "s3cr3t" not in stderr and "hunter2" not in stderr


def test_settings_across_fields_name_both(cli):
    code, _, stderr = cli(
        "db", "current", SUPPORTBOT_MAX_NEW_TOKENS="1024", SUPPORTBOT_MODEL_CONTEXT_LENGTH="512"
    )
    (line,) = error_lines(stderr)
    assert code == 2 and "SUPPORTBOT_MAX_NEW_TOKENS" in line and "SUPPORTBOT_MODEL_CONTEXT_LENGTH" in line


BAD_ARGUMENTS = [
    (["serve", "--port", "70000"], "'--port'", "less than or equal to 65535"),
    (["serve", "--port", "-1"], "'--port'", "greater than or equal to 1"),
    (["serve", "--port", "abc"], "'--port'", "valid integer"),
    (["review", "approve", "99999999999999999999"], "'ANSWER_ID'", "less than or equal to 2147483647"),
    (["review", "reject", "0"], "'ANSWER_ID'", "greater than or equal to 1"),
    (["review", "reject", "-3"], "No such option: -3", ""),
    (["review", "approve", "1", "--as", "x" * 65], "--as", "at most 64 characters"),
    (["review", "list", "--limit", "-1"], "'--limit'", "greater than or equal to 1"),
    (["review", "correct", "0", "vpn-install"], "'ANSWER_ID'", "greater than or equal to 1"),
    (["review", "correct", "1", "no such id!"], "ENTRY_ID", "an FAQ entry id: letters, digits"),
    (["review", "correct", "1", "x" * 129], "ENTRY_ID", "at most 128 characters"),
    (["ask", "Where is the office?", "--user", "u" * 100], "--user", "at most 64 characters"),
    (["faq", "tune", "--steps", "0"], "'--steps'", "greater than or equal to 1"),
    (["transcripts", "import", "/tmp"], "'FILE'", "is a directory"),
    (["model", "install", "--source", "/no/such.gguf"], "'--source'", "does not exist"),
    (["stats", "--days", "0"], "'--days'", "greater than or equal to 1"),
    (["stats", "--top", "1000000"], "'--top'", "less than or equal to 100"),
    (["healthcheck", "--path", "readyz"], "'--path'", "is not one of '/readyz', '/healthz', '/metrics'"),
    (["healthcheck", "--timeout", "-1"], "'--timeout'", "greater than or equal to 0.1"),
    (["db", "upgrade", "no-such-revision"], "revision 'no-such-revision'", "Can't locate revision"),
    (["db", "downgrade", "-99"], "revision '-99'", "didn't produce 99 migrations"),
    (["serve", "--log-format", "xml"], "'--log-format'", "'text', 'json'"),
    (["no-such-command"], "No such command", "no-such-command"),
    # Empty values (an unset shell variable): Alembic failed an assertion; an empty path was the working
    # folder, so `faq import ""` imported whatever lay there.
    (["db", "upgrade", ""], "'revision'", "must not be empty"),
    (["db", "downgrade", " "], "'revision'", "must not be empty"),
    (["faq", "import", ""], "'FILE'", "must not be empty"),
    (["eval", "retrieval", "--faq", "", "--queries", "/no/q.jsonl"], "'--faq'", "must not be empty"),
    (["eval", "answers", "--faq", "/no/faq", "--qa", ""], "'--qa'", "must not be empty"),
    (["eval", "retrieval", "--faq", "/no/f", "--queries", "/no/q", "--out", ""], "'--out'", "not be empty"),
    (["eval", "retrieval", "--faq", "/no/f", "--queries", "/tmp"], "'--queries'", "is a directory"),
    (["transcripts", "import", ""], "'FILE'", "must not be empty"),
    (["model", "install", "--source", ""], "'--source'", "must not be empty"),
    (["serve", "--host", "999.1.1.1"], "'--host'", "must be an IP address or a host name"),
]


@pytest.mark.parametrize(
    ("args", "names", "allowed"), BAD_ARGUMENTS, ids=[" ".join(a)[:40] for a, _, _ in BAD_ARGUMENTS]
)
def test_a_bad_argument_is_one_line_naming_it(cli, args, names, allowed):
    code, _, stderr = cli(*args)
    (line,) = error_lines(stderr)
    assert code == 2 and names in line and allowed in line, line


MISSING_FILES = [
    (["faq", "import", "/no/such/faq.csv"], "/no/such/faq.csv: no such file or directory"),
    (["transcripts", "import", "/no/such/t.jsonl"], "/no/such/t.jsonl: no such file"),
    (
        ["eval", "retrieval", "--faq", "/no/faq", "--queries", "/no/q.jsonl"],
        "/no/faq: no such file or directory",
    ),
]


@pytest.mark.parametrize(
    ("args", "message"), MISSING_FILES, ids=[a[0] + " " + a[1] for a, _ in MISSING_FILES]
)
def test_a_missing_file_is_named(cli, args, message):
    code, _, stderr = cli(*args)
    assert code == 1 and message in stderr and "Traceback" not in stderr


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


@pytest.mark.slow
@pytest.mark.parametrize("transport", ["--http", "--socket"])
def test_serve_with_slack_unreachable_says_so_in_one_line(cli, transport):
    api = f"http://127.0.0.1:{_closed_port()}/api/"
    code, _, stderr = cli(
        "serve",
        transport,
        "--port",
        str(_closed_port()),
        SUPPORTBOT_SLACK_BOT_TOKEN="xoxb-test",
        SUPPORTBOT_SLACK_SIGNING_SECRET="s",
        SUPPORTBOT_SLACK_APP_TOKEN="xapp-test",
        SUPPORTBOT_SLACK_API_URL=api,
        SUPPORTBOT_METRICS_PORT=str(_closed_port()),
    )
    (line,) = error_lines(stderr)
    assert code == 1 and f"cannot reach the Slack API at {api}" in line and "SUPPORTBOT_SLACK_API_URL" in line


@pytest.mark.slow
def test_serve_checks_slack_before_loading_the_embedder(cli):
    # An imported FAQ whose embedder now sits behind a server that does not answer: had the embedders
    # been loaded first, start-up would spend its retries there and report that instead.
    assert cli("faq", "import", str(SAMPLE_FAQ), "--no-tune")[0] == 0
    api = f"http://127.0.0.1:{_closed_port()}/api/"
    code, _, stderr = cli(
        "serve",
        "--socket",
        SUPPORTBOT_SLACK_BOT_TOKEN="xoxb-test",
        SUPPORTBOT_SLACK_APP_TOKEN="xapp-test",
        SUPPORTBOT_SLACK_API_URL=api,
        SUPPORTBOT_METRICS_PORT=str(_closed_port()),
        SUPPORTBOT_EMBEDDING_BACKEND="openai",
        SUPPORTBOT_EMBEDDING_URL=f"http://127.0.0.1:{_closed_port()}/v1",
        SUPPORTBOT_EMBEDDING_MODEL="unreachable",
        SUPPORTBOT_EMBEDDING_TIMEOUT_S="30",
    )
    (line,) = error_lines(stderr)
    assert code == 1 and f"cannot reach the Slack API at {api}" in line


def test_serve_on_a_port_in_use_says_which(cli):
    peer = SlackPeer()  # a Slack Web API that answers, so serving gets as far as listening
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        code, _, stderr = cli(
            "serve",
            "--http",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            SUPPORTBOT_SLACK_BOT_TOKEN="xoxb-test",
            SUPPORTBOT_SLACK_SIGNING_SECRET="s",
            SUPPORTBOT_SLACK_API_URL=peer.url,
            SUPPORTBOT_METRICS_PORT=str(_closed_port()),
        )
    finally:
        taken.close()
        peer.close()
    (line,) = error_lines(stderr)
    assert code == 1 and f"cannot listen on 127.0.0.1:{port}" in line and "--port" in line


def test_an_unmigrated_or_unreachable_database_is_one_line(cli, tmp_path):
    code, _, stderr = cli("stats", SUPPORTBOT_DATABASE_URL=f"sqlite:///{tmp_path}/no/such/dir/x.db")
    (line,) = error_lines(stderr)
    assert code == 1 and "cannot use the database at sqlite:///" in line

    # psycopg's refusal runs over two lines; the password is never shown.
    url = f"postgresql+psycopg://nobody:hunter2@127.0.0.1:{_closed_port()}/x"
    code, _, stderr = cli("db", "upgrade", SUPPORTBOT_DATABASE_URL=url)
    (line,) = error_lines(stderr)
    assert code == 1 and len(stderr.strip().splitlines()) == 1 and "hunter2" not in stderr
    assert line.startswith("Error: cannot use the database at postgresql+psycopg://nobody:***@127.0.0.1:")


def test_a_file_that_is_no_database_or_a_bad_url_option_is_one_line(cli, tmp_path):
    not_a_database = tmp_path / "notes.db"
    not_a_database.write_text("these are my notes, not a database\n" * 10)
    url = f"sqlite:///{not_a_database}"
    code, _, stderr = cli("stats", SUPPORTBOT_DATABASE_URL=url)
    (line,) = error_lines(stderr)
    assert code == 1 and line == f"Error: cannot use the database at {url}: file is not a database"

    # Refused by psycopg before it connects, as a ProgrammingError, not an OperationalError.
    url = f"postgresql+psycopg://nobody:hunter2@127.0.0.1:{_closed_port()}/x?connect_timeout=abc"
    code, _, stderr = cli("db", "current", SUPPORTBOT_DATABASE_URL=url)
    (line,) = error_lines(stderr)
    assert code == 1 and "hunter2" not in stderr
    assert line.startswith("Error: cannot use the database at postgresql+psycopg://nobody:***@127.0.0.1:")
    assert line.endswith("bad value for connect_timeout: 'abc'")


MARKUP = "[/bold] [red]x[/red] [link=https://evil.example]y[/link] :smile: [/]"


def test_faq_text_and_names_with_markup_are_printed_as_they_are(cli, tmp_path):
    """Rich markup in FAQ content, file names and questions is text: never parsed, never an error."""
    faq = tmp_path / "faq [bold].csv"
    faq.write_text(
        f'id,question,answer,url\nmarkup,"Where is {MARKUP}?","It is {MARKUP}.",https://x.example/[/b]\n'
    )
    code, stdout, stderr = cli("faq", "import", str(faq))
    assert code == 0 and "Traceback" not in stderr
    assert f"Imported {faq}: 1 added" in stdout

    header = tmp_path / "header.csv"
    header.write_text("id,[/bold]\n")
    code, _, stderr = cli("faq", "import", str(header))
    assert code == 1 and "header.csv:1: missing column(s) question, answer" in stderr

    # The FAQ answer as written (no model needed), its source, then the review list and stats tables.
    code, stdout, stderr = cli("ask", f"Where is {MARKUP}?", SUPPORTBOT_DIRECT_ANSWER_SCORE="0")
    assert code == 0 and "Traceback" not in stderr
    assert f"It is {MARKUP}." in stdout and f"Where is {MARKUP}?" in stdout
    assert "https://x.example/[/b]" in stdout
    code, stdout, stderr = cli("review", "list")
    assert code == 0 and "[/bold]" in stdout and "[red]x[/red]" in stdout
    code, stdout, _ = cli("stats")
    assert code == 0
    # Nor is markup in the product's own lines parsed: styles are Text, or the user sees "[bold]".
    code, stdout, _ = cli("finetune", "run")
    assert code == 0 and stdout.startswith("Run -: skipped in ") and "[" not in stdout


@pytest.mark.slow
def test_the_console_script_itself_prints_no_traceback(tmp_path):
    """The installed `supportbot` entry point in a fresh process, as a user runs it."""
    exe = Path(sys.executable).with_name("supportbot")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORTBOT_")}
    env |= {"SUPPORTBOT_DATA_DIR": str(tmp_path), "SUPPORTBOT_CHANNEL_MODES": "malformed"}
    proc = subprocess.run([str(exe), "stats"], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "Error: SUPPORTBOT_CHANNEL_MODES: 'malformed': expected CHANNEL_ID:all|mention|never, "
        "e.g. C0123ABCD:all (got 'malformed')"
    ]
    del env["SUPPORTBOT_CHANNEL_MODES"]
    proc = subprocess.run([str(exe), "serve", "--port", "70000"], capture_output=True, text=True, env=env)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "Error: Invalid value for '--port': Input should be less than or equal to 65535 "
        "(see: supportbot serve --help)"
    ]


def test_a_misspelt_setting_is_named_not_silently_ignored(cli):
    code, _, stderr = cli("db", "current", SUPPORTBOT_RETRIEVAL_TOPK="3")
    assert code == 0 and "Traceback" not in stderr
    assert (
        "Warning: SUPPORTBOT_RETRIEVAL_TOPK is not a setting (did you mean SUPPORTBOT_RETRIEVAL_TOP_K?); ignored"
        in stderr
    )


def test_a_dotenv_that_is_not_utf8_is_one_line(cli, tmp_path):
    # The autouse fixture runs every test in its own tmp_path, where Settings reads .env.
    (tmp_path / ".env").write_text("SUPPORTBOT_RETRIEVAL_TOP_K=3\n", encoding="utf-16")
    code, _, stderr = cli("db", "current")
    (line,) = error_lines(stderr)
    assert code == 2 and line == "Error: .env: not UTF-8 text (byte 0xff); save it as UTF-8"
    (tmp_path / ".env").write_text("SUPPORTBOT_RETRIEVAL_TOP_K=300\n")
    code, _, stderr = cli("db", "current")
    (line,) = error_lines(stderr)
    assert code == 2 and line.startswith(
        "Error: SUPPORTBOT_RETRIEVAL_TOP_K: Input should be less than or equal to 50"
    )


def test_a_second_import_while_one_runs_is_refused_in_one_line(cli, data_dir, tmp_path):
    from bot.db.session import get_engine
    from retrieval.index import IndexLock

    faq = tmp_path / "faq.csv"
    faq.write_text("id,question,answer\ngym,Where is the gym?,Floor 3.\n")
    assert cli("db", "upgrade")[0] == 0
    with IndexLock(get_engine(f"sqlite:///{(data_dir / 'supportbot.db').resolve()}")).hold() as got:
        assert got
        code, _, stderr = cli("faq", "import", str(faq))
    (line,) = error_lines(stderr)
    assert code == 1 and "another `supportbot faq import` or `faq tune` is writing this FAQ index" in line
    code, stdout, _ = cli("faq", "import", str(faq))
    assert code == 0 and "1 added" in stdout


def test_storage_that_cannot_be_reached_or_made_is_one_line(cli, tmp_path):
    faq = tmp_path / "faq.csv"
    faq.write_text("id,question,answer\ngym,Where is the gym?,Floor 3.\n")
    (tmp_path / "a-file").write_text("")
    under_a_file = tmp_path / "a-file" / "data"

    code, _, stderr = cli("stats", SUPPORTBOT_DATA_DIR=str(under_a_file))
    (line,) = error_lines(stderr)
    assert code == 1 and line.startswith(f"Error: cannot create the data folder {under_a_file}")
    assert line.endswith("(SUPPORTBOT_DATA_DIR)")

    code, _, stderr = cli("faq", "import", str(faq), "--no-tune", SUPPORTBOT_CHROMA_PATH=str(under_a_file))
    (line,) = error_lines(stderr)
    assert code == 1 and f"cannot use {under_a_file} for embedded Chroma" in line

    chroma = f"http://127.0.0.1:{_closed_port()}"
    code, _, stderr = cli("faq", "import", str(faq), "--no-tune", SUPPORTBOT_CHROMA_URL=chroma)
    (line,) = error_lines(stderr)
    assert (
        code == 1
        and f"cannot reach the Chroma server at {chroma}" in line
        and "SUPPORTBOT_CHROMA_URL" in line
    )
