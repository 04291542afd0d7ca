"""``supportbot review``: review the bot's answers."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from bot.cli._common import (
    MAX_EDIT_CHARS,
    MAX_ENTRY_ID_CHARS,
    MAX_USER_ID_CHARS,
    _prepared_container,
    _text_option,
    fail,
    out,
)
from bot.settings import DB_INTEGER_MAX

__all__ = ["AnswerId", "review_app"]

review_app = typer.Typer(
    help="Review the bot's answers (approve teaches retrieval at once).", no_args_is_help=True
)


AnswerId = Annotated[
    int,
    typer.Argument(
        min=1,
        max=DB_INTEGER_MAX,
        metavar="ANSWER_ID",
        help="Answer id (from `review list` or `ask --json`).",
        show_default=False,
    ),
]


@review_app.command("list")
def review_list(limit: Annotated[int, typer.Option(min=1, max=1000, help="How many.")] = 20) -> None:
    """Answers nobody has reviewed yet, newest first."""
    c = _prepared_container()
    table = Table("answer", "question", "mode", "source", "answer text")
    for answer, question in c.reviews.pending(limit):
        source = answer.sources[0]["id"] if answer.sources and not answer.abstained else "-"
        table.add_row(
            str(answer.id),
            question[:60],
            "abstain" if answer.abstained else answer.mode,
            source,
            answer.text[:60].replace("\n", " "),
        )
    out.print(table)


@review_app.command("approve")
def review_approve(
    answer_id: AnswerId,
    edit: Annotated[str | None, typer.Option(help="The answer to approve instead of the bot's.")] = None,
    reviewer: Annotated[str, typer.Option("--as", help="Who approves (recorded).")] = "cli",
) -> None:
    """Approve an answer: the asker's question finds its FAQ entry from now on."""
    from bot.services.review import ReviewError

    if edit is not None:
        _text_option("--edit", edit, MAX_EDIT_CHARS)
    _text_option("--as", reviewer, MAX_USER_ID_CHARS)

    c = _prepared_container()
    try:
        outcome = c.reviews.approve(answer_id, reviewer, edited_text=edit, trusted=True)
    except ReviewError as exc:
        fail(str(exc))
    if outcome.learned_entry:
        out.print(f"Approved. The question now finds FAQ entry {outcome.learned_entry} directly.")
    else:
        out.print(f"Approved. New curated FAQ entry {outcome.curated_entry} answers this question.")


@review_app.command("reject")
def review_reject(
    answer_id: AnswerId,
    reviewer: Annotated[str, typer.Option("--as", help="Who rejects (recorded).")] = "cli",
) -> None:
    """Reject an answer (kept out of training data)."""
    from bot.services.review import ReviewError

    _text_option("--as", reviewer, MAX_USER_ID_CHARS)

    c = _prepared_container()
    try:
        outcome = c.reviews.reject(answer_id, reviewer, trusted=True)
    except ReviewError as exc:
        fail(str(exc))
    wrong = (
        f" FAQ entry {outcome.wrong_entry} is recorded as not answering its question."
        if outcome.wrong_entry
        else ""
    )
    out.print(f"Rejected answer {answer_id}.{wrong}")


@review_app.command("correct")
def review_correct(
    answer_id: AnswerId,
    entry_id: Annotated[
        str,
        typer.Argument(
            metavar="ENTRY_ID", help="The FAQ entry that answers the question.", show_default=False
        ),
    ],
    reviewer: Annotated[str, typer.Option("--as", help="Who corrects (recorded).")] = "cli",
) -> None:
    """The answer cited the wrong entry (or abstained): ENTRY_ID answers its question. The question
    finds ENTRY_ID from now on; a wrongly cited entry is recorded as not answering it."""
    from bot.services.review import ReviewError
    from retrieval.faq import ID_PATTERN

    _text_option("ENTRY_ID", entry_id, MAX_ENTRY_ID_CHARS)
    if not ID_PATTERN.match(entry_id):
        raise typer.BadParameter(
            "an FAQ entry id: letters, digits and . _ : / -, starting with a letter or digit",
            param_hint="ENTRY_ID",
        )
    _text_option("--as", reviewer, MAX_USER_ID_CHARS)

    c = _prepared_container()
    try:
        outcome = c.reviews.correct(answer_id, reviewer, entry_id, trusted=True)
    except ReviewError as exc:
        fail(str(exc))
    done = "Corrected" if outcome.action == "correct" else "Attached"
    wrong = (
        f" FAQ entry {outcome.wrong_entry} is recorded as not answering it." if outcome.wrong_entry else ""
    )
    out.print(f"{done}. The question now finds FAQ entry {outcome.learned_entry} directly.{wrong}")
