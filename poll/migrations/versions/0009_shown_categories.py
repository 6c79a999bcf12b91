"""the categories of a poll's breakdowns that have been shown: once shown, always shown

Revision ID: 0009
Revises: 0008
"""

from alembic import op
import sqlalchemy as sa

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('shown_categories',
    sa.Column('poll_id', sa.Integer(), nullable=False),
    sa.Column('stratum', sa.String(length=16), nullable=False),
    sa.Column('code', sa.String(length=8), nullable=False),
    sa.ForeignKeyConstraint(['poll_id'], ['polls.id'], name=op.f('fk_shown_categories_poll_id_polls'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('poll_id', 'stratum', 'code', name=op.f('pk_shown_categories'))
    )
    # Snapshots published before this rule may have hidden what another view showed: start them afresh.
    op.execute("DELETE FROM public_snapshots")


def downgrade() -> None:
    op.drop_table('shown_categories')
