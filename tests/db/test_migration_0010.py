"""Migration 0010 on a database that already holds answers and an index state, on SQLite and the
real PostgreSQL: both keep their rows (no reason recorded, no stored calibration), model checks are
one per model, and the downgrade keeps the answers."""

import pytest
import sqlalchemy as sa

from bot.db import migrate
from bot.db.session import get_engine

from .test_migration_0009 import _seed


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request):
    return request.getfixturevalue(f"{request.param}_url")


def test_0010_adds_model_checks_and_keeps_answers_and_the_index_state(db_url):
    migrate.upgrade(db_url, "0009")
    engine = get_engine(db_url)
    _seed(engine)
    with engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO index_state (id, revision, updated_at) VALUES (1, 7, CURRENT_TIMESTAMP)")
        )

    migrate.upgrade(db_url, "0010")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT id, mode, why FROM answers")).all() == [(1, "faq", None)]
        assert conn.execute(sa.text("SELECT revision, calibration FROM index_state")).all() == [(7, None)]
    insert = sa.text(
        "INSERT INTO model_checks (model_name, backend, faithful_share, n, details, measured_at) "
        "VALUES ('base-1', 'ctransformers', 0.5, 40, '{}', CURRENT_TIMESTAMP)"
    )
    with engine.begin() as conn:
        conn.execute(insert)
    with pytest.raises(sa.exc.IntegrityError):  # one check per model
        with engine.begin() as conn:
            conn.execute(insert)

    migrate.downgrade(db_url, "0009")
    inspector = sa.inspect(get_engine(db_url))
    assert "model_checks" not in inspector.get_table_names()
    assert "why" not in {c["name"] for c in inspector.get_columns("answers")}
    assert "calibration" not in {c["name"] for c in inspector.get_columns("index_state")}
    with get_engine(db_url).connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM answers")).scalar() == 1
        assert conn.execute(sa.text("SELECT revision FROM index_state")).scalar() == 7
    migrate.upgrade(db_url)
    assert migrate.is_up_to_date(db_url)
