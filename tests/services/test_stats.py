"""Support figures on a seeded SQLite database with known numbers, through the service and the CLI."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, time, timedelta

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.container import Container
from bot.db.models import Answer, Conversation, Feedback, Handoff, Message, Review
from bot.services.stats import topic_key
from bot.settings import Settings

THREADS = itertools.count(1)
TODAY = datetime.combine(datetime.now(UTC).date(), time(12), UTC)


def day(offset: int) -> datetime:
    return TODAY + timedelta(days=offset)


def ask(
    session,
    text: str,
    when: datetime,
    *,
    mode: str = "generated",
    closest: str | None = "vpn-password-reset",
    handoff: str | None = None,
    review: tuple[str, datetime] | None = None,
    feedback: str | None = None,
) -> Answer:
    """One question with the bot's answer, and what happened to it afterwards."""
    convo = Conversation(
        source="slack", user_id="U1", channel_id="D1", thread_ts=f"{next(THREADS)}.0001", created_at=when
    )
    question = Message(conversation=convo, role="user", user_id="U1", text=text, created_at=when)
    answer = Answer(
        question=question,
        text="...",
        mode=mode,
        abstained=mode == "abstain",
        latency_ms=100.0,
        sources=[{"id": closest, "score": 0.2}] if closest else [],
        created_at=when + timedelta(seconds=2),
    )
    session.add_all([convo, question, answer])
    session.flush()
    if handoff:
        session.add(
            Handoff(
                conversation_id=convo.id,
                question_message_id=question.id,
                answer_id=answer.id,
                reason=handoff,
                created_at=when + timedelta(minutes=1),
            )
        )
    if review:
        session.add(Review(answer_id=answer.id, reviewer_id="UADMIN", action=review[0], created_at=review[1]))
    if feedback:
        session.add(
            Feedback(answer_id=answer.id, user_id="U1", kind=feedback, created_at=when + timedelta(minutes=2))
        )
    return answer


@pytest.fixture
def seeded(data_dir) -> Container:
    c = Container(Settings(data_dir=data_dir))
    c.ensure_schema()
    with c.sessions() as s:
        ask(s, "Where is the office?", day(-3), mode="faq")  # before the window
        # two days ago: one deflected and approved, one abstained and handed off
        ask(s, "How do I reset my VPN password?", day(-2), review=("approve", day(-2)))
        ask(
            s,
            "How do I expense a taxi?",
            day(-2),
            mode="abstain",
            closest="travel-expenses",
            handoff="abstain",
        )
        # yesterday: the same gap in other words; an FAQ answer the asker still took to a human
        ask(
            s, "how do i expense taxis", day(-1), mode="abstain", closest="travel-expenses", handoff="abstain"
        )
        payslip = ask(
            s,
            "Where is my payslip?",
            day(-1),
            mode="faq",
            handoff="requested",
            review=("reject", day(0)),
            feedback="escalate",
        )
        # the agent's reply (an answer by a human, approved) and the asker's follow-up are not questions
        agent = Answer(
            question_message_id=payslip.question_message_id,
            text="In Workday.",
            mode="human",
            latency_ms=5.0,
            sources=[],
            created_at=day(-1) + timedelta(minutes=5),
        )
        s.add(agent)
        s.add(
            Message(
                conversation_id=payslip.question.conversation_id,
                role="user",
                user_id="U1",
                text="thanks, found it",
                created_at=day(-1) + timedelta(minutes=6),
            )
        )
        s.flush()
        s.add(Review(answer_id=agent.id, reviewer_id="UADMIN", action="approve", created_at=day(0)))
        # today
        ask(s, "Can I bring my dog to the office?", day(0), mode="abstain", closest="office-pets")
        ask(s, "What's the wifi password?", day(0), review=("edit", day(0)), feedback="helpful")
        ask(s, "What's the wifi password", day(0), mode="faq", feedback="not_helpful")
        s.commit()
    return c


def test_questions_per_day_deflection_approval_rate_and_gaps(seeded):
    stats = seeded.stats.summary(days=3)
    rows = [
        (d.day, d.questions, d.answered, d.abstained, d.escalated, d.deflected, d.approvals, d.rejections)
        for d in stats.days
    ]
    assert rows == [
        (day(-2).date(), 2, 1, 1, 1, 1, 1, 0),
        (day(-1).date(), 2, 1, 1, 2, 0, 0, 0),
        (day(0).date(), 3, 2, 1, 0, 2, 1, 1),  # the approved human reply is not the bot's answer
    ]
    assert stats.total("questions") == 7 and stats.deflection == pytest.approx(3 / 7)
    assert stats.approval_rate == pytest.approx(2 / 3) and stats.edited == 1
    assert (stats.helpful, stats.not_helpful) == (1, 1)
    topics = [(t.example, t.questions, t.closest_entry) for t in stats.top_unanswered]
    assert topics == [
        ("How do I expense a taxi?", 2, "travel-expenses"),
        ("Can I bring my dog to the office?", 1, "office-pets"),
    ]
    assert stats.top_unanswered[0].last_asked == day(-1)


def test_an_empty_period_has_no_rates_rather_than_zero(seeded):
    stats = seeded.stats.summary(days=1, now=day(30))
    assert stats.total("questions") == 0 and stats.deflection is None and stats.approval_rate is None
    assert stats.top_unanswered == []


def test_topic_key_ignores_word_order_filler_and_plurals():
    assert (
        topic_key("How do I expense a taxi?") == topic_key("taxis: how can I expense them?") == "expens taxi"
    )
    assert topic_key("???") == "???"


def test_topic_key_reads_any_language():
    """It kept ASCII letters only: a German question lost its umlauts' words, a Chinese one became
    its whole text, so the same question asked twice in other words was two topics."""
    assert topic_key("Wie viele Urlaubstage habe ich?") == topic_key("Urlaubstage: wie viele habe ich?")
    assert "urlaubstag" in topic_key("Wie viele Urlaubstage habe ich?").split()
    assert topic_key("Wie ändere ich mein Passwort?") != topic_key("Wie ändere ich meine Adresse?")
    assert topic_key("我有多少天年假？") == topic_key("年假我有多少天") != topic_key("如何申请报销？")


def test_stats_command_prints_the_figures_and_json(seeded, monkeypatch, data_dir):
    monkeypatch.setenv("SUPPORTBOT_DATA_DIR", str(data_dir))
    result = CliRunner().invoke(app, ["stats", "--days", "3", "--json"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert (data["questions"], data["deflected"], data["approvals"], data["rejections"]) == (7, 3, 2, 1)
    assert data["deflection"] == round(3 / 7, 4) and data["approval_rate"] == round(2 / 3, 4)
    assert [d["questions"] for d in data["days"]] == [2, 2, 3]
    assert data["top_unanswered"][0]["closest_entry"] == "travel-expenses"

    result = CliRunner().invoke(app, ["stats", "--days", "3"])
    assert result.exit_code == 0
    assert "Deflection: 43% of 7 questions answered without a human" in result.stdout
    assert "Approval rate: 67% of 3 reviewed answers (1 edited first)" in result.stdout
    assert "How do I expense a taxi?" in result.stdout and "travel-expenses" in result.stdout
