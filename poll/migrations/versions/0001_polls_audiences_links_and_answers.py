"""polls, audiences, links and answers

Revision ID: 0001
Revises: 
"""

from alembic import op
import sqlalchemy as sa

from poll.models import UTCDateTime

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audiences',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audiences')),
    sa.UniqueConstraint('name', name=op.f('uq_audiences_name'))
    )
    op.create_table('polls',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=64), nullable=False),
    sa.Column('question', sa.JSON(), nullable=False),
    sa.Column('sender', sa.JSON(), nullable=False),
    sa.Column('default_language', sa.String(length=4), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('opens_at', UTCDateTime(), nullable=True),
    sa.Column('closes_at', UTCDateTime(), nullable=True),
    sa.Column('is_anonymous', sa.Boolean(), nullable=False),
    sa.Column('audience_id', sa.Integer(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.CheckConstraint("status IN ('draft', 'open', 'closed')", name=op.f('ck_polls_status')),
    sa.ForeignKeyConstraint(['audience_id'], ['audiences.id'], name=op.f('fk_polls_audience_id_audiences')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_polls')),
    sa.UniqueConstraint('slug', name=op.f('uq_polls_slug'))
    )
    op.create_table('recipients',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('audience_id', sa.Integer(), nullable=False),
    sa.Column('phone', sa.String(length=16), nullable=False),
    sa.Column('governorate', sa.String(length=8), nullable=True),
    sa.Column('sex', sa.String(length=1), nullable=True),
    sa.Column('age', sa.SmallInteger(), nullable=True),
    sa.Column('age_band', sa.String(length=8), nullable=True),
    sa.Column('language', sa.String(length=4), nullable=True),
    sa.Column('attributes', sa.JSON(), nullable=True),
    sa.CheckConstraint("sex IN ('M', 'F')", name=op.f('ck_recipients_sex')),
    sa.ForeignKeyConstraint(['audience_id'], ['audiences.id'], name=op.f('fk_recipients_audience_id_audiences'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recipients')),
    sa.UniqueConstraint('audience_id', 'phone', name=op.f('uq_recipients_audience_id_phone'))
    )
    op.create_table('invitations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('poll_id', sa.Integer(), nullable=False),
    sa.Column('recipient_id', sa.Integer(), nullable=False),
    sa.Column('token', sa.String(length=32), nullable=False),
    sa.Column('issued_at', UTCDateTime(), nullable=False),
    sa.Column('sent_at', UTCDateTime(), nullable=True),
    sa.Column('delivered_at', UTCDateTime(), nullable=True),
    sa.Column('opened_at', UTCDateTime(), nullable=True),
    sa.Column('answered_at', UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['poll_id'], ['polls.id'], name=op.f('fk_invitations_poll_id_polls'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['recipient_id'], ['recipients.id'], name=op.f('fk_invitations_recipient_id_recipients'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invitations')),
    sa.UniqueConstraint('poll_id', 'recipient_id', name=op.f('uq_invitations_poll_id_recipient_id')),
    sa.UniqueConstraint('token', name=op.f('uq_invitations_token'))
    )
    op.create_table('options',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('poll_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=8), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('label', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['poll_id'], ['polls.id'], name=op.f('fk_options_poll_id_polls'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_options')),
    sa.UniqueConstraint('poll_id', 'code', name=op.f('uq_options_poll_id_code'))
    )
    op.create_table('answers',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('poll_id', sa.Integer(), nullable=False),
    sa.Column('option_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('answered_hour', UTCDateTime(), nullable=False),
    sa.Column('governorate', sa.String(length=8), nullable=True),
    sa.Column('sex', sa.String(length=1), nullable=True),
    sa.Column('age_band', sa.String(length=8), nullable=True),
    sa.Column('invitation_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("channel IN ('web', 'sms')", name=op.f('ck_answers_channel')),
    sa.ForeignKeyConstraint(['invitation_id'], ['invitations.id'], name=op.f('fk_answers_invitation_id_invitations'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['option_id'], ['options.id'], name=op.f('fk_answers_option_id_options'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['poll_id'], ['polls.id'], name=op.f('fk_answers_poll_id_polls'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_answers')),
    sa.UniqueConstraint('invitation_id', name=op.f('uq_answers_invitation_id'))
    )
    op.create_index('ix_answers_poll_id_option_id', 'answers', ['poll_id', 'option_id'])

    op.create_table('receipts',
    sa.Column('invitation_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['invitation_id'], ['invitations.id'], name=op.f('fk_receipts_invitation_id_invitations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('invitation_id', name=op.f('pk_receipts'))
    )


def downgrade() -> None:
    op.drop_table('receipts')
    op.drop_index('ix_answers_poll_id_option_id', 'answers')

    op.drop_table('answers')
    op.drop_table('options')
    op.drop_table('invitations')
    op.drop_table('recipients')
    op.drop_table('polls')
    op.drop_table('audiences')
