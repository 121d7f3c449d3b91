"""Moderation hash banks: named sets of PDQ / pHash hashes, each with its own thresholds.

Content is added by its hashes or by an image (hashed here), and matches lookups as soon
as the call returns; removed content stops matching as soon as its removal returns. The
searching is :class:`provenance.indexcache.IndexCache`'s.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from provenance.errors import InputError
from provenance.fingerprint import PDQ_MATCH_DISTANCE, PDQ_MIN_QUALITY
from provenance.hashquery import HashQuery, IndexHit, TooFlatError, ranked, require_matchable
from provenance.hashrules import PHASH_MATCH_DISTANCE
from provenance.indexcache import IndexCache
from provenance.records import BankInfo, ContentInfo
from provenance.registry import NotFoundError, Registry

# Per query: bank name -> [{bank_content_id, distance, signal, variant, metadata}],
# closest first.
BankMatches = dict[str, list[dict[str, Any]]]


class HashBank:
    """The banks of one registry, searched through its index cache. Thread-safe."""

    def __init__(self, registry: Registry, indexes: IndexCache) -> None:
        self.registry = registry
        self.indexes = indexes

    def create_bank(
        self,
        name: str,
        *,
        pdq_threshold: int = PDQ_MATCH_DISTANCE,
        phash_threshold: int = PHASH_MATCH_DISTANCE,
        description: str | None = None,
    ) -> BankInfo:
        return self.registry.create_bank(
            name,
            pdq_threshold=pdq_threshold,
            phash_threshold=phash_threshold,
            description=description,
        )

    def update_bank(
        self,
        name: str,
        *,
        pdq_threshold: int | None = None,
        phash_threshold: int | None = None,
        description: str | None = None,
    ) -> BankInfo:
        return self.registry.update_bank(
            name,
            pdq_threshold=pdq_threshold,
            phash_threshold=phash_threshold,
            description=description,
        )

    def banks(self) -> list[BankInfo]:
        return self.registry.banks()

    def bank(self, name: str) -> BankInfo:
        return self.registry.bank(name)

    def content(self, content_id: int) -> ContentInfo:
        return self.registry.content(content_id)

    def list_content(
        self, bank: str, *, limit: int = 50, offset: int = 0
    ) -> tuple[list[ContentInfo], int]:
        """A page of a bank's content (oldest first) and the bank's item count."""
        return self.registry.list_content(bank, limit=limit, offset=offset)

    def remove(self, bank: str, content_id: int) -> ContentInfo:
        """Delete an item of ``bank``; it matches no lookup from the moment this returns."""
        # Loaded before the delete, so a saved index still agrees with the registry and
        # is updated in place rather than rebuilt.
        self.indexes.open()
        with self.indexes.lock:
            info = self.registry.remove_content(bank, content_id)
            self.indexes.remove_committed("content", [content_id])
        return info

    def add_hashes(
        self,
        bank: str,
        *,
        pdq: str | None = None,
        pdq_quality: int | None = None,
        phash: str | None = None,
        metadata: dict[str, Any] | None = None,
        source: str = "hash",
        sha256: str | None = None,
    ) -> ContentInfo:
        """Add content known by its hashes; it matches lookups as soon as this returns."""
        if pdq_quality is not None and pdq is not None and pdq_quality < PDQ_MIN_QUALITY:
            raise TooFlatError(
                f"A PDQ hash of quality {pdq_quality} (below {PDQ_MIN_QUALITY}) is never "
                "matched, so it is not added."
            )
        with self.indexes.lock:
            info = self.registry.add_content(
                bank,
                pdq=pdq,
                pdq_quality=pdq_quality,
                phash=phash,
                source=source,
                sha256=sha256,
                metadata=metadata,
            )
            self.indexes.add_committed(
                "content", info.id, info.bank_id, info.pdq, info.pdq_quality, info.phash
            )
        return info

    def add_image(
        self, bank: str, data: bytes, name: str = "upload", metadata: dict[str, Any] | None = None
    ) -> ContentInfo:
        """Hash an image and add it; too flat or too small for PDQ is refused."""
        from provenance.fingerprint import fingerprint
        from provenance.media import check_media, decode_image

        media = check_media(data, name)
        if not media.is_image:
            raise InputError(f"{name} is a {media.format.upper()}, not an image.")
        self.registry.bank(bank)  # an unknown bank is reported before the hashing work
        prints = fingerprint(decode_image(media.data, name))
        require_matchable(prints.pdq_quality, name)
        return self.add_hashes(
            bank,
            pdq=prints.pdq,
            pdq_quality=prints.pdq_quality,
            phash=prints.phash,
            metadata=metadata,
            source="upload",
            sha256=hashlib.sha256(data).hexdigest(),
        )

    def lookup(
        self, queries: list[HashQuery], *, banks: Iterable[str] | None = None
    ) -> list[BankMatches]:
        """For each query, ``{bank: [{bank_content_id, distance, signal, variant,
        metadata}]}``, ``metadata`` being what was stored with the item.

        A stored item matches when its PDQ is within its bank's PDQ threshold of any of
        the query's PDQ variants (quality >= 50 on both sides), or else its pHash within
        the bank's pHash threshold. Banks without a match are left out; closest first.
        Items are read back from the registry, so one another process removed is left
        out too.
        """
        all_banks = {info.id: info for info in self.registry.banks()}
        if banks is not None:
            wanted = list(banks)
            known = {info.name for info in all_banks.values()}
            for name in wanted:
                if name not in known:
                    raise NotFoundError(f"There is no bank named {str(name)[:128]!r}.")
            all_banks = {k: v for k, v in all_banks.items() if v.name in wanted}
        if not all_banks or not queries:
            return [{} for _ in queries]
        pdq_radius = max(info.pdq_threshold for info in all_banks.values())
        phash_radius = max(info.phash_threshold for info in all_banks.values())
        by_pdq = self.indexes.search("content", "pdq", queries, pdq_radius)
        by_phash = self.indexes.search("content", "phash", queries, phash_radius)
        every_choice: list[dict[int, IndexHit]] = []
        for pdq_hits, phash_hits in zip(by_pdq, by_phash, strict=True):
            chosen: dict[int, IndexHit] = {}
            for hit in phash_hits.values():
                info = all_banks.get(hit.group)
                if info is not None and hit.distance <= info.phash_threshold:
                    chosen[hit.row_id] = hit
            for hit in pdq_hits.values():  # PDQ, the stronger signal, wins where both match
                info = all_banks.get(hit.group)
                if info is not None and hit.distance <= info.pdq_threshold:
                    chosen[hit.row_id] = hit
            every_choice.append(chosen)
        items = self.registry.contents_by_ids(
            sorted({row_id for chosen in every_choice for row_id in chosen})
        )
        results: list[BankMatches] = []
        for chosen in every_choice:
            per_bank: BankMatches = {}
            for hit in ranked(list(chosen.values())):
                item = items.get(hit.row_id)
                if item is None:  # removed since the index was last told
                    continue
                per_bank.setdefault(all_banks[hit.group].name, []).append(
                    {
                        "bank_content_id": hit.row_id,
                        "distance": hit.distance,
                        "signal": hit.signal,
                        "variant": hit.variant,
                        "metadata": item.metadata,
                    }
                )
            results.append(per_bank)
        return results
