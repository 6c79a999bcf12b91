"""operator sessions and API tokens, disabled operators, the actor of audit events

Revision ID: 0005
Revises: 0004
"""

from alembic import op
import sqlalchemy as sa

from poll.models import UTCDateTime

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('operator_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('operator_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('secret_digest', sa.String(length=64), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('last_seen_at', UTCDateTime(), nullable=False),
    sa.Column('expires_at', UTCDateTime(), nullable=True),
    sa.Column('revoked_at', UTCDateTime(), nullable=True),
    sa.CheckConstraint("kind IN ('browser', 'api')", name=op.f('ck_operator_sessions_kind')),
    sa.ForeignKeyConstraint(['operator_id'], ['operators.id'], name=op.f('fk_operator_sessions_operator_id_operators'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_operator_sessions')),
    sa.UniqueConstraint('secret_digest', name=op.f('uq_operator_sessions_secret_digest'))
    )
    op.create_index('ix_operator_sessions_operator_id', 'operator_sessions', ['operator_id'])

    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('actor', sa.String(length=64), server_default='', nullable=False))
    # Events of the past name the operator as they are named now.
    op.execute(
        "UPDATE audit_events SET actor = (SELECT name FROM operators WHERE operators.id = audit_events.operator_id) "
        "WHERE operator_id IS NOT NULL"
    )

    with op.batch_alter_table('operators', schema=None) as batch_op:
        batch_op.add_column(sa.Column('is_disabled', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('operators', schema=None) as batch_op:
        batch_op.drop_column('is_disabled')

    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_column('actor')

    op.drop_index('ix_operator_sessions_operator_id', 'operator_sessions')
    op.drop_table('operator_sessions')
