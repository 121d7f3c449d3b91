"""What the registry hands out: plain records of banks, bank content and signed manifests,
detached from any database session (``to_dict`` is the JSON the CLI and the API show)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from provenance.db import as_utc, utcnow
from provenance.tables import BankContentRow, BankRow, ManifestRow


@dataclass(frozen=True)
class BankInfo:
    id: int
    name: str
    description: str | None
    pdq_threshold: int
    phash_threshold: int
    created: dt.datetime
    content_count: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "pdq_threshold": self.pdq_threshold,
            "phash_threshold": self.phash_threshold,
            "created": self.created.isoformat(),
            "content_count": self.content_count,
        }


@dataclass(frozen=True)
class ContentInfo:
    id: int
    bank: str
    bank_id: int
    pdq: str | None
    pdq_quality: int | None
    phash: str | None
    source: str
    sha256: str | None
    metadata: dict[str, Any] | None
    created: dt.datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "bank_content_id": self.id,
            "bank": self.bank,
            "pdq": self.pdq,
            "pdq_quality": self.pdq_quality,
            "phash": self.phash,
            "source": self.source,
            "sha256": self.sha256,
            "metadata": self.metadata,
            "created": self.created.isoformat(),
        }


@dataclass(frozen=True)
class ManifestInfo:
    row_id: int
    manifest_id: str
    mime_type: str
    title: str | None
    signer: str | None
    issuer: str | None
    signed_at: dt.datetime
    asset_sha256: str
    pdq: str | None
    pdq_quality: int | None
    phash: str | None
    ai_declared: bool
    generator: dict[str, Any] | None
    soft_binding_alg: str | None
    soft_binding_value: str | None
    iscc: str | None = None
    """The body of the image's ISCC Content-Code Image, hex (``provenance.iscc.unit``
    writes its canonical ``ISCC:`` form)."""
    watermark: int | None = None
    """The payload of the invisible watermark in the signed pixels (``provenance.watermark``),
    a 32-bit ID unique in the registry; None when the image was not marked."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "manifest_id": self.manifest_id,
            "mime_type": self.mime_type,
            "title": self.title,
            "signer": self.signer,
            "issuer": self.issuer,
            "signed_at": self.signed_at.isoformat(),
            "asset_sha256": self.asset_sha256,
            "pdq": self.pdq,
            "pdq_quality": self.pdq_quality,
            "phash": self.phash,
            "iscc": self.iscc,
            "watermark": self.watermark,
            "ai_declared": self.ai_declared,
            "generator": self.generator,
            "soft_binding": (
                {"alg": self.soft_binding_alg, "value": self.soft_binding_value}
                if self.soft_binding_alg
                else None
            ),
        }


def bank_info(row: BankRow, count: int = 0) -> BankInfo:
    return BankInfo(
        id=row.id,
        name=row.name,
        description=row.description,
        pdq_threshold=row.pdq_threshold,
        phash_threshold=row.phash_threshold,
        created=as_utc(row.created) or utcnow(),
        content_count=count,
    )


def content_info(row: BankContentRow, bank: str) -> ContentInfo:
    return ContentInfo(
        id=row.id,
        bank=bank,
        bank_id=row.bank_id,
        pdq=row.pdq,
        pdq_quality=row.pdq_quality,
        phash=row.phash,
        source=row.source,
        sha256=row.sha256,
        metadata=row.content_metadata,
        created=as_utc(row.created) or utcnow(),
    )


def manifest_info(row: ManifestRow) -> ManifestInfo:
    return ManifestInfo(
        row_id=row.id,
        manifest_id=row.manifest_id,
        mime_type=row.mime_type,
        title=row.title,
        signer=row.signer,
        issuer=row.issuer,
        signed_at=as_utc(row.signed_at) or utcnow(),
        asset_sha256=row.asset_sha256,
        pdq=row.pdq,
        pdq_quality=row.pdq_quality,
        phash=row.phash,
        ai_declared=bool(row.ai_declared),
        generator=row.generator,
        soft_binding_alg=row.soft_binding_alg,
        soft_binding_value=row.soft_binding_value,
        iscc=row.iscc,
        watermark=row.watermark,
    )


def bank_page(bank: str, total: int, limit: int, offset: int, following: int) -> dict[str, Any]:
    """Where a page of a bank's listing sits, as the CLI's ``--json`` and the API give it
    beside its rows: ``next_offset`` (``following``, the offset after this page) is None on
    the last page."""
    return {
        "bank": bank,
        "total": total,
        "limit": limit,
        "offset": offset,
        "next_offset": following if following < total else None,
    }
