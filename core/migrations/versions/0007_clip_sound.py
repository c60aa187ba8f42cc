"""clips.sound: whether a clip's MP4 has a sound track (LTX-2 clips, lip-sync)

Set from the worker's outcome; the gallery marks such clips on cards and in the feed.
Existing clips are silent (every model before LTX-2 made none).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('clips', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sound', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('clips', schema=None) as batch_op:
        batch_op.drop_column('sound')
