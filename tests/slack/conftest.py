"""The real Bolt app over HTTP on 127.0.0.1, against a local Slack Web API peer."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from bot.container import Container
from bot.settings import Settings
from bot.slack.bot import SlackBot
from bot.slack.server import BackgroundServer, build, wsgi
from tests.conftest import SAMPLE_FAQ
from tests.slack.slack_peer import SlackPeer, SlackSender

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
