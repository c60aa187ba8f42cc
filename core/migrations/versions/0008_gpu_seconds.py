"""clips.gpu_seconds: how long a clip's job held the GPU (every render of it together)

Measured by the worker around its GPU lock and sent in the outcome's timings ("gpu"); a
column of its own so fast-time budgets and `reelbot usage` sum it in SQL. Clips made
before it have none.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('clips', schema=None) as batch_op:
        batch_op.add_column(sa.Column('gpu_seconds', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('clips', schema=None) as batch_op:
        batch_op.drop_column('gpu_seconds')
