"""Socket mode end to end: the real Bolt app and slack_sdk's SocketModeHandler against local peers.

Slack is faked at both of its socket-mode edges (tests/slack/socket_peer.py, a shared plugin): the
websocket server Slack's side of the socket runs, and the Web API peer that hands out its URL.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from slack_bolt.adapter.socket_mode import SocketModeHandler
from sqlalchemy import select

from bot.container import Container
from bot.db.models import Message
from bot.settings import Settings
from bot.slack.bot import SlackBot
from bot.slack.listeners.commands import USAGE
from bot.slack.server import build
from tests.slack.harness import ADMIN, ASKER, REVIEW, SUPPORT
from tests.slack.slack_peer import BOT_USER, dm
from tests.slack.socket_peer import APP_TOKEN, ConnectingSlackPeer, SocketModePeer, events_api, slash_command
from tests.support import SAMPLE_FAQ

pytestmark = pytest.mark.slow  # over ~2 s each here: `make test-fast` leaves them out


@dataclass
class SocketHarness:
    peer: ConnectingSlackPeer
    socket: SocketModePeer
    container: Container
    bot: SlackBot
    handler: SocketModeHandler


@pytest.fixture
def socket_settings(data_dir, model_path, socket_slack_peer) -> Settings:
    # No signing secret: socket mode needs only the bot token and the app-level token. The questions
    # below are FAQ phrasings, sent as written (direct_answer_score): this module tests the transport,
    # test_conversations.py the model's answers over the same listeners.
    return Settings(
        data_dir=data_dir,
        model_path=model_path,
        slack_bot_token="xoxb-test-token",
        slack_app_token=APP_TOKEN,
        slack_api_url=socket_slack_peer.url,
        admin_users=[ADMIN],
        review_channel=REVIEW,
        support_channel=SUPPORT,
        review_mode="flagged",
        stream_update_interval_s=0.3,
        direct_answer_score=0.85,
    )


@pytest.fixture
def socket_mode(socket_settings, socket_slack_peer, socket_peer) -> Iterator[SocketHarness]:
    from retrieval.faq import load_faq

    container = Container(socket_settings)
    container.ensure_schema()
    container.index.import_items(load_faq(SAMPLE_FAQ))
    app, bot = build(container, http=False)
    handler = SocketModeHandler(app, socket_settings.slack_app_token.get_secret_value())
    handler.connect()  # returns once connected; listening runs on the client's own threads
    socket_peer.wait_connected()
    yield SocketHarness(socket_slack_peer, socket_peer, container, bot, handler)
    handler.close()
    socket_peer.close()  # before the bot's pool: nothing may arrive once answering stops
    bot.close(wait=True)


def test_dm_over_the_socket_is_acked_after_recording_and_answered_once(socket_mode):
    peer, socket = socket_mode.peer, socket_mode.socket
    opened = peer.calls_to("apps.connections.open")
    assert [c.args["token_type"] for c in opened] == ["xapp"]  # the app-level token, not the bot token
    assert socket_mode.handler.client.is_connected()

    envelope = events_api(dm(ASKER, "How do I reset my VPN password?", ts="1000.0001"), event_id="EvSOCK1")
    sent = time.monotonic()
    socket.send(envelope)
    ack = socket.wait_ack(envelope["envelope_id"])
    assert ack == {"envelope_id": envelope["envelope_id"]}  # events take no response payload
    assert time.monotonic() - sent < 3
    with socket_mode.container.sessions() as s:  # recorded before the ack
        question = s.scalar(select(Message).where(Message.role == "user"))
        assert question.slack_ts == "1000.0001" and question.user_id == ASKER

    # Slack redelivers when an ack is late: the same envelope again, then a retry with a new envelope.
    socket.send(envelope)
    retry = events_api(
        envelope["payload"]["event"], event_id="EvSOCK1", retry_attempt=1, retry_reason="timeout"
    )
    socket.send(retry)
    socket.wait(
        lambda: len(socket.acks(envelope["envelope_id"])) == 2 and socket.acks(retry["envelope_id"]),
        what="acks of both redeliveries",
    )

    placeholder = peer.wait_for(
        lambda: peer.calls_to("chat.postMessage", channel="D0USER1"), what="the placeholder"
    )[0]
    assert placeholder.args["thread_ts"] == "1000.0001"
    final = peer.wait_for(lambda: peer.final_answers("D0USER1", "1000.0001"), what="the answer")
    assert final[0].args["ts"] == placeholder.ts and "VPN uses your Brightwater" in final[0].args["text"]
    time.sleep(1.0)
    assert len(peer.final_answers("D0USER1")) == 1
    assert len(peer.calls_to("chat.postMessage", channel="D0USER1")) == 1
    with socket_mode.container.sessions() as s:
        assert [m.role for m in s.scalars(select(Message).order_by(Message.id))] == ["user", "bot"]


def test_slash_command_over_the_socket_is_answered_in_its_thread(socket_mode):
    peer, socket = socket_mode.peer, socket_mode.socket
    empty = slash_command("/ask", "  ", ASKER, "CGENERAL")
    socket.send(empty)
    assert socket.wait_ack(empty["envelope_id"]) == {
        "envelope_id": empty["envelope_id"],
        "payload": {"text": USAGE},
    }

    command = slash_command("/ask", "How do I reset my VPN password?", ASKER, "CGENERAL")
    socket.send(command)
    assert socket.wait_ack(command["envelope_id"]) == {"envelope_id": command["envelope_id"]}
    question_post = peer.calls_to("chat.postMessage", channel="CGENERAL")[0]  # posted before the ack
    assert "asked" in question_post.args["text"] and "thread_ts" not in question_post.args
    final = peer.wait_for(lambda: peer.final_answers("CGENERAL", question_post.ts), what="the answer")
    assert len(final) == 1


def test_a_refresh_request_reconnects_and_events_keep_flowing(socket_mode):
    peer, socket = socket_mode.peer, socket_mode.socket
    # Slack asks clients to move to a fresh connection every few hours.
    socket.send(
        {"type": "disconnect", "reason": "refresh_requested", "debug_info": {"host": "applink-local"}}
    )
    socket.wait_connected(2)
    assert len(peer.calls_to("apps.connections.open")) == 2
    mention = {
        "type": "app_mention",
        "channel": "CGENERAL",
        "user": ASKER,
        "text": f"<@{BOT_USER}> Where can I find my payslip?",
        "ts": "2000.0001",
    }
    envelope = events_api(mention)
    socket.send(envelope, connection=2)
    socket.wait_ack(envelope["envelope_id"])
    assert [n for n, m in socket.received if m.get("envelope_id") == envelope["envelope_id"]] == [2]
    final = peer.wait_for(lambda: peer.final_answers("CGENERAL", "2000.0001"), what="the answer")
    assert "Personio" in final[0].args["text"]
