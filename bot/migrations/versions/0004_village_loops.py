"""the loops the villages run on (issue 14): emergency response states and escalation steps,
relatives, 回访 follow-ups, three-colour care policy and history, points by quantity, points
applications, pickups and stock receipts, notices with receipts, suggestions

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 16:08:43
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('care_colour_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('household_id', sa.Integer(), nullable=False),
    sa.Column('from_colour', sa.Enum('green', 'yellow', 'red', name='carecolour', native_enum=False, length=16), nullable=True),
    sa.Column('to_colour', sa.Enum('green', 'yellow', 'red', name='carecolour', native_enum=False, length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['household_id'], ['households.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('care_colour_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_care_colour_changes_household_id'), ['household_id'], unique=False)

    op.create_table('care_policies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('village_id', sa.Integer(), nullable=False),
    sa.Column('colour', sa.Enum('green', 'yellow', 'red', name='carecolour', native_enum=False, length=16), nullable=False),
    sa.Column('visit_days', sa.Integer(), nullable=False),
    sa.Column('criteria', sa.Text(), nullable=False),
    sa.CheckConstraint('visit_days > 0', name='ck_care_policy_days'),
    sa.ForeignKeyConstraint(['village_id'], ['villages.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('village_id', 'colour', name='uq_care_policy_colour')
    )
    op.create_table('household_relatives',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('household_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('relation', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['household_id'], ['households.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('household_id', 'user_id', name='uq_household_relative')
    )
    with op.batch_alter_table('household_relatives', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_household_relatives_household_id'), ['household_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_household_relatives_user_id'), ['user_id'], unique=False)

    op.create_table('suggestions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('village_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('household_id', sa.Integer(), nullable=True),
    sa.Column('author_name', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('state', sa.Enum('received', 'answered', name='suggestionstate', native_enum=False, length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('answered_at', sa.DateTime(), nullable=True),
    sa.Column('answered_by', sa.Integer(), nullable=True),
    sa.Column('answer', sa.Text(), nullable=True),
    sa.Column('adopted', sa.Boolean(), nullable=True),
    sa.ForeignKeyConstraint(['answered_by'], ['users.id'], ),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['household_id'], ['households.id'], ),
    sa.ForeignKeyConstraint(['village_id'], ['villages.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('suggestions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_suggestions_village_id'), ['village_id'], unique=False)

    op.create_table('notices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('village_id', sa.Integer(), nullable=False),
    sa.Column('grid_id', sa.Integer(), nullable=True),
    sa.Column('title', sa.String(length=64), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('deadline', sa.Date(), nullable=True),
    sa.Column('published_by', sa.Integer(), nullable=True),
    sa.Column('published_at', sa.DateTime(), nullable=False),
    sa.Column('entry_id', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['grid_id'], ['grids.id'], ),
    sa.ForeignKeyConstraint(['published_by'], ['users.id'], ),
    sa.ForeignKeyConstraint(['village_id'], ['villages.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('notices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notices_village_id'), ['village_id'], unique=False)

    op.create_table('stock_receipts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('note', sa.String(length=256), nullable=False),
    sa.Column('idempotency_key', sa.String(length=64), nullable=False),
    sa.CheckConstraint('quantity > 0', name='ck_stock_receipt_positive'),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['item_id'], ['shop_items.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('idempotency_key')
    )
    with op.batch_alter_table('stock_receipts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stock_receipts_item_id'), ['item_id'], unique=False)

    op.create_table('followups',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('grievance_id', sa.Integer(), nullable=False),
    sa.Column('resolved_event_id', sa.Integer(), nullable=False),
    sa.Column('village_id', sa.Integer(), nullable=False),
    sa.Column('household_id', sa.Integer(), nullable=True),
    sa.Column('reporter_id', sa.Integer(), nullable=True),
    sa.Column('state', sa.Enum('asked', 'task', 'answered', name='followupstate', native_enum=False, length=16), nullable=False),
    sa.Column('asked_at', sa.DateTime(), nullable=False),
    sa.Column('worker_id', sa.Integer(), nullable=True),
    sa.Column('task_at', sa.DateTime(), nullable=True),
    sa.Column('answer', sa.String(length=8), nullable=True),
    sa.Column('answered_at', sa.DateTime(), nullable=True),
    sa.Column('answered_by', sa.Integer(), nullable=True),
    sa.Column('answered_via', sa.String(length=16), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['answered_by'], ['users.id'], ),
    sa.ForeignKeyConstraint(['grievance_id'], ['grievances.id'], ),
    sa.ForeignKeyConstraint(['household_id'], ['households.id'], ),
    sa.ForeignKeyConstraint(['reporter_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['resolved_event_id'], ['grievance_events.id'], ),
    sa.ForeignKeyConstraint(['village_id'], ['villages.id'], ),
    sa.ForeignKeyConstraint(['worker_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('resolved_event_id')
    )
    with op.batch_alter_table('followups', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_followups_grievance_id'), ['grievance_id'], unique=False)

    op.create_table('notice_receipts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('notice_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('household_id', sa.Integer(), nullable=True),
    sa.Column('outbox_id', sa.Integer(), nullable=True),
    sa.Column('heard_at', sa.DateTime(), nullable=True),
    sa.Column('heard_channel', sa.String(length=16), nullable=True),
    sa.ForeignKeyConstraint(['household_id'], ['households.id'], ),
    sa.ForeignKeyConstraint(['notice_id'], ['notices.id'], ),
    sa.ForeignKeyConstraint(['outbox_id'], ['outbox.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('notice_id', 'household_id', name='uq_notice_receipt_household'),
    sa.UniqueConstraint('notice_id', 'user_id', name='uq_notice_receipt_user')
    )
    with op.batch_alter_table('notice_receipts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notice_receipts_notice_id'), ['notice_id'], unique=False)

    op.create_table('points_applications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('village_id', sa.Integer(), nullable=False),
    sa.Column('household_id', sa.Integer(), nullable=False),
    sa.Column('applicant_id', sa.Integer(), nullable=True),
    sa.Column('rule_id', sa.Integer(), nullable=True),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('deed_on', sa.Date(), nullable=True),
    sa.Column('state', sa.Enum('pending', 'approved', 'rejected', name='applicationstate', native_enum=False, length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('decided_by', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(), nullable=True),
    sa.Column('decision_note', sa.Text(), nullable=True),
    sa.Column('entry_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['applicant_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['decided_by'], ['users.id'], ),
    sa.ForeignKeyConstraint(['entry_id'], ['points_entries.id'], ),
    sa.ForeignKeyConstraint(['household_id'], ['households.id'], ),
    sa.ForeignKeyConstraint(['rule_id'], ['points_rules.id'], ),
    sa.ForeignKeyConstraint(['village_id'], ['villages.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('points_applications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_points_applications_household_id'), ['household_id'], unique=False)

    with op.batch_alter_table('emergency_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('village_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('acknowledged_by', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('on_site_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('on_site_by', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('closed_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('closed_by', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('close_note', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('escalation_step', sa.Integer(), server_default=sa.text('0'), nullable=False))
        batch_op.create_index(batch_op.f('ix_emergency_events_village_id'), ['village_id'], unique=False)
        batch_op.create_foreign_key('fk_emergency_events_village_id', 'villages', ['village_id'], ['id'])
        batch_op.create_foreign_key('fk_emergency_events_acknowledged_by', 'users', ['acknowledged_by'], ['id'])
        batch_op.create_foreign_key('fk_emergency_events_on_site_by', 'users', ['on_site_by'], ['id'])
        batch_op.create_foreign_key('fk_emergency_events_closed_by', 'users', ['closed_by'], ['id'])
    # Emergencies raised before this revision belong to their household's village.
    op.execute("UPDATE emergency_events SET village_id = (SELECT households.village_id FROM households "
               "WHERE households.id = emergency_events.household_id) WHERE household_id IS NOT NULL")

    with op.batch_alter_table('points_rules', schema=None) as batch_op:
        batch_op.add_column(sa.Column('unit', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('per_quantity', sa.Integer(), nullable=True))

    with op.batch_alter_table('redemptions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('picked_up_by', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_redemptions_picked_up_by', 'users', ['picked_up_by'], ['id'])



def downgrade() -> None:
    with op.batch_alter_table('redemptions', schema=None) as batch_op:
        batch_op.drop_constraint('fk_redemptions_picked_up_by', type_='foreignkey')
        batch_op.drop_column('picked_up_by')

    with op.batch_alter_table('points_rules', schema=None) as batch_op:
        batch_op.drop_column('per_quantity')
        batch_op.drop_column('unit')

    with op.batch_alter_table('emergency_events', schema=None) as batch_op:
        batch_op.drop_constraint('fk_emergency_events_closed_by', type_='foreignkey')
        batch_op.drop_constraint('fk_emergency_events_on_site_by', type_='foreignkey')
        batch_op.drop_constraint('fk_emergency_events_acknowledged_by', type_='foreignkey')
        batch_op.drop_constraint('fk_emergency_events_village_id', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_emergency_events_village_id'))
        batch_op.drop_column('escalation_step')
        batch_op.drop_column('close_note')
        batch_op.drop_column('closed_by')
        batch_op.drop_column('closed_at')
        batch_op.drop_column('on_site_by')
        batch_op.drop_column('on_site_at')
        batch_op.drop_column('acknowledged_by')
        batch_op.drop_column('village_id')

    with op.batch_alter_table('points_applications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_points_applications_household_id'))

    op.drop_table('points_applications')
    with op.batch_alter_table('notice_receipts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notice_receipts_notice_id'))

    op.drop_table('notice_receipts')
    with op.batch_alter_table('followups', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_followups_grievance_id'))

    op.drop_table('followups')
    with op.batch_alter_table('stock_receipts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stock_receipts_item_id'))

    op.drop_table('stock_receipts')
    with op.batch_alter_table('notices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notices_village_id'))

    op.drop_table('notices')
    with op.batch_alter_table('suggestions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_suggestions_village_id'))

    op.drop_table('suggestions')
    with op.batch_alter_table('household_relatives', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_household_relatives_user_id'))
        batch_op.drop_index(batch_op.f('ix_household_relatives_household_id'))

    op.drop_table('household_relatives')
    op.drop_table('care_policies')
    with op.batch_alter_table('care_colour_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_care_colour_changes_household_id'))

    op.drop_table('care_colour_changes')
