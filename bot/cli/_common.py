"""What the command groups share: the consoles, errors, settings, option types, progress bars."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from bot.settings import Settings

__all__ = [
    "MAX_EDIT_CHARS",
    "MAX_ENTRY_ID_CHARS",
    "MAX_USER_ID_CHARS",
    "MIB",
    "STARTED",
    "ExistingFile",
    "ExistingPath",
    "JsonLastLine",
    "JsonList",
    "JsonOutput",
    "_limit",
    "_not_imported",
    "_prepared_container",
    "_progress",
    "_settings",
    "_text_option",
    "bold",
    "err",
    "fail",
    "out",
    "path_option",
]

# Taken when the command line is imported: bot/cli/__init__.py imports this module first.
STARTED = time.perf_counter()  # `ask` reports the one-off start-up apart from the answer's own time
MIB = 1024 * 1024
# Columns these options end up in (bot/db/models.py): PostgreSQL refuses longer values, SQLite would not.
MAX_USER_ID_CHARS = 64
MAX_ENTRY_ID_CHARS = 128
MAX_EDIT_CHARS = 20_000  # a curated entry's answer: the FAQ's own field limit (retrieval/faq.py)

# Never break paths and messages mid-line. No markup and no emoji codes: what is printed (FAQ text,
# questions, file names, ids) is shown as it is; styles are set with Text, never parsed from strings.
out = Console(soft_wrap=True, markup=False, emoji=False)
err = Console(stderr=True, soft_wrap=True, markup=False, emoji=False)


def bold(text: object) -> Text:
    return Text(str(text), style="bold")


def _prepared_container(settings: Settings | None = None):
    """The container a command works with (on ``settings``, default: this deployment's), its schema
    checked: embedded SQLite is created or migrated on first use; a server database behind the code
    ends the command with "Run: supportbot db upgrade" (SchemaOutOfDate, reported by main()).

    A helper each command calls, not a Typer callback: a callback runs before the command parses
    its own arguments, so `--help` and a bad option would wait for (or fail on) the database, and
    the checks commands make first (options, input files, Slack's tokens for `serve`) would come
    after it. The `db` commands and `healthcheck` use none; `eval` passes its throwaway store's settings."""
    from bot.container import Container

    c = Container(_settings() if settings is None else settings)
    c.ensure_schema()
    return c


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(Text.assemble(("Error: ", "bold red"), str(message)), highlight=False)
    raise typer.Exit(code)


def _settings() -> Settings:
    """Settings for a command; a bad value ends the command with one line per bad setting (main())."""
    try:
        return Settings()
    except UnicodeDecodeError as exc:  # the one file settings come from
        fail(f".env: not UTF-8 text (byte 0x{exc.object[exc.start]:02x}); save it as UTF-8", code=2)


def _limit(settings: Settings) -> int:
    return settings.max_import_file_mb * MIB


def _text_option(name: str, value: str, limit: int) -> str:
    if not value.strip():
        raise typer.BadParameter("must not be empty", param_hint=name)
    if len(value) > limit:
        raise typer.BadParameter(f"at most {limit} characters, got {len(value)}", param_hint=name)
    return value


def _not_imported(file: Path, problems: list[str]) -> str:
    """One line for one problem; else a line per problem (each names its file and line)."""
    if len(problems) == 1:
        return f"{file} was not imported: {problems[0]}"
    shown = problems[:20] + ([f"... and {len(problems) - 20} more"] if len(problems) > 20 else [])
    return f"{file} was not imported ({len(problems)} problems):\n" + "\n".join(shown)


# What --json prints, one text per kind of output, so the commands that print alike say so alike.
JsonOutput = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
JsonList = Annotated[bool, typer.Option("--json", help="Print one JSON array.")]
JsonLastLine = Annotated[bool, typer.Option("--json", help="End with one JSON object on the last line.")]


def path_option(*, file: bool = False, exists: bool = False, writable: bool = False) -> dict:
    """Typer options for a path argument: checked here, not by Typer's flags, because Typer turns an
    empty value into Path(""), which is the working folder: `faq import "$FAQ"` with FAQ unset would
    import (and with --prune, prune to) whatever lies there. ``file``: a folder is refused."""
    kind = "file" if file else "path"

    def parse(value: str) -> Path:
        if not value.strip():
            raise typer.BadParameter(f"must not be empty; expected the {kind} to use")
        path = Path(value)
        try:
            st = path.stat()
        except OSError:
            if exists:
                raise typer.BadParameter(f"{kind} {value!r} does not exist") from None
            return path
        if file and stat.S_ISDIR(st.st_mode):
            raise typer.BadParameter(f"{kind} {value!r} is a directory")
        if not os.access(path, os.W_OK if writable else os.R_OK):
            raise typer.BadParameter(f"{kind} {value!r} is not {'writable' if writable else 'readable'}")
        return path

    return dict(parser=parse)


# Not exists=True: the readers name a missing file themselves, and a path inside a container (compose's
# `faq import /faq`) must still resolve where the command line is checked.
ExistingPath = path_option()
ExistingFile = path_option(file=True)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=not err.is_terminal,
    )
