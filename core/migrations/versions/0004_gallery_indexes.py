"""clips: gallery indexes end in the full sort order (core/listings.py)

The front page sorts by (created_at, id) or (vote_count, created_at, id) and pages from
a cursor on those columns; with every one of them in the index, a page is a short walk
of the index instead of a sort of every public clip. A member's page and a clip's remixes
get indexes led by author_id / parent_id: SQLite keeps no statistics, and without them
prefers whichever index matches more `=` terms, which was the whole-gallery one.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('clips', schema=None) as batch_op:
        batch_op.drop_index('ix_clips_gallery_new')
        batch_op.drop_index('ix_clips_gallery_top')
        batch_op.create_index('ix_clips_gallery_new', ['private', 'deleted', 'status', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_clips_gallery_top', ['private', 'deleted', 'status', 'vote_count', 'created_at', 'id'],
                              unique=False)
        batch_op.create_index('ix_clips_gallery_member',
                              ['author_id', 'private', 'deleted', 'status', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_clips_gallery_remixes',
                              ['parent_id', 'private', 'deleted', 'status', 'created_at', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('clips', schema=None) as batch_op:
        batch_op.drop_index('ix_clips_gallery_remixes')
        batch_op.drop_index('ix_clips_gallery_member')
        batch_op.drop_index('ix_clips_gallery_top')
        batch_op.drop_index('ix_clips_gallery_new')
        batch_op.create_index('ix_clips_gallery_new', ['private', 'deleted', 'status', 'created_at'], unique=False)
        batch_op.create_index('ix_clips_gallery_top', ['private', 'deleted', 'status', 'vote_count'], unique=False)
