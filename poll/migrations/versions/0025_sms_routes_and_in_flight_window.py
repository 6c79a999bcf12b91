"""SMS routes: a shared speed budget per route, and each outbox message's route and SMSC acknowledgement

Revision ID: 0025
Revises: 0024
"""

from alembic import op
import sqlalchemy as sa

from poll.models import UTCDateTime

revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None

IN_FLIGHT = "route IS NOT NULL AND acked_at IS NULL AND state IN ('sending', 'sent')"


def upgrade() -> None:
    op.create_table(
        'sms_routes',
        sa.Column('name', sa.String(length=32), nullable=False),
        sa.Column('tokens', sa.Float(), nullable=False),
        sa.Column('refilled_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_sms_routes')),
    )
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('route', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('acked_at', UTCDateTime(), nullable=True))
    op.create_index('ix_outbox_messages_in_flight', 'outbox_messages', ['route', 'claimed_at'],
                    postgresql_where=sa.text(IN_FLIGHT), sqlite_where=sa.text(IN_FLIGHT))


def downgrade() -> None:
    op.drop_index('ix_outbox_messages_in_flight', table_name='outbox_messages')
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.drop_column('acked_at')
        batch_op.drop_column('route')
    op.drop_table('sms_routes')
