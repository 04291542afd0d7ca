"""A question recorded by a process that died before answering is answered by a live one, in the
same thread and in the placeholder the dead one had posted; and the final answer outlasts Slack
rate limiting and server errors."""

from __future__ import annotations

import time

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


def _left_behind(slack, channel: str, ts: str):
    """What a process that died mid-answer leaves behind: the question recorded, a placeholder
    posted and remembered. (received, placeholder ts)."""
    received = slack.container.answers.receive(
        "How do I reset my VPN password?",
        user_id="UASKER",
        source="slack",
        channel_id=channel,
        thread_ts=ts,
        dedup_key=f"slack:{channel}:{ts}",
        slack_ts=ts,
    )
    placeholder = slack.bot.client.chat_postMessage(channel=channel, thread_ts=ts, text=blocks.THINKING_TEXT)[
        "ts"
    ]
    slack.container.answers.placeholder_posted(received, placeholder)
    return received, placeholder


@pytest.mark.slow
def test_a_question_whose_process_died_is_answered_in_its_placeholder(slack):
    peer, c = slack.peer, slack.container
    received, placeholder = _left_behind(slack, "D0DEAD", "4000.0001")

    final = peer.wait_for(
        lambda: peer.final_answers("D0DEAD", "4000.0001"), timeout=60, what="the recovered answer"
    )
    assert final[0].args["ts"] == placeholder and "Brightwater" in final[0].args["text"]
    assert len(peer.calls_to("chat.postMessage", channel="D0DEAD")) == 1  # no second placeholder
    with c.sessions() as s:
        (answer,) = s.scalars(select(Answer)).all()
        assert answer.question_message_id == received.message_id
        assert s.get(Message, received.message_id).answer_attempts == 1


@pytest.mark.slow
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


@pytest.mark.slow
def test_an_answer_recorded_but_never_shown_is_shown_once_in_its_placeholder(slack):
    """What a process leaves behind when the database (or Slack) went away after the answer was
    recorded and before it reached the asker: the question, its placeholder, the answer in SQL,
    nothing in Slack. Before, recovery skipped it (an answer existed) and the asker never got one."""
    peer, c = slack.peer, slack.container
    received, placeholder = _left_behind(slack, "D0LOST", "4200.0001")
    recorded = c.answers.respond(received, deliver_later=True)  # ... and then the process died

    final = peer.wait_for(
        lambda: peer.final_answers("D0LOST", "4200.0001"), timeout=60, what="the recorded answer"
    )
    assert final[0].args["ts"] == placeholder and "Brightwater" in final[0].args["text"]
    feedback = [b for b in final[0].args["blocks"] if b.get("type") == "actions"]
    assert feedback[0]["block_id"] == f"feedback-{recorded.answer_id}"  # the recorded answer, not a new one

    def delivered() -> bool:  # marked right after the update is shown
        with c.sessions() as s:
            (answer,) = s.scalars(select(Answer)).all()
            assert answer.id == recorded.answer_id
            question = s.get(Message, received.message_id)
            return (
                s.get(Message, answer.message_id).slack_ts == placeholder and not question.answer_lease_until
            )

    deadline = time.monotonic() + 30
    while not delivered():
        assert time.monotonic() < deadline, "the answer was never marked delivered"
        time.sleep(0.2)
    time.sleep(8)  # past another lease: a delivered answer is not claimed again
    assert len(peer.final_answers("D0LOST")) == 1
    assert len(peer.calls_to("chat.postMessage", channel="D0LOST")) == 1


def _refuse_writes_of(column: str) -> dict[str, list[str]]:
    """Triggers that make the database refuse setting ``column`` of a message (as an outage
    would, at exactly that write), for SQLite and PostgreSQL."""
    return {
        "sqlite": [
            f"CREATE TRIGGER refuse_{column} BEFORE UPDATE OF {column} ON messages"
            f" WHEN NEW.{column} IS NOT NULL BEGIN SELECT RAISE(ABORT, 'database went away'); END"
        ],
        "postgresql": [
            f"CREATE FUNCTION refuse_{column}() RETURNS trigger LANGUAGE plpgsql"
            " AS $$ BEGIN RAISE EXCEPTION 'database went away'; END $$",
            f"CREATE TRIGGER refuse_{column} BEFORE UPDATE OF {column} ON messages FOR EACH ROW"
            f" WHEN (NEW.{column} IS NOT NULL) EXECUTE FUNCTION refuse_{column}()",
        ],
    }


@pytest.mark.slow
def test_a_placeholder_the_database_could_not_remember_is_taken_back(slack_any_db):
    """The placeholder is posted, then the write that remembers it fails: the answer that recovery
    brings later cannot go into it, so it is deleted rather than left "Looking that up…" for good,
    and the answer comes in a new one."""
    import sqlalchemy as sa

    slack = slack_any_db
    peer, c = slack.peer, slack.container
    engine = c.sessions.kw["bind"]
    with engine.begin() as conn:
        for statement in _refuse_writes_of("placeholder_ts")[engine.dialect.name]:
            conn.execute(sa.text(statement))
    event = dm("UASKER", "How do I reset my VPN password?", ts="4400.0001", channel="D0PH")
    assert slack.send.event(event, event_id="EvPH1").status_code == 200
    deleted = peer.wait_for(lambda: peer.calls_to("chat.delete", channel="D0PH"), what="the take-back")[0]
    first = peer.calls_to("chat.postMessage", channel="D0PH")[0]
    assert deleted.args["ts"] == first.ts
    with engine.begin() as conn:
        suffix = " ON messages" if engine.dialect.name == "postgresql" else ""
        conn.execute(sa.text("DROP TRIGGER refuse_placeholder_ts" + suffix))
    final = peer.wait_for(lambda: peer.final_answers("D0PH", "4400.0001"), timeout=60, what="the answer")
    assert len(final) == 1 and final[0].args["ts"] != first.ts and "Brightwater" in final[0].args["text"]
    # Every placeholder the database could not remember was withdrawn (on a loaded machine a sweep
    # may have tried once more before the trigger was dropped): only the answer's reply is left.
    withdrawn = {c.args["ts"] for c in peer.calls_to("chat.delete", channel="D0PH")}
    left = [c.ts for c in peer.calls_to("chat.postMessage", channel="D0PH") if c.ts not in withdrawn]
    assert left == [final[0].args["ts"]]


REFUSE_DELIVERY = {
    # The database refuses the write that marks an answer delivered (as an outage would, at exactly
    # that moment): the answer is already recorded and already shown.
    "sqlite": [
        "CREATE TRIGGER refuse_delivery BEFORE UPDATE OF slack_ts ON messages"
        " WHEN NEW.role = 'bot' AND NEW.slack_ts IS NOT NULL"
        " BEGIN SELECT RAISE(ABORT, 'database went away'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse_delivery() RETURNS trigger LANGUAGE plpgsql"
        " AS $$ BEGIN RAISE EXCEPTION 'database went away'; END $$",
        "CREATE TRIGGER refuse_delivery BEFORE UPDATE OF slack_ts ON messages FOR EACH ROW"
        " WHEN (NEW.role = 'bot' AND NEW.slack_ts IS NOT NULL) EXECUTE FUNCTION refuse_delivery()",
    ],
}


@pytest.mark.slow
def test_an_answer_whose_delivery_could_not_be_recorded_is_shown_again_in_place_not_lost(slack_any_db):
    """The write after the answer fails: the lease runs out and the recorded answer is shown again
    in the same message (an update: the asker still sees one answer), then marked delivered."""
    import sqlalchemy as sa

    slack = slack_any_db
    peer, c = slack.peer, slack.container
    engine = c.sessions.kw["bind"]
    with engine.begin() as conn:
        for statement in REFUSE_DELIVERY[engine.dialect.name]:
            conn.execute(sa.text(statement))
    event = dm("UASKER", "How do I reset my VPN password?", ts="4300.0001", channel="D0REF")
    assert slack.send.event(event, event_id="EvREF1").status_code == 200
    first = peer.wait_for(lambda: peer.final_answers("D0REF", "4300.0001"), timeout=60, what="the answer")

    def reply_ts():
        with c.sessions() as s:
            answers = s.scalars(select(Answer)).all()
            return [s.get(Message, a.message_id).slack_ts for a in answers]

    time.sleep(1.0)
    assert reply_ts() == [None]  # shown, recorded, but the delivery mark was refused
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "DROP TRIGGER refuse_delivery"
                + (" ON messages" if engine.dialect.name == "postgresql" else "")
            )
        )
    deadline = time.monotonic() + 60
    while reply_ts() != [first[0].args["ts"]]:
        assert time.monotonic() < deadline, "the answer was never marked delivered"
        time.sleep(0.3)
    finals = peer.final_answers("D0REF", "4300.0001")
    assert len(finals) == 2 and {f.args["ts"] for f in finals} == {first[0].args["ts"]}  # one message
    assert finals[1].args["text"] == first[0].args["text"]
    assert len(peer.calls_to("chat.postMessage", channel="D0REF")) == 1  # one placeholder, no second reply
