"""``supportbot transcripts``: approved transcripts, the fine-tune's training material."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bot.cli._common import ExistingFile, _limit, _not_imported, _prepared_container, _settings, fail, out

__all__ = ["transcripts_app"]

transcripts_app = typer.Typer(
    help="Approved transcripts (the fine-tune's training material).", no_args_is_help=True
)


@transcripts_app.command("import")
def transcripts_import(
    file: Annotated[
        Path,
        typer.Argument(
            help='JSONL, one {"question", "answer", "faq_ids"?} per line.',
            metavar="FILE",
            **ExistingFile,
        ),
    ],
) -> None:
    """Import approved question-and-answer pairs (e.g. past support tickets) for the fine-tune."""
    from bot.services.transcripts import TranscriptFormatError, load_jsonl

    s = _settings()
    try:
        rows = load_jsonl(file, _limit(s))
    except TranscriptFormatError as exc:
        fail(_not_imported(file, exc.problems))
    c = _prepared_container()
    known = {r for r in c.index.entry_ids()}
    unknown = sorted({i for r in rows for i in r["faq_ids"] if i not in known})
    if unknown:
        fail(f"{file}: unknown FAQ entry ids: {', '.join(unknown[:10])}")
    added, dupes = c.reviews.transcripts.import_rows(rows)
    out.print(
        f"Imported {file}: {added} added, {dupes} already there ({c.reviews.transcripts.count()} in all)."
    )
