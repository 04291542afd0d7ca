"""hard negatives (rejected and corrected answers' entries) and the entry a review chose

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-10 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("reviews") as batch:
        batch.add_column(sa.Column("entry_id", sa.String(length=128), nullable=True))
    op.create_table(
        "hard_negatives",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.String(length=128), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("text_sha256", sa.String(length=64), nullable=False),
        sa.Column("answer_id", sa.Integer(), nullable=True),
        sa.Column("reviewer_id", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["answer_id"],
            ["answers.id"],
            name=op.f("fk_hard_negatives_answer_id_answers"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["faq_entries.id"],
            name=op.f("fk_hard_negatives_entry_id_faq_entries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hard_negatives")),
        sa.UniqueConstraint("entry_id", "text_sha256", name=op.f("uq_hard_negatives_entry_id")),
    )
    with op.batch_alter_table("hard_negatives") as batch:
        batch.create_index(batch.f("ix_hard_negatives_entry_id"), ["entry_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("hard_negatives") as batch:
        batch.drop_index(batch.f("ix_hard_negatives_entry_id"))
    op.drop_table("hard_negatives")
    with op.batch_alter_table("reviews") as batch:
        batch.drop_column("entry_id")
