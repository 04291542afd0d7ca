"""Hand-off to humans: one open hand-off per question, relayed both ways, kept as a transcript.

A human agent's reply is stored as a message of the asker's conversation and as an answer
(mode "human") to the question, so an admin can approve it into the training set like any answer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import Answer, Conversation, Feedback, Handoff, Message
from bot.observability.metrics import BotMetrics
from bot.services.feedback import by_asker


@dataclass(frozen=True)
class HandoffInfo:
    id: int
    conversation_id: int
    question_message_id: int
    answer_id: int | None
    question: str
    asker: str | None
    asker_channel: str | None
    asker_thread_ts: str | None
    bot_answer: str | None
    reason: str
    support_channel: str | None
    support_ts: str | None


class HandoffService:
    def __init__(self, sessions: sessionmaker[Session], *, metrics: BotMetrics | None = None):
        self.sessions = sessions
        self.metrics = metrics or BotMetrics()

    def open(self, answer_id: int, requested_by: str, reason: str) -> HandoffInfo | None:
        """Open the hand-off for this answer's question; None when it is already open (double click,
        another process)."""
        with self.sessions() as session:
            answer = session.get(Answer, answer_id)
            if answer is None:
                raise LookupError(f"no answer {answer_id}")
            question = session.get(Message, answer.question_message_id)
            # Asked before the hand-off is added: the query would autoflush it, and a second
            # hand-off of the same question must fail at the commit below, not here.
            mine = by_asker(session, answer, requested_by) if reason == "requested" else None
            handoff = Handoff(
                conversation_id=question.conversation_id,
                question_message_id=question.id,
                answer_id=answer_id,
                requested_by=requested_by,
                reason=reason,
            )
            session.add(handoff)
            if reason == "requested":
                session.add(
                    Feedback(answer_id=answer_id, user_id=requested_by, kind="escalate", by_asker=mine)
                )
            try:
                session.commit()
            except IntegrityError:
                return None
            self.metrics.escalations.labels(reason).inc()
            return self._info(session, handoff)

    def posted(self, handoff_id: int, channel: str, ts: str) -> None:
        with self.sessions() as session:
            handoff = session.get(Handoff, handoff_id)
            handoff.support_channel, handoff.support_ts = channel, ts
            session.commit()

    def by_support_thread(self, channel: str, thread_ts: str) -> HandoffInfo | None:
        with self.sessions() as session:
            h = session.scalar(
                select(Handoff).where(Handoff.support_channel == channel, Handoff.support_ts == thread_ts)
            )
            return self._info(session, h) if h else None

    def open_for_thread(self, channel: str, thread_ts: str) -> HandoffInfo | None:
        """The open hand-off of the asker's thread, if a human has taken it over."""
        with self.sessions() as session:
            h = session.scalar(
                select(Handoff)
                .join(Conversation, Conversation.id == Handoff.conversation_id)
                .where(
                    Conversation.source == "slack",
                    Conversation.channel_id == channel,
                    Conversation.thread_ts == thread_ts,
                    Handoff.status == "open",
                    Handoff.support_ts.is_not(None),
                )
                .order_by(Handoff.id.desc())
                .limit(1)
            )
            return self._info(session, h) if h else None

    def record_human_reply(self, handoff: HandoffInfo, agent: str, text: str, dedup_key: str) -> int | None:
        """Store an agent's reply in the asker's conversation; returns the answer id, None if seen before."""
        started = time.perf_counter()
        with self.sessions() as session:
            reply = Message(
                conversation_id=handoff.conversation_id,
                role="human",
                user_id=agent,
                text=text,
                slack_channel=handoff.asker_channel,
                slack_thread_ts=handoff.asker_thread_ts,
                dedup_key=dedup_key,
            )
            session.add(reply)
            try:
                session.flush()
            except IntegrityError:
                return None
            answer = Answer(
                question_message_id=handoff.question_message_id,
                message_id=reply.id,
                text=text,
                sources=[],
                abstained=False,
                grounded=None,
                mode="human",
                latency_ms=(time.perf_counter() - started) * 1000,
            )
            session.add(answer)
            session.commit()
            self.metrics.answers.labels("human").inc()
            return answer.id

    def record_asker_followup(self, handoff: HandoffInfo, user: str, text: str, dedup_key: str) -> bool:
        with self.sessions() as session:
            session.add(
                Message(
                    conversation_id=handoff.conversation_id,
                    role="user",
                    user_id=user,
                    text=text,
                    slack_channel=handoff.asker_channel,
                    slack_thread_ts=handoff.asker_thread_ts,
                    dedup_key=dedup_key,
                )
            )
            try:
                session.commit()
            except IntegrityError:
                return False
            return True

    @staticmethod
    def _info(session: Session, h: Handoff) -> HandoffInfo:
        question = session.get(Message, h.question_message_id)
        convo = session.get(Conversation, h.conversation_id)
        answer = session.get(Answer, h.answer_id) if h.answer_id else None
        return HandoffInfo(
            h.id,
            h.conversation_id,
            h.question_message_id,
            h.answer_id,
            question.text,
            question.user_id,
            convo.channel_id,
            convo.thread_ts,
            answer.text if answer else None,
            h.reason,
            h.support_channel,
            h.support_ts,
        )
