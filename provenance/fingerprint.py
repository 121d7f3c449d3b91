"""Perceptual fingerprints of images: PDQ (256 bits) and pHash (64 bits).

PDQ is computed by Meta's C++ reference implementation through the ``pdqhash``
package, so our hex strings are the ones ThreatExchange and other PDQ users exchange;
pHash (``imagehash.phash``) is kept beside it because many existing datasets and
tools only speak that one.

Bit order: ``pdqhash`` returns the 256 bits most significant first (its
``hash_to_vector`` reverses the reference's sixteen 16-bit words), so packing them
big-endian gives exactly the hex of the reference's ``Hash256::format()`` (checked
bit for bit against ThreatExchange's test images in tests/test_fingerprint.py).

numpy, Pillow, pdqhash and imagehash are imported where they are used, so that code
which only compares stored hashes (``hamming_distance``, ``parse_pdq_hex``) stays
cheap to import.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provenance.errors import InputError

if TYPE_CHECKING:
    from PIL import Image

# PDQ's own guidance (facebook/ThreatExchange, pdq/README.md and hashing.pdf): two
# hashes at Hamming distance <= 31 (of 256 bits) are a match, and a hash whose quality
# is below 50 comes from a nearly featureless image and should not be used for matching.
PDQ_MATCH_DISTANCE = 31
PDQ_MIN_QUALITY = 50

PDQ_BITS = 256
PDQ_HEX_LENGTH = PDQ_BITS // 4
PHASH_HEX_LENGTH = 16

# Order of the hashes from ``pdqhash.compute_dihedral`` (and so of
# ``pdq_hash_dihedral``): the transform applied to the input image.
DIHEDRAL_ORDER = (
    "original",
    "rotate-90",
    "rotate-180",
    "rotate-270",
    "flip-x",
    "flip-y",
    "flip-plus-1",
    "flip-minus-1",
)

_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


@dataclass(frozen=True)
class Fingerprints:
    """The perceptual hashes of one image, as stored and exchanged (lowercase hex)."""

    pdq: str
    """PDQ, 64 hex digits (256 bits) in the reference implementation's order."""
    pdq_quality: int
    """PDQ quality 0-100; below ``PDQ_MIN_QUALITY`` the PDQ hash is not fit for matching."""
    phash: str
    """imagehash's 64-bit DCT pHash, 16 hex digits (``str(imagehash.phash(image))``)."""

    @property
    def pdq_usable(self) -> bool:
        """Whether the PDQ hash carries enough signal to be matched at all."""
        return self.pdq_quality >= PDQ_MIN_QUALITY

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


HASH_MAX_PIXELS = 4_000_000
"""Above this many pixels an image is hashed after an integer box reduction to at most it."""


def hashing_image(image: Image.Image) -> Image.Image:
    """``image``, box-reduced by the smallest whole factor that brings it to
    ``HASH_MAX_PIXELS`` or fewer.

    PDQ filters an image down to 64x64 and pHash to 32x32, but the reference PDQ keeps
    several float copies of the full image while it does: a 50-megapixel upload would
    need over a gigabyte to be hashed. A box reduction first is what PDQ's own filter
    does to those pixels anyway; ``bench/hash_reduction_bench.py`` measures how far the
    hashes of large camera photos move. Images up to the bound (every common web size,
    the PDQ reference images) are hashed exactly as the reference does.
    """
    import math

    pixels = image.width * image.height
    if pixels <= HASH_MAX_PIXELS:
        return image
    if image.mode not in ("L", "RGB"):  # reduce() averages channels; a palette index is not one
        image = image.convert("RGB")
    return image.reduce(math.ceil(math.sqrt(pixels / HASH_MAX_PIXELS)))


def _rgb_array(image: Image.Image) -> Any:
    """An HxWx3 uint8 C-contiguous array: the only layout ``pdqhash`` reads correctly."""
    import numpy as np

    image = hashing_image(image)
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))


def _bits_to_hex(bits: Any) -> str:
    import numpy as np

    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes().hex()


def pdq_hash(image: Image.Image) -> tuple[str, int]:
    """PDQ hash (64 hex digits) and quality (0-100) of ``image``.

    Any Pillow mode is accepted and converted to RGB first (alpha is dropped, as the
    reference tools do). Images under 5 pixels on a side get the all-zero hash with
    quality 0 from the reference: they still hash, and the quality says not to trust it.
    """
    import pdqhash

    bits, quality = pdqhash.compute(_rgb_array(image))
    return _bits_to_hex(bits), int(quality)


def pdq_hash_dihedral(image: Image.Image) -> list[tuple[str, int]]:
    """PDQ hashes of the eight rotations/flips of ``image``, with their (shared) quality.

    The order is ``pdqhash.compute_dihedral``'s, named in ``DIHEDRAL_ORDER``: original,
    rotate 90, rotate 180, rotate 270, flip X, flip Y, flip over the main diagonal,
    flip over the anti-diagonal. Entry *k* is the hash the *k*-th transformed copy
    would get, so a query matches a rotated/flipped copy when it is within
    ``PDQ_MATCH_DISTANCE`` of any of the eight. Computing them at once is far cheaper
    than transforming and hashing eight images: the reference derives all eight from
    one DCT by transposing and negating coefficients.
    """
    import pdqhash

    vectors, quality = pdqhash.compute_dihedral(_rgb_array(image))
    return [(_bits_to_hex(bits), int(quality)) for bits in vectors]


def phash(image: Image.Image) -> str:
    """imagehash's 64-bit pHash as 16 hex digits, for matching against pHash datasets."""
    import imagehash

    return str(imagehash.phash(hashing_image(image)))


def fingerprint(image: Image.Image) -> Fingerprints:
    """PDQ and pHash of an already decoded image."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    pdq, quality = pdq_hash(rgb)
    return Fingerprints(pdq=pdq, pdq_quality=quality, phash=phash(rgb))


def fingerprint_file(path: Path | str) -> Fingerprints:
    """Fingerprints of an image file.

    Goes through ``provenance.media.load_image`` so that a missing, empty, truncated,
    oversized or non-image file raises a ``ProvauditError`` with one sentence, the
    same one every other command gives for it.
    """
    from provenance.media import load_image

    return fingerprint(load_image(path, mode="RGB"))


def _parse_hex(value: str, lengths: tuple[int, ...], what: str) -> bytes:
    if not isinstance(value, str):
        raise InputError(f"A {what} must be a string of hex digits, not {type(value).__name__}.")
    text = value.strip()
    if len(text) not in lengths:
        expected = " or ".join(str(n) for n in lengths)
        raise InputError(f"A {what} has {expected} hex digits; {text[:80]!r} has {len(text)}.")
    if not set(text) <= _HEX_DIGITS:
        raise InputError(f"A {what} contains only hex digits (0-9, a-f); {text!r} does not.")
    return bytes.fromhex(text)


def parse_pdq_hex(value: str) -> bytes:
    """The 32 bytes of a PDQ hash written as 64 hex digits (case and surrounding space
    ignored); a clear ``InputError`` for anything else, since these come from users."""
    return _parse_hex(value, (PDQ_HEX_LENGTH,), "PDQ hash")


def hamming_distance(hex_a: str, hex_b: str) -> int:
    """Number of differing bits between two hashes of the same kind, given as hex.

    Works for PDQ (64 digits) and pHash (16 digits); hashes of different lengths are
    refused rather than compared, since the number would mean nothing.
    """
    a = _parse_hex(hex_a, (PDQ_HEX_LENGTH, PHASH_HEX_LENGTH), "PDQ or pHash hash")
    b = _parse_hex(hex_b, (PDQ_HEX_LENGTH, PHASH_HEX_LENGTH), "PDQ or pHash hash")
    if len(a) != len(b):
        raise InputError(
            f"Cannot compare a {len(a) * 8}-bit hash with a {len(b) * 8}-bit hash; "
            "compare PDQ with PDQ and pHash with pHash."
        )
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_count()


CENTRE_SHARE = 0.95
"""The centre of an image that ``phash_centre`` hashes: a 5 % crop (2.5 % off each side)."""


def phash_centre(image: Image.Image) -> str:
    """pHash of the central ``CENTRE_SHARE`` of ``image``, cut at sub-pixel precision.

    A copy trimmed by a few percent has a whole-image pHash up to 16 bits from its
    original's, as far as distinct photos sit; its whole-image hash lies within a few bits
    of the original's centre hash, so storing both lets a near-duplicate search find
    trimmed copies at a radius that still separates distinct images
    (bench/neardup_engine.py).
    """
    import imagehash
    from PIL import Image as PILImage

    image = hashing_image(image)
    w, h = image.size
    dx, dy = w * (1 - CENTRE_SHARE) / 2, h * (1 - CENTRE_SHARE) / 2
    # pHash reduces to 32x32 anyway: never resample the centre below that.
    size = (max(32, round(w - 2 * dx)), max(32, round(h - 2 * dy)))
    centre = image.convert("RGB").resize(
        size, PILImage.Resampling.BILINEAR, box=(dx, dy, w - dx, h - dy)
    )
    return str(imagehash.phash(centre))
