"""audit log rows carry the household they concern

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("household_id", sa.Integer(), nullable=True))
        batch.create_index("ix_audit_log_household_id", ["household_id"])
    # Backfill what the old rows already said about households.
    op.execute("UPDATE audit_log SET household_id = object_id WHERE object_type = 'household'")


def downgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_index("ix_audit_log_household_id")
        batch.drop_column("household_id")
