"""Background jobs: what a page shows of work that runs in the task queue

Revision ID: 0018
Revises: 0017
"""

from alembic import op
import sqlalchemy as sa

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'jobs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('progress', sa.Float(), nullable=False),
        sa.Column('step', sa.String(length=64), nullable=False),
        sa.Column('parameters', sa.JSON(), nullable=False),
        sa.Column('result', sa.JSON(), nullable=False),
        sa.Column('result_url', sa.String(length=256), nullable=True),
        sa.Column('error', sa.String(length=500), nullable=True),
        sa.Column('is_cancel_requested', sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column('operator_id', sa.Integer(), nullable=True),
        sa.Column('started_by', sa.String(length=64), server_default='', nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('started_at', sa.DateTime(), nullable=True),
        sa.Column('finished_at', sa.DateTime(), nullable=True),
        sa.CheckConstraint("state IN ('queued', 'running', 'done', 'failed', 'cancelled')",
                           name=op.f('ck_jobs_state')),
        sa.ForeignKeyConstraint(['operator_id'], ['operators.id'], name=op.f('fk_jobs_operator_id_operators'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_jobs')),
    )


def downgrade() -> None:
    op.drop_table('jobs')
