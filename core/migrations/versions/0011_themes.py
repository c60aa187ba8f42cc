"""themes and theme_entries: a server's theme, the clips entered in it, their frozen votes

A theme runs in one server at a time (`running_in` holds the server's id while it runs and
is unique; NULL once closed). An entry is a clip entered with `-theme`; deleting the clip
withdraws it, and its `final_votes` are written when the theme closes. Nothing existing
changes, so a downgrade only drops the two tables.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-09
"""

import sqlalchemy as sa
from alembic import op


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('themes',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('guild_id', sa.String(length=32), nullable=False),
    sa.Column('words', sa.Text(), nullable=False),
    sa.Column('channel_id', sa.String(length=32), nullable=True),
    sa.Column('announce_channel_id', sa.String(length=32), nullable=True),
    sa.Column('max_entries', sa.Integer(), nullable=False),
    sa.Column('winners', sa.Integer(), nullable=False),
    sa.Column('started_by', sa.String(length=32), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('running_in', sa.String(length=32), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_by', sa.String(length=32), nullable=True),
    sa.Column('result_channel_id', sa.String(length=32), nullable=True),
    sa.Column('result_message_id', sa.String(length=32), nullable=True),
    sa.Column('result_posted_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('running_in')
    )
    with op.batch_alter_table('themes', schema=None) as batch_op:
        batch_op.create_index('ix_themes_guild_started', ['guild_id', 'started_at'], unique=False)
        batch_op.create_index('ix_themes_started', ['started_at'], unique=False)
        batch_op.create_index('ix_themes_unfinished', ['result_posted_at', 'ends_at'], unique=False)
    op.create_table('theme_entries',
    sa.Column('clip_id', sa.String(length=32), nullable=False),
    sa.Column('theme_id', sa.String(length=32), nullable=False),
    sa.Column('member_id', sa.String(length=32), nullable=False),
    sa.Column('final_votes', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['clip_id'], ['clips.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['theme_id'], ['themes.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('clip_id')
    )
    with op.batch_alter_table('theme_entries', schema=None) as batch_op:
        batch_op.create_index('ix_theme_entries_theme_member', ['theme_id', 'member_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('theme_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_theme_entries_theme_member')
    op.drop_table('theme_entries')
    with op.batch_alter_table('themes', schema=None) as batch_op:
        batch_op.drop_index('ix_themes_unfinished')
        batch_op.drop_index('ix_themes_started')
        batch_op.drop_index('ix_themes_guild_started')
    op.drop_table('themes')
