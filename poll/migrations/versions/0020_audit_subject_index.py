"""Audit entries found by their subject and action (a poll's field dates), not by reading the whole trail

Revision ID: 0020
Revises: 0018
"""

from alembic import op

revision = '0020'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_audit_events_subject_action', 'audit_events', ['subject', 'action'])


def downgrade() -> None:
    op.drop_index('ix_audit_events_subject_action', table_name='audit_events')
