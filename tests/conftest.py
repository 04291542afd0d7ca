"""Shared fixtures: real SQLite and PostgreSQL, the real bundled model and embedder.

Expensive things (model install, embedder load) happen once per session.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.container import Container, quiet_libraries
from bot.settings import Settings
from tests.support import POSTGRES_ADMIN_URL, SAMPLE_FAQ, free_port

# Shared fixtures that live in their own modules (a test module may not import from a conftest):
# the CLI runner, the Slack harness (the real Bolt app over HTTP against the local Slack peer),
# which tests outside tests/slack use too, and Slack's socket-mode edges.
pytest_plugins = ["tests.cli_runner", "tests.slack.harness", "tests.slack.socket_peer"]

quiet_libraries()

# The fast tier (`make test-fast`: -m "not slow") stays fast only if slow tests are marked: a test
# that takes longer than this unmarked is named at the end of the run.
UNMARKED_SLOW_S = 5.0
_test_seconds: dict[str, float] = {}
_unmarked: set[str] = set()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when in ("setup", "call"):
        _test_seconds[report.nodeid] = _test_seconds.get(report.nodeid, 0.0) + report.duration
        if "slow" not in report.keywords:
            _unmarked.add(report.nodeid)


def pytest_terminal_summary(terminalreporter) -> None:
    over = sorted((n for n in _unmarked if _test_seconds[n] > UNMARKED_SLOW_S), key=_test_seconds.get)
    if over:
        terminalreporter.write_sep("-", f"over {UNMARKED_SLOW_S:.0f} s but not marked slow (mark them)")
        for nodeid in reversed(over):
            terminalreporter.write_line(f"{_test_seconds[nodeid]:6.1f} s  {nodeid}")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's .env or SUPPORTBOT_* variables by accident."""
    for key in list(os.environ):
        if key.startswith("SUPPORTBOT_") and key != "SUPPORTBOT_TEST_POSTGRES_URL":
            monkeypatch.delenv(key)
    # Tuning the embedder on import costs ~45 s a time on 2 cores; tests that import a FAQ through the
    # CLI would pay it dozens of times. tests/test_cli.py::test_import_tunes_the_embedder_by_default
    # runs the default; tests/retrieval/test_index.py tests tuning itself.
    monkeypatch.setenv("SUPPORTBOT_TUNE_ON_IMPORT", "false")
    # The bundled model does not earn generating under the default (SUPPORTBOT_GENERATION=earned:
    # docs/benchmarks.md), so by default every answer would be the FAQ text and the tests of the
    # generation path (streaming, the guard, busy/timeout fallbacks) would test nothing. They run
    # with generation on; tests/services/test_model_check.py tests the default.
    monkeypatch.setenv("SUPPORTBOT_GENERATION", "always")
    monkeypatch.chdir(tmp_path)


@pytest.fixture(autouse=True)
def _close_containers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every Container a test makes is closed after it: a loaded model left behind by each test
    would pile up in the one pytest process (ctransformers crashed once ~30 were loaded)."""
    made: list[Container] = []
    real_init = Container.__init__

    def init(self, *args, **kwargs) -> None:
        real_init(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(Container, "__init__", init)
    yield
    for c in made:
        c.close()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    return d


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh database on the machine's real PostgreSQL, dropped afterwards."""
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"supportbot_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL} (start it; .ci/run does): {exc}")
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    yield url
    from bot.db.session import get_engine

    get_engine(url).dispose()
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def model_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled model, installed once: a data dir whose SQLite has the base version registered."""
    from bot.llm.registry import install_base_model

    d = tmp_path_factory.mktemp("model-store")
    settings = Settings(data_dir=d)
    c = Container(settings)
    c.ensure_schema()
    with c.sessions() as session:
        install_base_model(session, settings.models_dir)
        session.commit()
    # Fold the WAL into the main file so tests can copy supportbot.db alone.
    with c.sessions() as session:
        session.execute(sa.text("PRAGMA wal_checkpoint(TRUNCATE)"))
    return d


@pytest.fixture(scope="session")
def model_path(model_store: Path) -> Path:
    (path,) = (model_store / "models").glob("base-*.gguf")
    return path


@pytest.fixture(scope="session")
def runtime(model_path: Path):
    from bot.llm.ctransformers_runtime import CTransformersRuntime

    return CTransformersRuntime(model_path, threads=2, context_length=2048)


@pytest.fixture(scope="session")
def embedder():
    from retrieval.embedder import get_embedder

    return get_embedder(None)


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Chroma server, started from the chromadb package on 127.0.0.1."""
    import subprocess
    import sys
    import time
    import urllib.request

    port = free_port()
    exe = Path(sys.executable).with_name("chroma")
    log = open(tmp_path_factory.mktemp("chroma-log") / "server.log", "w+")
    proc = subprocess.Popen(
        [
            str(exe),
            "run",
            "--path",
            str(tmp_path_factory.mktemp("chroma-server")),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1)
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                pytest.fail(f"chroma server did not start: {log.read()[-2000:]}")
            time.sleep(0.2)
    yield url
    proc.terminate()
    proc.wait(timeout=10)
    log.close()


@pytest.fixture(params=["embedded", "server"])
def store_kind(request) -> str:
    return request.param


@pytest.fixture
def settings(request, data_dir: Path, model_path: Path) -> Settings:
    """Embedded defaults in a fresh data dir, serving the session's installed model. Tests that
    ask for ``store_kind`` run twice: embedded Chroma and a Chroma server."""
    extra = {}
    if "store_kind" in request.fixturenames and request.getfixturevalue("store_kind") == "server":
        # one collection per test on the shared server
        extra = {
            "chroma_url": request.getfixturevalue("chroma_server"),
            "chroma_collection": f"t{uuid.uuid4().hex[:16]}",
        }
    return Settings(data_dir=data_dir, model_path=model_path, **extra)


@pytest.fixture
def container(settings: Settings) -> Container:
    c = Container(settings)
    c.ensure_schema()
    return c


@pytest.fixture(scope="session")
def sample_faq_items():
    from retrieval.faq import load_faq

    return load_faq(SAMPLE_FAQ)


@pytest.fixture
def sample_index(container: Container):
    from retrieval.faq import load_faq

    container.index.import_items(load_faq(SAMPLE_FAQ))
    return container.index
