"""The rules every stored or searched hash follows: hex forms, thresholds, bank names.

Hashes are lowercase hex (PDQ 64 digits, pHash 16, the body of an ISCC Content-Code Image
64): portable across databases, readable in a SQL shell, and what HMA, ThreatExchange and
our API exchange.
"""

from __future__ import annotations

import base64
import re
from typing import Literal

from provenance.errors import InputError
from provenance.fingerprint import PDQ_HEX_LENGTH, PDQ_MIN_QUALITY, PHASH_HEX_LENGTH

# imagehash pHash distance at which two images are called the same by default (of 64
# bits); measured in bench/fingerprint_robustness.py with the false-match rate beside it.
PHASH_MATCH_DISTANCE = 10
MAX_PDQ_THRESHOLD = 63
MAX_PHASH_THRESHOLD = 24
BANK_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
_BANK_NAME = re.compile(BANK_NAME_PATTERN)
_HEX = re.compile(r"^[0-9a-f]+$")

IndexTable = Literal["content", "manifest"]
HashKind = Literal["pdq", "phash", "iscc"]
"""PDQ (256 bits), pHash (64) and the ISCC Content-Code Image (256; signed manifests only)."""
_HEX_LENGTHS: dict[str, tuple[int, str]] = {
    "pdq": (PDQ_HEX_LENGTH, "PDQ hash"),
    "phash": (PHASH_HEX_LENGTH, "pHash"),
    "iscc": (64, "ISCC Content-Code Image body"),
}


def check_bank_name(name: str) -> str:
    if not isinstance(name, str) or not _BANK_NAME.fullmatch(name):
        raise InputError(
            f"A bank name is 1-128 letters, digits, '_', '.' or '-', starting with a letter "
            f"or digit; {str(name)[:80]!r} is not."
        )
    return name


def check_threshold(value: int, maximum: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise InputError(f"The {what} threshold is a whole number from 0 to {maximum}.")
    return value


def normalise_hash(value: str | None, kind: HashKind) -> str | None:
    """Lowercase hex of a PDQ (64 digits), pHash (16 digits) or ISCC Content-Code Image
    body (64 digits); one sentence otherwise."""
    if value is None:
        return None
    length, name = _HEX_LENGTHS[kind]
    if not isinstance(value, str):
        raise InputError(f"A {name} is a string of {length} hex digits.")
    text = value.strip().lower()
    if len(text) != length:
        raise InputError(f"A {name} has {length} hex digits; {text[:80]!r} has {len(text)}.")
    if not _HEX.match(text):
        raise InputError(f"A {name} contains only hex digits (0-9, a-f); {text!r} does not.")
    return text


def usable_pdq(quality: int | None) -> bool:
    """PDQ hashes below quality 50 are never matched; a hash added without one is trusted."""
    return quality is None or quality >= PDQ_MIN_QUALITY


def query_base64(value: str) -> bytes:
    """The bytes of a base64 value pasted into a query string, where a ``+`` arrives as a
    space (a leading one too): it is put back, since base64 of whole bytes never ends in
    one. Raises ``binascii.Error`` (a ``ValueError``) for anything else."""
    return base64.b64decode(value.strip("\t\r\n").rstrip(" ").replace(" ", "+"), validate=True)
