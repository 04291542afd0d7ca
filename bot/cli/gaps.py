"""``supportbot gaps``: knowledge gaps, what people asked that the FAQ does not answer."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from bot.cli._common import (
    MAX_EDIT_CHARS,
    MAX_USER_ID_CHARS,
    JsonList,
    JsonOutput,
    _prepared_container,
    _text_option,
    bold,
    fail,
    out,
)
from bot.settings import DB_INTEGER_MAX

__all__ = ["GapId", "gaps_app"]

gaps_app = typer.Typer(
    help="Knowledge gaps: what people asked that the FAQ does not answer, by topic.", no_args_is_help=True
)


GapId = Annotated[
    int,
    typer.Argument(
        min=1, max=DB_INTEGER_MAX, metavar="GAP_ID", help="Topic id (from `gaps list`).", show_default=False
    ),
]


@gaps_app.command("list")
def gaps_list(
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many topics.")] = 20,
    as_json: JsonList = False,
) -> None:
    """Topics of questions the bot could not answer (abstained, rejected, not helpful, handed off),
    most askers first, each with a draft entry."""
    c = _prepared_container()
    gaps = c.gaps.topics()[:limit]
    if as_json:
        print(json.dumps([g.to_json() for g in gaps], ensure_ascii=False))
        return
    if not gaps:
        out.print("No knowledge gaps: every question the bot could not answer was taught or decided.")
        return
    table = Table("id", "askers", "questions", "why", "draft question", "draft answer")
    for g in gaps:
        why = ", ".join(f"{k} {v}" for k, v in g.reasons.most_common())
        draft = (g.draft_answer or "-")[:60]
        table.add_row(str(g.id), str(g.askers), str(len(g.questions)), why, g.draft_question[:80], draft)
    out.print(table)


@gaps_app.command("show")
def gaps_show(gap_id: GapId, as_json: JsonOutput = False) -> None:
    """A topic's questions, why each is a gap, and the human replies its hand-offs got."""
    from bot.services.gaps import GapError

    c = _prepared_container()
    try:
        gap = c.gaps.get(gap_id)
    except GapError as exc:
        fail(str(exc))
    if as_json:
        print(json.dumps(gap.to_json(), ensure_ascii=False))
        return
    out.print(
        Text.assemble("Topic ", bold(gap.id), f": {len(gap.questions)} questions from {gap.askers} people")
    )
    for q in gap.questions:
        out.print(f"  - {q.text}  ({', '.join(sorted(q.reasons))})", highlight=False)
        for reply in q.human_replies:
            out.print(f"      support replied: {reply}", highlight=False)
    out.print(Text("\nDraft entry", style="bold"))
    out.print(f"  question: {gap.draft_question}", highlight=False)
    out.print(f"  answer:   {gap.draft_answer or '(none yet: publish with --answer)'}", highlight=False)


@gaps_app.command("publish")
def gaps_publish(
    gap_id: GapId,
    question: Annotated[str | None, typer.Option(help="The entry's question (default: the draft's).")] = None,
    answer: Annotated[str | None, typer.Option(help="The entry's answer (default: the draft's).")] = None,
    admin: Annotated[str, typer.Option("--as", help="Who publishes (recorded).")] = "cli",
) -> None:
    """Make the topic a curated FAQ entry; its questions find it from now on."""
    from bot.services.gaps import GapError

    _text_option("--as", admin, MAX_USER_ID_CHARS)
    if question is not None:
        _text_option("--question", question, MAX_EDIT_CHARS)
    if answer is not None:
        _text_option("--answer", answer, MAX_EDIT_CHARS)
    c = _prepared_container()
    try:
        entry_id = c.gaps.publish(gap_id, admin, question=question, answer=answer)
    except (GapError, ValueError) as exc:
        fail(str(exc))
    out.print(f"Published topic {gap_id} as FAQ entry {entry_id}; its questions find it from now on.")


@gaps_app.command("dismiss")
def gaps_dismiss(
    gap_id: GapId, admin: Annotated[str, typer.Option("--as", help="Who dismisses (recorded).")] = "cli"
) -> None:
    """Not something the FAQ should answer: take the topic's questions out of the gaps."""
    from bot.services.gaps import GapError

    _text_option("--as", admin, MAX_USER_ID_CHARS)
    c = _prepared_container()
    try:
        n = c.gaps.dismiss(gap_id, admin)
    except GapError as exc:
        fail(str(exc))
    out.print(f"Dismissed topic {gap_id} ({n} questions).")
