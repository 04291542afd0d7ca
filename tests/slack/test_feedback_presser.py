"""In a channel anyone can press the buttons under someone's answer: each press is recorded as who
made it, and only the asker's counts (App Home's figures, /metrics) or sends the answer to review."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from bot.db.models import Answer, Feedback, Handoff, Message
from bot.slack import blocks
from tests.slack.harness import ADMIN, ASKER, MALLORY, REVIEW, SUPPORT
from tests.slack.slack_peer import BOT_USER, button_click

pytestmark = pytest.mark.slow  # over ~2 s each here: `make test-fast` leaves them out

CHANNEL = "C0GENERAL"


def _ask_in_channel(slack, ts: str) -> tuple[int, str]:
    # One of the FAQ's own questions, answered as written: no model needed for what is tested here.
    slack.container.settings.direct_answer_score = 0.85
    slack.send.event(
        {
            "type": "app_mention",
            "channel": CHANNEL,
            "user": ASKER,
            "text": f"<@{BOT_USER}> How do I reset my VPN password?",
            "ts": ts,
        }
    )
    final = slack.peer.wait_for(lambda: slack.peer.final_answers(CHANNEL, ts), what="the answer")[0]
    with slack.container.sessions() as s:
        answer_id = s.scalar(
            select(Answer.id)
            .join(Message, Message.id == Answer.question_message_id)
            .where(Message.slack_ts == ts)
        )
    return answer_id, final.args["ts"]


def _note(slack, user: str) -> str:
    return slack.peer.wait_for(lambda: slack.peer.calls_to("chat.postEphemeral", user=user), what="the note")[
        -1
    ].args["text"]


def _counted(slack, kind: str) -> float:
    return (
        slack.container.metrics.registry.get_sample_value("supportbot_feedback_total", {"kind": kind}) or 0.0
    )


def test_only_the_askers_feedback_counts(slack):
    answer_id, msg_ts = _ask_in_channel(slack, "5000.0001")

    # A bystander's "not helpful": kept, flagged, not counted, and no review post for it.
    slack.send.interaction(button_click(blocks.NOT_HELPFUL, str(answer_id), MALLORY, CHANNEL, msg_ts))
    assert "Only the asker's rating counts" in _note(slack, MALLORY)
    assert slack.peer.calls_to("chat.postMessage", channel=REVIEW) == []
    assert _counted(slack, "not_helpful") == 0

    slack.send.interaction(button_click(blocks.HELPFUL, str(answer_id), ASKER, CHANNEL, msg_ts))
    assert _note(slack, ASKER) == "Thanks, noted."
    assert _counted(slack, "helpful") == 1

    slack.send.event({"type": "app_home_opened", "user": ADMIN, "channel": "D0ADMIN", "tab": "home"})
    home = slack.peer.wait_for(lambda: slack.peer.calls_to("views.publish", user_id=ADMIN), what="App Home")[
        0
    ]
    assert "askers found 1 answers helpful, 0 not" in json.dumps(home.args["view"])

    # The asker's own "not helpful" does send it to review.
    slack.send.interaction(button_click(blocks.NOT_HELPFUL, str(answer_id), ASKER, CHANNEL, msg_ts))
    slack.peer.wait_for(
        lambda: slack.peer.calls_to("chat.postMessage", channel=REVIEW), what="the review post"
    )

    with slack.container.sessions() as s:
        rows = [(f.user_id, f.kind, f.by_asker) for f in s.scalars(select(Feedback).order_by(Feedback.id))]
    assert rows == [(MALLORY, "not_helpful", False), (ASKER, "helpful", True), (ASKER, "not_helpful", True)]
    stats = slack.container.stats.summary(days=1)
    assert (stats.helpful, stats.not_helpful, stats.others_feedback) == (1, 1, 1)


def test_a_bystander_asking_for_a_human_is_named_and_flagged(slack):
    answer_id, msg_ts = _ask_in_channel(slack, "5100.0001")
    slack.send.interaction(button_click(blocks.HANDOFF, str(answer_id), MALLORY, CHANNEL, msg_ts))
    post = slack.peer.wait_for(
        lambda: slack.peer.calls_to("chat.postMessage", channel=SUPPORT), what="hand-off"
    )[0]
    shown = json.dumps(post.args["blocks"])
    assert f"<@{ASKER}> needs help (<@{MALLORY}> asked for a human for them)" in shown
    with slack.container.sessions() as s:
        assert [(h.requested_by, h.reason) for h in s.scalars(select(Handoff))] == [(MALLORY, "requested")]
        assert [(f.user_id, f.kind, f.by_asker) for f in s.scalars(select(Feedback))] == [
            (MALLORY, "escalate", False)
        ]
