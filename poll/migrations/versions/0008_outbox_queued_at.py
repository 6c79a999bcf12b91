"""when an outgoing SMS was queued: the dispatcher's horizon counts from it

Revision ID: 0008
Revises: 0007
"""

from alembic import op
import sqlalchemy as sa

from poll.models import UTCDateTime

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('queued_at', UTCDateTime(), nullable=True))
    op.execute("UPDATE outbox_messages SET queued_at = created_at")
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.alter_column('queued_at', existing_type=UTCDateTime(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.drop_column('queued_at')
