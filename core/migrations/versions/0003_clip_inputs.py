"""clips: the inputs a job read and the upload limit it was made for (bot/)

Retry and Remix reuse a clip's stored inputs (an image, a video, a parent's MP4), and
the final post attaches the MP4 only when it fits the place it is posted to; both are
kept on the clip so they survive a bot restart.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('clips', schema=None) as batch_op:
        batch_op.add_column(sa.Column('input_keys', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('max_bytes', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('clips', schema=None) as batch_op:
        batch_op.drop_column('max_bytes')
        batch_op.drop_column('input_keys')
