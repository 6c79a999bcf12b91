"""questionnaires: a poll's questions, the SMS sender ID (poll and message), each answer's values beyond the headline, and their tallies

Every poll so far asked one question: it becomes that poll's headline
question, named "answer", whose choices stay the poll's options.

Revision ID: 0010
Revises: 0009
"""

from alembic import op
import sqlalchemy as sa

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

QUESTION_TYPES = "type IN ('select_one', 'select_multiple', 'integer', 'governorate', 'text')"


def upgrade() -> None:
    op.create_table('questions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('poll_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('role', sa.String(length=8), nullable=True),
    sa.Column('maps_to', sa.String(length=16), nullable=True),
    sa.Column('required', sa.Boolean(), nullable=False),
    sa.Column('relevant', sa.String(length=500), nullable=True),
    sa.Column('label', sa.JSON(), nullable=False),
    sa.Column('hint', sa.JSON(), nullable=False),
    sa.Column('choices', sa.JSON(), nullable=False),
    sa.Column('minimum', sa.Integer(), nullable=True),
    sa.Column('maximum', sa.Integer(), nullable=True),
    sa.Column('max_length', sa.Integer(), nullable=True),
    sa.CheckConstraint(QUESTION_TYPES, name=op.f('ck_questions_type')),
    sa.ForeignKeyConstraint(['poll_id'], ['polls.id'], name=op.f('fk_questions_poll_id_polls'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_questions')),
    sa.UniqueConstraint('poll_id', 'name', name=op.f('uq_questions_poll_id_name')),
    sa.UniqueConstraint('poll_id', 'position', name=op.f('uq_questions_poll_id_position'))
    )
    op.create_table('value_tallies',
    sa.Column('poll_id', sa.Integer(), nullable=False),
    sa.Column('question_id', sa.Integer(), nullable=False),
    sa.Column('option_id', sa.Integer(), nullable=False),
    sa.Column('value', sa.String(length=16), nullable=False),
    sa.Column('count', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['option_id'], ['options.id'], name=op.f('fk_value_tallies_option_id_options'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['poll_id'], ['polls.id'], name=op.f('fk_value_tallies_poll_id_polls'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['question_id'], ['questions.id'], name=op.f('fk_value_tallies_question_id_questions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('poll_id', 'question_id', 'option_id', 'value', name=op.f('pk_value_tallies'))
    )
    with op.batch_alter_table('answers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('values', sa.JSON(), nullable=True))
    with op.batch_alter_table('polls', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sms_sender', sa.String(length=16), nullable=True))
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sender', sa.String(length=16), nullable=True))
    with op.batch_alter_table('shown_categories', schema=None) as batch_op:
        batch_op.alter_column('stratum', existing_type=sa.String(length=16), type_=sa.String(length=40),
                              existing_nullable=False)
    # Each poll's one question becomes its headline.
    op.execute(
        "INSERT INTO questions (poll_id, position, name, type, role, maps_to, required, relevant, label, hint, "
        "choices, minimum, maximum, max_length) "
        "SELECT id, 1, 'answer', 'select_one', 'headline', NULL, true, NULL, question, '{}', '[]', NULL, NULL, NULL "
        "FROM polls"
    )


def downgrade() -> None:
    with op.batch_alter_table('shown_categories', schema=None) as batch_op:
        batch_op.alter_column('stratum', existing_type=sa.String(length=40), type_=sa.String(length=16),
                              existing_nullable=False)
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.drop_column('sender')
    with op.batch_alter_table('polls', schema=None) as batch_op:
        batch_op.drop_column('sms_sender')
    with op.batch_alter_table('answers', schema=None) as batch_op:
        batch_op.drop_column('values')
    op.drop_table('value_tallies')
    op.drop_table('questions')
