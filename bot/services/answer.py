"""The answer service: question in, grounded answer out, everything recorded in SQL.

Transport-agnostic: the CLI and the Slack listeners both call ``AnswerService.ask``.

How an answer is chosen (measured in docs/benchmarks.md, not guessed):
1. retrieval picks the FAQ entry, or abstains when nothing in the FAQ is close enough;
2. a near-exact match is answered with the curated FAQ answer as written (mode "faq");
3. so is every question while the model in service has not earned generating: its measured faithful
   share is below the bar, or it was never measured (bot.services.model_check; fallback
   "not_earned"). Such answers take retrieval time only;
4. otherwise the model phrases an answer from that entry (mode "generated") and the grounding
   guard checks it against the entry; an unsupported answer is replaced by the FAQ answer with its
   citation (mode "faq", fallback "ungrounded"). A busy queue, a timeout or a runtime failure
   falls back the same way: the asker always gets the curated text, never an error.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased, sessionmaker

from bot.db.models import Answer, Conversation, FaqEntry, Message, utcnow
from bot.llm.base import GenerationError, GenerationParams, GenerationTimeout
from bot.llm.engine import Busy, ModelEngine
from bot.observability.metrics import BotMetrics
from bot.prompts import STOP_SEQUENCES, ContextEntry, Turn, build_prompt
from bot.services import concise, grounding
from bot.services.model_check import GenerationGate
from bot.settings import Settings
from retrieval.index import FaqIndex, Retrieval, RetrievedEntry

log = logging.getLogger(__name__)

ABSTAIN_TEXT = (
    "I couldn't find this in our FAQ, so I won't guess. "
    "A member of the support team can help: ask for a human and they'll pick it up."
)
HISTORY_TURNS = 4  # earlier messages of the same thread given to the model for follow-ups
MAX_ATTEMPTS = 3  # times a question is taken (first delivery + recoveries) before the bot gives up


class QuestionError(ValueError):
    """The question cannot be answered as given (empty, too long)."""


class Duplicate(RuntimeError):
    """This delivery of a question was already taken, by this process or another."""


class Superseded(RuntimeError):
    """Another process claimed this question after this one's lease ran out; it answers instead."""


@dataclass
class Received:
    """A question recorded in SQL, waiting for its answer."""

    message_id: int
    conversation_id: int
    question: str
    user_id: str
    source: str
    channel_id: str | None
    thread_ts: str | None
    history: list[Turn]
    error: str | None = None
    started: float = field(default_factory=time.perf_counter)
    attempt: int = 0  # the lease this process holds (answer_attempts when it took the question)
    placeholder_ts: str | None = None  # the "thinking" reply an earlier attempt already posted
    # An answer an earlier attempt recorded but never saw delivered (the database or Slack went away
    # in between): it is delivered as recorded, not made again.
    answer_id: int | None = None


@dataclass
class AnswerResult:
    answer: str
    sources: list[dict] = field(default_factory=list)
    abstained: bool = False
    mode: str = "abstain"  # "generated" | "faq" | "abstain"
    grounded: bool = False
    # why the model's text was not used: not_earned | ungrounded | busy | timeout | error
    fallback: str | None = None
    why: str = ""  # the mode's reason in words (stored with the answer, shown to admins and in `ask`)
    shortened: bool = False  # the answer is the lead of a longer entry (bot.services.concise)
    model_version: str | None = None
    latency_ms: float = 0.0
    tokens: int = 0
    conversation_id: int | None = None
    answer_id: int | None = None
    queue_position: int | None = None

    def to_json(self) -> dict:
        return {
            "answer": self.answer,
            "sources": self.sources,
            "abstained": self.abstained,
            "grounded": self.grounded,
            "mode": self.mode,
            "fallback": self.fallback,
            "why": self.why,
            "shortened": self.shortened,
            "model_version": self.model_version,
            "latency_ms": round(self.latency_ms, 1),
            "tokens": self.tokens,
            "conversation_id": self.conversation_id,
            "answer_id": self.answer_id,
        }


class AnswerService:
    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        index: FaqIndex,
        engine: ModelEngine,
        *,
        metrics: BotMetrics | None = None,
        gate: GenerationGate | None = None,
    ):
        self.settings = settings
        self.sessions = sessions
        self.index = index
        self.engine = engine
        self.metrics = metrics or BotMetrics()
        self.gate = gate  # None: every model generates (each answer still guarded)

    def validate(self, question: str) -> str:
        question = "".join(ch for ch in question if ch in "\n\t" or ch.isprintable()).strip()
        if not question:
            raise QuestionError("The question is empty.")
        if len(question) > self.settings.max_question_chars:
            raise QuestionError(
                f"The question is {len(question):,} characters long; the limit is "
                f"{self.settings.max_question_chars:,}. Please shorten it."
            )
        return question

    def ask(
        self,
        question: str,
        *,
        user_id: str = "cli",
        source: str = "cli",
        channel_id: str | None = None,
        thread_ts: str | None = None,
        on_text: Callable[[str], None] | None = None,
        on_queued: Callable[[int], None] | None = None,
    ) -> AnswerResult:
        """Answer ``question``. ``on_text`` receives the answer so far while it streams;
        ``on_queued`` the number of questions ahead when the model is busy with others.
        An invalid question raises ``QuestionError`` before anything is stored."""
        self.validate(question)
        received = self.receive(
            question, user_id=user_id, source=source, channel_id=channel_id, thread_ts=thread_ts
        )
        return self.respond(received, on_text=on_text, on_queued=on_queued)

    def receive(
        self,
        text: str,
        *,
        user_id: str,
        source: str,
        channel_id: str | None = None,
        thread_ts: str | None = None,
        dedup_key: str | None = None,
        slack_ts: str | None = None,
    ) -> Received:
        """Record a question durably, before any slow work (and, for Slack, before the ack).

        ``dedup_key`` is unique in SQL: a second delivery of the same message, in this process or
        another, raises ``Duplicate``. An invalid question is recorded with the bot's refusal, so a
        retried delivery is recognised and the record is complete; ``Received.error`` says why.
        """
        started = time.perf_counter()
        try:
            question, error = self.validate(text), None
        except QuestionError as exc:
            question, error = _preview(text), str(exc)
        with self.sessions() as session:
            try:
                convo = self._conversation(session, source, user_id, channel_id, thread_ts)
                history = self._history(session, convo)
                asked = Message(
                    conversation=convo,
                    role="user",
                    user_id=user_id,
                    text=question,
                    slack_channel=channel_id,
                    slack_ts=slack_ts,
                    slack_thread_ts=thread_ts,
                    dedup_key=dedup_key,
                    answer_attempts=0,
                    answer_lease_until=None if error else utcnow() + self._lease,
                )
                session.add(asked)
                session.flush()
            except IntegrityError:
                session.rollback()
                if dedup_key and session.scalar(select(Message.id).where(Message.dedup_key == dedup_key)):
                    raise Duplicate(dedup_key) from None
                raise
            if error:
                session.add(
                    Message(
                        conversation=convo,
                        role="bot",
                        text=error,
                        slack_channel=channel_id,
                        slack_thread_ts=thread_ts,
                    )
                )
            session.commit()
            self.metrics.questions.labels(source).inc()
            return Received(
                asked.id, convo.id, question, user_id, source, channel_id, thread_ts, history, error, started
            )

    @property
    def _lease(self) -> timedelta:
        return timedelta(seconds=self.settings.answer_lease_s)

    def renew(self, received: Received) -> bool:
        """Extend this process's lease on a question before answering it. False when another
        process has claimed it meanwhile (the lease ran out while it waited): then don't answer."""
        with self.sessions() as session:
            done = session.execute(
                update(Message)
                .where(Message.id == received.message_id, Message.answer_attempts == received.attempt)
                .values(answer_lease_until=utcnow() + self._lease)
            )
            session.commit()
            return done.rowcount == 1

    def placeholder_posted(self, received: Received, ts: str) -> None:
        with self.sessions() as session:
            session.execute(
                update(Message).where(Message.id == received.message_id).values(placeholder_ts=ts)
            )
            session.commit()

    def claim_overdue(self, limit: int = 10) -> list[Received]:
        """Slack questions whose lease ran out with no answer delivered, claimed for this process:
        never answered, or answered in SQL without the answer reaching Slack (``Received.answer_id``).

        The claim is a compare-and-set on ``answer_attempts``, so of several processes sweeping at
        once exactly one gets each question. Questions older than a day or tried three times are
        left alone (and logged): answering those late would confuse more than help.
        """
        now = utcnow()
        reply = aliased(Message)
        delivered = (
            select(Answer.id)
            .join(reply, Answer.message_id == reply.id)
            .where(Answer.question_message_id == Message.id, reply.slack_ts.is_not(None))
            .exists()
        )
        with self.sessions() as session:
            overdue = session.execute(
                select(Message, Conversation)
                .join(Conversation, Message.conversation_id == Conversation.id)
                .where(
                    Message.role == "user",
                    Conversation.source == "slack",
                    Message.answer_lease_until.is_not(None),
                    Message.answer_lease_until < now,
                    Message.created_at > now - timedelta(days=1),
                    ~delivered,
                )
                .order_by(Message.id)
                .limit(limit)
            ).all()
            claimed = []
            for msg, convo in overdue:
                seen = msg.answer_attempts  # (the ORM updates the loaded object along with the row)
                if seen + 1 >= MAX_ATTEMPTS:  # taken seen + 1 times already
                    log.error(
                        "question %s was not answered after %d attempts; giving up", msg.id, MAX_ATTEMPTS
                    )
                    session.execute(
                        update(Message).where(Message.id == msg.id).values(answer_lease_until=None)
                    )
                    continue
                took = session.execute(
                    update(Message)
                    .where(Message.id == msg.id, Message.answer_attempts == seen)
                    .values(answer_attempts=seen + 1, answer_lease_until=now + self._lease)
                )
                if took.rowcount != 1:
                    continue  # another process claimed it first
                history = self._history(session, convo, before=msg.id)
                recorded = session.scalar(select(Answer.id).where(Answer.question_message_id == msg.id))
                claimed.append(
                    Received(
                        msg.id,
                        convo.id,
                        msg.text,
                        msg.user_id or "",
                        "slack",
                        msg.slack_channel,
                        msg.slack_thread_ts,
                        history,
                        attempt=seen + 1,
                        placeholder_ts=msg.placeholder_ts,
                        answer_id=recorded,
                    )
                )
            session.commit()
        return claimed

    def respond(
        self,
        received: Received,
        *,
        on_text: Callable[[str], None] | None = None,
        on_queued: Callable[[int], None] | None = None,
        deliver_later: bool = False,
    ) -> AnswerResult:
        """Answer a recorded question and record the answer. With ``deliver_later`` (Slack) the
        question's lease is kept until ``delivered``: should the answer not reach the asker (the
        database or Slack gone in between), the lease runs out and the recorded answer is delivered
        by whichever process claims it (claim_overdue)."""
        if received.error:
            raise QuestionError(received.error)
        question, history = received.question, received.history
        retrieving = time.perf_counter()
        found = self.index.retrieve(question, k=self.settings.retrieval_top_k)
        if found.abstain and history:
            # A follow-up ("and for contractors?") may only make sense with the thread's last question.
            last_user = next((t.text for t in reversed(history) if t.role == "user"), None)
            if last_user:
                retry = self.index.retrieve(f"{last_user} {question}", k=self.settings.retrieval_top_k)
                found = retry if not retry.abstain else found
        self.metrics.retrieval_latency.observe(time.perf_counter() - retrieving)
        sources = [
            {"id": h.id, "score": round(h.score, 4), "url": h.url, "question": h.question} for h in found.hits
        ]
        result = AnswerResult(answer=ABSTAIN_TEXT, sources=sources, abstained=True)
        result.why = _abstain_why(found)
        version_id = None
        if not found.abstain:
            top = found.top
            result.abstained = False
            if top.score >= self.settings.direct_answer_score and not history:
                self._faq_reply(result, question, top)
                result.why = (
                    f"near-exact match (score {top.score:.2f} >= {self.settings.direct_answer_score:.2f})"
                )
            elif self.gate is not None and not (verdict := self.gate.verdict()).generates:
                self._faq_reply(result, question, top)
                result.fallback, result.why = "not_earned", verdict.why
            else:
                version_id = self._generate(result, question, top, history, on_text, on_queued)
        if on_text and result.mode != "generated":
            on_text(result.answer)

        result.latency_ms = (time.perf_counter() - received.started) * 1000
        with self.sessions() as session:
            reply = Message(
                conversation_id=received.conversation_id,
                role="bot",
                text=result.answer,
                slack_channel=received.channel_id,
                slack_thread_ts=received.thread_ts,
            )
            answer = Answer(
                question_message_id=received.message_id,
                text=result.answer,
                sources=result.sources,
                abstained=result.abstained,
                grounded=result.grounded,
                mode=result.mode,
                model_version_id=version_id,
                latency_ms=result.latency_ms,
                tokens=result.tokens,
                why=result.why[:300] or None,
            )
            # Only the lease holder records an answer: if another process claimed this question
            # meanwhile (this one stalled past its lease), that one answers it, not both.
            held = session.execute(
                update(Message)
                .where(Message.id == received.message_id, Message.answer_attempts == received.attempt)
                .values(answer_lease_until=utcnow() + self._lease if deliver_later else None)
            )
            if held.rowcount != 1:
                session.rollback()
                raise Superseded(received.message_id)
            session.add_all([reply, answer])
            session.flush()
            answer.message_id = reply.id
            session.commit()
            result.conversation_id, result.answer_id = received.conversation_id, answer.id
        self._count(result)
        return result

    def _count(self, result: AnswerResult) -> None:
        m = self.metrics
        m.answers.labels(result.mode).inc()
        m.answer_latency.labels(result.mode).observe(result.latency_ms / 1000)
        if result.abstained:
            m.abstentions.inc()
        if result.fallback:
            m.fallbacks.labels(result.fallback).inc()

    def knows_thread(self, source: str, channel_id: str, thread_ts: str) -> bool:
        """Whether the bot already takes part in this thread (so follow-ups need no mention)."""
        with self.sessions() as session:
            return (
                session.scalar(
                    select(Conversation.id).where(
                        Conversation.source == source,
                        Conversation.channel_id == channel_id,
                        Conversation.thread_ts == thread_ts,
                    )
                )
                is not None
            )

    def cited_entry(self, answer_id: int) -> FaqEntry | None:
        """The FAQ entry an answer cited (None for an abstention or an unknown answer)."""
        with self.sessions() as session:
            answer = session.get(Answer, answer_id)
            if answer is None or answer.abstained or not answer.sources:
                return None
            first = answer.sources[0]
            entry = session.get(FaqEntry, first.get("id")) if isinstance(first, dict) else None
            if entry is not None:
                session.expunge(entry)
            return entry

    def delivered(self, answer_id: int, slack_ts: str) -> None:
        """Remember where the answer was posted in Slack; its question's lease ends here."""
        with self.sessions() as session:
            answer = session.get(Answer, answer_id)
            if answer and answer.message_id:
                session.get(Message, answer.message_id).slack_ts = slack_ts
                session.execute(
                    update(Message)
                    .where(Message.id == answer.question_message_id)
                    .values(answer_lease_until=None)
                )
                session.commit()

    def recorded(self, answer_id: int) -> AnswerResult:
        """An answer as it was recorded, to deliver again. ``shortened`` is read off the cited
        entry: an FAQ answer shorter than its entry is that entry's lead."""
        with self.sessions() as session:
            a = session.get(Answer, answer_id)
            if a is None:
                raise LookupError(f"no answer {answer_id}")
            result = AnswerResult(
                answer=a.text,
                sources=list(a.sources or []),
                abstained=a.abstained,
                mode=a.mode,
                grounded=bool(a.grounded),
                why=a.why or "",
                latency_ms=a.latency_ms,
                tokens=a.tokens,
                answer_id=a.id,
                conversation_id=a.question.conversation_id,
            )
        entry = self.cited_entry(answer_id) if result.mode == "faq" else None
        result.shortened = entry is not None and entry.answer.strip() != result.answer.strip()
        return result

    def _generate(
        self,
        result: AnswerResult,
        question: str,
        top: RetrievedEntry,
        history: list[Turn],
        on_text: Callable[[str], None] | None,
        on_queued: Callable[[int], None] | None,
    ) -> int | None:
        """Fill ``result`` from the model, or from the FAQ when the model's answer can't be used."""
        # Retrieval chooses the entry; the model only phrases it (it cannot reliably choose).
        prompt = build_prompt(question, [ContextEntry(top.id, top.question, top.answer)], history)
        params = GenerationParams(
            max_new_tokens=self.settings.max_new_tokens,
            stop=STOP_SEQUENCES,
            timeout_s=self.settings.generation_timeout_s,
        )
        version_id = None
        generating = time.perf_counter()
        try:
            job = self.engine.submit(prompt, params)
            result.queue_position = job.position
            if job.position and on_queued:
                on_queued(job.position)
            text = ""
            for piece in job.stream():
                text += piece
                if on_text:
                    on_text(text)
            gen = job.wait()
            self.metrics.generation_latency.observe(time.perf_counter() - generating)
            result.tokens, result.model_version, version_id = (
                gen.tokens,
                gen.model_version,
                gen.model_version_id,
            )
            answer = gen.text.strip()
            check = grounding.check(
                answer, f"{top.question}\n{top.answer}", question, threshold=self.settings.grounding_threshold
            )
            if check.grounded:
                result.answer, result.mode, result.grounded = answer, "generated", True
                result.why = "the model's answer passed the faithfulness check"
                return version_id
            log.info(
                "answer not grounded (%s: %s; support %.2f, unsupported %s); sending the FAQ answer",
                check.reason,
                check.why,
                check.support,
                list(check.unsupported[:5]),
            )
            result.fallback = "ungrounded"
            result.why = f"the model's answer failed the faithfulness check ({check.reason}: {check.why})"
        except Busy:
            result.fallback, result.why = "busy", "the model was busy with other questions"
        except GenerationError as exc:
            self.metrics.generation_latency.observe(
                time.perf_counter() - generating
            )  # model time, failed or not
            result.fallback = "timeout" if isinstance(exc, GenerationTimeout) else "error"
            result.why = f"the model failed: {exc}"
            log.warning("generation failed (%s); sending the FAQ answer", exc)
        self._faq_reply(result, question, top)
        return version_id

    def _faq_reply(self, result: AnswerResult, question: str, top: RetrievedEntry) -> None:
        """The entry as written, or its lead when it is long (bot.services.concise)."""
        result.answer, result.mode, result.grounded = top.answer, "faq", True
        if not self.settings.long_answer_chars:
            return
        try:
            found = concise.lead(
                question, top.answer, self.index.passage_scores, long_chars=self.settings.long_answer_chars
            )
        except Exception as exc:  # an embedder hiccup costs the shortening, never the answer
            log.warning("could not find the lead of entry %s (%s); sending it whole", top.id, exc)
            return
        if found is not None:
            result.answer, result.shortened = found.text, True

    @staticmethod
    def _history(session: Session, convo: Conversation, before: int | None = None) -> list[Turn]:
        """Earlier turns of this conversation only (those before message ``before``, if given):
        another user's thread is never read."""
        if convo.id is None:
            return []
        stmt = select(Message).where(Message.conversation_id == convo.id)
        if before is not None:
            stmt = stmt.where(Message.id < before)
        rows = session.scalars(stmt.order_by(Message.id.desc()).limit(HISTORY_TURNS)).all()
        return [Turn("user" if m.role == "user" else "assistant", m.text) for m in reversed(rows)]

    @staticmethod
    def _conversation(
        session: Session, source: str, user_id: str, channel_id: str | None, thread_ts: str | None
    ) -> Conversation:
        def existing() -> Conversation | None:
            return session.scalar(
                select(Conversation).where(
                    Conversation.source == source,
                    Conversation.channel_id == channel_id,
                    Conversation.thread_ts == thread_ts,
                )
            )

        if channel_id and thread_ts and (found := existing()):
            return found
        convo = Conversation(source=source, user_id=user_id, channel_id=channel_id, thread_ts=thread_ts)
        try:
            with session.begin_nested():  # another process may create the same thread's conversation
                session.add(convo)
        except IntegrityError:
            if channel_id and thread_ts and (found := existing()):
                return found
            raise
        return convo


def _abstain_why(found: Retrieval) -> str:
    if not found.hits:
        return "the FAQ is empty"
    if found.off_topic:
        return "it reads like questions an admin said the FAQ does not answer"
    if found.threshold is None:
        return f"no FAQ entry is close enough (confidence {found.confidence:.2f})"
    return f"no FAQ entry is close enough (confidence {found.confidence:.2f} < {found.threshold:.2f})"


def _preview(text: str, limit: int = 500) -> str:
    """What is kept of a question that was refused: enough to recognise it, not 40,000 characters."""
    text = "".join(ch for ch in text if ch in "\n\t" or ch.isprintable()).strip()
    return text if len(text) <= limit else text[:limit] + f"… [{len(text):,} characters]"
