"""Recipients found by phone: every incoming SMS, and the STOPs counted as refusals, look a number up

Revision ID: 0012
Revises: 0011
"""

from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f('ix_recipients_phone'), 'recipients', ['phone'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_recipients_phone'), table_name='recipients')
