"""``supportbot db``: the database schema."""

from __future__ import annotations

from typing import Annotated

import typer

from bot.cli._common import _settings, fail, out

__all__ = ["db_app"]

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)


def _revision(value: str) -> str:
    # Alembic fails an assertion (a traceback) on an empty revision instead of naming it.
    if not value.strip():
        raise typer.BadParameter("must not be empty; expected e.g. head, base, 0012 or -1")
    return value


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.", callback=_revision)] = "head",
) -> None:
    """Apply migrations up to REVISION (default: the latest)."""
    from bot.db import migrate

    s = _settings()
    url = s.resolved_database_url
    if url.startswith("sqlite"):
        try:
            s.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            fail(f"cannot create the data folder {s.data_dir}: {exc.strerror or exc} (SUPPORTBOT_DATA_DIR)")
    _migrate(migrate.upgrade, url, revision)
    out.print(f"Database at revision {migrate.current_revision(url)}")


def _migrate(step, url: str, revision: str) -> None:
    from alembic.util.exc import CommandError

    try:
        step(url, revision)
    except CommandError as exc:  # an unknown or ambiguous revision, a downgrade past base
        fail(f"revision {revision!r}: {exc} (see: supportbot db current)", code=2)


# ignore_unknown_options: "-1" (one step down) is a revision, not an option.
@db_app.command("downgrade", context_settings={"ignore_unknown_options": True})
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision, e.g. base or -1.", callback=_revision)],
) -> None:
    """Revert migrations down to REVISION."""
    from bot.db import migrate

    url = _settings().resolved_database_url
    _migrate(migrate.downgrade, url, revision)
    out.print(f"Database at revision {migrate.current_revision(url) or 'base'}")


@db_app.command("current")
def db_current() -> None:
    """Show the database's revision and the latest one."""
    from bot.db import migrate

    url = _settings().resolved_database_url
    out.print(f"current: {migrate.current_revision(url) or 'base'}  head: {migrate.head_revision(url)}")
