"""What an image is looked up by, and the matching rules every lookup shares.

A PDQ hash of quality below 50 says too little about its image to be matched (it is
neither indexed nor searched with); a query computed from an image carries the eight
dihedral PDQ hashes, so a rotated or mirrored copy matches at distance 0. The ISCC
Content-Code Image is only searched for (among signed manifests) when the query carries
one: it needs the file itself (``provenance.iscc``), so it is computed only where asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from provenance.errors import InputError
from provenance.fingerprint import DIHEDRAL_ORDER, PDQ_MIN_QUALITY
from provenance.hashrules import HashKind, normalise_hash, usable_pdq

if TYPE_CHECKING:
    from PIL import Image

HASH_BITS: dict[HashKind, int] = {"pdq": 256, "phash": 64, "iscc": 256}
SIGNAL_ORDER: dict[HashKind, int] = {"pdq": 0, "iscc": 1, "phash": 2}
"""Which signal ranks first when several find matches: PDQ, then ISCC, then pHash."""


class TooFlatError(InputError):
    """An image whose PDQ hash says too little about it to be matched."""

    code = "image_too_flat"


@dataclass(frozen=True)
class HashQuery:
    """What one image (or one pair of hashes) is looked up by."""

    pdq: str | None = None
    pdq_quality: int | None = None
    phash: str | None = None
    pdq_variants: tuple[str, ...] = ()
    """The eight dihedral PDQ hashes (``DIHEDRAL_ORDER``) when computed from the image."""
    iscc: str | None = None
    """The body of the ISCC Content-Code Image (64 hex digits), when asked for."""

    @classmethod
    def from_image(cls, image: Image.Image, *, dihedral: bool = True) -> HashQuery:
        from provenance.fingerprint import pdq_hash, pdq_hash_dihedral, phash

        rgb = image if image.mode == "RGB" else image.convert("RGB")
        if dihedral:
            variants = pdq_hash_dihedral(rgb)
            pdq, quality = variants[0]
            hexes = tuple(value for value, _quality in variants)
        else:
            pdq, quality = pdq_hash(rgb)
            hexes = ()
        return cls(pdq=pdq, pdq_quality=quality, phash=phash(rgb), pdq_variants=hexes)

    @classmethod
    def from_hashes(
        cls, pdq: str | None = None, phash: str | None = None, pdq_quality: int | None = None
    ) -> HashQuery:
        pdq, phash = normalise_hash(pdq, "pdq"), normalise_hash(phash, "phash")
        if pdq is None and phash is None:
            raise InputError("Give a PDQ hash, a pHash or both to look up.")
        if pdq_quality is not None and (
            isinstance(pdq_quality, bool) or not isinstance(pdq_quality, int)
        ):
            raise InputError("A PDQ quality is a whole number from 0 to 100.")
        return cls(pdq=pdq, pdq_quality=pdq_quality, phash=phash)

    @property
    def pdq_usable(self) -> bool:
        return self.pdq is not None and usable_pdq(self.pdq_quality)

    def fingerprints(self) -> dict[str, Any]:
        return {"pdq": self.pdq, "pdq_quality": self.pdq_quality, "phash": self.phash}

    def codes(self, kind: HashKind) -> list[tuple[str, str]]:
        """``(variant, hex)`` to search with; a PDQ hash below quality 50 gives none."""
        if kind == "phash":
            return [("original", self.phash)] if self.phash else []
        if kind == "iscc":
            return [("original", self.iscc)] if self.iscc else []
        if not self.pdq_usable:
            return []
        if self.pdq_variants:
            return list(zip(DIHEDRAL_ORDER, self.pdq_variants, strict=True))
        return [("original", self.pdq)]  # type: ignore[list-item]


@dataclass(frozen=True)
class IndexHit:
    """One stored row within the search radius of a query, at its best variant."""

    row_id: int
    group: int
    distance: int
    signal: HashKind
    variant: str


def ranked(hits: list[IndexHit]) -> list[IndexHit]:
    """PDQ before ISCC before pHash (``SIGNAL_ORDER``), then closest first."""
    return sorted(hits, key=lambda hit: (SIGNAL_ORDER[hit.signal], hit.distance))


def require_matchable(quality: int | None, name: str = "The image") -> None:
    """Refuse an image whose PDQ quality is below 50: too flat or too small to match."""
    if quality is None or quality < PDQ_MIN_QUALITY:
        raise TooFlatError(
            f"{name} is too flat or too small to be matched: its PDQ quality is "
            f"{quality} (below {PDQ_MIN_QUALITY})."
        )


def similarity_score(distance: int, signal: str) -> float:
    """The resolution API's 0-100 ``similarityScore``: the share of bits that agree (a
    watermark's payload is read exactly or not at all: 100)."""
    if signal not in HASH_BITS:
        return 100.0
    bits = HASH_BITS[signal]  # type: ignore[index]
    return round(100.0 * (bits - distance) / bits, 2)
