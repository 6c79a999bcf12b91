"""Jobs record a heartbeat, so that one left running by a crashed server can be told from one still at work

Revision ID: 0023
Revises: 0022
"""

import sqlalchemy as sa
from alembic import op

from poll.models import UTCDateTime

revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('jobs') as batch:
        batch.add_column(sa.Column('heartbeat_at', UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('jobs') as batch:
        batch.drop_column('heartbeat_at')
