"""The outbox's messages still to send, indexed apart from the delivered millions

Revision ID: 0026
Revises: 0025
"""

from alembic import op
import sqlalchemy as sa

revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None

DUE = "state IN ('queued', 'sending')"


def upgrade() -> None:
    op.create_index('ix_outbox_messages_due', 'outbox_messages', ['id'],
                    postgresql_where=sa.text(DUE), sqlite_where=sa.text(DUE))


def downgrade() -> None:
    op.drop_index('ix_outbox_messages_due', table_name='outbox_messages')
