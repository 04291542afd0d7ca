"""Buttons: feedback, hand-off to humans (relayed both ways), admin review, App Home."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from bot.db.models import Answer, Feedback, Handoff, LearnedPhrasing, Message, Review
from bot.slack import blocks
from bot.slack.webhook import sign as webhook_sign
from tests.slack.harness import ADMIN, AGENT, ASKER, MALLORY, REVIEW, SUPPORT
from tests.slack.slack_peer import button_click, dm

pytestmark = pytest.mark.slow  # over ~2 s each here: `make test-fast` leaves them out

ODD = "the VPN rejects my secret word when I work from home"  # loosely phrased, still answered
OUT_OF_SCOPE = "Who won the football world cup in 1954?"


def _ask(slack, text: str, ts: str, channel: str = "D0USER1", user: str = ASKER) -> tuple[int, str]:
    """Ask in a DM; returns (answer id, ts of the bot's answer message)."""
    slack.send.event(dm(user, text, ts=ts, channel=channel))
    final = slack.peer.wait_for(
        lambda: slack.peer.final_answers(channel, ts), what=f"the answer to {text!r}"
    )[0]
    with slack.container.sessions() as s:
        answer = s.scalar(
            select(Answer)
            .join(Message, Message.id == Answer.question_message_id)
            .where(Message.slack_ts == ts)
        )
        return answer.id, final.args["ts"]


def _review_post(slack, answer_id: int):
    return slack.peer.wait_for(
        lambda: [
            c
            for c in slack.peer.calls_to("chat.postMessage", channel=REVIEW)
            if any(b.get("block_id") == f"review-{answer_id}" for b in c.args["blocks"])
        ],
        what="the review post",
    )[0]


def test_not_helpful_sends_the_answer_to_review_and_only_an_admin_can_approve_it(slack):
    answer_id, msg_ts = _ask(slack, ODD, "6000.0001")
    with slack.container.sessions() as s:
        before = s.get(Answer, answer_id).sources[0]["score"]
    assert slack.peer.calls_to("chat.postMessage", channel=REVIEW) == []  # flagged mode: nothing yet
    slack.send.interaction(button_click(blocks.NOT_HELPFUL, str(answer_id), ASKER, "D0USER1", msg_ts))
    slack.send.interaction(button_click(blocks.NOT_HELPFUL, str(answer_id), ASKER, "D0USER1", msg_ts))
    post = _review_post(slack, answer_id)
    with slack.container.sessions() as s:  # the reviewer sees how the answer was made, and why
        stored = s.get(Answer, answer_id)
        footers = [e["text"] for b in post.args["blocks"] if b["type"] == "context" for e in b["elements"]]
        assert stored.why and blocks.mrkdwn("_{}_", blocks.how_answered(stored.mode, stored.why)) in footers

    # Mallory is no admin: refused, told so privately, nothing recorded or learned.
    r = slack.send.interaction(button_click(blocks.APPROVE, str(answer_id), MALLORY, REVIEW, post.ts))
    assert r.status_code == 200
    refusal = slack.peer.wait_for(
        lambda: slack.peer.calls_to("chat.postEphemeral", user=MALLORY), what="refusal"
    )
    assert "Only support admins" in refusal[0].args["text"]
    with slack.container.sessions() as s:
        assert s.scalars(select(Review)).all() == []
        assert s.scalars(select(LearnedPhrasing)).all() == []
        kinds = [f.kind for f in s.scalars(select(Feedback))]
        assert kinds == ["not_helpful"]  # the double click counted once

    # The admin approves: the review post is updated and the phrasing is learned at once.
    slack.send.interaction(button_click(blocks.APPROVE, str(answer_id), ADMIN, REVIEW, post.ts))
    done = slack.peer.wait_for(
        lambda: slack.peer.calls_to("chat.update", channel=REVIEW), what="review update"
    )
    assert "Approved by <@UADMIN>" in json.dumps(done[0].args["blocks"])
    with slack.container.sessions() as s:
        (learned,) = s.scalars(select(LearnedPhrasing)).all()
        assert learned.text == ODD and learned.approved_by == ADMIN

    # The next similar question, from someone else, retrieves the approved phrasing's entry.
    again_id, _ = _ask(slack, ODD + "!", "6000.0009", channel="D0USER2", user="UOTHER")
    with slack.container.sessions() as s:
        assert s.get(Answer, again_id).sources[0]["id"] == learned.entry_id
        assert s.get(Answer, again_id).sources[0]["score"] > before + 0.1


def test_abstention_hands_off_and_replies_are_relayed_both_ways(slack):
    answer_id, _ = _ask(slack, OUT_OF_SCOPE, "7000.0001")
    handoff_post = slack.peer.wait_for(
        lambda: slack.peer.calls_to("chat.postMessage", channel=SUPPORT), what="the hand-off post"
    )[0]
    shown = json.dumps(handoff_post.args["blocks"])
    assert "1954" in shown and "<@UASKER>" in shown and "found nothing in the FAQ" in shown
    told = slack.peer.wait_for(
        lambda: [
            c
            for c in slack.peer.calls_to("chat.postMessage", channel="D0USER1")
            if c.args.get("text") == blocks.HANDOFF_TEXT
        ],
        what="asker told",
    )
    assert told[0].args["thread_ts"] == "7000.0001"

    # The agent answers in the support thread: relayed into the asker's thread, stored as a transcript.
    agent_reply = {
        "type": "message",
        "channel": SUPPORT,
        "channel_type": "channel",
        "user": AGENT,
        "text": "West Germany won, 3-2 against Hungary.",
        "ts": "7000.0100",
        "thread_ts": handoff_post.ts,
    }
    slack.send.event(agent_reply)
    slack.send.event(agent_reply, retry_num=1)
    relayed = slack.peer.wait_for(
        lambda: [
            c
            for c in slack.peer.calls_to("chat.postMessage", channel="D0USER1")
            if "West Germany" in c.args.get("text", "")
        ],
        what="relay to asker",
    )
    assert relayed[0].args["thread_ts"] == "7000.0001" and "<@UAGENT>" in relayed[0].args["text"]

    # The asker's follow-up goes to the humans, not to the bot.
    slack.send.event(dm(ASKER, "thanks! and in 1958?", ts="7000.0200", thread_ts="7000.0001"))
    back = slack.peer.wait_for(
        lambda: [
            c
            for c in slack.peer.calls_to("chat.postMessage", channel=SUPPORT)
            if "1958" in c.args.get("text", "")
        ],
        what="relay to support",
    )
    assert back[0].args["thread_ts"] == handoff_post.ts
    time.sleep(0.5)
    assert len(slack.peer.final_answers("D0USER1")) == 1  # the bot stayed quiet
    assert (
        len(
            [
                c
                for c in slack.peer.calls_to("chat.postMessage", channel="D0USER1")
                if "West Germany" in c.args.get("text", "")
            ]
        )
        == 1
    )  # the retried reply relayed once

    with slack.container.sessions() as s:
        (h,) = s.scalars(select(Handoff)).all()
        assert h.reason == "abstain" and h.support_ts == handoff_post.ts
        roles = [
            (m.role, m.user_id)
            for m in s.scalars(
                select(Message).where(Message.conversation_id == h.conversation_id).order_by(Message.id)
            )
        ]
        assert roles == [("user", ASKER), ("bot", None), ("human", AGENT), ("user", ASKER)]
        human = s.scalar(select(Answer).where(Answer.mode == "human"))
        assert human.question_message_id == h.question_message_id
    # Both the abstention and the human's reply wait for review (flagged mode).
    _review_post(slack, answer_id)
    _review_post(slack, human.id)


def test_talk_to_a_human_button_and_signed_retried_webhook(slack):
    received, attempts = [], []

    class Ticketing(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers["content-length"]))
            attempts.append(1)
            if len(attempts) == 1:  # the ticketing system hiccups once
                self.send_response(503)
                self.end_headers()
                return
            received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(200)
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Ticketing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    from bot.slack.webhook import Webhook

    slack.bot.webhook = Webhook(f"http://127.0.0.1:{server.server_address[1]}/hook", "hook-secret")
    try:
        answer_id, msg_ts = _ask(slack, "How do I reset my VPN password?", "8000.0001")
        slack.send.interaction(button_click(blocks.HANDOFF, str(answer_id), ASKER, "D0USER1", msg_ts))
        slack.send.interaction(button_click(blocks.HANDOFF, str(answer_id), ASKER, "D0USER1", msg_ts))
        post = slack.peer.wait_for(
            lambda: slack.peer.calls_to("chat.postMessage", channel=SUPPORT), what="hand-off"
        )
        assert "asked for a human" in json.dumps(post[0].args["blocks"])
        deadline = time.monotonic() + 30
        while not received and time.monotonic() < deadline:
            time.sleep(0.1)
        headers, body = received[0]
        assert len(attempts) == 2
        assert headers["x-supportbot-signature"] == webhook_sign(
            "hook-secret", headers["x-supportbot-timestamp"], body
        )
        payload = json.loads(body)
        assert payload["event"] == "handoff" and payload["user"] == ASKER and "VPN" in payload["question"]
    finally:
        server.shutdown()
    time.sleep(0.3)
    assert (
        len(slack.peer.calls_to("chat.postMessage", channel=SUPPORT)) == 1
    )  # the double click: one hand-off
    with slack.container.sessions() as s:
        assert [f.kind for f in s.scalars(select(Feedback))] == ["escalate"]
    _review_post(slack, answer_id)  # escalations are flagged for review


def test_edit_and_approve_through_the_modal(slack):
    answer_id, _ = _ask(slack, OUT_OF_SCOPE, "9000.0001")
    post = _review_post(slack, answer_id)
    # Approve alone is not enough when the bot had no answer: the admin is told to edit.
    slack.send.interaction(button_click(blocks.APPROVE, str(answer_id), ADMIN, REVIEW, post.ts))
    note = slack.peer.wait_for(lambda: slack.peer.calls_to("chat.postEphemeral", user=ADMIN), what="note")
    assert "Edit" in note[0].args["text"] or "edit" in note[0].args["text"]

    slack.send.interaction(button_click(blocks.EDIT, str(answer_id), MALLORY, REVIEW, post.ts))
    slack.peer.wait_for(lambda: slack.peer.calls_to("chat.postEphemeral", user=MALLORY), what="refusal")
    assert slack.peer.calls_to("views.open") == []

    slack.send.interaction(button_click(blocks.EDIT, str(answer_id), ADMIN, REVIEW, post.ts))
    opened = slack.peer.wait_for(lambda: slack.peer.calls_to("views.open"), what="the modal")[0]
    view = opened.args["view"]
    submission = {
        "type": "view_submission",
        "team": {"id": "T0001"},
        "user": {"id": ADMIN},
        "api_app_id": "A0001",
        "trigger_id": "t",
        "view": {
            "id": "V1",
            "type": "modal",
            "callback_id": view["callback_id"],
            "private_metadata": view["private_metadata"],
            "state": {
                "values": {
                    blocks.EDIT_INPUT_BLOCK: {
                        blocks.EDIT_INPUT: {
                            "type": "plain_text_input",
                            "value": "West Germany, 3-2 against Hungary in Bern.",
                        }
                    }
                }
            },
        },
    }
    empty = json.loads(json.dumps(submission))
    empty["view"]["state"]["values"][blocks.EDIT_INPUT_BLOCK][blocks.EDIT_INPUT]["value"] = "  "
    refused = slack.send.interaction(empty)
    assert refused.json()["response_action"] == "errors"
    assert slack.send.interaction(submission).status_code == 200
    slack.peer.wait_for(lambda: slack.peer.calls_to("chat.update", channel=REVIEW), what="review update")
    with slack.container.sessions() as s:
        (review,) = s.scalars(select(Review)).all()
        assert review.action == "edit" and review.reviewer_id == ADMIN
    found = slack.container.index.retrieve("who won the world cup in 1954", 1)
    assert not found.abstain and "Bern" in found.top.answer


def test_app_home_shows_admins_their_queue_and_figures(slack):
    answer_id, _ = _ask(slack, OUT_OF_SCOPE, "9500.0001")
    slack.send.event({"type": "app_home_opened", "user": ADMIN, "channel": "D0ADMIN", "tab": "home"})
    slack.send.event({"type": "app_home_opened", "user": ASKER, "channel": "D0USER1", "tab": "home"})
    slack.peer.wait_for(lambda: len(slack.peer.calls_to("views.publish")) == 2, what="two home views")
    admin_view = json.dumps(slack.peer.calls_to("views.publish", user_id=ADMIN)[0].args["view"])
    asker_view = json.dumps(slack.peer.calls_to("views.publish", user_id=ASKER)[0].args["view"])
    assert "1 questions" in admin_view and "Pending reviews:* 1" in admin_view and "1954" in admin_view
    assert "Model in service" in admin_view
    assert "Pending" not in asker_view and "1954" not in asker_view  # nobody else's questions


def test_admin_group_members_may_review(slack):
    slack.container.settings.admin_group = "S0ADMINS"
    slack.container.reviews.group_members = slack.bot.admin._admin_group_members
    slack.peer.group_users = ["UGROUPIE"]
    answer_id, _ = _ask(slack, OUT_OF_SCOPE, "9600.0001")
    post = _review_post(slack, answer_id)
    slack.send.interaction(button_click(blocks.REJECT, str(answer_id), "UGROUPIE", REVIEW, post.ts))
    slack.peer.wait_for(lambda: slack.peer.calls_to("chat.update", channel=REVIEW), what="review update")
    with slack.container.sessions() as s:
        assert [(r.action, r.reviewer_id) for r in s.scalars(select(Review))] == [("reject", "UGROUPIE")]
