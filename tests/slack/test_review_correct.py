"""The review actions that teach the right entry, through the real Bolt app with signed requests: the
entry picker's options (Block Kit external_select), wrong entry -> the right one, an abstention
attached to an existing entry (from App Home), non-admins refused, a second review refused."""

from __future__ import annotations

import json
import logging
import time
import uuid

import pytest
from sqlalchemy import select

from bot.db.models import Answer, Review
from bot.slack import blocks
from retrieval.negatives import hard_negatives
from tests.slack.harness import ADMIN, MALLORY, REVIEW
from tests.slack.slack_peer import TEAM, button_click
from tests.slack.test_review_and_handoff import _ask, _review_post

pytestmark = pytest.mark.slow  # over ~2 s each here: `make test-fast` leaves them out

CRACKED = "my laptop screen cracked, can I get a new laptop?"  # answered from laptop-broken
CHILD = "I want to take time off when my child is born"  # abstained on; parental-leave answers it
SECOND_ADMIN = "UADMIN2"


def _where(channel: str | None, ts: str | None) -> dict:
    """Where the menu is: a review post, or App Home (no channel)."""
    if channel:
        return {
            "channel": {"id": channel},
            "container": {"type": "message", "channel_id": channel, "message_ts": ts},
            "message": {"ts": ts, "text": ""},
        }
    return {"container": {"type": "view", "view_id": "VHOME"}, "view": {"id": "VHOME", "type": "home"}}


def _suggest(slack, action_id: str, block_id: str, typed: str, user: str, channel=REVIEW, ts=None) -> list:
    """What Slack sends as the admin types into the picker; the options the bot answers with."""
    payload = {
        "type": "block_suggestion",
        "team": {"id": TEAM},
        "user": {"id": user},
        "api_app_id": "A0001",
        "action_id": action_id,
        "block_id": block_id,
        "value": typed,
        **_where(channel, ts),
    }
    r = slack.send.interaction(payload)
    assert r.status_code == 200
    return r.json()["options"]


def _select(slack, action_id: str, block_id: str, entry: str, user: str, channel=REVIEW, ts=None):
    payload = {
        "type": "block_actions",
        "team": {"id": TEAM},
        "user": {"id": user},
        "api_app_id": "A0001",
        "trigger_id": "trig-" + uuid.uuid4().hex[:8],
        **_where(channel, ts),
        "actions": [
            {
                "type": "external_select",
                "action_id": action_id,
                "block_id": block_id,
                "selected_option": {"text": {"type": "plain_text", "text": entry}, "value": entry},
                "action_ts": str(time.time()),
            }
        ],
    }
    assert slack.send.interaction(payload).status_code == 200


def _told(slack, user: str, n: int = 1) -> str:
    calls = slack.peer.wait_for(
        lambda: len(slack.peer.calls_to("chat.postEphemeral", user=user)) >= n and True,
        what=f"a note to {user}",
    )
    assert calls
    return slack.peer.calls_to("chat.postEphemeral", user=user)[n - 1].args["text"]


def _element(post_blocks: list, block_id: str, action_id: str) -> dict:
    (actions,) = [b for b in post_blocks if b.get("block_id") == block_id]
    return next(e for e in actions["elements"] if e["action_id"] == action_id)


def test_wrong_entry_corrected_to_the_right_one_and_reviewed_once(slack, caplog):
    caplog.set_level(logging.WARNING)
    answer_id, msg_ts = _ask(slack, CRACKED, "6100.0001")
    with slack.container.sessions() as s:
        assert s.get(Answer, answer_id).sources[0]["id"] == "laptop-broken"
    slack.send.interaction(button_click(blocks.NOT_HELPFUL, str(answer_id), "UASKER", "D0USER1", msg_ts))
    post = _review_post(slack, answer_id)
    block_id = f"review-{answer_id}"
    picker = _element(post.args["blocks"], block_id, blocks.CORRECT)
    assert picker["type"] == "external_select" and picker["min_query_length"] == 0

    # Mallory gets no options, and the attempt is logged.
    assert _suggest(slack, blocks.CORRECT, block_id, "laptop", MALLORY, ts=post.ts) == []
    assert any("non-admin UMALLORY" in r.getMessage() for r in caplog.records)

    # The admin: nothing typed, the nearest entries but the one cited; typed, the matching ones.
    nearest = _suggest(slack, blocks.CORRECT, block_id, "", ADMIN, ts=post.ts)
    assert len(nearest) == 3 and "laptop-broken" not in [o["value"] for o in nearest]
    typed = _suggest(slack, blocks.CORRECT, block_id, "laptop", ADMIN, ts=post.ts)
    values = [o["value"] for o in typed]
    assert {"laptop-replacement", "laptop-broken"} <= set(values[:3]) and len(values) <= 100
    assert all(len(o["text"]["text"]) <= 75 and o["text"]["type"] == "plain_text" for o in typed)
    replacement = next(o for o in typed if o["value"] == "laptop-replacement")
    assert replacement["text"]["text"] == "How do I get a new laptop?"

    # Mallory picks an entry anyway: refused, nothing recorded.
    _select(slack, blocks.CORRECT, block_id, "laptop-replacement", MALLORY, ts=post.ts)
    assert "Only support admins" in _told(slack, MALLORY)
    with slack.container.sessions() as s:
        assert s.scalars(select(Review)).all() == []

    # The admin picks the right one: the post says so, the question finds it, the wrong one is recorded.
    _select(slack, blocks.CORRECT, block_id, "laptop-replacement", ADMIN, ts=post.ts)
    done = slack.peer.wait_for(lambda: slack.peer.calls_to("chat.update", channel=REVIEW), what="update")
    shown = json.dumps(done[0].args["blocks"])
    assert "Corrected by <@UADMIN>" in shown and "laptop-replacement" in shown
    assert "Done: correct" in _told(slack, ADMIN)
    assert slack.container.index.retrieve(CRACKED).top.id == "laptop-replacement"
    assert [(n.question, n.entry_id) for n in hard_negatives(slack.container.sessions)] == [
        (CRACKED, "laptop-broken")
    ]

    # A second admin, pressing Approve on a stale copy of the post: told who reviewed it, and how.
    slack.container.reviews.admins.add(SECOND_ADMIN)
    slack.send.interaction(button_click(blocks.APPROVE, str(answer_id), SECOND_ADMIN, REVIEW, post.ts))
    note = _told(slack, SECOND_ADMIN)
    assert "already reviewed (correct to laptop-replacement) by UADMIN" in note
    _select(slack, blocks.CORRECT, block_id, "laptop-broken", SECOND_ADMIN, ts=post.ts)
    assert "already reviewed" in _told(slack, SECOND_ADMIN, 2)
    with slack.container.sessions() as s:
        reviews = [(r.action, r.reviewer_id, r.entry_id) for r in s.scalars(select(Review))]
    assert reviews == [("correct", ADMIN, "laptop-replacement")]


def test_abstention_attached_to_an_existing_entry_from_app_home(slack):
    answer_id, _ = _ask(slack, CHILD, "6200.0001")
    post = _review_post(slack, answer_id)  # abstentions are flagged
    labels = [e.get("text", {}).get("text") for e in post.args["blocks"][-1]["elements"]]
    assert labels == [None, "Write a new entry", "Reject"]  # the picker first, no plain Approve
    assert post.args["blocks"][-1]["elements"][0]["action_id"] == blocks.ATTACH

    slack.send.event({"type": "app_home_opened", "user": ADMIN, "channel": "D0ADMIN", "tab": "home"})
    home = slack.peer.wait_for(lambda: slack.peer.calls_to("views.publish", user_id=ADMIN), what="home")
    block_id = f"home-review-{answer_id}"
    assert _element(home[0].args["view"]["blocks"], block_id, blocks.ATTACH)["type"] == "external_select"

    nearest = _suggest(slack, blocks.ATTACH, block_id, "", ADMIN, channel=None)
    assert len(nearest) == 3 and "parental-leave" in [o["value"] for o in nearest]
    entries = slack.container.index.count_entries()
    _select(slack, blocks.ATTACH, block_id, "parental-leave", ADMIN, channel=None)
    slack.peer.wait_for(
        lambda: len(slack.peer.calls_to("views.publish", user_id=ADMIN)) >= 2, what="home again"
    )
    with slack.container.sessions() as s:
        (review,) = s.scalars(select(Review)).all()
        assert (review.action, review.entry_id) == ("attach", "parental-leave")
    found = slack.container.index.retrieve(CHILD)
    assert found.top.id == "parental-leave" and not found.abstain
    assert slack.container.index.count_entries() == entries  # attached, not a new curated duplicate
    assert hard_negatives(slack.container.sessions) == []
    again = json.dumps(slack.peer.calls_to("views.publish", user_id=ADMIN)[-1].args["view"])
    assert block_id not in again  # no longer pending
