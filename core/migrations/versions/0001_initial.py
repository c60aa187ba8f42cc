"""clips, members, votes, guild settings

Revision ID: 0001
Revises: 
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('clips',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('parent_id', sa.String(length=32), nullable=True),
    sa.Column('author_id', sa.String(length=32), nullable=True),
    sa.Column('author_name', sa.String(length=100), nullable=True),
    sa.Column('guild_id', sa.String(length=32), nullable=True),
    sa.Column('channel_id', sa.String(length=32), nullable=True),
    sa.Column('thread_id', sa.String(length=32), nullable=True),
    sa.Column('status_message_id', sa.String(length=32), nullable=True),
    sa.Column('result_message_id', sa.String(length=32), nullable=True),
    sa.Column('task', sa.String(length=20), nullable=False),
    sa.Column('prompt', sa.Text(), nullable=False),
    sa.Column('flags', sa.JSON(), nullable=False),
    sa.Column('seed', sa.BigInteger(), nullable=False),
    sa.Column('model', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('worker', sa.String(length=100), nullable=True),
    sa.Column('timings', sa.JSON(), nullable=True),
    sa.Column('video_key', sa.String(length=200), nullable=True),
    sa.Column('poster_key', sa.String(length=200), nullable=True),
    sa.Column('video_bytes', sa.BigInteger(), nullable=True),
    sa.Column('width', sa.Integer(), nullable=True),
    sa.Column('height', sa.Integer(), nullable=True),
    sa.Column('fps', sa.Integer(), nullable=True),
    sa.Column('num_frames', sa.Integer(), nullable=True),
    sa.Column('duration', sa.Float(), nullable=True),
    sa.Column('private', sa.Boolean(), nullable=False),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.Column('vote_count', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['parent_id'], ['clips.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('clips', schema=None) as batch_op:
        batch_op.create_index('ix_clips_author_created', ['author_id', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_clips_author_id'), ['author_id'], unique=False)
        batch_op.create_index('ix_clips_gallery_new', ['private', 'deleted', 'status', 'created_at'], unique=False)
        batch_op.create_index('ix_clips_gallery_top', ['private', 'deleted', 'status', 'vote_count'], unique=False)
        batch_op.create_index(batch_op.f('ix_clips_parent_id'), ['parent_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_clips_status'), ['status'], unique=False)

    op.create_table('guild_settings',
    sa.Column('guild_id', sa.String(length=32), nullable=False),
    sa.Column('paused', sa.Boolean(), nullable=False),
    sa.Column('banned_terms', sa.JSON(), nullable=False),
    sa.Column('gallery_channel_id', sa.String(length=32), nullable=True),
    sa.Column('allowed_channel_ids', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('guild_id')
    )
    op.create_table('members',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=True),
    sa.Column('defaults', sa.JSON(), nullable=False),
    sa.Column('banned', sa.Boolean(), nullable=False),
    sa.Column('ban_reason', sa.Text(), nullable=True),
    sa.Column('usage_day', sa.Date(), nullable=True),
    sa.Column('jobs_today', sa.Integer(), nullable=False),
    sa.Column('last_job_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('clips_made', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('votes',
    sa.Column('clip_id', sa.String(length=32), nullable=False),
    sa.Column('member_id', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['clip_id'], ['clips.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('clip_id', 'member_id')
    )


def downgrade() -> None:
    op.drop_table('votes')
    op.drop_table('members')
    op.drop_table('guild_settings')
    with op.batch_alter_table('clips', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_clips_status'))
        batch_op.drop_index(batch_op.f('ix_clips_parent_id'))
        batch_op.drop_index('ix_clips_gallery_top')
        batch_op.drop_index('ix_clips_gallery_new')
        batch_op.drop_index(batch_op.f('ix_clips_author_id'))
        batch_op.drop_index('ix_clips_author_created')

    op.drop_table('clips')
