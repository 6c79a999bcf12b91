"""Weighting references: margins or a probability survey's microdata, with their source, per poll

Revision ID: 0024
Revises: 0023
"""

from alembic import op
import sqlalchemy as sa

revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'weighting_references',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('poll_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('source', sa.String(length=500), nullable=False),
        sa.Column('year', sa.Integer(), nullable=True),
        sa.Column('margins', sa.JSON(), nullable=False),
        sa.Column('variables', sa.JSON(), nullable=False),
        sa.Column('rows', sa.JSON(), nullable=False),
        sa.Column('design_weights', sa.JSON(), nullable=False),
        sa.Column('uploaded_at', sa.DateTime(), nullable=False),
        sa.Column('uploaded_by', sa.String(length=64), nullable=False),
        sa.CheckConstraint("kind IN ('margins', 'microdata')", name=op.f('ck_weighting_references_kind')),
        sa.ForeignKeyConstraint(['poll_id'], ['polls.id'], name=op.f('fk_weighting_references_poll_id_polls'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_weighting_references')),
        sa.UniqueConstraint('poll_id', name=op.f('uq_weighting_references_poll_id')),
    )


def downgrade() -> None:
    op.drop_table('weighting_references')
