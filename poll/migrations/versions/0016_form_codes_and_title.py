"""Choice codes as forms write them (up to 32 characters); a poll keeps its form's title and version

Revision ID: 0016
Revises: 0015
"""

from alembic import op
import sqlalchemy as sa

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('polls', schema=None) as batch_op:
        batch_op.add_column(sa.Column('title', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('form_version', sa.String(length=64), nullable=True))
    with op.batch_alter_table('options', schema=None) as batch_op:
        batch_op.alter_column('code', existing_type=sa.String(length=8), type_=sa.String(length=32))
    with op.batch_alter_table('shown_categories', schema=None) as batch_op:
        batch_op.alter_column('code', existing_type=sa.String(length=8), type_=sa.String(length=32))
    with op.batch_alter_table('value_tallies', schema=None) as batch_op:
        batch_op.alter_column('value', existing_type=sa.String(length=16), type_=sa.String(length=32))


def downgrade() -> None:
    with op.batch_alter_table('value_tallies', schema=None) as batch_op:
        batch_op.alter_column('value', existing_type=sa.String(length=32), type_=sa.String(length=16))
    with op.batch_alter_table('shown_categories', schema=None) as batch_op:
        batch_op.alter_column('code', existing_type=sa.String(length=32), type_=sa.String(length=8))
    with op.batch_alter_table('options', schema=None) as batch_op:
        batch_op.alter_column('code', existing_type=sa.String(length=32), type_=sa.String(length=8))
    with op.batch_alter_table('polls', schema=None) as batch_op:
        batch_op.drop_column('form_version')
        batch_op.drop_column('title')
