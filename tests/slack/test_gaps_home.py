"""App Home shows admins the knowledge gaps; publish and dismiss are admin-only (signed requests
to the real server, the Slack peer on 127.0.0.1)."""

from __future__ import annotations

import json

import pytest

from bot.slack import blocks
from tests.services.test_gaps import COFFEE, DOGS
from tests.slack.harness import ADMIN, ASKER, MALLORY
from tests.slack.slack_peer import button_click

pytestmark = pytest.mark.slow  # over ~2 s each here: `make test-fast` leaves them out


def _home_click(action_id: str, value: str, user: str) -> dict:
    body = button_click(action_id, value, user, "", "")
    body.pop("channel"), body.pop("message")
    body["container"] = {"type": "view", "view_id": "V0HOME"}
    body["view"] = {"id": "V0HOME", "type": "home"}
    return body


def _home(slack, user: str, count: int) -> str:
    views = slack.peer.wait_for(
        lambda: (v := slack.peer.calls_to("views.publish", user_id=user)) and len(v) >= count and v,
        what=f"home view {count} of {user}",
    )
    return json.dumps(views[count - 1].args["view"])


def test_admins_see_gaps_in_app_home_and_only_they_publish_or_dismiss(slack):
    c = slack.container
    c.generation_gate.mode = "never"
    c.generation_gate.forget()
    asked = {q: c.answers.ask(q, user_id=f"U{i}") for i, q in enumerate(DOGS + COFFEE)}
    assert all(r.abstained for r in asked.values())
    handoff = c.handoffs.open(asked[DOGS[0]].answer_id, "U0", "abstain")
    c.handoffs.record_human_reply(handoff, "UAGENT", "Dogs are welcome on Fridays, on a lead.", "d1")
    dogs, coffee = sorted(c.gaps.topics(), key=lambda g: -len(g.questions))[:2]

    slack.send.event({"type": "app_home_opened", "user": ADMIN, "channel": "D0ADMIN", "tab": "home"})
    slack.send.event({"type": "app_home_opened", "user": ASKER, "channel": "D0USER1", "tab": "home"})
    admin_view, asker_view = _home(slack, ADMIN, 1), _home(slack, ASKER, 1)
    assert "Knowledge gaps" in admin_view and "Dogs are welcome on Fridays" in admin_view
    assert "Knowledge gaps" not in asker_view and "dog" not in asker_view  # nobody else's questions
    assert blocks.GAP_PUBLISH in admin_view and blocks.GAP_DISMISS in admin_view

    # Mallory is no admin: refused and told so; nothing changes.
    slack.send.interaction(_home_click(blocks.GAP_PUBLISH, str(dogs.id), MALLORY))
    refusal = slack.peer.wait_for(
        lambda: slack.peer.calls_to("chat.postMessage", channel=MALLORY), what="refusal"
    )
    assert "Only support admins" in refusal[0].args["text"]
    assert len(c.gaps.topics()) >= 2

    slack.send.interaction(_home_click(blocks.GAP_PUBLISH, str(dogs.id), ADMIN))
    told = slack.peer.wait_for(lambda: slack.peer.calls_to("chat.postMessage", channel=ADMIN), what="result")
    assert "Published as FAQ entry" in told[0].args["text"]
    assert not c.index.retrieve(DOGS[1]).abstain  # its questions find the new entry at once
    slack.send.interaction(_home_click(blocks.GAP_DISMISS, str(coffee.id), ADMIN))
    slack.peer.wait_for(
        lambda: len(slack.peer.calls_to("chat.postMessage", channel=ADMIN)) >= 2, what="dismissed"
    )
    view = _home(slack, ADMIN, 3)  # re-published after each decision
    assert "Knowledge gaps:* 0" in view and blocks.GAP_PUBLISH not in view  # both topics decided


def _gap_submission(view: dict, user: str, question: str, answer: str) -> dict:
    return {
        "type": "view_submission",
        "team": {"id": "T0001"},
        "user": {"id": user},
        "api_app_id": "A0001",
        "trigger_id": "t",
        "view": {
            "id": "V2",
            "type": "modal",
            "callback_id": view["callback_id"],
            "private_metadata": view["private_metadata"],
            "state": {
                "values": {
                    blocks.GAP_QUESTION_BLOCK: {blocks.GAP_QUESTION_INPUT: {"value": question}},
                    blocks.GAP_ANSWER_BLOCK: {blocks.GAP_ANSWER_INPUT: {"value": answer}},
                }
            },
        },
    }


def test_admins_edit_a_gaps_draft_in_app_home_and_publish_what_they_wrote(slack):
    c = slack.container
    c.generation_gate.mode = "never"
    c.generation_gate.forget()
    assert all(c.answers.ask(q, user_id=f"U{i}").abstained for i, q in enumerate(COFFEE))
    (coffee,) = c.gaps.topics()
    assert coffee.draft_answer is None  # nobody replied: only an admin's own answer can publish it

    # Anyone but an admin is refused the editor, and nothing opens.
    slack.send.interaction(_home_click(blocks.GAP_EDIT, str(coffee.id), MALLORY))
    refusal = slack.peer.wait_for(
        lambda: slack.peer.calls_to("chat.postMessage", channel=MALLORY), what="refusal"
    )
    assert "Only support admins" in refusal[0].args["text"] and not slack.peer.calls_to("views.open")

    slack.send.interaction(_home_click(blocks.GAP_EDIT, str(coffee.id), ADMIN))
    (opened,) = slack.peer.wait_for(lambda: slack.peer.calls_to("views.open"), what="the gap editor")
    view = opened.args["view"]
    inputs = {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}
    assert inputs[blocks.GAP_QUESTION_BLOCK]["initial_value"] == coffee.draft_question
    assert "initial_value" not in inputs[blocks.GAP_ANSWER_BLOCK]
    assert "2 people asked" in json.dumps(view["blocks"])

    answer = "Call facilities on extension 4242 <!channel>; they repair it the same day."
    # A forged submission of the same form by someone else publishes nothing.
    slack.send.interaction(_gap_submission(view, MALLORY, "Coffee machine", answer))
    slack.peer.wait_for(
        lambda: len(slack.peer.calls_to("chat.postMessage", channel=MALLORY)) >= 2, what="refusal"
    )
    assert [g.id for g in c.gaps.topics()] == [coffee.id]
    # An empty answer is sent back to the form; the question is kept.
    empty = slack.send.interaction(_gap_submission(view, ADMIN, "Coffee machine", "  "))
    assert empty.json() == {
        "response_action": "errors",
        "errors": {blocks.GAP_ANSWER_BLOCK: "This can't be empty."},
    }

    question = "Who repairs the coffee machine in the kitchen?"
    assert slack.send.interaction(_gap_submission(view, ADMIN, question, answer)).status_code == 200
    told = slack.peer.wait_for(lambda: slack.peer.calls_to("chat.postMessage", channel=ADMIN), what="result")
    assert "Published as FAQ entry" in told[0].args["text"]
    assert c.gaps.topics() == []
    found = c.index.retrieve(COFFEE[0], 1)  # the topic's question finds what the admin wrote, at once
    assert not found.abstain and found.top.question == question and found.top.answer == answer
    home = _home(slack, ADMIN, 1)  # App Home re-published after the decision
    assert "Knowledge gaps:* 0" in home
