"""Quality signals, members' reactions, the canary arm and truthful timings

clips.quality: how a clip was made and measured (core.contract.Quality, worker/quality.py);
clips.revision, clips.knobs and clips.broken as columns of their own, so `reelbot quality`
groups and counts by them; clips.canary: the REELBOT_CANARY arm the clip was in;
clips.requested_at and clips.posted_at: from the member's command to the post. The
reactions table holds members' reactions per clip (core/quality.py). Clips made before it
have none of these.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-09
"""

import sqlalchemy as sa
from alembic import op


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('clips', schema=None) as batch_op:
        batch_op.add_column(sa.Column('quality', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('revision', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('knobs', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('broken', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('canary', sa.String(length=12), nullable=True))
        batch_op.add_column(sa.Column('requested_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('posted_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_clips_model_created', ['model', 'created_at'], unique=False)
    op.create_table(
        'reactions',
        sa.Column('clip_id', sa.String(length=32), nullable=False),
        sa.Column('kind', sa.String(length=12), nullable=False),
        sa.Column('member_id', sa.String(length=32), nullable=False),
        sa.Column('made_clip_id', sa.String(length=32), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['clip_id'], ['clips.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('clip_id', 'kind', 'member_id'),
    )


def downgrade() -> None:
    op.drop_table('reactions')
    with op.batch_alter_table('clips', schema=None) as batch_op:
        batch_op.drop_index('ix_clips_model_created')
        for column in ('posted_at', 'requested_at', 'canary', 'broken', 'knobs', 'revision', 'quality'):
            batch_op.drop_column(column)
