"""A poll's retention period for its recipients' contact data, and when they were destroyed

Revision ID: 0017
Revises: 0016
"""

from alembic import op
import sqlalchemy as sa

from poll.models import UTCDateTime

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('polls', schema=None) as batch_op:
        batch_op.add_column(sa.Column('retention_days', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('contacts_purged_at', UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('polls', schema=None) as batch_op:
        batch_op.drop_column('contacts_purged_at')
        batch_op.drop_column('retention_days')
