"""The ``supportbot`` command line: one module per command group (bot/cli/<group>.py), assembled here."""

from __future__ import annotations

import os
import sys

import typer
from rich.text import Text

from bot.cli._common import err
from bot.cli.db import db_app
from bot.cli.evaluate import eval_app
from bot.cli.faq import faq_app
from bot.cli.finetune import finetune_app
from bot.cli.gaps import gaps_app
from bot.cli.model import model_app
from bot.cli.review import review_app
from bot.cli.run import run_app
from bot.cli.transcripts import transcripts_app
from bot.settings import Settings, env_name

__all__ = ["app", "main"]

app = typer.Typer(
    help="A Slack support bot that answers from your FAQ and learns from its admins.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
# The order --help lists them in: the top-level commands, then the groups.
app.add_typer(run_app)
app.add_typer(db_app, name="db")
app.add_typer(model_app, name="model")
app.add_typer(review_app, name="review")
app.add_typer(finetune_app, name="finetune")
app.add_typer(transcripts_app, name="transcripts")
app.add_typer(faq_app, name="faq")
app.add_typer(gaps_app, name="gaps")
app.add_typer(eval_app, name="eval")


def _unknown_settings() -> list[str]:
    """SUPPORTBOT_ variables that are no setting (a typo is otherwise silently ignored), with the
    setting meant where one is close."""
    import difflib

    known = {env_name(name) for name in Settings.model_fields}
    lines = []
    for var in sorted(os.environ):
        if var.startswith("SUPPORTBOT_") and var not in known and not var.startswith("SUPPORTBOT_TEST_"):
            close = difflib.get_close_matches(var, known, n=1)
            lines.append(
                f"{var} is not a setting" + (f" (did you mean {close[0]}?)" if close else "") + "; ignored"
            )
    return lines


def _expected_error(exc: BaseException) -> tuple[list[str], int] | None:
    """The message lines and exit status for an error bad input causes, or None for anything else
    (a bug, which keeps its traceback). Modules are looked up, not imported: an exception of a class
    means its module is loaded, and importing bot.container just to compare would cost seconds."""
    from pydantic import ValidationError
    from sqlalchemy.exc import DataError, DBAPIError, OperationalError

    from bot.settings import describe_errors
    from retrieval.jsonl import InputFileError

    if isinstance(exc, ValidationError) and exc.title == Settings.__name__:
        return describe_errors(exc), 2
    # Also the database's refusals before any statement of ours (a bad option in the URL's query, e.g.
    # ?connect_timeout=abc, which psycopg raises as a ProgrammingError) and a file SQLite cannot read as
    # a database at all (sqlite3.DatabaseError itself, not a subclass: "file is not a database").
    unusable = isinstance(exc, DBAPIError) and (
        exc.statement is None or type(exc.orig).__name__ == "DatabaseError"
    )
    if isinstance(exc, OperationalError) or unusable:
        from sqlalchemy.engine import make_url

        url = make_url(Settings().resolved_database_url).render_as_string(hide_password=True)
        # psycopg's messages run over several lines; one line says it.
        return [f"cannot use the database at {url}: {' '.join(str(exc.orig).split())}"], 1
    if isinstance(exc, DataError):  # a value a column refuses (PostgreSQL checks what SQLite stores)
        return [f"the database refused a value: {' '.join(str(exc.orig).split())}"], 1
    if isinstance(exc, InputFileError):
        return [str(exc)], 1
    expected = [("bot.container", "SchemaOutOfDate"), ("bot.container", "DataDirUnavailable")]
    expected += [("retrieval.index", "IndexBusy")]
    expected += [("retrieval.store", "StoreUnavailable"), ("retrieval.embedder", "EmbedderUnavailable")]
    for module, name in expected:
        if module in sys.modules and isinstance(exc, getattr(sys.modules[module], name)):
            return [str(exc)], 1
    if isinstance(exc, OSError) and exc.filename:  # a data folder that cannot be made, a file not readable
        return [f"{exc.filename}: {exc.strerror or exc}"], 1
    return None


def main(argv: list[str] | None = None) -> None:
    """The console script. Bad input (an option, an argument, a setting, a file) ends in one line per
    problem and exit status 2 (the command line or the settings are invalid) or 1 (the command could
    not be done as asked), never in a traceback."""
    # Typer vendors click; its usage errors are not re-exported.
    from typer._click.exceptions import NoArgsIsHelpError, UsageError

    for line in _unknown_settings():
        err.print(Text.assemble(("Warning: ", "yellow"), line), highlight=False)
    try:
        code = app(args=argv, prog_name="supportbot", standalone_mode=False)
    except NoArgsIsHelpError as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except UsageError as exc:
        # Typer would draw a panel over several lines; one line names the option and what it allows.
        hint = f" (see: {exc.ctx.command_path} --help)" if exc.ctx else ""
        fail_line = " ".join(exc.format_message().replace("Value error, ", "").split())
        err.print(Text.assemble(("Error: ", "bold red"), fail_line + hint), highlight=False)
        sys.exit(exc.exit_code)
    except typer.Abort:
        err.print("Aborted.")
        sys.exit(1)
    except Exception as exc:
        expected = _expected_error(exc)
        if expected is None:
            raise
        lines, code = expected
        for line in lines:
            err.print(Text.assemble(("Error: ", "bold red"), line), highlight=False)
        sys.exit(code)
    sys.exit(code if isinstance(code, int) else 0)
