"""The real Bolt app over HTTP on 127.0.0.1, against a local Slack Web API peer: the fixtures (loaded
for every test through `pytest_plugins` in tests/conftest.py) and the ids and secret they use."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from bot.container import Container
from bot.settings import Settings
from bot.slack.bot import SlackBot
from bot.slack.server import BackgroundServer, build, wsgi
from tests.slack.slack_peer import SlackPeer, SlackSender
from tests.support import SAMPLE_FAQ

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
ADMIN, ASKER, AGENT, MALLORY = "UADMIN", "UASKER", "UAGENT", "UMALLORY"
REVIEW, SUPPORT = "CREVIEW", "CSUPPORT"


@dataclass
class SlackHarness:
    peer: SlackPeer
    send: SlackSender
    container: Container
    bot: SlackBot
    url: str


@pytest.fixture
def slack_peer() -> Iterator[SlackPeer]:
    peer = SlackPeer()
    yield peer
    peer.close()


def serve(container: Container) -> tuple[SlackBot, str, BackgroundServer]:
    app, bot = build(container, http=True)
    server = BackgroundServer(wsgi(app, container))
    return bot, f"http://127.0.0.1:{server.port}", server


@pytest.fixture
def slack_settings(data_dir, model_path, slack_peer) -> Settings:
    return Settings(
        data_dir=data_dir,
        model_path=model_path,
        slack_bot_token="xoxb-test-token",
        slack_signing_secret=SECRET,
        slack_api_url=slack_peer.url,
        admin_users=[ADMIN],
        review_channel=REVIEW,
        support_channel=SUPPORT,
        review_mode="flagged",
        stream_update_interval_s=0.3,
    )


@pytest.fixture
def slack(slack_settings, slack_peer) -> Iterator[SlackHarness]:
    from retrieval.faq import load_faq

    container = Container(slack_settings)
    container.ensure_schema()
    container.index.import_items(load_faq(SAMPLE_FAQ))
    bot, url, server = serve(container)
    yield SlackHarness(slack_peer, SlackSender(url + "/slack/events", SECRET), container, bot, url)
    server.stop()
    bot.close(wait=True)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def slack_any_db(request, slack_settings, slack_peer) -> Iterator[SlackHarness]:
    """The ``slack`` harness on SQLite, then on a fresh PostgreSQL database (migrated): where
    PostgreSQL is stricter (varchar lengths, NUL characters) it is the one that fails."""
    from bot.db import migrate
    from retrieval.faq import load_faq

    settings = slack_settings
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
        migrate.upgrade(url)
        settings = slack_settings.model_copy(update={"database_url": url})
    container = Container(settings)
    container.ensure_schema()
    container.index.import_items(load_faq(SAMPLE_FAQ))
    bot, url, server = serve(container)
    yield SlackHarness(slack_peer, SlackSender(url + "/slack/events", SECRET), container, bot, url)
    server.stop()
    bot.close(wait=True)


def _shared_harness(database: str, folder, model_path) -> Iterator[SlackHarness]:
    """A ``slack`` harness made once for a module, for tests that send requests which change nothing
    (refused or ignored): the harness costs seconds to make, such requests milliseconds."""
    import os

    import sqlalchemy as sa

    from bot.db import migrate
    from retrieval.faq import load_faq
    from tests.support import POSTGRES_ADMIN_URL

    peer = SlackPeer()
    url, admin = None, None
    if database == "postgres":
        import uuid

        admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        name = f"supportbot_test_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
        migrate.upgrade(url)
    # Made before the per-test fixtures that isolate the environment: nothing is read from it.
    with pytest.MonkeyPatch.context() as mp:
        for key in [k for k in os.environ if k.startswith("SUPPORTBOT_")]:
            mp.delenv(key)
        settings = Settings(
            _env_file=None,
            data_dir=folder,
            database_url=url,
            model_path=model_path,
            tune_on_import=False,
            slack_bot_token="xoxb-test-token",
            slack_signing_secret=SECRET,
            slack_api_url=peer.url,
            admin_users=[ADMIN],
            review_channel=REVIEW,
            support_channel=SUPPORT,
            review_mode="flagged",
            stream_update_interval_s=0.3,
        )
    container = Container(settings)
    container.ensure_schema()
    container.index.import_items(load_faq(SAMPLE_FAQ))
    bot, base, server = serve(container)
    try:
        yield SlackHarness(peer, SlackSender(base + "/slack/events", SECRET), container, bot, base)
    finally:
        server.stop()
        bot.close(wait=True)
        container.close()
        peer.close()
        if admin is not None:
            from bot.db.session import get_engine

            get_engine(url).dispose()
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
            admin.dispose()


@pytest.fixture(scope="module")
def shared_slack(tmp_path_factory, model_path) -> Iterator[SlackHarness]:
    yield from _shared_harness("sqlite", tmp_path_factory.mktemp("shared-slack"), model_path)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def shared_slack_any_db(request, tmp_path_factory, model_path) -> Iterator[SlackHarness]:
    """``shared_slack`` on SQLite, then on a fresh PostgreSQL database (migrated)."""
    yield from _shared_harness(request.param, tmp_path_factory.mktemp("shared-slack"), model_path)
