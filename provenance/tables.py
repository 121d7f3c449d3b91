"""The fingerprint registry's tables (SQLAlchemy declarative, on ``provenance.db.Base``).

Their history is ``provenance/migrations``; a change here needs a migration there.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from provenance.db import Base, utcnow
from provenance.fingerprint import PDQ_HEX_LENGTH, PDQ_MATCH_DISTANCE, PHASH_HEX_LENGTH
from provenance.hashrules import PHASH_MATCH_DISTANCE
from provenance.iscc import ISCC_HEX_LENGTH

# SQLite only auto-increments an INTEGER PRIMARY KEY; elsewhere ids are 64-bit.
BIG_ID = BigInteger().with_variant(Integer(), "sqlite")


class RegistryInfoRow(Base):
    """Key/value facts about this registry; ``registry_id`` ties saved indexes to it."""

    __tablename__ = "registry_info"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(255))


class BankRow(Base):
    __tablename__ = "hash_banks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    pdq_threshold: Mapped[int] = mapped_column(Integer, default=PDQ_MATCH_DISTANCE)
    phash_threshold: Mapped[int] = mapped_column(Integer, default=PHASH_MATCH_DISTANCE)
    created: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class BankContentRow(Base):
    __tablename__ = "bank_content"
    __table_args__ = (UniqueConstraint("bank_id", "content_key", name="uq_bank_content_key"),)

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("hash_banks.id"), index=True)
    # "pdq:<hex>" or, for content known only by pHash, "phash:<hex>": one row per hash.
    content_key: Mapped[str] = mapped_column(String(80))
    pdq: Mapped[str | None] = mapped_column(String(PDQ_HEX_LENGTH))
    pdq_quality: Mapped[int | None] = mapped_column(Integer)
    phash: Mapped[str | None] = mapped_column(String(PHASH_HEX_LENGTH))
    source: Mapped[str] = mapped_column(String(16))
    sha256: Mapped[str | None] = mapped_column(String(64))
    content_metadata: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSON)
    created: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ManifestRow(Base):
    """A manifest provaudit signed, with the fingerprints of the image it was bound to."""

    __tablename__ = "signed_manifests"
    # Unique where set: SQL unique indexes let any number of rows hold NULL.
    __table_args__ = (Index("ix_signed_manifests_watermark", "watermark", unique=True),)

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    manifest_id: Mapped[str] = mapped_column(String(255), unique=True)
    manifest_bytes: Mapped[bytes] = mapped_column(LargeBinary)
    mime_type: Mapped[str] = mapped_column(String(64))
    title: Mapped[str | None] = mapped_column(String(512))
    signer: Mapped[str | None] = mapped_column(String(512))
    issuer: Mapped[str | None] = mapped_column(String(512))
    signed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    asset_sha256: Mapped[str] = mapped_column(String(64), index=True)
    pdq: Mapped[str | None] = mapped_column(String(PDQ_HEX_LENGTH), index=True)
    pdq_quality: Mapped[int | None] = mapped_column(Integer)
    phash: Mapped[str | None] = mapped_column(String(PHASH_HEX_LENGTH))
    ai_declared: Mapped[bool] = mapped_column(Boolean, default=False)
    generator: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    soft_binding_alg: Mapped[str | None] = mapped_column(String(64))
    soft_binding_value: Mapped[str | None] = mapped_column(String(128))
    # The body of the image's ISCC Content-Code Image (io.iscc.v0), 256 bits as hex
    # (migration 0002); null for manifests signed before, and for non-images.
    iscc: Mapped[str | None] = mapped_column(String(ISCC_HEX_LENGTH))
    # The 32-bit payload of the invisible watermark (provenance.watermark) in the signed
    # pixels, which points back to this row (migration 0003); null when unmarked. 64-bit
    # storage: an unsigned 32-bit value does not fit PostgreSQL's INTEGER.
    watermark: Mapped[int | None] = mapped_column(BigInteger)


class BankActionRow(Base):
    """What happens when a bank's content is matched: a webhook (migration 0004)."""

    __tablename__ = "bank_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("hash_banks.id"), unique=True)
    webhook_url: Mapped[str] = mapped_column(String(2048))
    created: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ActionDeliveryRow(Base):
    """One match to tell a bank's webhook about: its body, where it went and how it ended."""

    __tablename__ = "action_deliveries"
    __table_args__ = (Index("ix_action_deliveries_bank_id_id", "bank_id", "id"),)

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("hash_banks.id"))
    # No foreign key: a delivery's record outlives the removal of the item it names.
    bank_content_id: Mapped[int] = mapped_column(BigInteger)
    url: Mapped[str] = mapped_column(String(2048))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    # pending (attempts left), delivered (a 2xx answer) or failed (given up).
    status: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ActionAttemptRow(Base):
    """One POST of a delivery to its webhook, whatever came of it."""

    __tablename__ = "action_attempts"

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("action_deliveries.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    started: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    duration_ms: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    # delivered, retry (another attempt follows) or failed (the last one).
    outcome: Mapped[str] = mapped_column(String(16))
