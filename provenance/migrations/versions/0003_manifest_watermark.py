"""Signed manifests keep the payload of the invisible watermark in their image.

A nullable ``watermark`` column (the 32-bit payload of ``org.provaudit.dwtdct``,
``provenance.watermark``, stored as a 64-bit integer so every unsigned 32-bit value fits
PostgreSQL) on ``signed_manifests``, with a unique index: a payload names one manifest,
and unmarked manifests (NULL, any number of them) are not constrained. Manifests signed
before keep none. Added only where missing, as 0002 adds its column.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-12
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TABLE = "signed_manifests"
INDEX = "ix_signed_manifests_watermark"


def _columns() -> list[sa.Column]:
    return [sa.Column("watermark", sa.BigInteger())]


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    have = {column["name"] for column in inspector.get_columns(TABLE)}
    missing = [column for column in _columns() if column.name not in have]
    if missing:
        with op.batch_alter_table(TABLE) as batch:
            for column in missing:
                batch.add_column(column)
    if INDEX not in {index["name"] for index in sa.inspect(op.get_bind()).get_indexes(TABLE)}:
        op.create_index(INDEX, TABLE, ["watermark"], unique=True)


def downgrade() -> None:
    op.drop_index(INDEX, table_name=TABLE)
    with op.batch_alter_table(TABLE) as batch:
        for column in reversed(_columns()):
            batch.drop_column(column.name)
