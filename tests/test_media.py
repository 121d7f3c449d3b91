"""Input checks shared by every entry point."""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import pytest
from PIL import Image

from provenance.errors import ImageTooLargeError, InputError, UnsupportedFormatError
from provenance.fingerprint import fingerprint, hamming_distance
from provenance.media import check_media, decode_image, sniff_format, webp_size
from tests.conftest import encode, make_image
from tests.test_cli import huge_png


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


@pytest.mark.parametrize(
    ("fmt", "options", "trailer"),
    [
        ("JPEG", {}, b"PK\x03\x04" + bytes(range(256)) * 32),  # a JPEG+ZIP polyglot
        ("JPEG", {"progressive": True}, b"\x00" * 5000),  # several scans, then padding
        ("PNG", {}, b"<html><script>alert(1)</script></html>\n" * 8),
    ],
)
def test_data_after_the_end_of_an_image_is_not_truncation(fmt, options, trailer):
    data = encode(make_image((96, 64)), fmt, **options) + trailer
    media = check_media(data, "trailer")
    assert decode_image(media.data).size == (96, 64)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_a_file_cut_short_is_truncated_even_when_followed_by_other_bytes(fmt):
    whole = encode(make_image((96, 64)), fmt)
    with pytest.raises(InputError, match="truncated"):
        check_media(whole[: len(whole) // 2] + b"\x00" * 5000, "cut")


def test_a_tiff_whose_strips_run_past_its_end_is_truncated():
    tiff = encode(make_image((96, 64)), "TIFF", compression="raw")
    with pytest.raises(InputError, match="the file is truncated"):
        check_media(tiff[: len(tiff) // 2], "cut.tif")


def test_pillow_warnings_never_reach_the_user():
    """Pillow warns about damaged or odd files; the sentence raised is all a user gets."""
    palette = make_image((96, 64)).convert("P", palette=Image.Palette.ADAPTIVE)
    alpha_table = encode(palette, "PNG", transparency=bytes([0, 64, 128, 192]))
    tiff = encode(make_image((96, 64)), "TIFF")
    cut_in_ifd = tiff[: int.from_bytes(tiff[4:8], "little") + 50]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert decode_image(alpha_table).mode == "RGB"
        with pytest.raises(InputError, match="not a readable image"):
            check_media(cut_in_ifd, "cut.tif")
    assert [str(warning.message) for warning in caught] == []


def test_the_bomb_guard_does_not_depend_on_the_warning_filters(monkeypatch):
    """``catch_warnings`` is process-wide: a thread leaving its block resets the filters of
    another mid-open. The pixel count is checked again, whatever the filters say."""
    import provenance.media as media

    monkeypatch.setattr(media, "_pillow_warnings", contextlib.nullcontext)
    side = int(Image.MAX_IMAGE_PIXELS**0.5) + 100  # over the warning, under the error
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ImageTooLargeError, match="too many pixels"):
            check_media(huge_png(side, side), "bomb.png")


def _l_and_wide(mode: str) -> tuple[np.ndarray, Image.Image]:
    """A photo's 8-bit luminance as a decoder should give it back, and the photo in ``mode``."""
    values = np.asarray(make_image((256, 192)).convert("L"), dtype=np.float64) / 255.0
    if mode == "F-any":  # no nominal range: its own minimum to maximum is stretched to 0..255
        values = (values - values.min()) / (values.max() - values.min())
    wide = {
        "I;16": lambda: Image.fromarray((values * 65535).round().astype(np.uint16)),
        "I": lambda: Image.fromarray((values * 65535).round().astype(np.int32)),
        "I-8bit": lambda: Image.fromarray((values * 255).round().astype(np.int32)),
        "F": lambda: Image.fromarray(values.astype(np.float32)),
        "F-any": lambda: Image.fromarray((values * 3000 - 1000).astype(np.float32)),
    }[mode]()
    return (values * 255).round(), wide


@pytest.mark.parametrize("mode", ["I;16", "I", "I-8bit", "F", "F-any"])
def test_wide_grayscale_is_scaled_to_eight_bits_not_clipped(mode):
    """Pillow's conversion clips I;16, I and F to 0..255 (a 16-bit photo turns white)."""
    expected, wide = _l_and_wide(mode)
    fmt = "PNG" if mode == "I;16" else "TIFF"
    decoded = decode_image(encode(wide, fmt), "wide")
    assert np.abs(np.asarray(decoded.convert("L"), dtype=np.float64) - expected).max() <= 1
    reference = Image.fromarray(expected.astype(np.uint8)).convert("RGB")
    assert hamming_distance(fingerprint(decoded).pdq, fingerprint(reference).pdq) <= 8


def test_non_finite_floats_decode_to_black_and_white():
    values = np.linspace(-5, 5, 64 * 48, dtype=np.float32).reshape(48, 64)
    values[0, 0], values[0, 1], values[0, 2] = np.nan, np.inf, -np.inf
    decoded = np.asarray(decode_image(encode(Image.fromarray(values), "TIFF")).convert("L"))
    assert decoded[0, :3].tolist() == [0, 255, 0]
    assert decoded[0, 3] <= 1 and decoded[-1, -1] == 255  # the finite range, stretched
