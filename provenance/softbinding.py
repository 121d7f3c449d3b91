"""C2PA soft bindings: the ``c2pa.soft-binding`` assertion provaudit writes when it signs.

A hard binding (the manifest's hash of the file's bytes) breaks as soon as a platform
re-encodes or strips the file. A soft binding is a value computed from the *content*
(here the PDQ perceptual hash) that survives those changes: a stripped copy is hashed
again and the value looked up in a manifest repository (our registry), which hands back
the original manifest. The assertion follows the C2PA soft-binding map (``alg``,
``blocks`` of ``{scope, value}``, ``name``); ``value`` is the base64 of the hash bytes.

Neither PDQ nor pHash is in the C2PA soft binding algorithm list, so the algorithm names
are provaudit's own reverse-domain identifiers.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from provenance.errors import InputError

SOFT_BINDING_ASSERTION = "c2pa.soft-binding"
PDQ_ALG = "org.provaudit.pdq"
"""PDQ (256 bits, Meta's reference bit order); value: base64 of the 32 bytes."""
PHASH_ALG = "org.provaudit.phash"
"""imagehash's 64-bit DCT pHash; value: base64 of the 8 bytes."""

# alg -> (kind of fingerprint, bytes of the value)
ALGORITHMS: dict[str, tuple[str, int]] = {PDQ_ALG: ("pdq", 32), PHASH_ALG: ("phash", 8)}


def supported_algorithms() -> dict[str, list[dict[str, str]]]:
    """The body of the soft-binding resolution API's ``/services/supportedAlgorithms``."""
    return {"watermarks": [], "fingerprints": [{"alg": alg} for alg in ALGORITHMS]}


def encode_value(alg: str, hex_value: str) -> str:
    """The assertion's ``value`` (base64) for a hash given as hex."""
    _kind, size = _algorithm(alg)
    raw = bytes.fromhex(hex_value)
    if len(raw) != size:
        raise InputError(f"A {alg} value is {size} bytes; this one is {len(raw)}.")
    return base64.b64encode(raw).decode("ascii")


def decode_value(alg: str, value: str) -> str:
    """The hash (lowercase hex) from a soft-binding value: base64 as C2PA writes it, or hex.

    Users paste these into query strings, so both spellings are accepted and anything else
    is refused with one sentence.
    """
    _kind, size = _algorithm(alg)
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"Give the {alg} value as base64 (or hex) of its {size} bytes.")
    text = value.strip()
    if len(text) == 2 * size and all(c in "0123456789abcdefABCDEF" for c in text):
        return text.lower()
    try:
        # A '+' in an unencoded query string arrives as a space (a leading one too): put
        # it back; base64 of a whole number of bytes never ends in one.
        spaced = value.strip("\t\r\n").rstrip(" ").replace(" ", "+")
        raw = base64.b64decode(spaced, validate=True)
    except (binascii.Error, ValueError):
        raise InputError(
            f"The {alg} value {text[:80]!r} is neither base64 nor {2 * size} hex digits."
        ) from None
    if len(raw) != size:
        raise InputError(f"A {alg} value decodes to {size} bytes; {text[:80]!r} gives {len(raw)}.")
    return raw.hex()


def _algorithm(alg: str) -> tuple[str, int]:
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


def read_soft_bindings(manifest: dict[str, Any]) -> list[dict[str, str]]:
    """``[{alg, value}]`` of the soft-binding assertions in a manifest (c2pa's JSON form).

    c2pa-rs labels a second assertion of the same kind ``c2pa.soft-binding__1``.
    """
    found: list[dict[str, str]] = []
    for assertion in manifest.get("assertions") or []:
        if not str(assertion.get("label", "")).startswith(SOFT_BINDING_ASSERTION):
            continue
        data = assertion.get("data") or {}
        for block in data.get("blocks") or []:
            if isinstance(block, dict) and isinstance(block.get("value"), str):
                found.append({"alg": str(data.get("alg")), "value": block["value"]})
    return found
