"""``supportbot finetune``: the nightly fine-tune of the model on approved transcripts."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.text import Text

from bot.cli._common import JsonOutput, _prepared_container, _progress, bold, out

__all__ = ["finetune_app"]

finetune_app = typer.Typer(
    help="Nightly learning: fine-tune the model on approved transcripts.", no_args_is_help=True
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

    c = _prepared_container()
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
        # Styles as Text: the consoles print markup as it is (bot/cli/_common.py).
        out.print(
            Text.assemble(
                f"Run {report.run_id or '-'}: ",
                bold(report.status),
                f" in {report.duration_s:.0f}s. {report.message}",
            ),
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
                Text.assemble(
                    "  Promoted ",
                    bold(report.candidate_version),
                    f"; serving processes switch within {c.settings.model_poll_seconds:.0f}s.",
                )
            )
    if report.status == "failed":
        raise typer.Exit(1)
