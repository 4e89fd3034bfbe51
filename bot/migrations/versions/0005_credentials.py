"""credentials (issue 13): salted PIN/password hashes (an scrypt hash is ~85 characters:
pin_hash keeps its 128) with a persistent lockout, device key
versions and revocation, and the nonces of signed device requests

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("password_hash", sa.String(128), nullable=True))
        batch.add_column(sa.Column("login_failures", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("locked_until", sa.DateTime(), nullable=True))
    with op.batch_alter_table("channel_identities") as batch:
        batch.add_column(sa.Column("key_version", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("revoked_at", sa.DateTime(), nullable=True))
    op.create_table(
        "request_nonces",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("nonce", sa.String(64), nullable=False),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("device_id", "nonce", name="uq_request_nonce"),
    )
    op.create_index("ix_request_nonces_seen_at", "request_nonces", ["seen_at"])


def downgrade() -> None:
    op.drop_index("ix_request_nonces_seen_at", table_name="request_nonces")
    op.drop_table("request_nonces")
    with op.batch_alter_table("channel_identities") as batch:
        batch.drop_column("revoked_at")
        batch.drop_column("key_version")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("locked_until")
        batch.drop_column("login_failures")
        batch.drop_column("password_hash")
