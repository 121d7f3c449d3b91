"""Reading user files safely: format sniffing, truncation checks and bounded decoding.

Every entry point (CLI, service) goes through here so that bad input gets the same one
sentence everywhere. Pillow's decompression-bomb guard stays on; we make its warning
threshold an error too, so an image over ``Image.MAX_IMAGE_PIXELS`` is refused rather
than decoded. Below that, a decode budget (``PROVAUDIT_MAX_DECODE_PIXELS``) bounds the
pixels one image may decode to, checked from the header before any pixel is decoded: a
small file of a huge flat image would otherwise cost gigabytes.
"""

from __future__ import annotations

import io
import os
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from provenance.errors import ImageTooLargeError, InputError, UnsupportedFormatError

if TYPE_CHECKING:
    from PIL import Image

# MIME types this project signs and verifies (c2pa-rs supports each of them).
MIME_BY_FORMAT = {
    "jpeg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "gif": "image/gif",
    "tiff": "image/tiff",
    "heif": "image/heif",
    "avif": "image/avif",
    "pdf": "application/pdf",
}
IMAGE_FORMATS = frozenset({"jpeg", "png", "webp", "gif", "tiff", "heif", "avif"})

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DEFAULT_MAX_DECODE_PIXELS = 50_000_000
"""Above the largest camera sensors in common use, below what a few concurrent decodes can
hold in memory on a small server."""


def sniff_format(data: bytes) -> str | None:
    """The container format from magic bytes, or None when it is none we handle."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == _PNG_SIGNATURE:
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if data[:5] == b"%PDF-":
        return "pdf"
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        if brand in (b"avif", b"avis"):
            return "avif"
        if brand in (b"heic", b"heix", b"mif1", b"msf1", b"heim", b"heis"):
            return "heif"
    return None


def truncation_problem(data: bytes, fmt: str) -> str | None:
    """A reason if the container is visibly cut short.

    Cheap for a well-formed file: the end marker is looked for near the end only. Where it
    is not there, the JPEG's segments or the PNG's chunks are walked to tell a file cut
    short from one that carries something after its end (a zip in a JPEG+ZIP polyglot,
    HTML after a PNG, padding): the image in the latter is whole and is read as usual.
    TIFF is checked when it is opened (``check_media``): its strips are found from its IFD.
    """
    if fmt == "jpeg":
        # Some encoders pad after EOI; look for the marker near the end.
        if b"\xff\xd9" not in data[-4096:] and not _jpeg_has_end(data):
            return "the JPEG has no end-of-image marker (the file is truncated)"
    elif fmt == "png":
        if b"IEND" not in data[-64:] and not _png_has_end(data):
            return "the PNG has no IEND chunk (the file is truncated)"
    elif fmt == "webp":
        declared = int.from_bytes(data[4:8], "little") + 8
        if len(data) < declared:
            return "the WebP is shorter than its RIFF header says (the file is truncated)"
    return None


# Markers without a length: TEM, RST0-7 (SOI is skipped before the walk starts).
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})
# The marker that ends entropy-coded data: 0xFF followed by anything but a stuffed zero,
# a restart marker or fill.
_JPEG_SCAN_END = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


def _jpeg_has_end(data: bytes) -> bool:
    """Whether the JPEG's image reaches its EOI marker: its segments (by their lengths) and
    its scans (up to the next marker) are walked, so an EOI inside an embedded thumbnail
    or after the data runs out does not count, and whatever follows the EOI is ignored."""
    pos, size = 2, len(data)
    while pos + 1 < size:
        if data[pos] != 0xFF:  # stray bytes between segments: decoders skip them too
            pos = data.find(b"\xff", pos)
            if pos < 0:
                return False
            continue
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
        elif marker == 0xD9:
            return True
        elif marker in _JPEG_STANDALONE:
            pos += 2
        else:
            if pos + 4 > size:
                return False
            pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
            if marker == 0xDA:  # start of scan: entropy-coded data up to the next marker
                found = _JPEG_SCAN_END.search(data, pos)
                if found is None:
                    return False
                pos = found.start()
    return False


def _png_has_end(data: bytes) -> bool:
    """Whether the PNG's chunks, followed by their lengths, reach an IEND chunk."""
    pos, size = 8, len(data)
    while pos + 8 <= size:
        if data[pos + 4 : pos + 8] == b"IEND":
            return True
        pos += 12 + int.from_bytes(data[pos : pos + 4], "big")
    return False


def _tiff_problem(image: Image.Image, size: int) -> str | None:
    """A reason if the first page's strips or tiles end past the end of the file."""
    tags = getattr(image, "tag_v2", None)
    if tags is None:
        return None
    for offsets_tag, counts_tag in ((273, 279), (324, 325)):  # strips, tiles
        offsets, counts = tags.get(offsets_tag), tags.get(counts_tag)
        if offsets is None or counts is None:
            continue
        offsets = offsets if isinstance(offsets, tuple) else (offsets,)
        counts = counts if isinstance(counts, tuple) else (counts,)
        if any(offset + count > size for offset, count in zip(offsets, counts, strict=False)):
            return "the TIFF's image data runs past the end of the file (the file is truncated)"
    return None


@dataclass(frozen=True)
class MediaFile:
    """Bytes of one user file, checked: known format, not truncated, bounded size."""

    data: bytes
    format: str
    name: str = ""
    width: int | None = None
    height: int | None = None

    @property
    def mime_type(self) -> str:
        return MIME_BY_FORMAT[self.format]

    @property
    def is_image(self) -> bool:
        return self.format in IMAGE_FORMATS


def check_media(data: bytes, name: str = "input") -> MediaFile:
    """Validate bytes as a supported, complete file; read image dimensions from the header."""
    if not data:
        raise InputError(f"{name} is empty.")
    fmt = sniff_format(data)
    if fmt is None:
        raise UnsupportedFormatError(
            f"{name} is not a supported image or document "
            f"(supported: {', '.join(sorted(MIME_BY_FORMAT))})."
        )
    problem = truncation_problem(data, fmt)
    if problem:
        raise InputError(f"{name}: {problem}.")
    width = height = None
    if fmt == "webp":
        # Pillow opens WebP by building a decoder over the whole file (~1 ms); the
        # header alone tells the size.
        width, height = webp_size(data, name)
        _check_pixel_count(width, height, name)
    elif fmt in IMAGE_FORMATS and fmt not in ("heif", "avif"):
        with _open_image(data, name) as image:
            width, height = image.size
            problem = _tiff_problem(image, len(data)) if fmt == "tiff" else None
        if problem:
            raise InputError(f"{name}: {problem}.")
    return MediaFile(data=data, format=fmt, name=name, width=width, height=height)


def webp_size(data: bytes, name: str = "input") -> tuple[int, int]:
    """Canvas size from a WebP header (VP8X, lossy VP8 or lossless VP8L)."""
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width = int.from_bytes(data[26:28], "little") & 0x3FFF
        height = int.from_bytes(data[28:30], "little") & 0x3FFF
        return width, height
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    raise InputError(f"{name} is not a readable WebP image.")


def _check_pixel_count(width: int, height: int, name: str) -> None:
    from PIL import Image

    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and width * height > limit:
        raise ImageTooLargeError(
            f"{name} has too many pixels to decode safely ({width}x{height}; "
            f"limit {limit:,} pixels)."
        )


def read_media(path: Path | str) -> MediaFile:
    """Read and check a file from disk, with one sentence for every way it can be wrong."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path} does not exist.")
    if path.is_dir():
        raise InputError(f"{path} is a directory, not a file.")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path} cannot be read ({exc.strerror or exc}).") from None
    return check_media(data, str(path))


@contextmanager
def _pillow_warnings() -> Iterator[None]:
    """Pillow's decompression-bomb warning raised as an error; its other warnings about a
    damaged or odd file ("Truncated File Read", "Possibly corrupt EXIF data", palette
    transparency...) dropped: the one sentence raised from here, or nothing when the image
    is usable, is what the user gets, never a warning on stderr."""
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        yield


def _open_image(data: bytes, name: str) -> Image.Image:
    from PIL import Image, UnidentifiedImageError

    try:
        with _pillow_warnings():
            image = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageTooLargeError(
            f"{name} has too many pixels to decode safely "
            f"(limit {Image.MAX_IMAGE_PIXELS:,} pixels)."
        ) from None
    except UnidentifiedImageError:
        raise InputError(f"{name} is not a readable image.") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise InputError(f"{name} is not a readable image ({exc}).") from None
    # Again from the header, whatever the warning filters say: ``catch_warnings`` is
    # process-wide, and another thread leaving its block may have reset them meanwhile.
    try:
        _check_pixel_count(*image.size, name)
    except ImageTooLargeError:
        image.close()
        raise
    return image


def decode_image(data: bytes, name: str = "input", mode: str = "RGB") -> Image.Image:
    """Fully decode image bytes (bomb guard on), converted to ``mode``."""
    return _decoded(_open_image(data, name), name, mode)


def decode_image_native(data: bytes, name: str = "input") -> Image.Image:
    """Fully decode image bytes in their own mode (bomb guard and budget on), EXIF kept:
    for a hash whose normalisation starts from the file's own pixels (the ISCC code fills
    transparency with white and applies the EXIF orientation itself)."""
    image = _open_image(data, name)
    return _decoded(image, name, image.mode)


def scaled_to_eight_bits(image: Image.Image) -> Image.Image:
    """``image`` with 16-bit, 32-bit and float grayscale scaled to 8-bit ``L`` (not
    clipped, see ``_to_eight_bits``); any other mode as it is."""
    return _to_eight_bits(image) if _is_wide(image.mode) else image


HASH_DECODE_MIN_SIDE = 384
"""The smallest side a JPEG is scaled down to when it is decoded only to be hashed."""


def decode_image_for_hashing(
    data: bytes, name: str = "input", min_side: int = HASH_DECODE_MIN_SIDE
) -> Image.Image:
    """Decode image bytes for perceptual hashing (PDQ, pHash), RGB; large JPEGs at reduced scale.

    PDQ box-filters the image down to 64x64 luminance values (pHash to 32x32), so decoding
    every pixel of a large JPEG only to average them away is wasted work. libjpeg can
    instead scale by 1/2, 1/4 or 1/8 while it decodes, in the DCT domain (Pillow's draft
    mode): a 1024 px JPEG decodes at 512 px, a 4000x3000 photo at 500x375, which cuts the
    decode and the PDQ filter by 4x to 64x; that is most of what a signature's soft
    binding costs.

    Pillow picks the largest scale that keeps both sides >= ``min_side``. Why 384 and not
    less: PDQ's own filter window shrinks with the image (2 px at 256 px), so a hash taken
    at 256 px drifts from the full-size one. Measured on real photos (scikit-image,
    scikit-learn, ThreatExchange's PDQ images; quality >= 50) at 512-1600 px, JPEG q92,
    against copies stripped by resizing (0.3-1x) and re-encoding (JPEG q60-90): drafting
    a 512 px photo to 256 px moved its hash by up to 14 bits (48 on an upscaled photo, 20
    on synthetic test patterns) and, over 512-720 px images, doubled the copies missed at
    the match distance of 31 (13 vs 6 of 300); drafting to >= 384 px missed no more than
    the full decode (6 vs 6 of 300 there; 6 vs 8 of 240 at 512-1600 px), with a mean
    distance within 0.4 bit of it.

    Smaller JPEGs, and every other format, are decoded in full, exactly as
    ``decode_image`` does. The bomb guard is unchanged: the pixel count in the header is
    checked when the file is opened, before any decoding. Use ``decode_image`` wherever
    the hash must be the reference one of the full image (``fingerprint`` of a file, bank
    uploads, lookups).
    """
    image = _open_image(data, name)
    if image.format == "JPEG" and min(image.size) >= 2 * min_side:
        image.draft("RGB", (min_side, min_side))
    return _decoded(image, name, "RGB")


def max_decode_pixels() -> int:
    """``PROVAUDIT_MAX_DECODE_PIXELS``, else :data:`DEFAULT_MAX_DECODE_PIXELS`."""
    configured = os.environ.get("PROVAUDIT_MAX_DECODE_PIXELS")
    if not configured:
        return DEFAULT_MAX_DECODE_PIXELS
    try:
        return max(1, int(configured))
    except ValueError:
        raise InputError(
            f"PROVAUDIT_MAX_DECODE_PIXELS must be a whole number of pixels, not {configured!r}."
        ) from None


def check_decode_budget(width: int, height: int, name: str) -> None:
    budget = max_decode_pixels()
    if width * height > budget:
        raise ImageTooLargeError(
            f"{name} has too many pixels to decode within the budget ({width}x{height} = "
            f"{width * height:,}; budget {budget:,} pixels, PROVAUDIT_MAX_DECODE_PIXELS)."
        )


def _decoded(image: Image.Image, name: str, mode: str) -> Image.Image:
    # After any draft: the size is what will actually be decoded.
    check_decode_budget(*image.size, name)
    try:
        with _pillow_warnings():
            image.load()
            if image.mode == mode:
                return image
            if _is_wide(image.mode) and not _is_wide(mode):
                image = _to_eight_bits(image)
            elif image.mode == "P" and "transparency" in image.info:
                image = image.convert("RGBA")  # the same colours, without Pillow's warning
            return image.convert(mode) if image.mode != mode else image
    except (OSError, ValueError, SyntaxError) as exc:
        raise InputError(f"{name} cannot be decoded ({exc}).") from None


def _is_wide(mode: str) -> bool:
    """More than 8 bits a sample: 16-bit (``I;16...``), 32-bit integer (``I``), float (``F``)."""
    return mode in ("I", "F") or mode.startswith("I;")


def _to_eight_bits(image: Image.Image) -> Image.Image:
    """A 16-bit, 32-bit or float grayscale image as 8-bit ``L``, scaled, not clipped.

    Pillow's own conversion clips every value to 0..255, so a 16-bit photo turns white
    and a float one in 0..1 black. The range mapped to 0..255 is that of the mode
    (0..65535 for ``I;16``); for ``I`` the first of 0..255 and 0..65535 that holds every
    value, for ``F`` the first of 0..1 and 0..255; else the image's own minimum to
    maximum (finite values; NaN is black, infinities black or white).
    """
    import numpy as np
    from PIL import Image

    values = np.asarray(image)
    if image.mode.startswith("I;16"):
        low, high = 0.0, 65535.0
    else:
        finite = values[np.isfinite(values)] if image.mode == "F" else values
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
        nominal = (
            ((0.0, 1.0), (0.0, 255.0)) if image.mode == "F" else ((0.0, 255.0), (0.0, 65535.0))
        )
        for bottom, top in nominal:
            if bottom <= low and high <= top:
                low, high = bottom, top
                break
    scale = 255.0 / (high - low) if high > low else 0.0
    eight = np.empty(values.shape, dtype=np.uint8)
    rows = max(1, (1 << 20) // max(1, values.shape[1]))  # about a million values at a time
    for top in range(0, values.shape[0], rows):
        chunk = values[top : top + rows].astype(np.float32)
        chunk -= low
        chunk *= scale
        chunk += 0.5
        np.nan_to_num(chunk, copy=False, nan=0.0, posinf=255.0, neginf=0.0)
        np.clip(chunk, 0.0, 255.0, out=chunk)
        eight[top : top + rows] = chunk
    return Image.fromarray(eight)


def load_image(path: Path | str, mode: str = "RGB") -> Image.Image:
    """Read, check and decode an image file."""
    media = read_media(path)
    if not media.is_image:
        raise UnsupportedFormatError(f"{media.name} is a {media.format.upper()}, not an image.")
    return decode_image(media.data, media.name, mode)
