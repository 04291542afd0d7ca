"""The ops endpoints every long-running process serves: ``/healthz``, ``/readyz``, ``/metrics``.

``/healthz``: the process is alive. ``/readyz``: each named check passes (database reachable, Slack
connected, scheduler running); a failing one answers 503 and says which. ``/metrics``: the process's
Prometheus registry. They listen on their own port, apart from Slack's ``/slack/events``, so a
public load balancer in front of the bot never exposes the figures.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping

from prometheus_client import CollectorRegistry, make_wsgi_app
from sqlalchemy import text

log = logging.getLogger(__name__)
Check = Callable[[], None]  # raises when not ready


def plain(start_response, status: str, body: str) -> Iterable[bytes]:
    start_response(status, [("content-type", "text/plain; charset=utf-8")])
    return [body.encode()]


def database_check(sessions) -> Check:
    def check() -> None:
        with sessions() as session:
            session.execute(text("SELECT 1"))

    return check


def health_routes(checks: Mapping[str, Check]) -> Callable:
    """A WSGI app answering /healthz and /readyz, or None for any other path (the caller routes it)."""

    def application(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":
            return plain(start_response, "200 OK", "ok\n")
        if path == "/readyz":
            for name, check in checks.items():
                try:
                    check()
                except Exception as exc:
                    return plain(
                        start_response, "503 Service Unavailable", f"{name}: {type(exc).__name__}: {exc}\n"
                    )
            return plain(start_response, "200 OK", "ready\n")
        return None

    return application


def ops_app(registry: CollectorRegistry, checks: Mapping[str, Check]) -> Callable:
    health = health_routes(checks)
    metrics = make_wsgi_app(registry)

    def application(environ, start_response):
        answered = health(environ, start_response)
        if answered is not None:
            return answered
        if environ.get("PATH_INFO", "") == "/metrics":
            return metrics(environ, start_response)
        return plain(start_response, "404 Not Found", "not found: try /healthz, /readyz or /metrics\n")

    return application


class OpsPortInUse(RuntimeError):
    pass


class BackgroundServer:
    """A waitress server on its own thread (the ops port, tests, embedding the bot in another process)."""

    def __init__(self, application: Callable, host: str = "127.0.0.1", port: int = 0, threads: int = 8):
        import waitress

        try:
            self.server = waitress.create_server(
                application, host=host, port=port, threads=threads, asyncore_use_poll=True
            )  # select() fails past fd 1024
        except OSError as exc:
            raise OpsPortInUse(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
        self.port = int(self.server.effective_port)
        self.thread = threading.Thread(target=self.server.run, name=f"http-{self.port}", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        # Close the sockets from the server's own loop, so it exits cleanly.
        self.server.task_dispatcher.shutdown()
        close_all = lambda: [ch.close() for ch in list(self.server._map.values())]  # noqa: E731
        try:
            self.server.trigger.pull_trigger(close_all)
        except OSError:  # the loop already closed its trigger (seen in CI): nothing runs it, close here
            close_all()
        self.thread.join(timeout=10)


def serve_ops(
    registry: CollectorRegistry,
    checks: Mapping[str, Check],
    host: str,
    port: int,
    setting: str = "SUPPORTBOT_METRICS_PORT",
) -> BackgroundServer | None:
    """Start the ops endpoints; None when the port is taken. The process goes on without them
    (answering Slack matters more than being scraped), and says so loudly: in a container the
    health check then fails, which is where someone will look."""
    try:
        server = BackgroundServer(ops_app(registry, checks), host=host, port=port, threads=4)
    except OpsPortInUse as exc:
        log.error("no /healthz, /readyz or /metrics: %s (set %s)", exc, setting)
        return None
    log.info("ops endpoints on http://%s:%d/ (healthz, readyz, metrics)", host, server.port)
    return server
