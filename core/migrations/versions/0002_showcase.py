"""clips: showcase claim columns (core/showcase.py)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('clips', schema=None) as batch_op:
        batch_op.add_column(sa.Column('showcased_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('showcase_message_id', sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('clips', schema=None) as batch_op:
        batch_op.drop_column('showcase_message_id')
        batch_op.drop_column('showcased_at')
