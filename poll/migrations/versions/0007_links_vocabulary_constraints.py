"""one word for a personal link: invitations become links; constraints written from the vocabulary

Revision ID: 0007
Revises: 0006
"""

from alembic import op
import sqlalchemy as sa

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

# (table, old column, new column) of every reference to a link.
COLUMNS = [("answers", "invitation_id", "link_id"), ("outbox_messages", "invitation_id", "link_id"),
           ("receipts", "invitation_id", "link_id")]
# Constraint and index names that follow the naming convention, old -> new, per table after the rename.
NAMES = {
    "links": [("pk_invitations", "pk_links"), ("uq_invitations_token", "uq_links_token"),
              ("uq_invitations_poll_id_recipient_id", "uq_links_poll_id_recipient_id"),
              ("fk_invitations_poll_id_polls", "fk_links_poll_id_polls"),
              ("fk_invitations_recipient_id_recipients", "fk_links_recipient_id_recipients")],
    "answers": [("uq_answers_invitation_id", "uq_answers_link_id"),
                ("fk_answers_invitation_id_invitations", "fk_answers_link_id_links")],
    "outbox_messages": [("fk_outbox_messages_invitation_id_invitations", "fk_outbox_messages_link_id_links")],
    "receipts": [("fk_receipts_invitation_id_invitations", "fk_receipts_link_id_links")],
}
INDEXES = [("outbox_messages", "ix_outbox_messages_invitation_id", "ix_outbox_messages_link_id")]
CHECKS = [
    ("refusals", "ck_refusals_kind",
     "kind IN ('already-answered', 'unknown-link', 'not-open', 'closed', 'invalid-option', 'rate-limited')"),
    ("refusals", "ck_refusals_channel", "channel IN ('web', 'sms')"),
    ("outbox_messages", "ck_outbox_messages_kind", "kind IN ('invitation', 'reminder')"),
    ("outbox_messages", "ck_outbox_messages_state",
     "state IN ('queued', 'sending', 'sent', 'delivered', 'failed', 'cancelled')"),
    ("inbound_messages", "ck_inbound_messages_outcome",
     "outcome IN ('recorded', 'already-answered', 'unknown-link', 'not-open', 'closed', 'invalid-option', "
     "'rate-limited', 'stopped', 'unknown-number', 'no-poll', 'unreadable', 'duplicate')"),
]


def upgrade() -> None:
    # A reminder's number is in its idempotency key; its kind is just "reminder".
    op.execute("UPDATE outbox_messages SET kind = 'reminder' WHERE kind LIKE 'reminder-%'")
    _rename("invitations", "links", forward=True)
    for table, name, condition in CHECKS:
        with op.batch_alter_table(table) as batch_op:
            batch_op.create_check_constraint(name.removeprefix(f"ck_{table}_"), sa.text(condition))


def downgrade() -> None:
    for table, name, _condition in CHECKS:
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_constraint(op.f(name), type_="check")
    _rename("links", "invitations", forward=False)


def _rename(old_table: str, new_table: str, *, forward: bool) -> None:
    columns = [(table, old, new) if forward else (table, new, old) for table, old, new in COLUMNS]
    names = {(new_table if table == "links" else table): [(old, new) if forward else (new, old) for old, new in pairs]
             for table, pairs in NAMES.items()}
    indexes = [(table, old, new) if forward else (table, new, old) for table, old, new in INDEXES]
    if op.get_bind().dialect.name == "postgresql":
        op.rename_table(old_table, new_table)
        op.execute(f"ALTER SEQUENCE {old_table}_id_seq RENAME TO {new_table}_id_seq")
        for table, old, new in columns:
            op.alter_column(table, old, new_column_name=new)
        for table, pairs in names.items():
            for old, new in pairs:
                op.execute(f"ALTER TABLE {table} RENAME CONSTRAINT {old} TO {new}")
        for _table, old, new in indexes:
            op.execute(f"ALTER INDEX {old} RENAME TO {new}")
        return
    # SQLite keeps constraint names in each table's CREATE statement: rebuild the tables with the new names.
    op.rename_table(old_table, new_table)
    for table, old, new in columns:
        with op.batch_alter_table(table) as batch_op:
            batch_op.alter_column(old, new_column_name=new)
    column_of = {table: new for table, _old, new in columns}
    for table, pairs in names.items():
        with op.batch_alter_table(table, recreate="always") as batch_op:
            for old, new in pairs:
                if old.startswith("pk_"):
                    continue  # SQLite has no named primary keys to compare; the rebuild keeps the key
                if old.startswith("uq_"):
                    batch_op.drop_constraint(old, type_="unique")
                    batch_op.create_unique_constraint(new, _unique_columns(table, new, column_of))
                else:
                    batch_op.drop_constraint(old, type_="foreignkey")
                    referred, local, ondelete = _foreign_key(table, new, column_of, new_table)
                    batch_op.create_foreign_key(new, referred, [local], ["id"], ondelete=ondelete)
    for table, old, new in indexes:
        op.drop_index(old, table_name=table)
        op.create_index(new, table, [column_of[table]])


def _unique_columns(table: str, name: str, column_of: dict) -> list[str]:
    if name.endswith("_token"):
        return ["token"]
    if name.endswith("_poll_id_recipient_id"):
        return ["poll_id", "recipient_id"]
    return [column_of[table]]


def _foreign_key(table: str, name: str, column_of: dict, links_table: str) -> tuple[str, str, str]:
    if name.endswith("_poll_id_polls"):
        return "polls", "poll_id", "CASCADE"
    if name.endswith("_recipient_id_recipients"):
        return "recipients", "recipient_id", "CASCADE"
    return links_table, column_of[table], "SET NULL" if table == "answers" else "CASCADE"
