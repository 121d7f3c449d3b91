"""Input checks shared by every entry point."""

from __future__ import annotations

import pytest
from PIL import Image

from provenance.errors import ImageTooLargeError, InputError, UnsupportedFormatError
from provenance.media import check_media, sniff_format, webp_size
from tests.conftest import encode, make_image


@pytest.mark.parametrize(
    ("mode", "options"),
    [("RGB", {}), ("RGB", {"lossless": True}), ("RGBA", {}), ("RGBA", {"lossless": True})],
)
@pytest.mark.parametrize("size", [(1, 1), (321, 123), (4000, 17)])
def test_webp_header_size_agrees_with_pillow(mode, options, size):
    data = encode(Image.new(mode, size, "white"), "WEBP", **options)
    assert webp_size(data) == size


def test_huge_webp_canvas_is_refused_without_decoding():
    # A VP8X header announcing a 30000x30000 canvas.
    payload = b"VP8X" + (10).to_bytes(4, "little") + b"\x00" * 4
    payload += (29999).to_bytes(3, "little") * 2
    data = b"RIFF" + (len(payload) + 4).to_bytes(4, "little") + b"WEBP" + payload
    with pytest.raises(ImageTooLargeError, match="30000x30000"):
        check_media(data, "bomb.webp")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF", "TIFF"])
def test_sniffing_and_dimensions(fmt):
    media = check_media(encode(make_image((64, 48)), fmt), f"x.{fmt.lower()}")
    assert media.format == fmt.lower()
    assert (media.width, media.height) == (64, 48)


def test_sniffing_refuses_what_it_does_not_know():
    assert sniff_format(b"BM" + b"\x00" * 64) is None
    with pytest.raises(UnsupportedFormatError):
        check_media(b"GIF88a" + b"\x00" * 32, "odd.gif")
    with pytest.raises(InputError, match="is empty"):
        check_media(b"", "empty.png")
