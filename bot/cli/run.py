"""The top-level commands: ``ask``, ``serve``, ``worker``, ``stats`` and ``healthcheck``."""

from __future__ import annotations

import json
import time
from enum import StrEnum
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from bot.cli._common import (
    MAX_USER_ID_CHARS,
    STARTED,
    JsonOutput,
    _prepared_container,
    _settings,
    _text_option,
    fail,
    out,
)

__all__ = ["run_app"]

# Added to the root app without a name (bot/cli/__init__.py): its commands are top-level ones.
run_app = typer.Typer()


def _host(value: str) -> str:
    # Checked with the command line, not when binding: that comes after Slack's checks and the embedders.
    from bot.settings import check_host

    if value == "":
        return value  # every interface, as with SUPPORTBOT_METRICS_HOST
    try:
        return check_host(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


@run_app.command()
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

    c = _prepared_container()
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


@run_app.command()
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
    host: Annotated[str, typer.Option(help="Interface for --http.", callback=_host)] = "0.0.0.0",
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
    c = _prepared_container()
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


@run_app.command()
def worker(log_format: LogFormat = None) -> None:
    """Run the scheduler: the nightly fine-tune at SUPPORTBOT_FINETUNE_TIME (SUPPORTBOT_FINETUNE_TIMEZONE).
    Serves /healthz, /readyz and /metrics on SUPPORTBOT_WORKER_METRICS_PORT."""
    from bot.worker import run_worker

    _logging(log_format)
    c = _prepared_container()
    run_worker(c.settings)


@run_app.command()
def stats(
    days: Annotated[int, typer.Option(min=1, max=366, help="How many days, today included (UTC).")] = 7,
    top: Annotated[int, typer.Option(min=0, max=100, help="How many unanswered topics to list.")] = 5,
    as_json: JsonOutput = False,
) -> None:
    """Questions per day, share answered without a human, top unanswered topics, approval rate."""
    c = _prepared_container()
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


@run_app.command()
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
