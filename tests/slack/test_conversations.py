"""Asking in Slack: DMs, mentions, /ask, threads, streaming, exactly-once, signatures, bad input."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from bot.db.models import Answer, Conversation, Message
from tests.slack.harness import ASKER, SECRET
from tests.slack.slack_peer import BOT_USER, dm, sign


def _texts(blocks: list[dict]) -> str:
    out = []
    for b in blocks:
        if b.get("text"):
            out.append(b["text"]["text"])
        for e in b.get("elements", []):
            out.append(
                e.get("text") if isinstance(e.get("text"), str) else (e.get("text") or {}).get("text", "")
            )
    return "\n".join(out)


@pytest.mark.slow
def test_dm_is_answered_in_its_thread_with_sources_and_recorded(slack):
    sent = time.monotonic()
    r = slack.send.event(dm(ASKER, "How do I reset my VPN password?", ts="1000.0001"))
    acked = time.monotonic()
    assert r.status_code == 200 and acked - sent < 3

    placeholder = slack.peer.wait_for(
        lambda: slack.peer.calls_to("chat.postMessage", channel="D0USER1"), what="the placeholder"
    )[0]
    assert placeholder.args["thread_ts"] == "1000.0001"
    assert placeholder.at - sent < 1.0  # a placeholder within a second
    final = slack.peer.wait_for(lambda: slack.peer.final_answers("D0USER1", "1000.0001"), what="the answer")
    assert len(final) == 1
    shown = _texts(final[0].args["blocks"])
    assert "Sources:" in shown and "VPN" in shown
    buttons = [
        e["action_id"] for b in final[0].args["blocks"] if b["type"] == "actions" for e in b["elements"]
    ]
    assert buttons == ["feedback_helpful", "feedback_not_helpful", "handoff_request"]

    with slack.container.sessions() as s:
        convo = s.scalar(select(Conversation).where(Conversation.channel_id == "D0USER1"))
        assert convo.thread_ts == "1000.0001" and convo.source == "slack"
        roles = [(m.role, m.user_id) for m in convo.messages]
        assert roles == [("user", ASKER), ("bot", None)]
        answer = s.scalar(select(Answer))
        assert answer.sources[0]["id"] == "vpn-password-reset"
        # the asker sees whether the assistant phrased it or the FAQ says it as written
        said = {"generated": "Phrased by the assistant from the FAQ", "faq": "From the FAQ, as written"}
        assert said[answer.mode] in shown

    def delivered_at() -> str | None:  # marked once the answer is shown (the lease ends there)
        with slack.container.sessions() as s:
            return s.scalar(select(Message.slack_ts).where(Message.role == "bot"))

    deadline = time.monotonic() + 10
    while delivered_at() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert delivered_at() == placeholder.ts  # where it was delivered


@pytest.mark.slow
def test_streamed_drafts_respect_the_update_interval(slack):
    slack.send.event(dm(ASKER, "my vpn password stopped working, what now?", ts="1000.0002"))
    final = slack.peer.wait_for(lambda: slack.peer.final_answers("D0USER1"), what="the answer")[0]
    updates = slack.peer.calls_to("chat.update", ts=final.args["ts"])
    drafts = updates[:-1]
    assert drafts, "the answer was not streamed"
    gaps = [b.at - a.at for a, b in zip(drafts, drafts[1:])]
    assert all(g >= 0.3 - 0.05 for g in gaps), gaps  # stream_update_interval_s=0.3 in the harness
    for d in drafts:
        assert "drafting" in _texts(d.args["blocks"])  # a draft is marked until checked


@pytest.mark.slow
def test_retried_and_duplicate_deliveries_are_answered_once(slack):
    event = {
        "type": "message",
        "channel": "CGENERAL",
        "channel_type": "channel",
        "user": ASKER,
        "text": f"<@{BOT_USER}> where do I find my payslip?",
        "ts": "2000.0001",
    }
    mention = {**event, "type": "app_mention"}
    assert slack.send.event(event, event_id="EvA").status_code == 200
    assert slack.send.event(mention, event_id="EvB").status_code == 200  # Slack sends both for a mention
    assert slack.send.event(event, event_id="EvA", retry_num=1).status_code == 200
    assert slack.send.event(event, event_id="EvA", retry_num=2).status_code == 200
    slack.peer.wait_for(lambda: slack.peer.final_answers("CGENERAL"), what="the answer")
    time.sleep(1.0)
    assert len(slack.peer.final_answers("CGENERAL")) == 1
    assert len(slack.peer.calls_to("chat.postMessage", channel="CGENERAL")) == 1
    with slack.container.sessions() as s:
        assert len(s.scalars(select(Message).where(Message.role == "user")).all()) == 1


@pytest.mark.slow
def test_follow_up_in_thread_uses_the_thread_without_a_mention(slack):
    first = {
        "type": "app_mention",
        "channel": "CGENERAL",
        "user": ASKER,
        "text": f"<@{BOT_USER}> where do I find my payslip?",
        "ts": "2100.0001",
    }
    slack.send.event(first)
    slack.peer.wait_for(lambda: slack.peer.final_answers("CGENERAL"), what="the first answer")
    follow = {
        "type": "message",
        "channel": "CGENERAL",
        "channel_type": "channel",
        "user": ASKER,
        "text": "and when is payday?",
        "ts": "2100.0005",
        "thread_ts": "2100.0001",
    }
    slack.send.event(follow)
    slack.peer.wait_for(lambda: len(slack.peer.final_answers("CGENERAL")) == 2, what="the follow-up answer")
    with slack.container.sessions() as s:
        convos = s.scalars(select(Conversation)).all()
        assert len(convos) == 1 and [m.role for m in convos[0].messages] == ["user", "bot", "user", "bot"]


@pytest.mark.slow
def test_channel_modes(slack):
    slack.container.settings.channel_modes = {"CQUIET": "never", "CHELP": "all"}
    plain = {
        "type": "message",
        "channel_type": "channel",
        "user": ASKER,
        "text": "where do I find my payslip?",
    }
    slack.send.event({**plain, "channel": "CGENERAL", "ts": "3000.0001"})  # default: only when mentioned
    slack.send.event(
        {
            **plain,
            "channel": "CQUIET",
            "ts": "3000.0002",
            "text": f"<@{BOT_USER}> where do I find my payslip?",
        }
    )
    slack.send.event(
        {
            **plain,
            "type": "app_mention",
            "channel": "CQUIET",
            "ts": "3000.0002",
            "text": f"<@{BOT_USER}> where do I find my payslip?",
        }
    )
    slack.send.event({**plain, "channel": "CHELP", "ts": "3000.0003"})
    slack.peer.wait_for(lambda: slack.peer.final_answers("CHELP"), what="the answer in CHELP")
    time.sleep(0.5)
    assert slack.peer.calls_to("chat.postMessage", channel="CGENERAL") == []
    assert slack.peer.calls_to("chat.postMessage", channel="CQUIET") == []


@pytest.mark.slow
def test_slash_command_posts_the_question_and_answers_in_its_thread(slack):
    r = slack.send.command("/ask", "How do I reset my VPN password?", ASKER, "CGENERAL")
    assert r.status_code == 200
    question_post = slack.peer.calls_to("chat.postMessage", channel="CGENERAL")[0]
    assert "asked" in question_post.args["text"] and "thread_ts" not in question_post.args
    slack.peer.wait_for(lambda: slack.peer.final_answers("CGENERAL", question_post.ts), what="the answer")
    empty = slack.send.command("/ask", "  ", ASKER, "CGENERAL")
    assert "Usage" in empty.text


@pytest.mark.slow
def test_forged_and_stale_signatures_are_rejected(slack):
    event = dm(ASKER, "How do I reset my VPN password?", ts="4000.0001")
    assert slack.send.event(event, signature="v0=" + "0" * 64).status_code == 401
    other_secret = sign("not-the-secret", str(int(time.time())), b"{}")
    assert slack.send.event(event, signature=other_secret).status_code == 401
    stale = int(time.time()) - 6 * 60  # signed correctly, but outside the five-minute window
    assert slack.send.event(event, timestamp=stale).status_code == 401
    assert slack.send.command("/ask", "hi", ASKER, "CGENERAL", signature="v0=bad").status_code == 401
    time.sleep(0.5)
    assert slack.peer.calls_to("chat.postMessage") == []
    with slack.container.sessions() as s:
        assert s.scalars(select(Message)).all() == []
    assert SECRET not in str([c.args for c in slack.peer.calls])


@pytest.mark.slow
def test_huge_and_empty_messages_get_a_clear_reply_once(slack):
    slack.send.event(dm(ASKER, "x" * 40_000, ts="5000.0001"))
    slack.send.event(dm(ASKER, "x" * 40_000, ts="5000.0001"), retry_num=1)
    mention_only = {
        "type": "app_mention",
        "channel": "CGENERAL",
        "user": ASKER,
        "text": f"<@{BOT_USER}>",
        "ts": "5000.0002",
    }
    slack.send.event(mention_only)
    huge = slack.peer.wait_for(
        lambda: slack.peer.calls_to("chat.postMessage", channel="D0USER1"), what="reply"
    )
    empty = slack.peer.wait_for(
        lambda: slack.peer.calls_to("chat.postMessage", channel="CGENERAL"), what="reply"
    )
    time.sleep(0.5)
    assert len(slack.peer.calls_to("chat.postMessage", channel="D0USER1")) == 1
    assert "40,000 characters" in huge[0].args["text"] and huge[0].args["thread_ts"] == "5000.0001"
    assert "empty" in empty[0].args["text"]
    with slack.container.sessions() as s:
        msgs = s.scalars(select(Message).order_by(Message.id)).all()
        assert [m.role for m in msgs] == ["user", "bot", "user", "bot"]  # question and reply, both complete
        assert len(msgs[0].text) < 1000  # a refused question is not stored whole
        assert s.scalars(select(Answer)).all() == []


def test_health_and_readiness(slack):
    import httpx

    assert httpx.get(slack.url + "/healthz").text == "ok\n"
    assert httpx.get(slack.url + "/readyz").status_code == 200


@pytest.mark.slow
def test_serve_explains_missing_credentials(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    exe = Path(sys.executable).with_name("supportbot")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORTBOT_")} | {
        "SUPPORTBOT_DATA_DIR": str(tmp_path / "data")
    }
    r = subprocess.run([str(exe), "serve"], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "SUPPORTBOT_SLACK_BOT_TOKEN" in r.stderr
    env["SUPPORTBOT_SLACK_BOT_TOKEN"] = "xoxb-x"
    r = subprocess.run([str(exe), "serve"], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "SUPPORTBOT_SLACK_APP_TOKEN" in r.stderr
    r = subprocess.run([str(exe), "serve", "--http"], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "SUPPORTBOT_SLACK_SIGNING_SECRET" in r.stderr
