"""model checks (each model's faithful share on held-out questions), why an answer took its mode,
and the index's calibrated abstention thresholds

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-11 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "model_checks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_name", sa.String(length=256), nullable=False),
        sa.Column("backend", sa.String(length=32), nullable=False),
        sa.Column("faithful_share", sa.Float(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("measured_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_checks")),
        sa.UniqueConstraint("model_name", name=op.f("uq_model_checks_model_name")),
    )
    with op.batch_alter_table("answers") as batch:
        batch.add_column(sa.Column("why", sa.String(length=300), nullable=True))
    with op.batch_alter_table("index_state") as batch:
        batch.add_column(sa.Column("calibration", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("index_state") as batch:
        batch.drop_column("calibration")
    with op.batch_alter_table("answers") as batch:
        batch.drop_column("why")
    op.drop_table("model_checks")
