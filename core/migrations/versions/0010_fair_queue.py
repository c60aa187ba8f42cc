"""fair queue: role tiers, server plans (weight, fast GPU hours a day), each clip's lane

`tiers` holds what `/admin tier` gives a role in a server; `guild_settings.weight` and
`fast_gpu_hours_per_day` are the operator's `reelbot server-plan`; `clips.lane` is the lane
a clip was queued in (fast clips' GPU seconds are what fast budgets and `reelbot usage`
count). Clips made before have no lane: they were all served first come, first served, and
count as neither. The index on (guild_id, created_at) serves a server's fast time today
and `reelbot usage --guild`.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('tiers',
    sa.Column('guild_id', sa.String(length=32), nullable=False),
    sa.Column('role_id', sa.String(length=32), nullable=False),
    sa.Column('role_name', sa.String(length=100), nullable=True),
    sa.Column('in_flight', sa.Integer(), nullable=True),
    sa.Column('per_day', sa.Integer(), nullable=True),
    sa.Column('fast_minutes', sa.Integer(), nullable=True),
    sa.Column('priority', sa.String(length=8), nullable=False),
    sa.Column('set_by', sa.String(length=32), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('guild_id', 'role_id')
    )
    with op.batch_alter_table('guild_settings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('weight', sa.Float(), server_default='1', nullable=False))
        batch_op.add_column(sa.Column('fast_gpu_hours_per_day', sa.Float(), nullable=True))
    with op.batch_alter_table('clips', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lane', sa.String(length=8), nullable=True))
        batch_op.create_index('ix_clips_guild_created', ['guild_id', 'created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('clips', schema=None) as batch_op:
        batch_op.drop_index('ix_clips_guild_created')
        batch_op.drop_column('lane')
    with op.batch_alter_table('guild_settings', schema=None) as batch_op:
        batch_op.drop_column('fast_gpu_hours_per_day')
        batch_op.drop_column('weight')
    op.drop_table('tiers')
