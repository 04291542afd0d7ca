"""``supportbot eval``: measure retrieval, learning from reviews and answers before going live."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from bot.cli._common import (
    ExistingFile,
    ExistingPath,
    JsonLastLine,
    _limit,
    _prepared_container,
    _progress,
    _settings,
    err,
    fail,
    out,
    path_option,
)
from bot.cli.faq import _tune
from bot.settings import Settings

__all__ = ["eval_app"]

eval_app = typer.Typer(help="Measure retrieval and answers before going live.", no_args_is_help=True)


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

    with tempfile.TemporaryDirectory(prefix="supportbot-eval-") as tmp:
        where = {"data_dir": Path(tmp), "database_url": None, "chroma_url": None, "chroma_path": None}
        c = _prepared_container(base.model_copy(update=where | changes))
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
        typer.Option(help='JSONL: {"query": ..., "expected_id": ... or null}.', **ExistingFile),
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
            **path_option(file=True, writable=True),
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
            **ExistingFile,
        ),
    ],
    test: Annotated[
        Path,
        typer.Option(
            help="JSONL of the same form, measured before the first day and after each day.",
            **ExistingFile,
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
    user = _prepared_container()
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
            **ExistingFile,
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
            **path_option(file=True, writable=True),
        ),
    ] = None,
) -> None:
    """Score answers against references: ROUGE-L, faithfulness to the cited FAQ text, abstention, latency."""
    import tempfile

    from sqlalchemy import select

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
    user = _prepared_container(base)
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
        c = _prepared_container(
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
