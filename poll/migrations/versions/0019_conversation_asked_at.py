"""when an SMS conversation asked its question: a reply sent before it is a resend, not its answer

Revision ID: 0019
Revises: 0018
"""

from alembic import op
import sqlalchemy as sa

from poll.models import UTCDateTime

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('sms_conversations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('asked_at', UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('sms_conversations', schema=None) as batch_op:
        batch_op.drop_column('asked_at')
