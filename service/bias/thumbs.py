"""Thumbnails of the images a report names, inlined as ``data:`` URIs.

Only the images the report shows are read again (duplicate clusters, leakage pairs,
quality flags, detector errors: a bounded list picked from ``report.json``), never every
image of the dataset, so the cost does not grow with the dataset and any engine can hand
over its report. Each thumbnail is a small WebP (JPEG where Pillow lacks WebP) whose
longest side is ``THUMB_SIDE`` pixels; the total is bounded twice, by ``MAX_THUMBS`` images
and ``MAX_TOTAL_BYTES`` of encoded data, so a report stays one file that a browser opens
quickly. Images past either bound are still named in the report, without a picture.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

THUMB_SIDE = 96
THUMB_QUALITY = 70
MAX_THUMBS = 600
# Base64 adds a third: about 2.7 MiB of text in the HTML at most.
MAX_TOTAL_BYTES = 2 * 1024 * 1024


@dataclass
class Thumbnails:
    uris: dict[str, str] = field(default_factory=dict)
    """Image key to ``data:`` URI."""
    encoded_bytes: int = 0
    left_out: int = 0
    """Images that were asked for but got no picture (a bound reached, or unreadable)."""


def _encoder() -> tuple[str, str]:
    from PIL import features

    return ("WEBP", "image/webp") if features.check("webp") else ("JPEG", "image/jpeg")


def thumbnail_bytes(path: Path, side: int = THUMB_SIDE) -> tuple[bytes, str] | None:
    """The encoded thumbnail and its media type, or None for a file that does not decode."""
    import warnings

    from PIL import Image

    fmt, media_type = _encoder()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as image:
                image.draft("RGB", (side, side))
                small = image.convert("RGB")
                small.thumbnail((side, side), Image.Resampling.LANCZOS)
    except Exception:  # a file the per-image stage called unreadable has no picture
        return None
    buffer = io.BytesIO()
    small.save(buffer, fmt, quality=THUMB_QUALITY)
    return buffer.getvalue(), media_type


def make_thumbnails(
    keys: Iterable[str],
    paths: Mapping[str, Path],
    *,
    max_thumbs: int = MAX_THUMBS,
    max_bytes: int = MAX_TOTAL_BYTES,
) -> Thumbnails:
    """Thumbnails for ``keys`` in order (first asked, first served) within both bounds."""
    out = Thumbnails()
    for key in dict.fromkeys(keys):
        path = paths.get(key)
        encoded = None
        if path is not None and len(out.uris) < max_thumbs:
            encoded = thumbnail_bytes(path)
        if encoded is None or out.encoded_bytes + len(encoded[0]) > max_bytes:
            out.left_out += 1
            continue
        data, media_type = encoded
        out.encoded_bytes += len(data)
        out.uris[key] = f"data:{media_type};base64," + base64.b64encode(data).decode("ascii")
    return out
