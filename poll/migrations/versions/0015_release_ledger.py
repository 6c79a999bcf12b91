"""The release ledger: what left the database for whom and when; each poll's public privacy budget

Revision ID: 0015
Revises: 0014
"""

from alembic import op
import sqlalchemy as sa

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('polls', schema=None) as batch_op:
        batch_op.add_column(sa.Column('epsilon_total', sa.Float(), server_default='1.0', nullable=False))
        batch_op.add_column(sa.Column('release_limit', sa.Integer(), server_default='2', nullable=False))
    op.create_table(
        'releases',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('poll_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('audience', sa.String(length=64), nullable=False),
        sa.Column('first_at', sa.DateTime(), nullable=False),
        sa.Column('last_at', sa.DateTime(), nullable=False),
        sa.Column('times', sa.Integer(), nullable=False),
        sa.Column('epsilon', sa.Float(), nullable=True),
        sa.Column('detail', sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(['poll_id'], ['polls.id'], name=op.f('fk_releases_poll_id_polls'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_releases')),
    )
    op.create_index('ix_releases_poll_id_kind', 'releases', ['poll_id', 'kind'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_releases_poll_id_kind', table_name='releases')
    op.drop_table('releases')
    with op.batch_alter_table('polls', schema=None) as batch_op:
        batch_op.drop_column('release_limit')
        batch_op.drop_column('epsilon_total')
