"""The ``cli`` fixture (loaded from tests/conftest.py as a plugin): runs the real CLI entry point
(bot.cli.main, the console script's) in this process on the test's data dir, as a user would type
it; returns (exit status, stdout, stderr)."""

from __future__ import annotations

import logging

import pytest

from bot.cli import main


@pytest.fixture
def cli(capsys, monkeypatch, data_dir):
    monkeypatch.setenv("SUPPORTBOT_DATA_DIR", str(data_dir))
    # `serve` configures logging onto this test's captured stderr; later tests must not log into it.
    handlers, level = logging.root.handlers[:], logging.root.level

    def run(*args: str, **env: str) -> tuple[int, str, str]:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        with pytest.raises(SystemExit) as exited:
            main(list(args))
        captured = capsys.readouterr()
        for key in env:
            monkeypatch.delenv(key)
        return exited.value.code, captured.out, captured.err

    yield run
    logging.root.handlers[:] = handlers
    logging.root.setLevel(level)
