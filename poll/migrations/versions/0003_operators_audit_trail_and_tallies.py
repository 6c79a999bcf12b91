"""operators, audit trail and tallies

Revision ID: 0003
Revises: 0002
"""

from alembic import op
import sqlalchemy as sa

from poll.models import UTCDateTime

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('operators',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('password_hash', sa.String(length=256), nullable=False),
    sa.Column('role', sa.String(length=8), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('last_login_at', UTCDateTime(), nullable=True),
    sa.CheckConstraint("role IN ('admin', 'viewer')", name=op.f('ck_operators_role')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_operators')),
    sa.UniqueConstraint('name', name=op.f('uq_operators_name'))
    )
    op.create_table('audit_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('occurred_at', UTCDateTime(), nullable=False),
    sa.Column('operator_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('subject', sa.String(length=128), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['operator_id'], ['operators.id'], name=op.f('fk_audit_events_operator_id_operators'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events'))
    )
    op.create_index('ix_audit_events_occurred_at', 'audit_events', ['occurred_at'])

    op.create_table('poll_counters',
    sa.Column('poll_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['poll_id'], ['polls.id'], name=op.f('fk_poll_counters_poll_id_polls'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('poll_id', 'name', name=op.f('pk_poll_counters'))
    )
    op.create_table('answer_tallies',
    sa.Column('poll_id', sa.Integer(), nullable=False),
    sa.Column('option_id', sa.Integer(), nullable=False),
    sa.Column('governorate', sa.String(length=8), nullable=False),
    sa.Column('sex', sa.String(length=1), nullable=False),
    sa.Column('age_band', sa.String(length=8), nullable=False),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('count', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['option_id'], ['options.id'], name=op.f('fk_answer_tallies_option_id_options'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['poll_id'], ['polls.id'], name=op.f('fk_answer_tallies_poll_id_polls'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('poll_id', 'option_id', 'governorate', 'sex', 'age_band', 'channel', name=op.f('pk_answer_tallies'))
    )
    op.create_table('hourly_tallies',
    sa.Column('poll_id', sa.Integer(), nullable=False),
    sa.Column('option_id', sa.Integer(), nullable=False),
    sa.Column('hour', UTCDateTime(), nullable=False),
    sa.Column('count', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['option_id'], ['options.id'], name=op.f('fk_hourly_tallies_option_id_options'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['poll_id'], ['polls.id'], name=op.f('fk_hourly_tallies_poll_id_polls'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('poll_id', 'option_id', 'hour', name=op.f('pk_hourly_tallies'))
    )


def downgrade() -> None:
    op.drop_table('hourly_tallies')
    op.drop_table('answer_tallies')
    op.drop_table('poll_counters')
    op.drop_index('ix_audit_events_occurred_at', 'audit_events')

    op.drop_table('audit_events')
    op.drop_table('operators')
