"""A question recorded by a process that died before answering is answered by a live one, in the
same thread and in the placeholder the dead one had posted; and the final answer outlasts Slack
rate limiting and server errors."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.db.models import Answer, Message
from bot.settings import Settings
from bot.slack import blocks
from tests.slack.harness import ADMIN, REVIEW, SECRET, SUPPORT
from tests.slack.slack_peer import dm


@pytest.fixture
def slack_settings(data_dir, model_path, slack_peer) -> Settings:
    # Short lease and sweep so that recovery happens within the test; FAQ phrasings answered as written.
    return Settings(
        data_dir=data_dir,
        model_path=model_path,
        slack_bot_token="xoxb-test-token",
        slack_signing_secret=SECRET,
        slack_api_url=slack_peer.url,
        admin_users=[ADMIN],
        review_channel=REVIEW,
        support_channel=SUPPORT,
        stream_update_interval_s=0.3,
        answer_lease_s=6,
        recovery_interval_s=0.5,
        direct_answer_score=0.85,
    )


def test_a_question_whose_process_died_is_answered_in_its_placeholder(slack):
    peer, c = slack.peer, slack.container
    # What a process that died mid-answer leaves behind: the question recorded, a placeholder posted.
    received = c.answers.receive(
        "How do I reset my VPN password?",
        user_id="UASKER",
        source="slack",
        channel_id="D0DEAD",
        thread_ts="4000.0001",
        dedup_key="slack:D0DEAD:4000.0001",
        slack_ts="4000.0001",
    )
    placeholder = slack.bot.client.chat_postMessage(
        channel="D0DEAD", thread_ts="4000.0001", text=blocks.THINKING_TEXT
    )["ts"]
    c.answers.placeholder_posted(received, placeholder)

    final = peer.wait_for(
        lambda: peer.final_answers("D0DEAD", "4000.0001"), timeout=60, what="the recovered answer"
    )
    assert final[0].args["ts"] == placeholder and "Brightwater" in final[0].args["text"]
    assert len(peer.calls_to("chat.postMessage", channel="D0DEAD")) == 1  # no second placeholder
    with c.sessions() as s:
        (answer,) = s.scalars(select(Answer)).all()
        assert answer.question_message_id == received.message_id
        assert s.get(Message, received.message_id).answer_attempts == 1


def test_the_final_answer_outlasts_rate_limits_and_server_errors(slack):
    peer = slack.peer
    peer.fail("chat.update", 429, times=6, retry_after=1)  # more than slack_sdk retries on its own
    peer.fail("chat.update", 503, times=4)
    assert (
        slack.send.event(
            dm("UASKER", "How do I reset my VPN password?", ts="4100.0001", channel="D0RL"), event_id="EvRL1"
        ).status_code
        == 200
    )
    final = peer.wait_for(lambda: peer.final_answers("D0RL", "4100.0001"), timeout=90, what="the answer")
    assert len(final) == 1
    assert len(peer.calls_to("chat.update!429")) == 6 and len(peer.calls_to("chat.update!503")) == 4
