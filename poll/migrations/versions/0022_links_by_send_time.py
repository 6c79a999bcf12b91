"""A poll's first and last invitation found by index (the methodology statement), not by reading every link

Revision ID: 0022
Revises: 0021
"""

from alembic import op

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_links_poll_id_sent_at', 'links', ['poll_id', 'sent_at'])


def downgrade() -> None:
    op.drop_index('ix_links_poll_id_sent_at', table_name='links')
