"""App Home shows admins the knowledge gaps; publish and dismiss are admin-only (signed requests
to the real server, the Slack peer on 127.0.0.1)."""

from __future__ import annotations

import json

from bot.slack import blocks
from tests.services.test_gaps import COFFEE, DOGS
from tests.slack.conftest import ADMIN, ASKER, MALLORY
from tests.slack.slack_peer import button_click


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
