"""knowledge gaps: what admins decided about the questions of a gap (published or dismissed)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-13 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "gap_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("question_message_id", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("entry_id", sa.String(length=128), nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["question_message_id"],
            ["messages.id"],
            name=op.f("fk_gap_decisions_question_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gap_decisions")),
        sa.UniqueConstraint("question_message_id", name=op.f("uq_gap_decisions_question_message_id")),
    )


def downgrade() -> None:
    op.drop_table("gap_decisions")
