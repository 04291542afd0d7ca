"""Migration 0008 on a database that already holds feedback, on SQLite and the real PostgreSQL:
each recorded press is flagged by whether the asker made it, and the downgrade keeps the rows."""

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from bot.db import migrate
from bot.db.session import get_engine

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request):
    return request.getfixturevalue(f"{request.param}_url")


def _seed(engine: sa.Engine) -> None:
    """As 0007 left it: two questions, one by UASKER and one with no recorded author, and presses."""
    meta = sa.MetaData()
    meta.reflect(engine, only=["conversations", "messages", "answers", "feedback"])
    t = meta.tables
    with engine.begin() as conn:
        conn.execute(
            t["conversations"].insert(), [{"id": 1, "source": "slack", "created_at": NOW, "updated_at": NOW}]
        )
        conn.execute(
            t["messages"].insert(),
            [
                {
                    "id": 1,
                    "conversation_id": 1,
                    "role": "user",
                    "user_id": "UASKER",
                    "text": "q",
                    "created_at": NOW,
                },
                {
                    "id": 2,
                    "conversation_id": 1,
                    "role": "user",
                    "user_id": None,
                    "text": "q2",
                    "created_at": NOW,
                },
            ],
        )
        answer = {
            "text": "a",
            "sources": [],
            "abstained": False,
            "mode": "faq",
            "latency_ms": 1.0,
            "tokens": 0,
        }
        conn.execute(
            t["answers"].insert(),
            [
                {"id": 1, "question_message_id": 1, "created_at": NOW, **answer},
                {"id": 2, "question_message_id": 2, "created_at": NOW, **answer},
            ],
        )
        conn.execute(
            t["feedback"].insert(),
            [
                {"id": 1, "answer_id": 1, "user_id": "UASKER", "kind": "helpful", "created_at": NOW},
                {"id": 2, "answer_id": 1, "user_id": "UMALLORY", "kind": "not_helpful", "created_at": NOW},
                {"id": 3, "answer_id": 1, "user_id": "UMALLORY", "kind": "escalate", "created_at": NOW},
                {"id": 4, "answer_id": 2, "user_id": "USOMEONE", "kind": "helpful", "created_at": NOW},
            ],
        )


def test_0008_flags_existing_feedback_by_whether_the_asker_pressed(db_url):
    migrate.upgrade(db_url, "0007")
    engine = get_engine(db_url)
    _seed(engine)

    migrate.upgrade(db_url, "0008")
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT id, by_asker FROM feedback ORDER BY id")).all()
    # SQLite hands booleans back as 0/1
    assert [(i, None if v is None else bool(v)) for i, v in rows] == [
        (1, True),
        (2, False),
        (3, False),
        (4, None),  # the question has no known asker
    ]

    migrate.downgrade(db_url, "0007")
    assert "by_asker" not in {c["name"] for c in sa.inspect(get_engine(db_url)).get_columns("feedback")}
    with get_engine(db_url).connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM feedback")).scalar() == 4
    migrate.upgrade(db_url)
    assert migrate.is_up_to_date(db_url)
