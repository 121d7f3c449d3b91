"""C2PA soft bindings: the ``c2pa.soft-binding`` assertions provaudit writes when it signs.

A hard binding (the manifest's hash of the file's bytes) breaks as soon as a platform
re-encodes or strips the file. A soft binding is a value computed from the *content*
that survives those changes: a stripped copy is fingerprinted again and the value looked
up in a manifest repository (our registry), which hands back the original manifest. The
assertion follows the C2PA soft-binding map (``alg``, ``blocks`` of ``{scope, value}``,
``name``).

Two are written. ``org.provaudit.pdq``: the PDQ perceptual hash, its ``value`` the base64
of the hash bytes; PDQ (like pHash) is not in the C2PA soft binding algorithm list, so its
name is provaudit's own reverse-domain identifier. ``io.iscc.v0``: the ISCC Content-Code
Image (``provenance.iscc``), which is on that list (entry 3), so other C2PA tools can read
and resolve it; its ``value`` is the ISCC-SEQ of IEP-0020 (the code's header and 256-bit
body), which the resolution API carries as padded base64.

A third is written when the pixels carry provaudit's invisible watermark
(``provenance.watermark``): ``org.provaudit.dwtdct``, its ``value`` the base64 of the 4-byte
payload (big-endian), a 32-bit ID the registry resolves to the manifest directly. Its
manifest also lists the ``c2pa.watermarked.bound`` action.
"""

from __future__ import annotations

import base64
from typing import Any

from provenance.errors import InputError
from provenance.hashrules import HashKind, query_base64

SOFT_BINDING_ASSERTION = "c2pa.soft-binding"
PDQ_ALG = "org.provaudit.pdq"
"""PDQ (256 bits, Meta's reference bit order); value: base64 of the 32 bytes."""
PHASH_ALG = "org.provaudit.phash"
"""imagehash's 64-bit DCT pHash; value: base64 of the 8 bytes."""
ISCC_ALG = "io.iscc.v0"
"""ISCC Content-Code Image (ISO 24138:2024, 256 bits), on the C2PA soft binding algorithm
list; value: the ISCC-SEQ of the one code (IEP-0020), 34 bytes (a 2-byte header)."""

WATERMARK_ALG = "org.provaudit.dwtdct"
"""provaudit's DWT-DCT watermark (``provenance.watermark.WATERMARK_ALG``); value: base64 of
its 4-byte payload, big-endian."""
WATERMARK_BYTES = 4

ALGORITHMS: dict[str, tuple[HashKind, int]] = {
    PDQ_ALG: ("pdq", 32),
    PHASH_ALG: ("phash", 8),
    ISCC_ALG: ("iscc", 34),
}
"""alg -> (the fingerprint its value carries, bytes of the value provaudit writes)."""


def supported_algorithms() -> dict[str, list[dict[str, str]]]:
    """The body of the soft-binding resolution API's ``/services/supportedAlgorithms``."""
    return {
        "watermarks": [{"alg": WATERMARK_ALG}],
        "fingerprints": [{"alg": alg} for alg in ALGORITHMS],
    }


def watermark_value(payload: int) -> str:
    """The ``org.provaudit.dwtdct`` block value of a 32-bit payload: base64 of 4 bytes."""
    return base64.b64encode(int(payload).to_bytes(WATERMARK_BYTES, "big")).decode("ascii")


def decode_watermark_value(value: str) -> int:
    """The payload of an ``org.provaudit.dwtdct`` value: base64 of 4 bytes, or 8 hex digits."""
    return int.from_bytes(_hex_or_base64(WATERMARK_ALG, value, WATERMARK_BYTES), "big")


def watermark_soft_binding_assertion(payload: int) -> dict[str, Any]:
    """The ``c2pa.soft-binding`` assertion declaring the watermark marked into the pixels."""
    return {
        "label": SOFT_BINDING_ASSERTION,
        "data": {
            "alg": WATERMARK_ALG,
            "blocks": [{"scope": {}, "value": watermark_value(payload)}],
            "name": "Invisible DWT-DCT watermark carrying a 32-bit manifest ID",
        },
    }


def declared_watermark(manifest: dict[str, Any]) -> int | None:
    """The watermark payload a manifest (c2pa's JSON form) declares, if any."""
    for binding in read_soft_bindings(manifest):
        if binding["alg"] == WATERMARK_ALG:
            try:
                return decode_watermark_value(binding["value"])
            except InputError:
                return None
    return None


def encode_value(alg: str, hex_value: str) -> str:
    """The value (base64, as the resolution API carries it) for a hash given as hex."""
    kind, size = _algorithm(alg)
    if kind == "iscc":
        from provenance.iscc import binding_value

        return binding_value(hex_value)
    raw = bytes.fromhex(hex_value)
    if len(raw) != size:
        raise InputError(f"A {alg} value is {size} bytes; this one is {len(raw)}.")
    return base64.b64encode(raw).decode("ascii")


def decode_value(alg: str, value: str) -> str:
    """The hash (lowercase hex) from a soft-binding value: base64 as C2PA writes it, or hex.

    Users paste these into query strings, so both spellings are accepted and anything else
    is refused with one sentence. An ``io.iscc.v0`` value is an ISCC-SEQ, as base64 or as
    ``ISCC:`` and base32 (``provenance.iscc.decode_binding``); its Content-Code Image body
    is returned.
    """
    kind, size = _algorithm(alg)
    if kind == "iscc":
        from provenance.iscc import decode_binding

        return decode_binding(value)
    return _hex_or_base64(alg, value, size).hex()


def _hex_or_base64(alg: str, value: str, size: int) -> bytes:
    """``size`` bytes given as base64 (as C2PA writes them) or as hex. Users paste these
    into query strings, so both spellings are accepted and anything else is refused with
    one sentence."""
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"Give the {alg} value as base64 (or hex) of its {size} bytes.")
    text = value.strip()
    if len(text) == 2 * size and all(c in "0123456789abcdefABCDEF" for c in text):
        return bytes.fromhex(text)
    try:
        raw = query_base64(value)
    except ValueError:
        raise InputError(
            f"The {alg} value {text[:80]!r} is neither base64 nor {2 * size} hex digits."
        ) from None
    if len(raw) != size:
        raise InputError(f"A {alg} value decodes to {size} bytes; {text[:80]!r} gives {len(raw)}.")
    return raw


def _algorithm(alg: str) -> tuple[HashKind, int]:
    try:
        return ALGORITHMS[alg]
    except KeyError:
        known = ", ".join(ALGORITHMS)
        raise InputError(f"Unknown soft-binding algorithm {alg!r}; supported: {known}.") from None


def soft_binding_assertion(pdq_hex: str, quality: int) -> dict[str, Any]:
    """The ``c2pa.soft-binding`` assertion for an image's PDQ hash (whole-image scope)."""
    return {
        "label": SOFT_BINDING_ASSERTION,
        "data": {
            "alg": PDQ_ALG,
            "blocks": [{"scope": {}, "value": encode_value(PDQ_ALG, pdq_hex)}],
            "name": f"PDQ perceptual hash of the whole image (quality {quality})",
        },
    }


def iscc_soft_binding_assertion(iscc_hex: str) -> dict[str, Any]:
    """The ``io.iscc.v0`` ``c2pa.soft-binding`` assertion for an image's ISCC Content-Code
    Image (whole-image scope).

    IEP-0020 asks for the ISCC-SEQ as a CBOR byte string. A manifest definition is JSON,
    which has none, and c2pa-rs turns JSON into CBOR as it is: the value is written as the
    array of its bytes, which c2pa-rs reads back as those bytes (its JSON shows their
    base64, the form the resolution API takes).
    """
    from provenance.iscc import seq, unit

    return {
        "label": SOFT_BINDING_ASSERTION,
        "data": {
            "alg": ISCC_ALG,
            "blocks": [{"scope": {}, "value": list(seq(iscc_hex))}],
            "name": f"ISCC Content-Code Image of the whole image ({unit(iscc_hex)})",
        },
    }


def read_soft_bindings(manifest: dict[str, Any]) -> list[dict[str, str]]:
    """``[{alg, value}]`` of the soft-binding assertions in a manifest (c2pa's JSON form).

    c2pa-rs labels a second assertion of the same kind ``c2pa.soft-binding__1``. A value
    written as bytes (``io.iscc.v0``) is shown as their base64, as c2pa-rs shows it; a
    reader that hands over the bytes as a list of numbers gets the same.
    """
    found: list[dict[str, str]] = []
    for assertion in manifest.get("assertions") or []:
        if not str(assertion.get("label", "")).startswith(SOFT_BINDING_ASSERTION):
            continue
        data = assertion.get("data") or {}
        for block in data.get("blocks") or []:
            value = block.get("value") if isinstance(block, dict) else None
            if isinstance(value, list) and all(
                isinstance(item, int) and not isinstance(item, bool) and 0 <= item < 256
                for item in value
            ):
                value = base64.b64encode(bytes(value)).decode("ascii")
            if isinstance(value, str):
                found.append({"alg": str(data.get("alg")), "value": value})
    return found
