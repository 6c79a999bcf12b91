"""Split-ballot experiments: a poll's variants, each link's and answer's variant, answers counted by variant;
an SMS outcome for a two-step question's second step asked

Revision ID: 0014
Revises: 0013
"""

from alembic import op
import sqlalchemy as sa

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

OUTCOMES = ("'recorded', 'already-answered', 'unknown-link', 'not-open', 'closed', 'invalid-option', "
            "'rate-limited', 'stopped', 'unknown-number', 'no-poll', 'unreadable', 'duplicate', "
            "'question-answered', 'question-unreadable', 'completed'")
NEW_OUTCOME = "'step-asked'"


def upgrade() -> None:
    with op.batch_alter_table('polls', schema=None) as batch_op:
        batch_op.add_column(sa.Column('experiment', sa.JSON(), nullable=True))
    with op.batch_alter_table('links', schema=None) as batch_op:
        batch_op.add_column(sa.Column('variant', sa.String(length=16), nullable=True))
    with op.batch_alter_table('answers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('variant', sa.String(length=16), nullable=True))
    op.create_table(
        'variant_tallies',
        sa.Column('poll_id', sa.Integer(), nullable=False),
        sa.Column('variant', sa.String(length=16), nullable=False),
        sa.Column('option_id', sa.Integer(), nullable=False),
        sa.Column('count', sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(['option_id'], ['options.id'], name=op.f('fk_variant_tallies_option_id_options'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['poll_id'], ['polls.id'], name=op.f('fk_variant_tallies_poll_id_polls'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('poll_id', 'variant', 'option_id', name=op.f('pk_variant_tallies')),
    )
    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_inbound_messages_outcome'), type_='check')
        batch_op.create_check_constraint('outcome', sa.text(f"outcome IN ({OUTCOMES}, {NEW_OUTCOME})"))


def downgrade() -> None:
    op.execute(f"DELETE FROM inbound_messages WHERE outcome = {NEW_OUTCOME}")
    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_inbound_messages_outcome'), type_='check')
        batch_op.create_check_constraint('outcome', sa.text(f"outcome IN ({OUTCOMES})"))
    op.drop_table('variant_tallies')
    with op.batch_alter_table('answers', schema=None) as batch_op:
        batch_op.drop_column('variant')
    with op.batch_alter_table('links', schema=None) as batch_op:
        batch_op.drop_column('variant')
    with op.batch_alter_table('polls', schema=None) as batch_op:
        batch_op.drop_column('experiment')
