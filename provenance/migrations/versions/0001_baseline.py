"""Baseline: the schema provaudit created before it had migrations.

Databases made then hold some or all of these tables and no ``alembic_version``; each
table and index is created only where it is missing, so they are adopted as they are.

Revision ID: 0001
Revises:
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# SQLite only auto-increments an INTEGER PRIMARY KEY; elsewhere ids are 64-bit.
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
STAMP = sa.DateTime(timezone=True)


def _tables() -> list[tuple[str, list[sa.SchemaItem], list[tuple[str, list[str]]]]]:
    """(name, columns and constraints, indexes) of each table, parents first."""
    return [
        (
            "hash_banks",
            [
                sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
                sa.Column("name", sa.String(128), nullable=False, unique=True),
                sa.Column("description", sa.Text()),
                sa.Column("pdq_threshold", sa.Integer(), nullable=False),
                sa.Column("phash_threshold", sa.Integer(), nullable=False),
                sa.Column("created", STAMP, nullable=False),
            ],
            [],
        ),
        (
            "registry_info",
            [
                sa.Column("key", sa.String(64), primary_key=True),
                sa.Column("value", sa.String(255), nullable=False),
            ],
            [],
        ),
        (
            "signed_manifests",
            [
                sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
                sa.Column("manifest_id", sa.String(255), nullable=False, unique=True),
                sa.Column("manifest_bytes", sa.LargeBinary(), nullable=False),
                sa.Column("mime_type", sa.String(64), nullable=False),
                sa.Column("title", sa.String(512)),
                sa.Column("signer", sa.String(512)),
                sa.Column("issuer", sa.String(512)),
                sa.Column("signed_at", STAMP, nullable=False),
                sa.Column("asset_sha256", sa.String(64), nullable=False),
                sa.Column("pdq", sa.String(64)),
                sa.Column("pdq_quality", sa.Integer()),
                sa.Column("phash", sa.String(16)),
                sa.Column("ai_declared", sa.Boolean(), nullable=False),
                sa.Column("generator", sa.JSON()),
                sa.Column("soft_binding_alg", sa.String(64)),
                sa.Column("soft_binding_value", sa.String(128)),
            ],
            [
                ("ix_signed_manifests_asset_sha256", ["asset_sha256"]),
                ("ix_signed_manifests_pdq", ["pdq"]),
            ],
        ),
        (
            "bank_content",
            [
                sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
                sa.Column("bank_id", sa.Integer(), sa.ForeignKey("hash_banks.id"), nullable=False),
                sa.Column("content_key", sa.String(80), nullable=False),
                sa.Column("pdq", sa.String(64)),
                sa.Column("pdq_quality", sa.Integer()),
                sa.Column("phash", sa.String(16)),
                sa.Column("source", sa.String(16), nullable=False),
                sa.Column("sha256", sa.String(64)),
                sa.Column("metadata", sa.JSON()),
                sa.Column("created", STAMP, nullable=False),
                sa.UniqueConstraint("bank_id", "content_key", name="uq_bank_content_key"),
            ],
            [("ix_bank_content_bank_id", ["bank_id"])],
        ),
        (
            "audits",
            [
                sa.Column("id", sa.String(36), primary_key=True),
                sa.Column("created", STAMP, nullable=False),
                sa.Column("filename", sa.String(512)),
                sa.Column("sha256", sa.String(64), nullable=False),
                sa.Column("verdict", sa.String(32), nullable=False),
                sa.Column("result", sa.JSON(), nullable=False),
            ],
            [
                ("ix_audits_created", ["created"]),
                ("ix_audits_sha256", ["sha256"]),
                ("ix_audits_verdict", ["verdict"]),
            ],
        ),
        (
            "bias_reports",
            [
                sa.Column("id", sa.String(36), primary_key=True),
                sa.Column("created", STAMP, nullable=False),
                sa.Column("started", STAMP),
                sa.Column("finished", STAMP),
                sa.Column("status", sa.String(16), nullable=False),
                sa.Column("request", sa.JSON(), nullable=False),
                sa.Column("progress", sa.JSON()),
                sa.Column("error", sa.JSON()),
                sa.Column("result", sa.JSON()),
                sa.Column("out_dir", sa.Text()),
            ],
            [
                ("ix_bias_reports_created", ["created"]),
                ("ix_bias_reports_status", ["status"]),
            ],
        ),
    ]


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    existing = set(inspector.get_table_names())
    for name, items, indexes in _tables():
        if name not in existing:
            op.create_table(name, *items)
            have: set[str] = set()
        else:
            have = {index["name"] for index in inspector.get_indexes(name)}
        for index, columns in indexes:
            if index not in have:
                op.create_index(index, name, columns)


def downgrade() -> None:
    for name, _items, _indexes in reversed(_tables()):
        op.drop_table(name)
