"""SMS conversations: the questions after the headline asked one a message, and their outcomes

Revision ID: 0011
Revises: 0010
"""

from alembic import op
import sqlalchemy as sa

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

OUTCOMES = ("'recorded', 'already-answered', 'unknown-link', 'not-open', 'closed', 'invalid-option', "
            "'rate-limited', 'stopped', 'unknown-number', 'no-poll', 'unreadable', 'duplicate'")
NEW_OUTCOMES = "'question-answered', 'question-unreadable', 'completed'"


def upgrade() -> None:
    op.create_table('sms_conversations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('phone_digest', sa.String(length=64), nullable=False),
    sa.Column('poll_id', sa.Integer(), nullable=False),
    sa.Column('answer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('language', sa.String(length=4), nullable=False),
    sa.Column('asking', sa.String(length=32), nullable=False),
    sa.Column('values', sa.JSON(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['answer_id'], ['answers.id'], name=op.f('fk_sms_conversations_answer_id_answers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['poll_id'], ['polls.id'], name=op.f('fk_sms_conversations_poll_id_polls'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sms_conversations')),
    sa.UniqueConstraint('phone_digest', name=op.f('uq_sms_conversations_phone_digest'))
    )
    with op.batch_alter_table('sms_conversations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sms_conversations_expires_at'), ['expires_at'], unique=False)
    with op.batch_alter_table('inbound_messages') as batch_op:
        batch_op.drop_constraint(op.f('ck_inbound_messages_outcome'), type_='check')
        batch_op.create_check_constraint('outcome', sa.text(f"outcome IN ({OUTCOMES}, {NEW_OUTCOMES})"))


def downgrade() -> None:
    op.execute(f"DELETE FROM inbound_messages WHERE outcome IN ({NEW_OUTCOMES})")
    with op.batch_alter_table('inbound_messages') as batch_op:
        batch_op.drop_constraint(op.f('ck_inbound_messages_outcome'), type_='check')
        batch_op.create_check_constraint('outcome', sa.text(f"outcome IN ({OUTCOMES})"))
    with op.batch_alter_table('sms_conversations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sms_conversations_expires_at'))
    op.drop_table('sms_conversations')
