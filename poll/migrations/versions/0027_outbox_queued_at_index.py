"""The outbox's queued messages by the time they were queued: the horizon's give-up reads only those past it

Revision ID: 0027
Revises: 0026
"""

from alembic import op

revision = '0027'
down_revision = '0026'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_outbox_messages_state_queued_at', 'outbox_messages', ['state', 'queued_at'])


def downgrade() -> None:
    op.drop_index('ix_outbox_messages_state_queued_at', table_name='outbox_messages')
