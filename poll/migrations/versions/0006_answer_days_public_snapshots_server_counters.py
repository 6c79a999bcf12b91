"""days instead of times on links, public snapshots, server-wide counters, simulated recipients, private SMS replies

Revision ID: 0006
Revises: 0005
"""

from alembic import op
import sqlalchemy as sa

from poll.models import UTCDateTime

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

# What a reply that reached a poll's link was recorded as: its number beside its text would be its answer.
ANSWERING_OUTCOMES = "('recorded', 'already-answered', 'invalid-option', 'unreadable', 'closed', 'not-open')"


def upgrade() -> None:
    op.create_table('server_counters',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_server_counters'))
    )
    op.create_table('public_snapshots',
    sa.Column('poll_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('published_at', UTCDateTime(), nullable=False),
    sa.Column('checked_at', UTCDateTime(), nullable=False),
    sa.Column('document', sa.JSON(), nullable=False),
    sa.Column('basis', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['poll_id'], ['polls.id'], name=op.f('fk_public_snapshots_poll_id_polls'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('poll_id', name=op.f('pk_public_snapshots'))
    )

    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.alter_column('phone', existing_type=sa.VARCHAR(length=32), nullable=True)
        batch_op.alter_column('text', existing_type=sa.VARCHAR(length=480), nullable=True)
    op.execute(f"UPDATE inbound_messages SET phone = NULL, text = NULL WHERE outcome IN {ANSWERING_OUTCOMES}")

    # A link keeps the day it was opened and answered, no finer.
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('opened_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('answered_on', sa.Date(), nullable=True))
    op.execute("UPDATE invitations SET opened_on = date(opened_at), answered_on = date(answered_at)")
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.drop_column('answered_at')
        batch_op.drop_column('opened_at')

    with op.batch_alter_table('recipients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('is_simulated', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('recipients', schema=None) as batch_op:
        batch_op.drop_column('is_simulated')

    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('opened_at', UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('answered_at', UTCDateTime(), nullable=True))
    # Midnight of the day kept: the times themselves are gone.
    op.execute("UPDATE invitations SET opened_at = opened_on, answered_at = answered_on")
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.drop_column('answered_on')
        batch_op.drop_column('opened_on')

    op.execute("UPDATE inbound_messages SET phone = '', text = '' WHERE phone IS NULL")
    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.alter_column('text', existing_type=sa.VARCHAR(length=480), nullable=False)
        batch_op.alter_column('phone', existing_type=sa.VARCHAR(length=32), nullable=False)

    op.drop_table('public_snapshots')
    op.drop_table('server_counters')
