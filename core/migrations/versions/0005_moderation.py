"""moderation: per-server bans, reports, the audit log, flagged clips, the moderators' channel

Until 0004 `/admin ban` set `members.banned`, which stopped the member in every server and
hid all their clips from the web gallery. From 0005 a server's ban is a `guild_bans` row
(that server only) and `members.banned` is the operator-wide ban of `reelbot ban`.

Existing `members.banned` rows stay operator-wide bans. No server was recorded with them,
so there is no server to move them to, and keeping them is what they did until now: no
one is unbanned by an upgrade. Each one gets an audit entry (action `ban`, actor
`migration-0005`), so an operator can review them with `reelbot audit` and lift any with
`reelbot unban`. A downgrade drops the per-server bans (0004 has no place for them) rather
than turning them into bans everywhere.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

KEPT = ("kept operator-wide by migration 0005 (set with /admin ban before bans were per server; "
        "its server was not recorded)")


def upgrade() -> None:
    op.create_table('guild_bans',
    sa.Column('guild_id', sa.String(length=32), nullable=False),
    sa.Column('member_id', sa.String(length=32), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('banned_by', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('guild_id', 'member_id')
    )
    op.create_table('reports',
    sa.Column('clip_id', sa.String(length=32), nullable=False),
    sa.Column('guild_id', sa.String(length=32), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('channel_id', sa.String(length=32), nullable=True),
    sa.Column('message_id', sa.String(length=32), nullable=True),
    sa.Column('posting_since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_by', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['clip_id'], ['clips.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('clip_id')
    )
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reports_guild_id'), ['guild_id'], unique=False)
    op.create_table('reporters',
    sa.Column('clip_id', sa.String(length=32), nullable=False),
    sa.Column('member_id', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['clip_id'], ['reports.clip_id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('clip_id', 'member_id')
    )
    op.create_table('audit_log',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('guild_id', sa.String(length=32), nullable=True),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('member_id', sa.String(length=32), nullable=True),
    sa.Column('actor', sa.String(length=32), nullable=True),
    sa.Column('clip_id', sa.String(length=32), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('prompt', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index('ix_audit_created', ['created_at'], unique=False)
        batch_op.create_index('ix_audit_guild_created', ['guild_id', 'created_at'], unique=False)
        batch_op.create_index('ix_audit_member_created', ['member_id', 'created_at'], unique=False)
    with op.batch_alter_table('clips', schema=None) as batch_op:
        batch_op.add_column(sa.Column('flagged', sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table('guild_settings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mod_channel_id', sa.String(length=32), nullable=True))

    # The bans set before 0005: an audit entry each (INSERT … SELECT, so offline SQL works too).
    members = sa.table('members', sa.column('id', sa.String), sa.column('banned', sa.Boolean),
                       sa.column('ban_reason', sa.Text))
    audit = sa.table('audit_log', sa.column('action', sa.String), sa.column('member_id', sa.String),
                     sa.column('actor', sa.String), sa.column('reason', sa.Text),
                     sa.column('created_at', sa.DateTime(timezone=True)))
    reason = sa.case((members.c.ban_reason.is_(None), sa.literal(KEPT)),
                     else_=sa.literal(KEPT + ": ") + members.c.ban_reason)
    op.execute(audit.insert().from_select(
        ['action', 'member_id', 'actor', 'reason', 'created_at'],
        sa.select(sa.literal('ban'), members.c.id, sa.literal('migration-0005'), reason, sa.func.now())
        .where(members.c.banned == sa.true())))


def downgrade() -> None:
    with op.batch_alter_table('guild_settings', schema=None) as batch_op:
        batch_op.drop_column('mod_channel_id')
    with op.batch_alter_table('clips', schema=None) as batch_op:
        batch_op.drop_column('flagged')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_member_created')
        batch_op.drop_index('ix_audit_guild_created')
        batch_op.drop_index('ix_audit_created')
    op.drop_table('audit_log')
    op.drop_table('reporters')
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reports_guild_id'))
    op.drop_table('reports')
    op.drop_table('guild_bans')
