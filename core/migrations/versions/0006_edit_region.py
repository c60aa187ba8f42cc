"""clips: what an edit was allowed to change (worker, inference/masks.py)

An edit's post says whether only the thing its instruction names was redrawn (a mask
found by segmentation: the phrase) or the whole frame ("whole frame"); the worker's
outcome carries it and the clip keeps it for every later post.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('clips', schema=None) as batch_op:
        batch_op.add_column(sa.Column('edit_region', sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('clips', schema=None) as batch_op:
        batch_op.drop_column('edit_region')
