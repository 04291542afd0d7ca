"""A long entry is answered with its lead; the whole entry is one click away, for the presser only."""

from __future__ import annotations

import pytest

from bot.slack import blocks
from retrieval.faq import FaqItem, load_faq
from tests.services.test_concise import BENEFITS
from tests.slack.harness import ASKER
from tests.slack.slack_peer import button_click, dm
from tests.support import SAMPLE_FAQ

pytestmark = pytest.mark.slow  # over ~2 s each here: `make test-fast` leaves them out


def test_a_long_entry_is_answered_with_its_lead_and_the_whole_entry_is_a_click_away(slack):
    c = slack.container
    c.index.import_items(
        [
            *load_faq(SAMPLE_FAQ),
            FaqItem(id="benefits", question="What benefits do employees get?", answer=BENEFITS),
        ]
    )
    c.generation_gate.mode = "never"  # the FAQ text, as day 0 serves it
    c.generation_gate.forget()

    slack.send.event(dm(ASKER, "What benefits do employees get for gym memberships?", ts="7100.0001"))
    final = slack.peer.wait_for(lambda: slack.peer.final_answers("D0USER1", "7100.0001"), what="the answer")[
        0
    ]
    shown = final.args["blocks"][0]["text"]["text"]
    assert "gym subsidy" in shown and "Enrolment opens" not in shown  # the lead, not the wall of text
    (actions,) = [b for b in final.args["blocks"] if b["type"] == "actions"]
    pressed = {e["action_id"]: e["value"] for e in actions["elements"]}
    assert list(pressed) == [
        "feedback_helpful",
        "feedback_not_helpful",
        blocks.WHOLE_ENTRY,
        "handoff_request",
    ]

    slack.send.interaction(
        button_click(blocks.WHOLE_ENTRY, pressed[blocks.WHOLE_ENTRY], ASKER, "D0USER1", final.args["ts"])
    )
    shown_whole = slack.peer.wait_for(
        lambda: slack.peer.calls_to("chat.postEphemeral", user=ASKER), what="the whole entry"
    )
    assert "Pension contributions are matched" in shown_whole[0].args["text"]
    assert "What benefits do employees get?" in shown_whole[0].args["text"]


def test_a_short_entry_has_no_whole_entry_button(slack):
    slack.send.event(dm(ASKER, "How do I reset my VPN password?", ts="7200.0001"))
    final = slack.peer.wait_for(lambda: slack.peer.final_answers("D0USER1", "7200.0001"), what="the answer")[
        0
    ]
    (actions,) = [b for b in final.args["blocks"] if b["type"] == "actions"]
    assert blocks.WHOLE_ENTRY not in [e["action_id"] for e in actions["elements"]]
