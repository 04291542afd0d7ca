"""``supportbot faq``: FAQ content, and tuning the embedder to it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from bot.cli._common import (
    ExistingPath,
    _limit,
    _not_imported,
    _prepared_container,
    _progress,
    _settings,
    err,
    fail,
    out,
)

__all__ = ["_tune", "faq_app"]

faq_app = typer.Typer(help="FAQ content.", no_args_is_help=True)


def _tune(c, steps: int | None = None, *, required: bool = True) -> None:
    """Tune the embedder to the FAQ and re-index. With ``required`` False (tuning because an import
    changed the FAQ) a FAQ too small to tune on is a notice, not an error."""
    from retrieval.tune import TuneError

    steps = steps or c.settings.tune_steps
    with _progress() as bar:
        train = bar.add_task("Tuning the embedder to this FAQ", total=steps)
        reembed = bar.add_task("Re-indexing with it", total=c.index.count_entries())
        try:
            path = c.tune_embedder(
                steps,
                progress=lambda n: bar.advance(train, n),
                reembed_progress=lambda n: bar.advance(reembed, n),
            )
        except TuneError as exc:
            if required:
                fail(str(exc))
            err.print(f"Embedder not tuned: {exc}")
            return
    out.print(f"Retrieval now uses an embedder tuned to this FAQ: {path}")


@faq_app.command("tune")
def faq_tune(
    steps: Annotated[
        int | None,
        typer.Option(min=1, max=10000, help="Training steps (default SUPPORTBOT_TUNE_STEPS, 60)."),
    ] = None,
) -> None:
    """Fine-tune the embedder on the FAQ's own phrasings and re-index (about 45-80 s on 2 cores)."""
    c = _prepared_container()
    _tune(c, steps)


@faq_app.command("import")
def faq_import(
    file: Annotated[
        Path,
        typer.Argument(help="FAQ file or directory (.csv, .jsonl, .md).", metavar="FILE", **ExistingPath),
    ],
    prune: Annotated[bool, typer.Option(help="Delete entries that are no longer in FILE.")] = False,
    tune: Annotated[
        bool | None,
        typer.Option(
            "--tune/--no-tune",
            help="Tune the embedder to the FAQ if the import changed it (better ranking, "
            "45-80 s). Default: SUPPORTBOT_TUNE_ON_IMPORT (on).",
        ),
    ] = None,
) -> None:
    """Import or update FAQ entries; unchanged entries are left alone, then the embedder is tuned
    to the FAQ when anything changed."""
    from retrieval.faq import FaqFormatError, load_faq

    s = _settings()
    try:
        items = load_faq(file, _limit(s))
    except FaqFormatError as exc:
        fail(_not_imported(file, exc.problems))
    c = _prepared_container()
    if warning := c.faq_language_warning(items):
        err.print(Text.assemble(("Warning: ", "yellow"), warning), highlight=False)
    if reembedding := c.reembed_if_embedder_changed():
        out.print(reembedding)
    with _progress() as bar:
        task = bar.add_task("Embedding FAQ entries", total=len(items))
        report = c.index.import_items(items, prune=prune, progress=lambda n: bar.advance(task, n))
    out.print(
        f"Imported {file}: {report.added} added, {report.updated} updated, "
        f"{report.unchanged} unchanged, {report.pruned} pruned ({c.index.count_entries()} entries in the FAQ)."
    )
    if report.orphans_removed or report.reindexed:
        out.print(
            f"Index repaired: {report.orphans_removed} vectors of entries not in the FAQ removed (left by an "
            f"interrupted import), {report.reindexed} entries with no vectors re-indexed."
        )
    should_tune = c.settings.tune_on_import if tune is None else tune
    # An unchanged FAQ that is already tuned needs nothing; a changed one needs an embedder that knows
    # its new entries.
    if should_tune and (report.added or report.updated or report.pruned or not c.index.is_tuned()):
        _tune(c, required=False)
