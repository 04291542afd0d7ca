"""SQL schema. Every conversation, answer, review and model version is kept here.

Changes to this file need an Alembic revision in ``migrations/versions``; a test compares the two.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, datetime: DateTime(timezone=True)}


class Conversation(Base):
    """One thread of questions: a Slack thread, a DM thread, or a CLI session."""

    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("source", "channel_id", "thread_ts"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(16))  # "cli" | "slack"
    user_id: Mapped[str | None] = mapped_column(String(64), index=True)  # who asked first
    channel_id: Mapped[str | None] = mapped_column(String(64))
    thread_ts: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    messages: Mapped[list[Message]] = relationship(back_populates="conversation", order_by="Message.id")


class Message(Base):
    """A user question, a bot answer or a human agent's reply, in order within its conversation."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(16))  # "user" | "bot" | "human"
    user_id: Mapped[str | None] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    slack_channel: Mapped[str | None] = mapped_column(String(64))
    slack_ts: Mapped[str | None] = mapped_column(String(32))
    slack_thread_ts: Mapped[str | None] = mapped_column(String(32))
    # Exactly-once delivery: Slack event id or (channel, ts) of the triggering message. Unique in SQL,
    # so two bot processes sharing the database cannot both take the same event.
    dedup_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    # A user question awaiting its answer: the process that took it owns it until the lease ends.
    # Past the lease with no answer recorded (the process died, the database went away mid-answer),
    # any process may claim it by bumping ``answer_attempts`` (compare-and-set) and answer it.
    answer_lease_until: Mapped[datetime | None] = mapped_column(index=True)
    answer_attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    placeholder_ts: Mapped[str | None] = mapped_column(String(32))  # the "thinking" reply to reuse
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    conversation: Mapped[Conversation] = relationship(back_populates="messages")


class FaqEntry(Base):
    """The FAQ as imported (source of truth); the vector store is an index over it."""

    __tablename__ = "faq_entries"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    alt_questions: Mapped[list[Any]] = mapped_column(default=list)
    url: Mapped[str | None] = mapped_column(String(2048))
    tags: Mapped[list[Any]] = mapped_column(default=list)
    source: Mapped[str | None] = mapped_column(String(1024))  # file it came from; "curated" if learned
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


def text_key(text: str) -> str:
    """The ``text_sha256`` of a question as the tables unique on (entry, question) store it: those
    unique constraints are on a hash because PostgreSQL cannot index arbitrarily long text in a btree,
    so every writer and reader must hash the same way."""
    return hashlib.sha256(text.encode()).hexdigest()


class LearnedPhrasing(Base):
    """An asker's question that an admin approved as answered by an entry: a new way to find it.

    Kept apart from the imported FAQ so re-imports never lose what admins taught the bot.
    """

    __tablename__ = "learned_phrasings"
    # Unique on a hash: PostgreSQL cannot index arbitrarily long text in a btree.
    __table_args__ = (UniqueConstraint("entry_id", "text_sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[str] = mapped_column(ForeignKey("faq_entries.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(Text)
    text_sha256: Mapped[str] = mapped_column(String(64))
    answer_id: Mapped[int | None] = mapped_column(ForeignKey("answers.id", ondelete="SET NULL"))
    approved_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class IndexState(Base):
    """One row: the FAQ index's revision and the embedder its vectors were made with.

    Every change to the index bumps ``revision`` in the same transaction as the change, so every
    process (bot replicas, worker, CLI) notices within one query that its in-memory scorer or its
    embedder is stale.
    """

    __tablename__ = "index_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, default=0)
    embedder_path: Mapped[str | None] = mapped_column(String(2048))  # None: the base embedder
    # The revision the tuning itself produced: anything later (a learned phrasing, a curated entry,
    # an import without tuning) is unknown to the tuned embedder, and the nightly job re-tunes.
    tuned_revision: Mapped[int | None] = mapped_column(Integer)
    # Abstention thresholds calibrated on this revision of the index, per ranking mode, with what
    # they were calibrated for ({"key": "...", "values": {"semantic": 0.41}}): calibrating embeds
    # hundreds of held-out sentences, which no process should repeat for an index that did not change.
    calibration: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    collection: Mapped[str | None] = mapped_column(String(128))  # None: the configured collection
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ModelVersion(Base):
    __tablename__ = "model_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    path: Mapped[str] = mapped_column(String(2048))
    checksum: Mapped[str] = mapped_column(String(64))  # sha256 of the GGUF file
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"))
    # "candidate" | "active" | "retired" | "rejected" (gate said no; file kept) | "discarded" (file removed)
    # | "failed"; exactly one "active" at a time.
    status: Mapped[str] = mapped_column(String(16), index=True)
    eval_scores: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    promoted_at: Mapped[datetime | None]


class ModelCheck(Base):
    """How faithful a model's answers were on held-out questions, judged by the sentence-level
    guard: whether it earns generating (``SUPPORTBOT_FAITHFUL_BAR``) or serves the FAQ text."""

    __tablename__ = "model_checks"

    id: Mapped[int] = mapped_column(primary_key=True)
    # A registry version's name, a SUPPORTBOT_MODEL_PATH file's stem, or a server's model name.
    model_name: Mapped[str] = mapped_column(String(256), unique=True)
    backend: Mapped[str] = mapped_column(String(32))
    faithful_share: Mapped[float] = mapped_column(Float)
    n: Mapped[int] = mapped_column(Integer)
    # {"on": "faq" | "held_out+regression", "reasons": {"negation": 3, ...}, "seconds": 41.2}
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    measured_at: Mapped[datetime] = mapped_column(default=utcnow)


class Answer(Base):
    """What the bot said for one question, with what it was based on."""

    __tablename__ = "answers"

    id: Mapped[int] = mapped_column(primary_key=True)
    question_message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(Text)
    sources: Mapped[list[Any]] = mapped_column(default=list)  # [{"id": faq id, "score": float}]
    abstained: Mapped[bool] = mapped_column(Boolean, default=False)
    grounded: Mapped[bool | None] = mapped_column(Boolean)
    mode: Mapped[str] = mapped_column(String(16), default="generated")  # generated | faq | abstain
    # Why this mode: "near-exact match", "model below the faithfulness bar (0.31 < 0.90)", "the
    # model's answer dropped a negation", ... (logs, metrics and the review post say the same).
    why: Mapped[str | None] = mapped_column(String(300))
    model_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"))
    latency_ms: Mapped[float] = mapped_column(Float)
    tokens: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    question: Mapped[Message] = relationship(foreign_keys=[question_message_id])
    model_version: Mapped[ModelVersion | None] = relationship()


class Feedback(Base):
    """A press of Helpful, Not helpful or Talk to a human under an answer, by whoever pressed it.

    Anyone who sees the answer in a channel can press; only the asker's feedback counts in the
    figures. ``by_asker`` says whose it was when it was recorded (NULL: the question has no known
    asker), so the others' presses are kept, flagged, and left out of the counts.
    """

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    answer_id: Mapped[int] = mapped_column(ForeignKey("answers.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(String(64))  # who pressed
    kind: Mapped[str] = mapped_column(String(16))  # "helpful" | "not_helpful" | "escalate"
    by_asker: Mapped[bool | None] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Review(Base):
    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    # One review per answer, enforced here: two admins pressing at once in two processes both pass
    # the service's "already reviewed?" read; only one insert can win.
    answer_id: Mapped[int] = mapped_column(
        ForeignKey("answers.id", ondelete="CASCADE"), index=True, unique=True
    )
    reviewer_id: Mapped[str] = mapped_column(String(64))
    # "approve" | "edit" | "reject" | "correct" (cited the wrong entry) | "attach" (an abstention)
    action: Mapped[str] = mapped_column(String(16))
    edited_text: Mapped[str | None] = mapped_column(Text)
    # The entry the reviewer said is the right one (correct, attach); no foreign key: the record stays
    # when the entry is pruned.
    entry_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FinetuneRun(Base):
    __tablename__ = "finetune_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    # "running" | "succeeded" | "rejected" (gate said no) | "failed"
    status: Mapped[str] = mapped_column(String(16), index=True)
    base_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"))
    candidate_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"))
    n_train: Mapped[int] = mapped_column(Integer, default=0)
    n_eval: Mapped[int] = mapped_column(Integer, default=0)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    promoted: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class Handoff(Base):
    """A question handed to the human support team: the asker's thread and its twin in the support channel.

    Messages in either thread are relayed to the other while the hand-off is open. One per question
    (unique), so a double click or two bot processes cannot open it twice.
    """

    __tablename__ = "handoffs"
    __table_args__ = (UniqueConstraint("support_channel", "support_ts"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    question_message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), unique=True
    )
    answer_id: Mapped[int | None] = mapped_column(ForeignKey("answers.id", ondelete="SET NULL"))
    requested_by: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(16))  # "abstain" | "requested"
    support_channel: Mapped[str | None] = mapped_column(String(64))
    support_ts: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="open")  # "open" | "closed"
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReviewPost(Base):
    """An answer posted to the review channel; unique per answer so it is posted once."""

    __tablename__ = "review_posts"

    id: Mapped[int] = mapped_column(primary_key=True)
    answer_id: Mapped[int] = mapped_column(ForeignKey("answers.id", ondelete="CASCADE"), unique=True)
    reason: Mapped[str] = mapped_column(
        String(16)
    )  # "all" | "abstain" | "not_helpful" | "escalated" | "sample" | "human"
    channel: Mapped[str | None] = mapped_column(String(64))
    ts: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Transcript(Base):
    """An approved question-and-answer pair: what the nightly fine-tune learns from.

    Written when an admin approves an answer (the bot's, an edited one, or a human agent's reply)
    and by ``supportbot transcripts import``. Stored as approved; PII is redacted when the training
    set is built, before anything is written for training.
    """

    __tablename__ = "transcripts"

    id: Mapped[int] = mapped_column(primary_key=True)
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    faq_ids: Mapped[list[Any]] = mapped_column(default=list)  # entries the answer is based on
    origin: Mapped[str] = mapped_column(String(16))  # "review" | "handoff" | "import"
    answer_id: Mapped[int | None] = mapped_column(ForeignKey("answers.id", ondelete="SET NULL"), unique=True)
    content_sha256: Mapped[str] = mapped_column(String(64), unique=True)  # de-duplication
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class GapDecision(Base):
    """What an admin decided about a question in a knowledge gap (bot.services.gaps): its topic was
    published as an FAQ entry, or dismissed. Decided questions leave the gaps."""

    __tablename__ = "gap_decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    question_message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), unique=True
    )
    decision: Mapped[str] = mapped_column(String(16))  # "published" | "dismissed"
    entry_id: Mapped[str | None] = mapped_column(String(128))  # the entry a published topic became
    decided_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class HardNegative(Base):
    """A question and an entry an admin said does not answer it (a rejected answer, or the entry a
    corrected answer cited): what the next embedder tuning should push apart."""

    __tablename__ = "hard_negatives"
    __table_args__ = (UniqueConstraint("entry_id", "text_sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[str] = mapped_column(ForeignKey("faq_entries.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(Text)  # the asker's question
    text_sha256: Mapped[str] = mapped_column(String(64))
    answer_id: Mapped[int | None] = mapped_column(ForeignKey("answers.id", ondelete="SET NULL"))
    reviewer_id: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))  # the review that recorded it: "reject" | "correct"
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
