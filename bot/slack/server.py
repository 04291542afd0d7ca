"""The Bolt app and its two transports.

HTTP events (``/slack/events``) for scale-out behind a load balancer: Bolt verifies every request's
signature and rejects timestamps older than five minutes (401). Socket mode (app-level token) for
internal installs with no public URL. Both run the same listeners.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from sqlalchemy import text

from bot.container import Container
from bot.settings import Settings
from bot.slack import listeners
from bot.slack.bot import SlackBot, web_client

log = logging.getLogger(__name__)


class SlackConfigError(RuntimeError):
    pass


def check_config(s: Settings, *, http: bool) -> None:
    if not s.slack_bot_token:
        raise SlackConfigError("SUPPORTBOT_SLACK_BOT_TOKEN is not set (the bot token, xoxb-...).")
    if http and not s.slack_signing_secret:
        raise SlackConfigError("SUPPORTBOT_SLACK_SIGNING_SECRET is required for HTTP events.")
    if not http and not s.slack_app_token:
        raise SlackConfigError("SUPPORTBOT_SLACK_APP_TOKEN (xapp-...) is required for socket mode; "
                               "or use --http with a signing secret.")


def build(container: Container, *, http: bool) -> tuple[App, SlackBot]:
    s = container.settings
    check_config(s, http=http)
    client = web_client(s.slack_bot_token.get_secret_value(), s.slack_api_url)
    bot = SlackBot(container, client)
    app = App(
        client=client,
        signing_secret=s.slack_signing_secret.get_secret_value() if s.slack_signing_secret else None,
        request_verification_enabled=http,
        # Listeners record the question before returning, so the ack means "durably received".
        process_before_response=True,
        logger=logging.getLogger("slack_bolt"),
    )
    listeners.register(app, bot)
    return app, bot


def wsgi(app: App, container: Container) -> Callable:
    """``/slack/events`` for Slack, ``/healthz`` (alive) and ``/readyz`` (database reachable)."""
    slack = SlackRequestHandler(app, path="/slack/events")

    def plain(start_response, status: str, body: str) -> Iterable[bytes]:
        start_response(status, [("content-type", "text/plain; charset=utf-8")])
        return [body.encode()]

    def application(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":
            return plain(start_response, "200 OK", "ok\n")
        if path == "/readyz":
            try:
                with container.sessions() as session:
                    session.execute(text("SELECT 1"))
            except Exception as exc:
                return plain(start_response, "503 Service Unavailable", f"database: {type(exc).__name__}\n")
            return plain(start_response, "200 OK", "ready\n")
        return slack(environ, start_response)

    return application


class BackgroundServer:
    """A waitress server on its own thread (tests, and embedding the bot in another process)."""

    def __init__(self, application: Callable, host: str = "127.0.0.1", port: int = 0, threads: int = 8):
        import threading

        import waitress

        self.server = waitress.create_server(application, host=host, port=port, threads=threads)
        self.port = self.server.effective_port
        self.thread = threading.Thread(target=self.server.run, name="http", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        # Close the sockets from the server's own loop, so it exits cleanly.
        self.server.task_dispatcher.shutdown()
        self.server.trigger.pull_trigger(lambda: [ch.close() for ch in list(self.server._map.values())])
        self.thread.join(timeout=10)


def serve_http(container: Container, host: str, port: int, threads: int = 16) -> None:
    import waitress

    app, bot = build(container, http=True)
    log.info("serving Slack events on http://%s:%d/slack/events", host, port)
    try:
        waitress.serve(wsgi(app, container), host=host, port=port, threads=threads, ident="supportbot")
    finally:
        bot.close()


def serve_socket(container: Container) -> None:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    app, bot = build(container, http=False)
    try:
        SocketModeHandler(app, container.settings.slack_app_token.get_secret_value()).start()
    finally:
        bot.close()
