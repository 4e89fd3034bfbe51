"""points appeals; an entry is reversed at most once

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 10:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

OPEN = sa.text("state = 'open'")


def upgrade() -> None:
    op.create_table(
        'points_appeals',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('entry_id', sa.Integer(), nullable=False),
        sa.Column('household_id', sa.Integer(), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('state', sa.Enum('open', 'upheld', 'overturned', name='appealstate', native_enum=False,
                                   length=16), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('decided_by', sa.Integer(), nullable=True),
        sa.Column('decided_at', sa.DateTime(), nullable=True),
        sa.Column('decision_note', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['entry_id'], ['points_entries.id'], ),
        sa.ForeignKeyConstraint(['household_id'], ['households.id'], ),
        sa.ForeignKeyConstraint(['decided_by'], ['users.id'], ),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('points_appeals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_points_appeals_household_id'), ['household_id'], unique=False)
        batch_op.create_index('uq_points_appeal_open_entry', ['entry_id'], unique=True,
                              sqlite_where=OPEN, postgresql_where=OPEN)
    with op.batch_alter_table('points_entries', schema=None) as batch_op:
        batch_op.create_index('uq_points_entry_reverses', ['reverses_id'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('points_entries', schema=None) as batch_op:
        batch_op.drop_index('uq_points_entry_reverses')
    with op.batch_alter_table('points_appeals', schema=None) as batch_op:
        batch_op.drop_index('uq_points_appeal_open_entry')
        batch_op.drop_index(batch_op.f('ix_points_appeals_household_id'))
    op.drop_table('points_appeals')
