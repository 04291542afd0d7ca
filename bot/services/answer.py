"""The answer service: question in, grounded answer out, everything recorded in SQL.

Transport-agnostic: the CLI and the Slack listeners both call ``AnswerService.ask``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import Answer, Conversation, Message
from bot.llm.base import GenerationParams
from bot.llm.provider import ModelProvider
from bot.prompts import STOP_SEQUENCES, ContextEntry, build_prompt
from bot.settings import Settings
from retrieval.index import FaqIndex, RetrievedEntry

ABSTAIN_TEXT = (
    "I couldn't find this in our FAQ, so I won't guess. "
    "A member of the support team can help: ask for a human and they'll pick it up."
)


class QuestionError(ValueError):
    """The question cannot be answered as given (empty, too long)."""


@dataclass
class AnswerResult:
    answer: str
    sources: list[dict] = field(default_factory=list)
    abstained: bool = False
    model_version: str | None = None
    latency_ms: float = 0.0
    tokens: int = 0
    conversation_id: int | None = None
    answer_id: int | None = None

    def to_json(self) -> dict:
        return {
            "answer": self.answer, "sources": self.sources, "abstained": self.abstained,
            "model_version": self.model_version, "latency_ms": round(self.latency_ms, 1),
            "tokens": self.tokens, "conversation_id": self.conversation_id, "answer_id": self.answer_id,
        }


class AnswerService:
    def __init__(self, settings: Settings, sessions: sessionmaker[Session], index: FaqIndex, models: ModelProvider):
        self.settings = settings
        self.sessions = sessions
        self.index = index
        self.models = models

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

    def ask(self, question: str, *, user_id: str = "cli", source: str = "cli",
            channel_id: str | None = None, thread_ts: str | None = None) -> AnswerResult:
        started = time.perf_counter()
        question = self.validate(question)
        with self.sessions() as session:
            convo = self._conversation(session, source, user_id, channel_id, thread_ts)
            asked = Message(conversation=convo, role="user", user_id=user_id, text=question,
                            slack_channel=channel_id, slack_thread_ts=thread_ts)
            session.add(asked)
            session.commit()  # the question is durable before any slow work starts

            found = self.index.retrieve(question, k=self.settings.retrieval_top_k)
            sources = [{"id": h.id, "score": round(h.score, 4), "url": h.url, "question": h.question}
                       for h in found.hits]
            result = AnswerResult(answer=ABSTAIN_TEXT, sources=sources, abstained=True)
            version_id = None
            if not found.abstain:
                loaded = self.models.get()
                result.answer, result.tokens = self._generate(loaded.runtime, question, found.top)
                result.abstained = False
                result.model_version, version_id = loaded.version_name, loaded.version_id

            result.latency_ms = (time.perf_counter() - started) * 1000
            reply = Message(conversation=convo, role="bot", text=result.answer,
                            slack_channel=channel_id, slack_thread_ts=thread_ts)
            answer = Answer(question=asked, text=result.answer, sources=result.sources,
                            abstained=result.abstained, mode="abstain" if result.abstained else "generated",
                            model_version_id=version_id, latency_ms=result.latency_ms, tokens=result.tokens)
            session.add_all([reply, answer])
            session.flush()
            answer.message_id = reply.id
            session.commit()
            result.conversation_id, result.answer_id = convo.id, answer.id
        return result

    def _generate(self, runtime, question: str, top: RetrievedEntry) -> tuple[str, int]:
        # Retrieval chooses the entry; the model only phrases it (it cannot reliably choose).
        prompt = build_prompt(question, [ContextEntry(top.id, top.question, top.answer)])
        params = GenerationParams(max_new_tokens=self.settings.max_new_tokens, stop=STOP_SEQUENCES)
        text = "".join(runtime.stream(prompt, params)).strip()
        return text, runtime.count_tokens(text)

    @staticmethod
    def _conversation(session: Session, source: str, user_id: str, channel_id: str | None,
                      thread_ts: str | None) -> Conversation:
        if channel_id and thread_ts:
            existing = session.scalar(select(Conversation).where(
                Conversation.source == source, Conversation.channel_id == channel_id,
                Conversation.thread_ts == thread_ts))
            if existing:
                return existing
        convo = Conversation(source=source, user_id=user_id, channel_id=channel_id, thread_ts=thread_ts)
        session.add(convo)
        return convo
