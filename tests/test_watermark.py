"""The invisible watermark (provenance.watermark): round trips, what it reliably survives
(bench/watermark_bench.py measures the rest), no reads from unmarked images, refusals, and
a golden output so that marks written today stay readable."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from provenance import watermark
from provenance.errors import ImageTooSmallError, InputError
from provenance.watermark import MIN_SIDE, WATERMARK_ALG, WatermarkRead, embed, read
from tests.conftest import REPO_ROOT, make_image

PAYLOAD = 0xC0FFEE42


def jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def psnr(a: Image.Image, b: Image.Image) -> float:
    diff = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    return float(10 * np.log10(255.0**2 / np.mean(diff**2)))


@pytest.mark.parametrize("size", [(32, 32), (64, 64), (256, 192), (96, 400)])
def test_round_trip(size: tuple[int, int]) -> None:
    image = make_image(size, seed=sum(size))
    marked = embed(image, PAYLOAD)
    assert marked.size == image.size and marked.mode == "RGB"
    found = read(marked, search_crops=False)
    assert isinstance(found, WatermarkRead)
    assert found.payload == PAYLOAD
    assert found.frame == (0.0, 0.0, 1.0, 1.0)
    assert found.corrected_bits == 0 and found.confidence > 0.5
    assert psnr(image, marked) > 36


@pytest.mark.parametrize("payload", [0, 1, 2**32 - 1])
def test_extreme_payloads(payload: int) -> None:
    found = read(embed(make_image((64, 64), seed=5), payload), search_crops=False)
    assert found is not None and found.payload == payload


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_survives_jpeg_q75_at_256(seed: int) -> None:
    marked = embed(make_image((256, 256), seed=seed), PAYLOAD)
    found = read(jpeg(marked, 75), search_crops=False)
    assert found is not None and found.payload == PAYLOAD


def test_survives_half_size_and_a_centred_crop_at_256() -> None:
    marked = embed(make_image((256, 256), seed=4), PAYLOAD)
    half = marked.resize((128, 128), Image.Resampling.LANCZOS)
    found = read(half, search_crops=False)
    assert found is not None and found.payload == PAYLOAD

    cropped = marked.crop((13, 13, 243, 243))  # 10 % of each side, half off each edge
    assert read(cropped, search_crops=False) is None
    found = read(cropped)
    assert found is not None and found.payload == PAYLOAD
    assert found.frame == pytest.approx((0.05, 0.05, 0.95, 0.95), abs=0.003)


def test_unmarked_images_read_none() -> None:
    flat = Image.new("RGB", (128, 128), (128, 128, 128))
    noise = Image.fromarray(
        np.random.default_rng(0).integers(0, 256, (96, 96, 3), dtype=np.uint8), "RGB"
    )
    for image in (make_image((256, 192), seed=9), flat, noise, jpeg(make_image(), 75)):
        assert read(image) is None


def test_too_small_is_refused_with_one_sentence() -> None:
    small = make_image((MIN_SIDE - 1, 200))
    with pytest.raises(ImageTooSmallError) as raised:
        embed(small, PAYLOAD)
    assert isinstance(raised.value, InputError)
    message = str(raised.value)
    assert message.endswith(".") and message.count(". ") == 0
    assert f"{MIN_SIDE - 1}x200" in message and str(MIN_SIDE) in message
    assert read(small) is None


def test_bad_arguments() -> None:
    image = make_image((64, 64))
    for payload in (-1, 2**32):
        with pytest.raises(ValueError, match="payload"):
            embed(image, payload)
    with pytest.raises(TypeError):
        embed(image, "7")  # type: ignore[arg-type]
    for strength in (0.0, 1.5):
        with pytest.raises(ValueError, match="strength"):
            embed(image, 7, strength=strength)


def test_modes_keep_alpha_and_grey() -> None:
    rgba = make_image((96, 96), seed=6).convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize((96, 96)))
    marked = embed(rgba, PAYLOAD)
    assert marked.mode == "RGBA"
    assert marked.getchannel("A").tobytes() == rgba.getchannel("A").tobytes()
    assert read(marked, search_crops=False).payload == PAYLOAD
    grey = embed(make_image((96, 96), seed=7).convert("L"), PAYLOAD)
    assert grey.mode == "L" and read(grey, search_crops=False).payload == PAYLOAD


# The keyed layout and the code word decide what every existing mark means: they must never
# change (a new layout needs a new WATERMARK_ALG). Platform-independent (hashlib, integers).
LAYOUT_SHA256 = "a02f9a12f3eda7305b8a8acdaf27351e80ac5c26bcc769f6a9e554d2822afdc4"
# The pixels of one marked image, pinned on the reference platform.
PIXELS_SHA256 = "8f4fce929bbdcd09fd6b433a39e28fff362b0ec3a81d5d51e8675f3e99a66d2a"


def test_golden_layout_and_code_word() -> None:
    assert WATERMARK_ALG == "org.provaudit.dwtdct"
    bit_of, dither, _ = watermark._layout()
    code_word = watermark._encode(watermark._info_bits(PAYLOAD))
    digest = hashlib.sha256(
        bit_of.astype("<i8").tobytes()
        + np.round(dither * 2**32).astype("<i8").tobytes()
        + code_word.astype("u1").tobytes()
    ).hexdigest()
    assert digest == LAYOUT_SHA256


def test_golden_embedding_is_deterministic() -> None:
    image = make_image((96, 64), seed=11)
    first = embed(image, PAYLOAD)
    second = embed(image.copy(), PAYLOAD)
    assert first.tobytes() == second.tobytes()
    assert hashlib.sha256(first.tobytes()).hexdigest() == PIXELS_SHA256


def test_import_pulls_neither_torch_nor_opencv() -> None:
    code = (
        "import sys, provenance.watermark as w; from PIL import Image; "
        "w.read(w.embed(Image.new('RGB', (64, 64), 'gray'), 1)); "
        "print(sorted(m for m in ('torch', 'cv2', 'imwatermark') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
