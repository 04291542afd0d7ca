from bot.db.models import (
    Answer,
    Base,
    Conversation,
    FaqEntry,
    Feedback,
    FinetuneRun,
    IndexState,
    LearnedPhrasing,
    Message,
    ModelVersion,
    Review,
)
from bot.db.session import get_engine, session_factory

__all__ = [
    "Answer",
    "Base",
    "Conversation",
    "FaqEntry",
    "Feedback",
    "FinetuneRun",
    "IndexState",
    "LearnedPhrasing",
    "Message",
    "ModelVersion",
    "Review",
    "get_engine",
    "session_factory",
]
