"""Signed manifests keep the ISCC Content-Code Image of their image (``io.iscc.v0``).

A nullable ``iscc`` column (the code's 256-bit body as 64 hex digits) on
``signed_manifests``; manifests signed before keep none. Added only where it is missing,
as the baseline adds its tables, so a database that already has it is adopted as it is.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLE = "signed_manifests"


def _columns() -> list[sa.Column]:
    return [sa.Column("iscc", sa.String(64))]


def upgrade() -> None:
    have = {column["name"] for column in sa.inspect(op.get_bind()).get_columns(TABLE)}
    missing = [column for column in _columns() if column.name not in have]
    if missing:
        with op.batch_alter_table(TABLE) as batch:
            for column in missing:
                batch.add_column(column)


def downgrade() -> None:
    with op.batch_alter_table(TABLE) as batch:
        for column in reversed(_columns()):
            batch.drop_column(column.name)
