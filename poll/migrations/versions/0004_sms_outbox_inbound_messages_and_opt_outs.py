"""sms outbox, inbound messages and opt-outs

Revision ID: 0004
Revises: 0003
"""

from alembic import op
import sqlalchemy as sa

from poll.models import UTCDateTime

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('inbound_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('gateway_id', sa.String(length=64), nullable=False),
    sa.Column('phone', sa.String(length=32), nullable=False),
    sa.Column('text', sa.String(length=480), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('reply', sa.String(length=480), nullable=False),
    sa.Column('received_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inbound_messages')),
    sa.UniqueConstraint('gateway_id', name=op.f('uq_inbound_messages_gateway_id'))
    )
    op.create_table('opt_outs',
    sa.Column('phone', sa.String(length=16), nullable=False),
    sa.Column('opted_out_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('phone', name=op.f('pk_opt_outs'))
    )
    op.create_table('outbox_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('invitation_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('phone', sa.String(length=16), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('segments', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=48), nullable=False),
    sa.Column('gateway_id', sa.String(length=64), nullable=True),
    sa.Column('last_error', sa.String(length=200), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('next_attempt_at', UTCDateTime(), nullable=False),
    sa.Column('claimed_at', UTCDateTime(), nullable=True),
    sa.Column('sent_at', UTCDateTime(), nullable=True),
    sa.Column('delivered_at', UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['invitation_id'], ['invitations.id'], name=op.f('fk_outbox_messages_invitation_id_invitations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_messages')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_outbox_messages_idempotency_key'))
    )
    op.create_index('ix_outbox_messages_invitation_id', 'outbox_messages', ['invitation_id'])
    op.create_index('ix_outbox_messages_phone', 'outbox_messages', ['phone'])
    op.create_index('ix_outbox_messages_state_next_attempt_at', 'outbox_messages', ['state', 'next_attempt_at'])

    with op.batch_alter_table('polls', schema=None) as batch_op:
        # Polls made before SMS texts existed get none: the default text is used.
        batch_op.add_column(sa.Column('sms_template', sa.JSON(), nullable=False, server_default='{}'))
        batch_op.add_column(sa.Column('yes_no', sa.JSON(), nullable=False, server_default='{}'))



def downgrade() -> None:
    with op.batch_alter_table('polls', schema=None) as batch_op:
        batch_op.drop_column('yes_no')
        batch_op.drop_column('sms_template')

    op.drop_index('ix_outbox_messages_state_next_attempt_at', 'outbox_messages')
    op.drop_index('ix_outbox_messages_phone', 'outbox_messages')
    op.drop_index('ix_outbox_messages_invitation_id', 'outbox_messages')

    op.drop_table('outbox_messages')
    op.drop_table('opt_outs')
    op.drop_table('inbound_messages')
