"""The ISCC Content-Code Image (ISO 24138:2024): the ``io.iscc.v0`` soft binding.

Unlike PDQ and pHash, ``io.iscc.v0`` is on the C2PA soft binding algorithm list (entry 3),
so any C2PA tool that speaks ISCC can read the binding provaudit writes and resolve it.
The code is ``iscc-core``'s (the ISO reference implementation): a DCT of the image
normalised to 32x32 gray pixels, each bit a coefficient compared with the median of its
8x8 block. ``iscc-core`` expects the pixels already normalised and leaves that to
``iscc-sdk`` (which needs native tools we do not ship); :func:`normalized_pixels` is
iscc-sdk's ``image_normalize`` step for step: EXIF orientation applied, transparency
filled with white, a uniform border (the colour of the top-left pixel) trimmed, gray,
resized to 32x32 bicubic. So the code provaudit writes is the one iscc-sdk and the ISCC
C2PA tools compute from the same file, and a verifier can recompute it. One deviation:
16-bit and float grayscale images are scaled to 8 bits (as everywhere in provaudit), where
Pillow's conversion in iscc-sdk clips them to white.

Value format (IEP-0020, "ISCC C2PA Conformance"): the soft binding's block ``value`` is an
ISCC-SEQ, the bytes (header and body) of one or more 256-bit ISCC-UNITs; here one unit,
the Content-Code Image. The Soft Binding Resolution API carries the same bytes as padded
base64, and ``ISCC:`` followed by their base32 is the code's canonical text (for one unit,
the familiar ``ISCC:EED...`` string). The registry keeps the unit's 256-bit body as hex,
like the other hashes: the header is the same for every code (Content, Image, version 0,
256 bits).

``iscc-core`` (and its loguru and pydantic) is imported where it is used: importing it
costs about 0.2 s, which nothing that does not compute or read a code should pay.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING

from provenance.errors import InputError
from provenance.hashrules import query_base64

if TYPE_CHECKING:
    from PIL import Image

ISCC_BITS = 256
"""IEP-0020: every ISCC-UNIT of an ``io.iscc.v0`` value has a 256-bit body."""
ISCC_HEX_LENGTH = ISCC_BITS // 4
ISCC_MATCH_DISTANCE = 48
"""ISCC Content-Code Image bodies within this many of 256 bits are called the same image.

Measured by ``bench/iscc_threshold.py`` (92 quadrants of real photos, 4,186 distinct
pairs): a JPEG q75 copy is a median 2 bits from its original (95th percentile 8, at most
44), a 0.5x resized one 2 (95th percentile 14); distinct images a median 128 apart, the
closest two at 100. At 48 no distinct pair matches and every JPEG copy does; the copies
that miss (2-3%) are a black-and-white silhouette whose white border is trimmed in the
original but no longer exactly uniform after resampling, a step of ISCC's normalisation.
"""
_ORIENTATION = 0x0112


def normalized_pixels(image: Image.Image) -> list[int]:
    """The 1024 gray values (32x32, row by row) ``iscc-core`` hashes: iscc-sdk's
    ``image_normalize`` (EXIF orientation, white behind transparency, uniform border
    trimmed, gray, 32x32 bicubic)."""
    import numpy as np
    from PIL import Image, ImageOps

    if image.getexif().get(_ORIENTATION, 1) not in (1, None):
        image = ImageOps.exif_transpose(image)
    image = _fill_transparency(image)
    image = _trim_border(image)
    gray = image.convert("L").resize((32, 32), Image.Resampling.BICUBIC)
    return np.asarray(gray, dtype=np.uint8).ravel().tolist()


def _fill_transparency(image: Image.Image) -> Image.Image:
    """RGB with a white background where the image is transparent (iscc-sdk's rule)."""
    from PIL import Image

    from provenance.media import scaled_to_eight_bits

    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA"):
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image, mask=image.getchannel("A"))
        return background
    if image.mode == "P" and "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return scaled_to_eight_bits(image).convert("RGB")


def _trim_border(image: Image.Image) -> Image.Image:
    """Crop a uniform border, taking the top-left pixel's colour as the border's.

    iscc-sdk subtracts a full-size image of that colour and crops to the bounding box of
    what is not zero; this finds the same box a band of rows at a time, without two more
    full-size copies of a large image (``tests/test_iscc.py`` checks the two agree).
    """
    from PIL import Image, ImageChops

    width, height = image.size
    rows = max(1, (1 << 20) // max(1, width))
    background = Image.new(image.mode, (width, rows), image.getpixel((0, 0)))
    left = top = right = bottom = None
    for start in range(0, height, rows):
        band = image.crop((0, start, width, min(height, start + rows)))
        plain = background if band.height == rows else background.crop((0, 0, width, band.height))
        found = ImageChops.difference(band, plain).getbbox()
        if found is None:
            continue
        if top is None or left is None or right is None:
            top, left, right = start + found[1], found[0], found[2]
        left, right = min(left, found[0]), max(right, found[2])
        bottom = start + found[3]
    if top is None:  # one colour throughout: iscc-sdk's crop(None), a copy of the whole
        return image
    box = (left, top, right, bottom)
    return image if box == (0, 0, width, height) else image.crop(box)


def image_code(image: Image.Image) -> str:
    """The 256-bit body of ``image``'s ISCC Content-Code Image, as 64 hex digits.

    ``image`` is the decoded file as it is (its own mode, its EXIF): use
    :func:`image_code_of_bytes` for a file.
    """
    import iscc_core

    digest = iscc_core.soft_hash_image_v0(normalized_pixels(image), bits=ISCC_BITS)
    return bytes(digest).hex()


def image_code_of_bytes(data: bytes, name: str = "input") -> str:
    """:func:`image_code` of an encoded image (the bomb guard and the decode budget on).

    A file that cannot be decoded, or whose pixels Pillow cannot bring to RGB (an exotic
    mode, a broken EXIF orientation), raises an ``InputError`` with one sentence.
    """
    from provenance.media import decode_image_native

    image = decode_image_native(data, name)
    try:
        return image_code(image)
    except (OSError, ValueError, SyntaxError) as exc:
        raise InputError(f"{name}: its ISCC code cannot be computed ({exc}).") from None


def _body(hex_value: str) -> bytes:
    if not isinstance(hex_value, str):
        raise InputError("An ISCC Content-Code Image body is a string of 64 hex digits.")
    try:
        raw = bytes.fromhex(hex_value.strip())
    except ValueError:
        raise InputError(
            f"An ISCC Content-Code Image body is 64 hex digits; {hex_value[:80]!r} is not."
        ) from None
    if len(raw) * 8 != ISCC_BITS:
        raise InputError(
            f"An ISCC Content-Code Image body has {ISCC_BITS} bits, not {len(raw) * 8}."
        )
    return raw


def unit(hex_value: str) -> str:
    """The canonical ISCC-UNIT string (``ISCC:EED...``) of a Content-Code Image body."""
    import iscc_core as ic

    component = ic.encode_component(
        mtype=ic.MT.CONTENT,
        stype=ic.ST_CC.IMAGE,
        version=ic.VS.V0,
        bit_length=ISCC_BITS,
        digest=_body(hex_value),
    )
    return f"ISCC:{component}"


def seq(hex_value: str) -> bytes:
    """The ISCC-SEQ (IEP-0020) of one Content-Code Image: the soft binding's value."""
    import iscc_core as ic

    return ic.encode_seq([unit(hex_value)])


def binding_value(hex_value: str) -> str:
    """The ISCC-SEQ as the Soft Binding Resolution API carries it: padded base64."""
    return base64.b64encode(seq(hex_value)).decode("ascii")


def decode_binding(value: str) -> str:
    """The Content-Code Image body (hex) in an ``io.iscc.v0`` value.

    ``value`` is the ISCC-SEQ as padded base64 (IEP-0020; a ``+`` that arrived as a space
    from an unencoded query string is put back) or as ``ISCC:`` and base32 (the canonical
    text of a code). A sequence may hold other units (a Meta-, Data- or Instance-Code from
    another signer); the first 256-bit Content-Code Image is the one matched, and a value
    without one is refused with one sentence, as is one that is not an ISCC-SEQ.
    """
    import iscc_core as ic

    if not isinstance(value, str) or not value.strip():
        raise InputError(
            "Give the io.iscc.v0 value as base64 of its ISCC-SEQ, or as ISCC: and base32."
        )
    text = value.strip()
    shown = text[:80]
    try:
        if text[:5].upper() == "ISCC:":
            raw = ic.decode_base32(text[5:].replace("-", "").upper())
        else:
            raw = query_base64(value)
    except (binascii.Error, ValueError):
        raise InputError(
            f"The io.iscc.v0 value {shown!r} is neither base64 nor ISCC: and base32."
        ) from None
    try:
        units = ic.decode_seq(raw)
    except ValueError as exc:
        raise InputError(f"The io.iscc.v0 value {shown!r} is not an ISCC-SEQ ({exc}).") from None
    for candidate in units:
        main_type, sub_type, version, _length, body = ic.iscc_decode(candidate)
        if (
            main_type == ic.MT.CONTENT
            and sub_type == ic.ST_CC.IMAGE
            and version == ic.VS.V0
            and len(body) * 8 == ISCC_BITS
        ):
            return bytes(body).hex()
    raise InputError(
        f"The io.iscc.v0 value {shown!r} holds no 256-bit ISCC Content-Code Image "
        f"(it holds {', '.join(units)})."
    )
