"""Leases on questions: a question is answered by exactly one process, and again if that one died."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from bot.container import Container
from bot.db.models import Answer, Message, utcnow
from bot.services.answer import MAX_ATTEMPTS, Superseded

pytestmark = pytest.mark.slow  # over ~2 s each here: `make test-fast` leaves them out


def _take(c: Container, ts: str = "5000.0001"):
    return c.answers.receive(
        "How do I reset my VPN password?",
        user_id="UASK",
        source="slack",
        channel_id="D0ASK",
        thread_ts=ts,
        dedup_key=f"slack:D0ASK:{ts}",
        slack_ts=ts,
    )


def _expire(c: Container, message_id: int) -> None:
    with c.sessions() as s:
        s.execute(
            update(Message)
            .where(Message.id == message_id)
            .values(answer_lease_until=utcnow() - timedelta(1e-3))
        )
        s.commit()


def test_a_live_lease_is_not_claimed(container, sample_index):
    received = _take(container)
    assert container.answers.claim_overdue() == []
    assert container.answers.renew(received)


def test_an_expired_question_is_claimed_by_exactly_one_process(container, sample_index, settings):
    other = Container(settings)  # a second process on the same database
    received = _take(container)
    _expire(container, received.message_id)
    claims: list = []
    barrier = threading.Barrier(2)

    def sweep(c: Container) -> None:
        barrier.wait()
        claims.extend(c.answers.claim_overdue())

    threads = [threading.Thread(target=sweep, args=(c,)) for c in (container, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(claims) == 1
    claim = claims[0]
    assert (claim.message_id, claim.attempt, claim.question) == (received.message_id, 1, received.question)

    # The first process comes back from its stall: it may not answer any more; the claimant does.
    assert not container.answers.renew(received)
    with pytest.raises(Superseded):
        container.answers.respond(received)
    result = other.answers.respond(claim)
    assert result.sources[0]["id"] == "vpn-password-reset"
    with container.sessions() as s:
        assert s.scalar(select(func.count(Answer.id))) == 1
        assert s.get(Message, received.message_id).answer_lease_until is None
    assert container.answers.claim_overdue() == []  # answered: nothing left to recover


def test_history_of_a_recovered_follow_up_is_its_own_thread(container, sample_index):
    first = _take(container)
    container.answers.respond(first)
    follow = container.answers.receive(
        "and what if that doesn't work?",
        user_id="UASK",
        source="slack",
        channel_id="D0ASK",
        thread_ts="5000.0001",
        dedup_key="slack:D0ASK:5000.0009",
        slack_ts="5000.0009",
    )
    _take(container, ts="6000.0001")  # another thread, not to be mixed in
    _expire(container, follow.message_id)
    (claim,) = [r for r in container.answers.claim_overdue() if r.message_id == follow.message_id]
    assert [t.role for t in claim.history] == [t.role for t in follow.history] == ["user", "assistant"]
    assert [t.text for t in claim.history] == [t.text for t in follow.history]


def test_gives_up_after_the_last_attempt(container, sample_index):
    received = _take(container)
    for attempt in range(1, MAX_ATTEMPTS):
        _expire(container, received.message_id)
        (claim,) = container.answers.claim_overdue()
        assert claim.attempt == attempt
    _expire(container, received.message_id)
    assert container.answers.claim_overdue() == []
    with container.sessions() as s:
        assert s.get(Message, received.message_id).answer_lease_until is None  # not looked at again


def test_refused_and_cli_questions_are_never_swept(container, sample_index):
    refused = container.answers.receive(
        "",
        user_id="UASK",
        source="slack",
        channel_id="D0ASK",
        thread_ts="7000.0001",
        dedup_key="slack:D0ASK:7000.0001",
    )
    assert refused.error
    container.answers.ask("How do I reset my VPN password?")  # answered: its lease is gone
    pending_cli = container.answers.receive("How do I reset my VPN password?", user_id="cli", source="cli")
    with container.sessions() as s:
        assert s.get(Message, refused.message_id).answer_lease_until is None  # nothing will answer it
        s.execute(
            update(Message)
            .where(Message.answer_lease_until.is_not(None))
            .values(answer_lease_until=utcnow() - timedelta(seconds=1))
        )
        s.commit()
        # Only the CLI question still waits; its asker's process is the only one that could reply.
        assert s.scalars(select(Message.id).where(Message.answer_lease_until.is_not(None))).all() == [
            pending_cli.message_id
        ]
    assert container.answers.claim_overdue() == []
