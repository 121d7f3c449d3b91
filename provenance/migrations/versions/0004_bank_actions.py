"""Actions on bank matches: a bank's webhook, and every delivery and attempt made to it.

``bank_actions`` (one webhook URL per bank), ``action_deliveries`` (one match told to a
webhook: its JSON body, status pending / delivered / failed, attempts so far) and
``action_attempts`` (each POST: when, how long, the HTTP status or the error). Created
only where missing, as the baseline creates its tables.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-14
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# SQLite only auto-increments an INTEGER PRIMARY KEY; elsewhere ids are 64-bit.
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
STAMP = sa.DateTime(timezone=True)


def _tables() -> list[tuple[str, list[sa.SchemaItem], list[tuple[str, list[str], bool]]]]:
    """(name, columns and constraints, indexes (name, columns, unique)), parents first."""
    return [
        (
            "bank_actions",
            [
                sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
                sa.Column(
                    "bank_id",
                    sa.Integer(),
                    sa.ForeignKey("hash_banks.id"),
                    nullable=False,
                    unique=True,
                ),
                sa.Column("webhook_url", sa.String(2048), nullable=False),
                sa.Column("created", STAMP, nullable=False),
                sa.Column("updated", STAMP, nullable=False),
            ],
            [],
        ),
        (
            "action_deliveries",
            [
                sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
                sa.Column("bank_id", sa.Integer(), sa.ForeignKey("hash_banks.id"), nullable=False),
                sa.Column("bank_content_id", sa.BigInteger(), nullable=False),
                sa.Column("url", sa.String(2048), nullable=False),
                sa.Column("payload", sa.JSON(), nullable=False),
                sa.Column("status", sa.String(16), nullable=False),
                sa.Column("attempts", sa.Integer(), nullable=False),
                sa.Column("last_error", sa.Text()),
                sa.Column("created", STAMP, nullable=False),
                sa.Column("updated", STAMP, nullable=False),
            ],
            [
                ("ix_action_deliveries_bank_id_id", ["bank_id", "id"], False),
                ("ix_action_deliveries_status", ["status"], False),
            ],
        ),
        (
            "action_attempts",
            [
                sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
                sa.Column(
                    "delivery_id",
                    BIG_ID,
                    sa.ForeignKey("action_deliveries.id"),
                    nullable=False,
                ),
                sa.Column("number", sa.Integer(), nullable=False),
                sa.Column("started", STAMP, nullable=False),
                sa.Column("duration_ms", sa.Integer(), nullable=False),
                sa.Column("status_code", sa.Integer()),
                sa.Column("error", sa.Text()),
                sa.Column("outcome", sa.String(16), nullable=False),
            ],
            [("ix_action_attempts_delivery_id", ["delivery_id"], False)],
        ),
    ]


def upgrade() -> None:
    have = set(sa.inspect(op.get_bind()).get_table_names())
    for name, columns, indexes in _tables():
        if name in have:
            continue
        op.create_table(name, *columns)
        for index, fields, unique in indexes:
            op.create_index(index, name, fields, unique=unique)


def downgrade() -> None:
    for name, _columns, indexes in reversed(_tables()):
        for index, _fields, _unique in indexes:
            op.drop_index(index, table_name=name)
        op.drop_table(name)
