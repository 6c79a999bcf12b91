"""Counters and tallies in shards: concurrent answers on PostgreSQL add to rows of their own

Each table gets a `shard` column (0 for every row kept so far) in its primary
key; readers sum a cell's shards (models.TALLY_SHARDS).

Revision ID: 0028
Revises: 0027
"""

import sqlalchemy as sa
from alembic import op

revision = '0028'
down_revision = '0027'
branch_labels = None
depends_on = None

# Each sharded table and its key before the shard.
KEYS = {
    'poll_counters': ['poll_id', 'name'],
    'answer_tallies': ['poll_id', 'option_id', 'governorate', 'sex', 'age_band', 'channel'],
    'variant_tallies': ['poll_id', 'variant', 'option_id'],
    'value_tallies': ['poll_id', 'question_id', 'option_id', 'value'],
    'hourly_tallies': ['poll_id', 'option_id', 'hour'],
}


def upgrade() -> None:
    for table, key in KEYS.items():
        with op.batch_alter_table(table, recreate='auto') as batch:
            batch.add_column(sa.Column('shard', sa.SmallInteger(), nullable=False, server_default='0'))
            batch.drop_constraint(f'pk_{table}', type_='primary')
            batch.create_primary_key(f'pk_{table}', [*key, 'shard'])


def downgrade() -> None:
    # The shards of each cell summed into shard 0 first, so that no count is lost with the column.
    for table, key in KEYS.items():
        value = 'value' if table == 'poll_counters' else 'count'
        columns = ', '.join(key)
        op.execute(f"CREATE TEMPORARY TABLE summed AS SELECT {columns}, sum({value}) AS total FROM {table} "
                   f"GROUP BY {columns}")
        op.execute(f"DELETE FROM {table}")
        op.execute(f"INSERT INTO {table} ({columns}, shard, {value}) SELECT {columns}, 0, total FROM summed")
        op.execute("DROP TABLE summed")
        with op.batch_alter_table(table, recreate='auto') as batch:
            batch.drop_constraint(f'pk_{table}', type_='primary')
            batch.create_primary_key(f'pk_{table}', key)
            batch.drop_column('shard')
