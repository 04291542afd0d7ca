"""The Bolt app and its two transports.

HTTP events (``/slack/events``) for scale-out behind a load balancer: ``bot.slack.http_guard``
verifies every request before Bolt parses it (405 not a POST, 413 over 1 MiB, 401 bad signature or
a timestamp outside five minutes, 400 a payload the listeners cannot take). Socket mode (app-level
token) for internal installs with no public URL. Both run the same listeners, and both serve the
ops endpoints (``/healthz``, ``/readyz``, ``/metrics``) on ``SUPPORTBOT_METRICS_PORT``. On SIGTERM
both finish the answers in progress before the process ends (HTTP: within
``SUPPORTBOT_DRAIN_TIMEOUT_S``).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable

from slack_bolt import App, BoltRequest, BoltResponse

from bot.container import Container
from bot.observability.http import BackgroundServer, database_check, health_routes, serve_ops
from bot.observability.logs import request_scope
from bot.settings import Settings
from bot.slack import listeners, payload
from bot.slack.bot import SlackBot, web_client
from bot.slack.http_guard import MAX_BODY_BYTES, SlackEventsGuard

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
DRAIN_TIMEOUT_S = 25.0  # the default of SUPPORTBOT_DRAIN_TIMEOUT_S
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


def warm_up(container: Container) -> None:
    """Load the embedders (and heal the index) before the first question, once ``build`` has had
    Slack accept the bot token (Bolt's auth.test): a wrong token or an unreachable Slack API then
    fails start-up at once, not after the seconds spent loading models."""
    container.index.warm_up()


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


def serve_http(
    container: Container,
    host: str,
    port: int,
    threads: int = 16,
    stop: threading.Event | None = None,
    drain_timeout_s: float | None = None,
) -> bool:
    """Serve until ``stop`` is set, by default on SIGTERM or SIGINT (``docker stop``). Then drain:
    no new connections, the requests in progress answered, the answers in progress finished, all
    within ``drain_timeout_s`` (``SUPPORTBOT_DRAIN_TIMEOUT_S``). Returns whether everything
    finished; when the signals stop it and something did not, the process exits with status 1
    rather than wait (what is left is answered again once its lease runs out)."""
    app, bot = build(container, http=True)
    warm_up(container)
    timeout = drain_timeout_s if drain_timeout_s is not None else drain_timeout(container.settings)
    own_process = stop is None
    stop = stop or _stop_on_signals()

    def not_stopping() -> None:
        if stop.is_set():
            raise RuntimeError("stopping: finishing the answers in progress")

    ops = serve_ops_for(container, serving=not_stopping)
    server = DrainingServer(wsgi(app, container), host, port, threads=threads)
    log.info("serving Slack events on http://%s:%d/slack/events", host, server.port)
    try:
        while not stop.wait(1.0):
            if not server.thread.is_alive():
                log.error("the HTTP server stopped by itself; stopping")
                break
    finally:
        drained = drain(server, bot, timeout)
        if ops:
            ops.stop()
    if own_process and not drained:
        logging.shutdown()  # flush what the handlers hold: the answering threads are not waited for
        os._exit(1)
    return drained


def drain_timeout(settings: Settings) -> float:
    return float(getattr(settings, "drain_timeout_s", DRAIN_TIMEOUT_S))


def drain(server: DrainingServer, bot: SlackBot, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    log.info(
        "stopping: no new requests; finishing those and the answers in progress (at most %.0f s)", timeout
    )
    server.stop_accepting()
    requests_done = server.wait_idle(deadline)
    server.close()
    # SlackBot.close(wait=True) waits without a bound; it waits on its own thread, for the time left.
    closing = threading.Thread(target=bot.close, kwargs={"wait": True}, name="drain", daemon=True)
    closing.start()
    closing.join(max(0.0, deadline - time.monotonic()))
    if closing.is_alive() or not requests_done:
        log.warning(
            "stopped after %.0f s with work unfinished; unanswered questions are answered again "
            "(by any process) once their leases run out",
            timeout,
        )
        return False
    log.info("stopped: every answer in progress was finished")
    return True


class DrainingServer:
    """waitress on its own thread, stopped in order: first the listening socket (new connections
    are refused), then, once the requests in progress are answered, the connections."""

    def __init__(self, application: Callable, host: str, port: int, threads: int = 16):
        import waitress

        self.server = waitress.create_server(
            application,
            host=host,
            port=port,
            threads=threads,
            ident="supportbot",
            asyncore_use_poll=True,  # select() fails past fd 1024
            # waitress refuses bigger bodies (413) before buffering them; the guard checks again.
            max_request_body_size=MAX_BODY_BYTES + 1,
        )
        self.port = int(self.server.effective_port)
        self.thread = threading.Thread(target=self.server.run, name=f"http-{self.port}", daemon=True)
        self.thread.start()

    def _in_loop(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the server's own thread: asyncore's socket map is not thread-safe."""
        self.server.trigger.pull_trigger(fn)

    def stop_accepting(self) -> None:
        from waitress import wasyncore

        self._in_loop(lambda: wasyncore.dispatcher.close(self.server))  # the listening socket only

    def busy(self) -> bool:
        from waitress.channel import HTTPChannel

        tasks = self.server.task_dispatcher
        with tasks.lock:
            if tasks.queue or tasks.active_count:
                return True
        channels = [c for c in list(self.server._map.values()) if isinstance(c, HTTPChannel)]
        return any(c.request is not None or c.requests or c.total_outbufs_len for c in channels)

    def wait_idle(self, deadline: float) -> bool:
        while time.monotonic() < deadline:
            if not self.busy():
                return True
            time.sleep(0.05)
        return not self.busy()

    def close(self) -> None:
        self.server.task_dispatcher.shutdown(cancel_pending=True, timeout=1)
        self._in_loop(lambda: [c.close() for c in list(self.server._map.values())])
        self.thread.join(timeout=5)


def serve_socket(container: Container, stop: threading.Event | None = None) -> None:
    """Socket mode until ``stop`` is set; by default SIGTERM or SIGINT sets it (``docker stop``), so
    answers in progress are finished and the socket is closed before the process ends."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    app, bot = build(container, http=False)
    warm_up(container)
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
