"""Recovering the manifests provaudit signed: a stripped or re-encoded copy of a signed
image is matched by its invisible watermark (``provenance.watermark``, whose payload is
the manifest's ID in the registry), by its fingerprints (PDQ, pHash, and the ISCC
Content-Code Image where the query carries one), or by a C2PA soft-binding value, to the
manifest that was recorded when it was signed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from provenance.errors import ProvauditError
from provenance.fingerprint import PDQ_MATCH_DISTANCE, Fingerprints
from provenance.hashquery import HashQuery, IndexHit, ranked
from provenance.hashrules import PHASH_MATCH_DISTANCE, HashKind
from provenance.indexcache import IndexCache
from provenance.iscc import ISCC_MATCH_DISTANCE
from provenance.jumbf import active_manifest_label
from provenance.records import ManifestInfo
from provenance.registry import Registry
from provenance.signing import manifest_facts, signer_names
from provenance.softbinding import ALGORITHMS, WATERMARK_ALG, decode_value, decode_watermark_value

if TYPE_CHECKING:
    from PIL import Image

    from provenance.keys import SigningIdentity
    from provenance.signing import SignedAsset


MatchSignal = HashKind | Literal["watermark"]


@dataclass(frozen=True)
class ManifestMatch:
    """A registered manifest whose image is within the threshold of the query, or whose
    watermark payload the query's pixels carry (``signal`` "watermark", distance 0)."""

    manifest: ManifestInfo
    distance: int
    signal: MatchSignal
    variant: str

    def to_dict(self) -> dict[str, Any]:
        info = self.manifest.to_dict()
        for kind in ("pdq", "phash", "iscc", "watermark"):
            info.pop(kind, None)
        return {
            **info,
            "distance": self.distance,
            "signal": self.signal,
            "variant": self.variant,
        }

    def reason(self) -> str:
        """The sentence an audit or ``verify --recover`` shows for it."""
        signed = self.manifest.signed_at.strftime("%Y-%m-%d %H:%M UTC")
        if self.signal == "watermark":
            return (
                f"No manifest in the file; its invisible watermark "
                f"{self.manifest.watermark} names manifest {self.manifest.manifest_id} signed "
                f"on {signed} by {self.manifest.signer or 'an unknown signer'} (watermark)."
            )
        how = {"pdq": "PDQ", "phash": "pHash", "iscc": "ISCC"}[self.signal]
        if self.variant != "original":
            how += f", {self.variant}"
        return (
            f"No manifest in the file; matches manifest {self.manifest.manifest_id} signed on "
            f"{signed} by {self.manifest.signer or 'an unknown signer'} at distance "
            f"{self.distance} ({how})."
        )


def _fingerprints_or_none(data: bytes) -> Fingerprints | None:
    from provenance.fingerprint import fingerprint
    from provenance.media import decode_image

    try:
        return fingerprint(decode_image(data))
    except ProvauditError:
        return None


def read_watermark(image: Image.Image, *, search_crops: bool = True) -> int | None:
    """The payload of the invisible watermark ``image`` carries, or None (unmarked, too
    damaged to decode, or too small). ``search_crops`` also tries the image as a crop of
    the marked one, at about ten times the cost of the plain read."""
    from provenance.watermark import read

    found = read(image, search_crops=search_crops)
    return found.payload if found is not None else None


def _iscc_or_none(data: bytes) -> str | None:
    from provenance.iscc import image_code_of_bytes

    try:
        return image_code_of_bytes(data)
    except ProvauditError:
        return None


class ManifestRecovery:
    """Signed manifests of one registry: recorded at signing, recovered by fingerprint.

    A ``provenance.signing.SignatureRecorder``: pass it to ``ProvenanceSigner`` and every
    signature is kept. Thread-safe.
    """

    def __init__(
        self,
        registry: Registry,
        indexes: IndexCache,
        *,
        pdq_threshold: int = PDQ_MATCH_DISTANCE,
        phash_threshold: int = PHASH_MATCH_DISTANCE,
        iscc_threshold: int = ISCC_MATCH_DISTANCE,
    ) -> None:
        self.registry = registry
        self.indexes = indexes
        self.thresholds: dict[HashKind, int] = {
            "pdq": pdq_threshold,
            "phash": phash_threshold,
            "iscc": iscc_threshold,
        }

    def record_signature(self, signed: SignedAsset, identity: SigningIdentity) -> ManifestInfo:
        """Keep the manifest and the fingerprints of the image it was signed into."""
        prints, iscc = signed.fingerprints, signed.iscc
        if prints is None and signed.mime_type.startswith("image/"):
            prints = _fingerprints_or_none(signed.data)
        if iscc is None and signed.mime_type.startswith("image/"):
            iscc = _iscc_or_none(signed.data)
        facts = manifest_facts(signed.manifest_definition)
        signer, issuer = signer_names(identity.cert_chain_pem)
        with self.indexes.lock:
            info = self.registry.record_manifest(
                manifest_id=active_manifest_label(signed.manifest_bytes),
                manifest_bytes=signed.manifest_bytes,
                mime_type=signed.mime_type,
                title=facts.title,
                signer=signer,
                issuer=issuer,
                signed_at=dt.datetime.now(dt.timezone.utc),
                asset_sha256=hashlib.sha256(signed.data).hexdigest(),
                pdq=prints.pdq if prints else None,
                pdq_quality=prints.pdq_quality if prints else None,
                phash=prints.phash if prints else None,
                ai_declared=facts.ai_declared,
                generator=facts.generator,
                soft_binding_alg=facts.soft_binding_alg,
                soft_binding_value=facts.soft_binding_value,
                iscc=iscc,
                watermark=signed.watermark,
            )
            self.indexes.add_committed(
                "manifest", info.row_id, 0, info.pdq, info.pdq_quality, info.phash, info.iscc
            )
        return info

    def manifest(self, manifest_id: str) -> tuple[ManifestInfo, bytes]:
        return self.registry.manifest(manifest_id)

    def unused_watermark(self) -> int:
        """A 32-bit watermark ID no recorded manifest holds (``ProvenanceSigner.new_watermark``)."""
        return self.registry.unused_watermark()

    def by_watermark(self, payload: int | None) -> ManifestMatch | None:
        """The manifest a watermark payload names, as a match at distance 0, if recorded."""
        if payload is None:
            return None
        info = self.registry.manifest_by_watermark(payload)
        return ManifestMatch(info, 0, "watermark", "original") if info is not None else None

    def recover(
        self, queries: list[HashQuery], *, max_results: int = 10
    ) -> list[list[ManifestMatch]]:
        """Registered manifests whose image is within the recovery thresholds, closest first.

        Each manifest is reported once, by its strongest signal (PDQ, then ISCC, then
        pHash); a query without an ISCC code searches PDQ and pHash only.
        """
        kinds: tuple[HashKind, ...] = ("phash", "iscc", "pdq")  # weakest first: overwritten
        found = {
            kind: self.indexes.search("manifest", kind, queries, self.thresholds[kind])
            for kind in kinds
        }
        chosen_per_query: list[list[IndexHit]] = []
        for position in range(len(queries)):
            chosen: dict[int, IndexHit] = {}
            for kind in kinds:
                chosen.update(found[kind][position])
            chosen_per_query.append(ranked(list(chosen.values()))[:max_results])
        infos = self.registry.manifests_by_row_ids(
            sorted({hit.row_id for hits in chosen_per_query for hit in hits})
        )
        return [
            [
                ManifestMatch(infos[hit.row_id], hit.distance, hit.signal, hit.variant)
                for hit in hits
                if hit.row_id in infos
            ]
            for hits in chosen_per_query
        ]

    def recover_query(
        self, query: HashQuery, *, watermark: int | None = None, max_results: int = 10
    ) -> list[ManifestMatch]:
        """The manifest the image's watermark payload names (if the registry holds it)
        first, then the fingerprint matches of the other manifests, closest first."""
        marked = self.by_watermark(watermark)
        matches = self.recover([query], max_results=max_results)[0]
        if marked is None:
            return matches
        others = [m for m in matches if m.manifest.row_id != marked.manifest.row_id]
        return [marked, *others][:max_results]

    def recover_image(self, image: Image.Image, *, max_results: int = 10) -> list[ManifestMatch]:
        """Watermark first, then fingerprints (``recover_query``)."""
        return self.recover_query(
            HashQuery.from_image(image), watermark=read_watermark(image), max_results=max_results
        )

    def by_binding(self, alg: str, value: str, *, max_results: int = 10) -> list[ManifestMatch]:
        """Manifests matching a soft-binding value (``c2pa.soft-binding`` alg + value); for
        the watermark, the manifest its payload names."""
        if alg == WATERMARK_ALG:
            marked = self.by_watermark(decode_watermark_value(value))
            return [marked] if marked is not None else []
        hex_value = decode_value(alg, value)
        kind = ALGORITHMS[alg][0]
        query = HashQuery(**{kind: hex_value})
        return self.recover([query], max_results=max_results)[0]
