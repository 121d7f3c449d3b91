"""Hash banks and soft-binding recovery: the registry plus its FAISS indexes.

What the CLI (``provaudit bank``, ``provaudit verify --recover``, ``provaudit sign``) and
the service share. Four exact indexes (``provenance.hashindex``) cache the registry:

========== ======= ================================================================
table      hash    what it answers
========== ======= ================================================================
content    pdq     bank lookups (multi-hash, per-bank threshold, dihedral queries)
content    phash   bank lookups by pHash (flat, 64 bits)
manifest   pdq     soft-binding recovery of manifests provaudit signed
manifest   phash   recovery by pHash
========== ======= ================================================================

The registry is the truth. Every addition is committed first and then pulled into the
index by ``sync`` (rows with an id above the index's highest), so a new hash matches at
once, and content added by another process (the CLI beside a running server) is picked
up by the next lookup. Indexes are saved beside the SQLite file (on close, and by the
service every few minutes when changed) and, on open, reused only if they belong to this
registry and agree with it on the rows they cover; otherwise they are rebuilt from it. A
process killed mid-ingestion therefore loses nothing that was acknowledged: the rows are
in the database and the next start syncs them in.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provenance.errors import InputError, ProvauditError
from provenance.fingerprint import (
    DIHEDRAL_ORDER,
    PDQ_MATCH_DISTANCE,
    PDQ_MIN_QUALITY,
    Fingerprints,
)
from provenance.hashindex import BinaryHashIndex, hex_to_codes
from provenance.registry import (
    PHASH_MATCH_DISTANCE,
    BankInfo,
    ContentInfo,
    HashKind,
    IndexTable,
    ManifestInfo,
    NotFoundError,
    Registry,
    default_index_dir,
    default_registry_url,
    normalise_hash,
    usable_pdq,
)
from provenance.softbinding import (
    PDQ_ALG,
    PHASH_ALG,
    SOFT_BINDING_ASSERTION,
    active_manifest_label,
    decode_value,
)

if TYPE_CHECKING:
    from PIL import Image

    from provenance.keys import SigningIdentity
    from provenance.signing import SignedAsset

logger = logging.getLogger("provaudit.hashbank")

_INDEXES: tuple[tuple[IndexTable, HashKind], ...] = (
    ("content", "pdq"),
    ("content", "phash"),
    ("manifest", "pdq"),
    ("manifest", "phash"),
)
_BITS = {"pdq": 256, "phash": 64}


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

    def _codes(self, kind: HashKind) -> list[tuple[str, str]]:
        """``(variant, hex)`` to search with; a PDQ hash below quality 50 gives none."""
        if kind == "phash":
            return [("original", self.phash)] if self.phash else []
        if not self.pdq_usable:
            return []
        if self.pdq_variants:
            return list(zip(DIHEDRAL_ORDER, self.pdq_variants, strict=True))
        return [("original", self.pdq)]  # type: ignore[list-item]


@dataclass(frozen=True)
class _Hit:
    row_id: int
    group: int
    distance: int
    signal: HashKind
    variant: str


@dataclass(frozen=True)
class ManifestMatch:
    """A registered manifest whose image is within the threshold of the query."""

    manifest: ManifestInfo
    distance: int
    signal: HashKind
    variant: str

    def to_dict(self) -> dict[str, Any]:
        info = self.manifest.to_dict()
        info.pop("pdq", None)
        info.pop("phash", None)
        return {
            **info,
            "distance": self.distance,
            "signal": self.signal,
            "variant": self.variant,
        }

    def reason(self) -> str:
        """The sentence an audit or ``verify --recover`` shows for it."""
        signed = self.manifest.signed_at.strftime("%Y-%m-%d %H:%M UTC")
        how = "PDQ" if self.signal == "pdq" else "pHash"
        if self.variant != "original":
            how += f", {self.variant}"
        return (
            f"No manifest in the file; matches manifest {self.manifest.manifest_id} signed on "
            f"{signed} by {self.manifest.signer or 'an unknown signer'} at distance "
            f"{self.distance} ({how})."
        )


@dataclass
class _State:
    indexes: dict[tuple[IndexTable, HashKind], BinaryHashIndex]
    rebuilt: list[str] = field(default_factory=list)
    last_saved: dt.datetime | None = None
    dirty: bool = False


class HashBank:
    """Banks of hashes, signed manifests, and the indexes that search them.

    Thread-safe. Indexes are opened on first use (``open_indexes`` to do it up front):
    adding content or recording a manifest needs only the database.
    """

    def __init__(
        self,
        registry: Registry,
        index_dir: Path | None = None,
        *,
        recover_pdq_threshold: int = PDQ_MATCH_DISTANCE,
        recover_phash_threshold: int = PHASH_MATCH_DISTANCE,
    ) -> None:
        self.registry = registry
        self.index_dir = index_dir
        self.recover_pdq_threshold = recover_pdq_threshold
        self.recover_phash_threshold = recover_phash_threshold
        self._state: _State | None = None
        # Guards the indexes; also held across insert + sync so rows enter in id order.
        self._lock = threading.RLock()
        self._signers: dict[bytes, tuple[str | None, str | None]] = {}
        self._autosave: threading.Thread | None = None
        self._stop = threading.Event()

    @classmethod
    def open(cls, url: str | None = None, index_dir: Path | None = None) -> HashBank:
        """The registry at ``url`` (default: the one the service uses) with saved indexes."""
        url = url or default_registry_url()
        return cls(Registry(url), index_dir or default_index_dir(url))

    # --- indexes ------------------------------------------------------------------------

    def open_indexes(self) -> None:
        self._indexes()

    def _indexes(self) -> dict[tuple[IndexTable, HashKind], BinaryHashIndex]:
        with self._lock:
            if self._state is None:
                state = _State(indexes={})
                for table, kind in _INDEXES:
                    state.indexes[(table, kind)] = self._load_or_rebuild(table, kind, state)
                self._state = state
                self._sync_locked()
                if state.dirty:
                    self._save_locked()
            return self._state.indexes

    def _path(self, table: IndexTable, kind: HashKind) -> Path | None:
        return self.index_dir / f"{table}-{kind}.faiss" if self.index_dir else None

    def _new_index(self, kind: HashKind) -> BinaryHashIndex:
        return BinaryHashIndex(_BITS[kind], "multihash" if kind == "pdq" else "flat")

    def _load_or_rebuild(self, table: IndexTable, kind: HashKind, state: _State) -> BinaryHashIndex:
        path = self._path(table, kind)
        loaded = BinaryHashIndex.load(path) if path else None
        if loaded is not None:
            index, info = loaded
            agrees = info.get("registry_id") == self.registry.registry_id and (
                self.registry.count_index_rows(table, kind, up_to_id=index.max_id) == index.ntotal
            )
            if agrees:
                return index
            logger.warning("The saved %s-%s index disagrees with the registry.", table, kind)
        index = self._new_index(kind)
        self._fill(index, table, kind, after_id=0)
        state.rebuilt.append(f"{table}-{kind}")
        state.dirty = True
        return index

    def _fill(
        self, index: BinaryHashIndex, table: IndexTable, kind: HashKind, after_id: int
    ) -> int:
        """Add the indexable rows above ``after_id``; how many were added."""
        import numpy as np

        added = 0
        for rows in self.registry.index_rows(table, kind, after_id=after_id):
            keep = [
                row
                for row in rows
                if row[2] is not None and (kind == "phash" or usable_pdq(row[3]))
            ]
            if keep:
                index.add(
                    np.fromiter((row[0] for row in keep), np.int64, len(keep)),
                    hex_to_codes([row[2] for row in keep], _BITS[kind]),  # type: ignore[misc]
                    np.fromiter((row[1] for row in keep), np.int32, len(keep)),
                )
                added += len(keep)
            index.advance(rows[-1][0])
        return added

    def _add_own(
        self,
        table: IndexTable,
        row_id: int,
        group: int,
        pdq: str | None,
        pdq_quality: int | None,
        phash: str | None,
    ) -> None:
        """Index a row this process just committed, without reading it back if possible.

        When the row comes right after what an index has considered, nobody else wrote in
        between and it is added directly; otherwise the index syncs from the registry.
        Called with ``_lock`` held, right after the commit, so this process's own rows
        enter in id order.
        """
        import numpy as np

        if self._state is None:
            return
        for kind, value in (("pdq", pdq), ("phash", phash)):
            index = self._state.indexes[(table, kind)]  # type: ignore[index]
            if index.max_id != row_id - 1:
                self._fill(index, table, kind, after_id=index.max_id)  # type: ignore[arg-type]
            else:
                if value is not None and (kind == "phash" or usable_pdq(pdq_quality)):
                    index.add(
                        np.asarray([row_id], np.int64),
                        hex_to_codes([value], _BITS[kind]),
                        np.asarray([group], np.int32),
                    )
                index.advance(row_id)
        self._state.dirty = True

    def sync(self) -> int:
        """Pull rows committed since the last sync into the indexes; how many were added."""
        with self._lock:
            if self._state is None:
                return 0
            return self._sync_locked()

    def _sync_locked(self, only: tuple[IndexTable, HashKind] | None = None) -> int:
        assert self._state is not None
        added = 0
        for (table, kind), index in self._state.indexes.items():
            if only is None or only == (table, kind):
                added += self._fill(index, table, kind, after_id=index.max_id)
        if added:
            self._state.dirty = True
        return added

    def check(self, *, repair: bool = True) -> dict[str, dict[str, Any]]:
        """Each index against the registry: sizes, and whether they agree (repairing if not).

        Rows can reach the registry below an index's highest id when another process's
        transaction commits late (PostgreSQL hands out ids before commit); those are found
        here by comparing the ids and added.
        """
        import numpy as np

        indexes = self._indexes()
        report: dict[str, dict[str, Any]] = {}
        with self._lock:
            self._sync_locked()
            for (table, kind), index in indexes.items():
                rows = self.registry.count_index_rows(table, kind, up_to_id=2**62)
                if rows != index.ntotal and repair:
                    stored = self.registry.index_row_ids(table, kind, up_to_id=index.max_id)
                    missing = np.setdiff1d(np.asarray(stored, np.int64), index.ids)
                    if len(missing) and len(stored) - len(missing) == index.ntotal:
                        found = self.registry.rows_by_ids(table, kind, missing.tolist())
                        index.add(
                            np.asarray([r[0] for r in found], np.int64),
                            hex_to_codes([r[2] for r in found], _BITS[kind]),
                            np.asarray([r[1] for r in found], np.int32),
                        )
                    else:  # rows vanished from the registry: start again from it
                        index = self._new_index(kind)
                        self._fill(index, table, kind, after_id=0)
                        indexes[(table, kind)] = index
                    self._state.dirty = True  # type: ignore[union-attr]
                report[f"{table}-{kind}"] = {
                    "kind": index.kind,
                    "size": index.ntotal,
                    "registry_rows": rows,
                    "max_id": index.max_id,
                    "in_sync": rows == index.ntotal,
                }
        return report

    def save(self) -> bool:
        """Write the indexes beside the registry if they changed; whether it wrote."""
        with self._lock:
            if self._state is None or not self._state.dirty or self.index_dir is None:
                return False
            return self._save_locked()

    def _save_locked(self) -> bool:
        assert self._state is not None
        if self.index_dir is None:
            return False
        try:
            for (table, kind), index in self._state.indexes.items():
                index.save(
                    self._path(table, kind),  # type: ignore[arg-type]
                    {"registry_id": self.registry.registry_id},
                )
        except OSError as exc:
            logger.warning("The hash indexes cannot be saved in %s (%s).", self.index_dir, exc)
            return False
        self._state.dirty = False
        self._state.last_saved = dt.datetime.now(dt.timezone.utc)
        return True

    def start_autosave(self, interval_s: float = 300.0) -> None:
        """Save changed indexes every ``interval_s`` (a restart then has less to sync)."""
        if self._autosave is not None:
            return

        def loop() -> None:
            while not self._stop.wait(interval_s):
                self.save()

        self._autosave = threading.Thread(target=loop, name="hashbank-autosave", daemon=True)
        self._autosave.start()

    def close(self, *, save: bool = True) -> None:
        self._stop.set()
        if self._autosave is not None:
            self._autosave.join(timeout=5)
        if save:
            self.save()
        self.registry.close()

    def status(self) -> dict[str, Any]:
        indexes = self.check(repair=True)
        state = self._state
        return {
            "registry": self.registry.url,
            "registry_id": self.registry.registry_id,
            "index_dir": str(self.index_dir) if self.index_dir else None,
            "banks": len(self.registry.banks()),
            "bank_content": self.registry.content_count(),
            "manifests": self.registry.manifest_count(),
            "indexes": indexes,
            "in_sync": all(entry["in_sync"] for entry in indexes.values()),
            "rebuilt_on_open": list(state.rebuilt) if state else [],
            "last_saved": state.last_saved.isoformat() if state and state.last_saved else None,
            "unsaved_changes": bool(state and state.dirty),
        }

    # --- searching ----------------------------------------------------------------------

    def _search(
        self, table: IndexTable, kind: HashKind, queries: list[HashQuery], radius: int
    ) -> list[dict[int, _Hit]]:
        """The best hit per stored row for each query, within ``radius``."""
        found: list[dict[int, _Hit]] = [{} for _ in queries]
        owners: list[tuple[int, str]] = []
        hexes: list[str] = []
        for position, query in enumerate(queries):
            for variant, value in query._codes(kind):
                owners.append((position, variant))
                hexes.append(value)
        if not hexes:
            return found
        indexes = self._indexes()
        with self._lock:
            self._sync_locked((table, kind))
            hits = indexes[(table, kind)].search(hex_to_codes(hexes, _BITS[kind]), radius)
        for (position, variant), hit in zip(owners, hits, strict=True):
            best = found[position]
            for row_id, group, distance in zip(
                hit.ids.tolist(), hit.groups.tolist(), hit.distances.tolist(), strict=True
            ):
                current = best.get(row_id)
                if current is None or distance < current.distance:
                    best[row_id] = _Hit(row_id, group, distance, kind, variant)
        return found

    # --- banks --------------------------------------------------------------------------

    def create_bank(self, name: str, **options: Any) -> BankInfo:
        return self.registry.create_bank(name, **options)

    def update_bank(self, name: str, **options: Any) -> BankInfo:
        return self.registry.update_bank(name, **options)

    def banks(self) -> list[BankInfo]:
        return self.registry.banks()

    def bank(self, name: str) -> BankInfo:
        return self.registry.bank(name)

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
        with self._lock:
            info = self.registry.add_content(
                bank,
                pdq=pdq,
                pdq_quality=pdq_quality,
                phash=phash,
                source=source,
                sha256=sha256,
                metadata=metadata,
            )
            self._add_own("content", info.id, info.bank_id, info.pdq, info.pdq_quality, info.phash)
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
    ) -> list[dict[str, list[dict[str, Any]]]]:
        """For each query, ``{bank: [{bank_content_id, distance, signal, variant}]}``.

        A stored item matches when its PDQ is within its bank's PDQ threshold of any of
        the query's PDQ variants (quality >= 50 on both sides), or else its pHash within
        the bank's pHash threshold. Banks without a match are left out; closest first.
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
        by_pdq = self._search("content", "pdq", queries, pdq_radius)
        by_phash = self._search("content", "phash", queries, phash_radius)
        results: list[dict[str, list[dict[str, Any]]]] = []
        for pdq_hits, phash_hits in zip(by_pdq, by_phash, strict=True):
            chosen: dict[int, _Hit] = {}
            for hit in phash_hits.values():
                info = all_banks.get(hit.group)
                if info is not None and hit.distance <= info.phash_threshold:
                    chosen[hit.row_id] = hit
            for hit in pdq_hits.values():  # PDQ, the stronger signal, wins where both match
                info = all_banks.get(hit.group)
                if info is not None and hit.distance <= info.pdq_threshold:
                    chosen[hit.row_id] = hit
            per_bank: dict[str, list[dict[str, Any]]] = {}
            for hit in sorted(chosen.values(), key=lambda h: (h.signal != "pdq", h.distance)):
                per_bank.setdefault(all_banks[hit.group].name, []).append(
                    {
                        "bank_content_id": hit.row_id,
                        "distance": hit.distance,
                        "signal": hit.signal,
                        "variant": hit.variant,
                    }
                )
            results.append(per_bank)
        return results

    # --- signed manifests ---------------------------------------------------------------

    def record_signature(self, signed: SignedAsset, identity: SigningIdentity) -> ManifestInfo:
        """``provenance.signing.SignatureRecorder``: keep the manifest and its fingerprints."""
        from provenance.signing import GENERATOR_ASSERTION
        from provenance.verify import declares_ai

        prints = signed.fingerprints
        if prints is None and signed.mime_type.startswith("image/"):
            prints = _fingerprints_or_none(signed.data)
        definition = signed.manifest_definition
        assertions = definition.get("assertions") or []
        source_types = [
            action.get("digitalSourceType")
            for assertion in assertions
            if str(assertion.get("label", "")).startswith("c2pa.actions")
            for action in (assertion.get("data") or {}).get("actions", [])
        ]
        generator = next(
            (a.get("data") for a in assertions if a.get("label") == GENERATOR_ASSERTION), None
        )
        binding = next(
            (
                a.get("data") or {}
                for a in assertions
                if str(a.get("label", "")).startswith(SOFT_BINDING_ASSERTION)
            ),
            {},
        )
        blocks = binding.get("blocks") or [{}]
        signer, issuer = self._signer_names(identity)
        with self._lock:
            info = self.registry.record_manifest(
                manifest_id=active_manifest_label(signed.manifest_bytes),
                manifest_bytes=signed.manifest_bytes,
                mime_type=signed.mime_type,
                title=definition.get("title"),
                signer=signer,
                issuer=issuer,
                signed_at=dt.datetime.now(dt.timezone.utc),
                asset_sha256=hashlib.sha256(signed.data).hexdigest(),
                pdq=prints.pdq if prints else None,
                pdq_quality=prints.pdq_quality if prints else None,
                phash=prints.phash if prints else None,
                ai_declared=any(declares_ai(s) for s in source_types),
                generator=generator,
                soft_binding_alg=binding.get("alg"),
                soft_binding_value=blocks[0].get("value"),
            )
            self._add_own("manifest", info.row_id, 0, info.pdq, info.pdq_quality, info.phash)
        return info

    def _signer_names(self, identity: SigningIdentity) -> tuple[str | None, str | None]:
        cached = self._signers.get(identity.cert_chain_pem)
        if cached is None:
            from cryptography import x509
            from cryptography.x509.oid import NameOID

            def common_name(name: x509.Name) -> str | None:
                values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
                return str(values[0].value) if values else name.rfc4514_string() or None

            try:
                leaf = x509.load_pem_x509_certificates(identity.cert_chain_pem)[0]
                cached = (common_name(leaf.subject), common_name(leaf.issuer))
            except ValueError:
                cached = (None, None)
            self._signers[identity.cert_chain_pem] = cached
        return cached

    def manifest(self, manifest_id: str) -> tuple[ManifestInfo, bytes]:
        return self.registry.manifest(manifest_id)

    def recover(
        self, queries: list[HashQuery], *, max_results: int = 10
    ) -> list[list[ManifestMatch]]:
        """Registered manifests whose image is within the recovery thresholds, closest first."""
        by_pdq = self._search("manifest", "pdq", queries, self.recover_pdq_threshold)
        by_phash = self._search("manifest", "phash", queries, self.recover_phash_threshold)
        chosen_per_query: list[list[_Hit]] = []
        for pdq_hits, phash_hits in zip(by_pdq, by_phash, strict=True):
            chosen = dict(phash_hits)
            chosen.update(pdq_hits)
            ranked = sorted(chosen.values(), key=lambda h: (h.signal != "pdq", h.distance))
            chosen_per_query.append(ranked[:max_results])
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

    def recover_image(self, image: Image.Image, *, max_results: int = 10) -> list[ManifestMatch]:
        return self.recover([HashQuery.from_image(image)], max_results=max_results)[0]

    def by_binding(self, alg: str, value: str, *, max_results: int = 10) -> list[ManifestMatch]:
        """Manifests matching a soft-binding value (``c2pa.soft-binding`` alg + value)."""
        hex_value = decode_value(alg, value)
        query = HashQuery(pdq=hex_value) if alg == PDQ_ALG else HashQuery(phash=hex_value)
        assert alg in (PDQ_ALG, PHASH_ALG)
        return self.recover([query], max_results=max_results)[0]


def require_matchable(quality: int | None, name: str = "The image") -> None:
    """Refuse an image whose PDQ quality is below 50: too flat or too small to match."""
    if quality is None or quality < PDQ_MIN_QUALITY:
        raise TooFlatError(
            f"{name} is too flat or too small to be matched: its PDQ quality is "
            f"{quality} (below {PDQ_MIN_QUALITY})."
        )


def _fingerprints_or_none(data: bytes) -> Fingerprints | None:
    from provenance.fingerprint import fingerprint
    from provenance.media import decode_image

    try:
        return fingerprint(decode_image(data))
    except ProvauditError:
        return None


def similarity_score(distance: int, signal: HashKind) -> float:
    """The resolution API's 0-100 ``similarityScore``: the share of bits that agree."""
    bits = _BITS[signal]
    return round(100.0 * (bits - distance) / bits, 2)
