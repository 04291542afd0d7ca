"""The Bolt app and its two transports.

HTTP events (``/slack/events``) for scale-out behind a load balancer: ``bot.slack.http_guard``
verifies every request before Bolt parses it (405 not a POST, 413 over 1 MiB, 401 bad signature or
a timestamp outside five minutes, 400 a payload the listeners cannot take). Socket mode (app-level
token) for internal installs with no public URL. Both run the same listeners, and both serve the
ops endpoints (``/healthz``, ``/readyz``, ``/metrics``) on ``SUPPORTBOT_METRICS_PORT``.
"""

from __future__ import annotations

import logging
import signal
import threading
import uuid
from collections.abc import Callable

from slack_bolt import App, BoltRequest, BoltResponse

from bot.container import Container
from bot.observability.http import BackgroundServer, database_check, health_routes, serve_ops
from bot.observability.logs import request_scope
from bot.settings import Settings
from bot.slack import listeners, payload
from bot.slack.bot import SlackBot, web_client
from bot.slack.http_guard import SlackEventsGuard

__all__ = [
    "BackgroundServer",
    "SlackConfigError",
    "build",
    "check_config",
    "serve_http",
    "serve_socket",
    "wsgi",
]

log = logging.getLogger(__name__)
BOLT_LOG_LIMIT = 300  # characters of one slack_bolt log message


class SlackConfigError(RuntimeError):
    pass


def check_config(s: Settings, *, http: bool) -> None:
    if not s.slack_bot_token:
        raise SlackConfigError("SUPPORTBOT_SLACK_BOT_TOKEN is not set (the bot token, xoxb-...).")
    if http and not s.slack_signing_secret:
        raise SlackConfigError("SUPPORTBOT_SLACK_SIGNING_SECRET is required for HTTP events.")
    if not http and not s.slack_app_token:
        raise SlackConfigError(
            "SUPPORTBOT_SLACK_APP_TOKEN (xapp-...) is required for socket mode; "
            "or use --http with a signing secret."
        )


def build(container: Container, *, http: bool) -> tuple[App, SlackBot]:
    s = container.settings
    check_config(s, http=http)
    client = web_client(s.slack_bot_token.get_secret_value(), s.slack_api_url)
    bot = SlackBot(container, client)
    app = TracedApp(
        client=client,
        signing_secret=s.slack_signing_secret.get_secret_value() if s.slack_signing_secret else None,
        request_verification_enabled=http,
        # Listeners record the question before returning, so the ack means "durably received".
        process_before_response=True,
        logger=logging.getLogger("slack_bolt"),
    )
    # Before any listener: payloads of a shape the listeners cannot take are refused (HTTP checks
    # them earlier still, in http_guard; this covers socket mode), and text loses what SQL cannot store.
    app.middleware(checked_payload)
    listeners.register(app, bot)
    shorten_bolt_logs()
    return app, bot


def checked_payload(req: BoltRequest, next: Callable[[], None]) -> BoltResponse | None:
    try:
        payload.check(req.body)
    except payload.BadPayload as exc:
        log.info("refused a Slack payload (%s): %s", payload.describe(req.body), exc)
        if req.mode == "socket_mode":  # acked and dropped: an envelope left unacked is only redelivered
            return BoltResponse(status=200, body="")
        return BoltResponse(status=400, body=f"bad request: {exc}\n")
    payload.clean(req.body)
    return next()


class _ShortRecords(logging.Filter):
    """Bolt puts whole request bodies in some log messages (a failed signature check at INFO, a
    skipped self event at DEBUG): each message is cut to ``BOLT_LOG_LIMIT`` characters."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if len(message) > BOLT_LOG_LIMIT:
            record.msg, record.args = f"{message[:BOLT_LOG_LIMIT]}... ({len(message)} characters)", None
        return True


_SHORT_RECORDS = _ShortRecords()


def shorten_bolt_logs() -> None:
    """On every slack_bolt logger: Bolt makes one per middleware and matcher, and a filter on the
    parent does not apply to records its children log."""
    names = ["slack_bolt"] + [n for n in logging.root.manager.loggerDict if n.startswith("slack_bolt.")]
    for name in names:
        logger = logging.getLogger(name)
        if _SHORT_RECORDS not in logger.filters:
            logger.addFilter(_SHORT_RECORDS)


class TracedApp(App):
    """Every log line of one Slack event or interaction carries a request id: Slack's event id (or the
    interaction's trigger id), so a line can be matched with Slack's side, else a fresh one.

    Set around ``dispatch``, which both transports call and which runs the listeners before it returns
    (``process_before_response``); global middleware would be too early, it returns before listeners run.
    """

    def dispatch(self, req: BoltRequest) -> BoltResponse:
        body = req.body if isinstance(req.body, dict) else {}
        with request_scope(body.get("event_id") or body.get("trigger_id") or uuid.uuid4().hex):
            return super().dispatch(req)

    def _handle_unmatched_requests(self, req: BoltRequest, resp: BoltResponse) -> BoltResponse:
        # Bolt's own warning prints the whole body and a code sample to handle it.
        self._framework_logger.warning("no listener for this Slack request (%s)", payload.describe(req.body))
        return resp


def wsgi(app: App, container: Container) -> Callable:
    """``/slack/events`` for Slack (behind ``SlackEventsGuard``), ``/healthz`` (alive) and
    ``/readyz`` (database reachable)."""
    secret = container.settings.slack_signing_secret
    if not secret:
        raise SlackConfigError("SUPPORTBOT_SLACK_SIGNING_SECRET is required for HTTP events.")
    slack = SlackEventsGuard(app, secret.get_secret_value(), path="/slack/events")
    health = health_routes({"database": database_check(container.sessions)})

    def application(environ, start_response):
        answered = health(environ, start_response)
        return answered if answered is not None else slack(environ, start_response)

    return application


def serve_ops_for(container: Container, **more_checks: Callable[[], None]) -> BackgroundServer | None:
    s = container.settings
    checks = {"database": database_check(container.sessions), **more_checks}
    return serve_ops(container.metrics.registry, checks, s.metrics_host, s.metrics_port)


def serve_http(container: Container, host: str, port: int, threads: int = 16) -> None:
    import waitress

    app, bot = build(container, http=True)
    ops = serve_ops_for(container)
    log.info("serving Slack events on http://%s:%d/slack/events", host, port)
    try:
        waitress.serve(
            wsgi(app, container),
            host=host,
            port=port,
            threads=threads,
            ident="supportbot",
            asyncore_use_poll=True,
        )  # select() fails past fd 1024
    finally:
        if ops:
            ops.stop()
        bot.close()


def serve_socket(container: Container, stop: threading.Event | None = None) -> None:
    """Socket mode until ``stop`` is set; by default SIGTERM or SIGINT sets it (``docker stop``), so
    answers in progress are finished and the socket is closed before the process ends."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    app, bot = build(container, http=False)
    handler = SocketModeHandler(app, container.settings.slack_app_token.get_secret_value())

    def slack_connected() -> None:
        if not handler.client.is_connected():
            raise ConnectionError("not connected to Slack (socket mode)")

    ops = serve_ops_for(container, slack=slack_connected)
    stop = stop or _stop_on_signals()
    try:
        handler.connect()
        log.info("connected to Slack in socket mode")
        stop.wait()
    finally:
        handler.close()
        if ops:
            ops.stop()
        bot.close()


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    return stop
