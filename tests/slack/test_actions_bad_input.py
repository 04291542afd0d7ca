"""Buttons, forms and shortcuts that name nothing the bot knows: acknowledged, the presser told in
one line, nothing recorded, no traceback logged. Real Bolt app over signed HTTP, local Slack peer."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from bot.container import Container
from bot.db.models import Feedback, Handoff, Review, ReviewPost
from bot.slack import blocks
from tests.slack.harness import ADMIN, ASKER, MALLORY, REVIEW, SECRET, SlackHarness, serve
from tests.slack.slack_peer import TEAM, SlackSender, button_click

BAD_VALUES = [
    "abc",
    "",
    "99999999999999999999",
    "-1",
    "0",
    "1e3",
    "٣",
    " 7",
    "7\n",
    "<!channel>",
    "2147483648",
]
MISSING = "424242"  # well formed, but no such answer
BUTTONS = [
    (blocks.HELPFUL, ASKER),
    (blocks.NOT_HELPFUL, ASKER),
    (blocks.HANDOFF, ASKER),
    (blocks.APPROVE, ADMIN),
    (blocks.REJECT, ADMIN),
    (blocks.EDIT, ADMIN),
]


@pytest.fixture
def slack(slack_settings, slack_peer) -> Iterator[SlackHarness]:
    """The harness of tests/slack/harness.py without a FAQ: nothing here gets as far as retrieval."""
    container = Container(slack_settings)
    container.ensure_schema()
    bot, url, server = serve(container)
    yield SlackHarness(slack_peer, SlackSender(url + "/slack/events", SECRET), container, bot, url)
    server.stop()
    bot.close(wait=True)


@pytest.fixture
def logged(caplog):
    caplog.set_level(logging.INFO)
    return caplog


def _no_traceback(records) -> None:
    bad = [(r.name, r.levelname, r.getMessage()) for r in records if r.exc_info or r.levelno >= logging.ERROR]
    assert bad == []


def _told(slack, user: str, before: int) -> list:
    """Notes to ``user`` since ``before``: ephemerals, and direct messages (channel = the user)."""
    notes = [
        c
        for c in slack.peer.calls
        if (c.method == "chat.postEphemeral" and c.args.get("user") == user)
        or (c.method == "chat.postMessage" and c.args.get("channel") == user)
    ]
    return notes[before:]


def _count_told(slack, user: str) -> int:
    return len(_told(slack, user, 0))


def _nothing_recorded(slack) -> None:
    with slack.container.sessions() as s:
        for table in (Feedback, Review, Handoff, ReviewPost):
            assert s.scalars(select(table)).all() == [], table.__name__


@pytest.mark.parametrize("action_id,user", BUTTONS, ids=[b for b, _ in BUTTONS])
def test_a_button_naming_no_answer_is_answered_in_one_line(slack, logged, action_id, user):
    channel = REVIEW if user == ADMIN else "D0USER1"
    for value in [*BAD_VALUES, MISSING]:
        before = _count_told(slack, user)
        r = slack.send.interaction(button_click(action_id, value, user, channel, "1700000000.000100"))
        assert r.status_code == 200, (value, r.status_code)
        (note,) = _told(slack, user, before)
        text = note.args["text"]
        assert note.method == "chat.postEphemeral" and note.args["channel"] == channel
        assert text.startswith("Not done: ") and "\n" not in text, (value, text)
        assert "<" not in text  # a hostile value is echoed escaped, if at all
    assert "no answer 424242" in text  # the same words approve and reject always used
    _no_traceback(logged.records)
    _nothing_recorded(slack)


def test_a_button_without_a_value_and_one_pressed_in_app_home(slack, logged):
    payload = button_click(blocks.HELPFUL, "1", ASKER, "D0USER1", "1.0")
    del payload["actions"][0]["value"]
    assert slack.send.interaction(payload).status_code == 200
    assert _told(slack, ASKER, 0)[-1].args["text"] == "Not done: this button names no answer."

    # App Home has no channel to answer in: the presser gets a direct message.
    home = button_click(blocks.REJECT, "abc", ADMIN, "D0ADMIN", "1.0")
    for key in ("channel", "container", "message"):
        home.pop(key)
    home["view"] = {"id": "VHOME", "type": "home"}
    assert slack.send.interaction(home).status_code == 200
    (note,) = _told(slack, ADMIN, 0)
    assert (note.method, note.args["channel"]) == ("chat.postMessage", ADMIN)
    assert note.args["text"] == "Not done: no answer 'abc'."
    _no_traceback(logged.records)
    _nothing_recorded(slack)


def _submission(metadata: str, text: str = "A better answer.", callback_id: str = blocks.EDIT_MODAL) -> dict:
    return {
        "type": "view_submission",
        "team": {"id": TEAM},
        "user": {"id": ADMIN},
        "api_app_id": "A0001",
        "trigger_id": "t",
        "view": {
            "id": "V1",
            "type": "modal",
            "callback_id": callback_id,
            "private_metadata": metadata,
            "state": {"values": {blocks.EDIT_INPUT_BLOCK: {blocks.EDIT_INPUT: {"value": text}}}},
        },
    }


@pytest.mark.parametrize(
    "metadata,told",
    [
        ("not json", "Not done: the form came back without the answer it was for."),
        ("[1, 2]", "Not done: the form came back without the answer it was for."),
        ("{}", "Not done: this button names no answer."),
        (json.dumps({"answer_id": "abc", "channel": REVIEW, "ts": "1.0"}), "Not done: no answer 'abc'."),
        (
            json.dumps({"answer_id": 99999999999, "channel": REVIEW, "ts": "1.0"}),
            "Not done: no answer 99999999999.",
        ),
        (json.dumps({"answer_id": 424242, "channel": REVIEW, "ts": "1.0"}), "Not done: no answer 424242."),
    ],
)
@pytest.mark.slow
def test_a_broken_edit_form_is_acknowledged_and_explained(slack, logged, metadata, told):
    r = slack.send.interaction(_submission(metadata))
    assert r.status_code == 200 and r.text == ""  # a plain ack: the modal closes
    (note,) = _told(slack, ADMIN, 0)
    assert note.args["text"] == told
    _no_traceback(logged.records)
    _nothing_recorded(slack)


def test_buttons_forms_and_shortcuts_this_version_does_not_have(slack, logged):
    old = button_click("feedback_helpful_v0", "1", ASKER, "D0USER1", "1.0")
    assert slack.send.interaction(old).status_code == 200
    shortcut = {
        "type": "shortcut",
        "callback_id": "summon_the_bot",
        "team": {"id": TEAM},
        "user": {"id": ASKER},
        "api_app_id": "A0001",
        "trigger_id": "trig-" + uuid.uuid4().hex[:8],
        "action_ts": "1.0",
    }
    assert slack.send.interaction(shortcut).status_code == 200
    assert slack.send.interaction(_submission("{}", callback_id="some_old_form")).status_code == 200
    assert [c.args["text"] for c in _told(slack, ASKER, 0)] == [
        "Not done: that button is no longer in use.",
        "Not done: I don't have that shortcut.",
    ]
    assert [c.args["text"] for c in _told(slack, ADMIN, 0)] == ["Not done: I don't know that form."]
    closed = {**_submission("{}"), "type": "view_closed", "is_cleared": False}
    assert slack.send.interaction(closed).status_code == 200
    suggestion = {**old, "type": "block_suggestion", "action_id": "pick_one", "block_id": "b", "value": "x"}
    suggestion.pop("actions")
    reply = slack.send.interaction(suggestion)
    assert reply.status_code == 200 and reply.json() == {"options": []}
    assert len(_told(slack, ADMIN, 0)) == 1 and len(_told(slack, ASKER, 0)) == 2  # nothing more said
    _no_traceback(logged.records)


def test_a_fault_of_the_bots_own_still_gets_an_answer(slack, logged):
    """The database losing a table is a real fault: logged with its traceback, and the presser and the
    App Home visitor are still answered (no 500)."""
    with slack.container.sessions() as s:
        s.execute(sa.text("DROP TABLE answers"))
        s.commit()
    r = slack.send.interaction(button_click(blocks.HELPFUL, MISSING, MALLORY, "C0GENERAL", "1.0"))
    assert r.status_code == 200
    (note,) = _told(slack, MALLORY, 0)
    assert note.args["text"].startswith("Sorry, that didn't work")

    assert slack.send.event({"type": "app_home_opened", "user": ADMIN, "tab": "home"}).status_code == 200
    (home,) = slack.peer.calls_to("views.publish", user_id=ADMIN)
    assert "couldn't be loaded" in json.dumps(home.args["view"])
    assert [r.name for r in logged.records if r.exc_info] == [
        "bot.slack.listeners.guard",
        "bot.slack.listeners.home",
    ]
