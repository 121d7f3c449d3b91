"""An invisible watermark whose 32-bit payload points to a manifest (e.g. its registry ID).

A C2PA manifest travels in the file's metadata and is lost when a platform strips or
re-encodes the file; the PDQ soft binding survives re-encoding but not crops, and needs a
registry search. This watermark writes a 32-bit number into the pixels themselves, so a
stripped copy names its manifest directly. Its soft-binding algorithm name is
:data:`WATERMARK_ALG`.

Why not a watermarking package: ``invisible-watermark`` (imwatermark) declares torch and
opencv-python as dependencies, and ``blind-watermark`` needs opencv-python (the GUI build,
which needs libGL): neither may enter the serving install, which never imports torch or
OpenCV. The transforms here come from maintained numeric libraries the serving install
already has through imagehash: PyWavelets (the DWT) and scipy.fft (the DCT), with numpy
and Pillow.

How it works (every constant below was chosen by ``bench/watermark_bench.py``):

* **Where.** The luminance Y (ITU-R 601, the Y that JPEG compresses) is resampled by area
  averaging to a 64 x 64 *frame* whatever the image's size or aspect ratio, split by a
  one-level Haar DWT (PyWavelets) whose LL sub-band (32 x 32) is cut into 8 x 8 blocks of
  4 x 4 and transformed by a DCT (scipy.fft). Seven low and middle frequencies of each
  block, (0,1) (1,0) (1,1) (0,2) (2,0) (1,2) (2,1), carry the mark: 448 slots. All of it
  is linear and separable, so it is computed as one small matrix per axis (built from the
  two libraries' transforms); because the frame is tied to the image's edges and not to
  its pixels, a resized copy reads without any search.
* **What.** The payload (32 bits) and a CRC-16 (CCITT) of it, keyed, are encoded by the
  standard rate-1/2 convolutional code of constraint length 7 (generators 171, 133
  octal) into 108 bits; a fixed key-seeded permutation spreads each coded bit over four
  or five slots in different blocks (a repetition across the image).
* **How.** Each slot holds its bit by dither modulation (QIM): the coefficient is moved
  toward the nearest point of a keyed dithered lattice, the lattice of a 1 shifted by half
  a step from that of a 0. The step is 0.33 times the block's mean luminance (read from
  its DCT DC coefficient, which the mark leaves alone; a Weber ratio, held between 48 and
  128 so that dark blocks stay readable and white ones are not scarred), so a brightness
  change that scales the pixels scales the lattice with them. Each coefficient moves
  ``strength`` (0.85) of the way, times 0.5-1 by how busy its block is (distortion-
  compensated QIM with texture masking: the reader needs neither). The residual is the
  least-squares change on the 32 x 32 LL grid that moves the slots and keeps the DCs,
  weighted away from flat and clipped (white or black) places; it is drawn at the image's
  own resolution by linear interpolation, added equally to R, G and B (so only Y
  changes), and corrected over three passes for rounding and clipping.
* **Read.** Soft values (the cosine of each coefficient's phase on the lattice) are
  summed per coded bit and decoded by a soft Viterbi decoder; the payload is returned
  only when the CRC holds, so a wrong read is detected rather than reported as an ID.
  When the whole frame does not decode, the reader searches crops: for each axis it tries
  the image as a centred crop, or a crop from one side, of 0.25 % to 12 % of the marked
  frame in steps of 0.25 % (145 hypotheses per axis, 21,025 pairs, scored in a few
  matrix products); the best-scoring four are decoded and CRC-checked. Off-centre crops
  from both sides of an axis, rotations and flips are not searched.

What it survives and costs, per image size, is in docs/benchmarks.md
(``bench/watermark_bench.py``). In short, at the default strength (PSNR about 40 dB): from
64 px, JPEG q75 and a 10 % crop; from 128 px, also JPEG q50 and a 0.5x resize; brightness
+-10 % except on images that are mostly pure white; 32 px images only through lossless
copies. On smooth gradients and clear skies it shows as a faint mottle if looked for.

The mark is a pointer, not a proof: anyone who can run :func:`embed` can write any number,
so a payload must be looked up and the manifest it names verified (and its soft binding
compared) before it is trusted.
"""

from __future__ import annotations

import binascii
import hashlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image

from provenance.errors import ImageTooSmallError

WATERMARK_ALG = "org.provaudit.dwtdct"
"""The soft-binding algorithm name of this watermark (provaudit's own reverse-domain id)."""

PAYLOAD_BITS = 32
"""Bits of payload: an integer in ``[0, 2**32)``."""

BLOCKS = 8
"""DCT blocks per axis of the LL sub-band."""
BLOCK = 4
"""Side of a DCT block, in LL samples."""
LL_SIDE = BLOCKS * BLOCK
FRAME_SIDE = 2 * LL_SIDE
"""Samples per axis of the frame the image is resampled to (before the one-level DWT)."""

MIN_SIDE = LL_SIDE
"""The smallest width and height that can carry the mark: one pixel per LL sample (32).
It carries it only through lossless copies at that size; see docs/benchmarks.md for what
each size survives."""

FREQUENCIES: tuple[tuple[int, int], ...] = ((0, 1), (1, 0), (1, 1), (0, 2), (2, 0), (1, 2), (2, 1))
"""The (row, column) DCT frequencies of each block that carry the mark."""

STEP = 0.33
"""QIM step as a share of the block's mean luminance (0-255 scale)."""
STEP_FLOOR = 48.0
"""Mean luminance below which a block's step stops shrinking (dark blocks)."""
STEP_CEILING = 128.0
"""Mean luminance above which it stops growing (bright, mostly flat blocks)."""
DEFAULT_STRENGTH = 0.85
"""Default share of the way each coefficient moves to its lattice point."""
MASK_DETAIL = 6.0
"""RMS of a 3x3 high-pass (grey levels) at which a place counts as fully busy."""
MASK_FLOOR = 0.5
"""Share of the way to its lattice point a coefficient of a flat block moves."""
MASK_FLOOR_WEIGHT = 0.5
"""Weight of a flat place in the least-squares residual (a busy one weighs 1)."""
MASK_CLIPPED = 0.5
"""How much less a clipped place (white >= 250 or black <= 5) weighs."""
SATURATED = (5.0, 250.0)
"""Blocks whose mean luminance is outside these bounds are not read."""
"""How much less a clipped place (white >= 250 or black <= 5) weighs."""
EMBED_PASSES = 3

CRC_BITS = 16
CONSTRAINT = 7
GENERATORS = (0o171, 0o133)
INFO_BITS = PAYLOAD_BITS + CRC_BITS
CODED_BITS = (INFO_BITS + CONSTRAINT - 1) * len(GENERATORS)
SLOTS = BLOCKS * BLOCKS * len(FREQUENCIES)

WORK_SIDE = 256
"""Images are area-reduced to at most this long side before they are read: the mark lives
far below that resolution."""
_KEPT = max(p for p, _ in FREQUENCIES) + 1
CROP_STEP = 0.0025
CROP_MAX = 0.12
CROP_CANDIDATES = 4
"""Best-scoring crop hypotheses decoded and CRC-checked (each check risks 2**-16 of a
false read on an unmarked image)."""

_KEY = hashlib.sha256(WATERMARK_ALG.encode() + b"/v1").digest()


@dataclass(frozen=True)
class WatermarkRead:
    """A payload read from an image, its CRC verified."""

    payload: int
    """The 32-bit number written by :func:`embed`."""
    confidence: float
    """Mean agreement of the slots with the decoded code word, in [-1, 1]: 1.0 when every
    coefficient sits on its lattice point; a fresh mark reads 0.6-0.9 (less in flat
    images, which are marked more gently), and it falls with each edit."""
    corrected_bits: int
    """Coded bits (of 108) whose soft value disagreed with the decoded code word."""
    frame: tuple[float, float, float, float]
    """Where this image sits in the marked frame (left, top, right, bottom, as shares):
    (0, 0, 1, 1) for the whole image, else the crop the search found."""


# --- keyed layout -----------------------------------------------------------------------


def _key_words(label: bytes, count: int) -> np.ndarray:
    """``count`` keyed 64-bit words (SHA-256 in counter mode: stable across numpy versions)."""
    stream = bytearray()
    counter = 0
    while len(stream) < 8 * count:
        stream += hashlib.sha256(_KEY + label + counter.to_bytes(4, "big")).digest()
        counter += 1
    return np.frombuffer(bytes(stream[: 8 * count]), dtype=">u8").astype(np.uint64)


@lru_cache(maxsize=1)
def _layout() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Slot -> coded bit (a keyed permutation dealt round-robin), slot dithers in [0, 1),
    and the (slots x coded bits) 0/1 matrix that sums slots into coded bits."""
    order = np.argsort(_key_words(b"permutation", SLOTS), kind="stable")
    bit_of = np.empty(SLOTS, dtype=np.int64)
    bit_of[order] = np.arange(SLOTS) % CODED_BITS
    dither = (_key_words(b"dither", SLOTS) >> np.uint64(11)).astype(np.float64) / 2.0**53
    assign = np.zeros((SLOTS, CODED_BITS))
    assign[np.arange(SLOTS), bit_of] = 1.0
    return bit_of, dither, assign


# --- payload coding ---------------------------------------------------------------------


def _crc(payload: int) -> int:
    return binascii.crc_hqx(_KEY[:4] + payload.to_bytes(4, "big"), 0xFFFF)


def _info_bits(payload: int) -> np.ndarray:
    word = (payload << CRC_BITS) | _crc(payload)
    return np.array([(word >> (INFO_BITS - 1 - i)) & 1 for i in range(INFO_BITS)], np.int64)


def _payload_of(bits: np.ndarray) -> int | None:
    word = 0
    for bit in bits:
        word = (word << 1) | int(bit)
    payload, crc = word >> CRC_BITS, word & ((1 << CRC_BITS) - 1)
    return payload if _crc(payload) == crc else None


@lru_cache(maxsize=1)
def _trellis() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Outputs (states x 2 inputs x rate), and for each next state its two (previous
    state, input) predecessors."""
    states = 1 << (CONSTRAINT - 1)
    outputs = np.zeros((states, 2, len(GENERATORS)), np.int64)
    pred_state = np.zeros((states, 2), np.int64)
    pred_input = np.zeros((states, 2), np.int64)
    filled = np.zeros(states, np.int64)
    for state in range(states):
        for bit in (0, 1):
            register = (bit << (CONSTRAINT - 1)) | state
            for k, generator in enumerate(GENERATORS):
                outputs[state, bit, k] = bin(register & generator).count("1") & 1
            following = register >> 1
            pred_state[following, filled[following]] = state
            pred_input[following, filled[following]] = bit
            filled[following] += 1
    return outputs, pred_state, pred_input


def _encode(info: np.ndarray) -> np.ndarray:
    outputs, _, _ = _trellis()
    state, coded = 0, []
    for bit in [*info.tolist(), *([0] * (CONSTRAINT - 1))]:
        coded.extend(outputs[state, bit].tolist())
        state = ((bit << (CONSTRAINT - 1)) | state) >> 1
    return np.array(coded, np.int64)


def _viterbi(soft: np.ndarray) -> np.ndarray:
    """Maximum-correlation decoding of the terminated code; ``soft`` > 0 leans to a 1."""
    outputs, pred_state, pred_input = _trellis()
    rate = len(GENERATORS)
    signs = 2.0 * outputs - 1.0
    steps = soft.reshape(-1, rate)
    states = np.arange(pred_state.shape[0])
    metric = np.full(states.size, -np.inf)
    metric[0] = 0.0
    back = np.zeros((len(steps), states.size), np.int64)
    for t, received in enumerate(steps):
        branch = signs @ received  # (states, 2)
        candidates = metric[pred_state] + branch[pred_state, pred_input]
        if t >= INFO_BITS:  # the tail: zeros only
            candidates = np.where(pred_input == 1, -np.inf, candidates)
        best = np.argmax(candidates, axis=1)
        metric = candidates[states, best]
        back[t] = pred_state[states, best] * 2 + pred_input[states, best]
    state, bits = 0, []
    for t in range(len(steps) - 1, -1, -1):
        bits.append(int(back[t, state] & 1))
        state = int(back[t, state] >> 1)
    return np.array(bits[::-1][:INFO_BITS], np.int64)


# --- the transform ----------------------------------------------------------------------


@lru_cache(maxsize=1)
def _frame_transform() -> np.ndarray:
    """(LL_SIDE x FRAME_SIDE): one axis of Haar DWT (LL part) then block DCT."""
    import pywt
    import scipy.fft

    low = pywt.dwt(np.eye(FRAME_SIDE), "haar", mode="periodization", axis=0)[0]
    dct = scipy.fft.dct(np.eye(BLOCK), norm="ortho", axis=0)
    return np.kron(np.eye(BLOCKS), dct) @ low


def _area_weights(n: int, samples: int, start: float = 0.0, stop: float = 1.0) -> np.ndarray:
    """(samples x n) area-averaging weights: output sample k averages the interval
    [k/samples, (k+1)/samples] of a frame in which the n input pixels span [start, stop].
    Rows whose interval leaves the pixels are zero."""
    scale = n / (stop - start)
    k = np.arange(samples)
    low = np.maximum((k / samples - start) * scale, 0.0)
    high = np.minimum(((k + 1) / samples - start) * scale, float(n))
    j = np.arange(n)
    weights = np.clip(
        np.minimum(j + 1.0, high[:, None]) - np.maximum(j * 1.0, low[:, None]), 0.0, None
    )
    sums = weights.sum(axis=1, keepdims=True)
    return np.divide(weights, sums, out=np.zeros_like(weights), where=sums > 0)


def _block_validity(samples: int, start: float, stop: float) -> np.ndarray:
    """Which blocks along an axis lie wholly inside the pixels."""
    k = np.arange(samples)
    inside = (k / samples >= start - 1e-9) & ((k + 1) / samples <= stop + 1e-9)
    return inside.reshape(BLOCKS, -1).all(axis=1)


def _work_size(height: int, width: int) -> tuple[int, int]:
    scale = min(1.0, WORK_SIDE / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def _analysis(n: int, n_work: int) -> np.ndarray:
    """(LL_SIDE x n): pixels of one axis -> the block-DCT coefficients of the LL band."""
    operator = _frame_transform() @ _area_weights(n_work, FRAME_SIDE)
    return operator if n_work == n else operator @ _area_weights(n, n_work)


def _interpolation(n: int) -> np.ndarray:
    """(n x LL_SIDE): linear interpolation from the LL samples' centres to the pixels'
    (the residual is drawn smoothly at the image's own resolution)."""
    position = np.clip((np.arange(n) + 0.5) / n * LL_SIDE - 0.5, 0.0, LL_SIDE - 1.0)
    lower = np.floor(position).astype(np.int64)
    upper = np.minimum(lower + 1, LL_SIDE - 1)
    share = position - lower
    weights = np.zeros((n, LL_SIDE))
    np.add.at(weights, (np.arange(n), lower), 1.0 - share)
    np.add.at(weights, (np.arange(n), upper), share)
    return weights


@lru_cache(maxsize=1)
def _constrained() -> tuple[np.ndarray, np.ndarray]:
    """Row and column, in the LL_SIDE x LL_SIDE coefficient grid, of every slot (slot
    order) followed by every block's DC."""
    i, j, f = np.meshgrid(
        np.arange(BLOCKS), np.arange(BLOCKS), np.arange(len(FREQUENCIES)), indexing="ij"
    )
    p = np.array([p for p, _ in FREQUENCIES])[f]
    q = np.array([q for _, q in FREQUENCIES])[f]
    dc_i, dc_j = np.meshgrid(np.arange(BLOCKS), np.arange(BLOCKS), indexing="ij")
    rows = np.concatenate([(i * BLOCK + p).ravel(), (dc_i * BLOCK).ravel()])
    cols = np.concatenate([(j * BLOCK + q).ravel(), (dc_j * BLOCK).ravel()])
    return rows, cols


def _masking(luma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where a change would show, from the luminance at the working size.

    Returns, per LL sample (LL_SIDE x LL_SIDE), the share of the residual it may take: the
    residual is the least-squares one weighted by these, so it goes to busy places (texture
    masking) and keeps off flat and clipped ones (white paper, black borders); and per
    slot, how far toward its lattice point to move before ``strength``: the full way in
    busy blocks, MASK_FLOOR in flat ones. Busyness is the RMS of a 3x3 high-pass over
    MASK_DETAIL. The reader needs neither: the lattice stays the same."""
    from scipy.ndimage import uniform_filter

    height, width = luma.shape
    work_height, work_width = _work_size(height, width)
    if (work_height, work_width) != (height, width):
        luma = _area_weights(height, work_height) @ luma @ _area_weights(width, work_width).T
    detail = (luma - uniform_filter(luma, size=3, mode="nearest")) ** 2
    clipped = ((luma >= 250.0) | (luma <= 5.0)).astype(np.float64)
    rows = _area_weights(work_height, LL_SIDE)
    cols = _area_weights(work_width, LL_SIDE)
    busy = np.minimum(np.sqrt(rows @ detail @ cols.T) / MASK_DETAIL, 1.0)
    clipped_share = rows @ clipped @ cols.T
    weights = (MASK_FLOOR_WEIGHT + (1.0 - MASK_FLOOR_WEIGHT) * busy) * (
        1.0 - MASK_CLIPPED * clipped_share
    )
    block_busy = busy.reshape(BLOCKS, BLOCK, BLOCKS, BLOCK).mean(axis=(1, 3))
    reach = MASK_FLOOR + (1.0 - MASK_FLOOR) * block_busy
    return weights, np.repeat(reach.reshape(-1), len(FREQUENCIES))


def _slots_and_steps(coefficients: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """From (..., LL_SIDE, LL_SIDE) coefficients: slot values (..., SLOTS) in (block row,
    block column, frequency) order, their QIM steps, and whether they are worth reading
    (not in a block saturated white or black, where the mark is clipped away and the
    phases are a fixed pattern)."""
    lead = coefficients.shape[:-2]
    blocks = coefficients.reshape(*lead, BLOCKS, BLOCK, BLOCKS, BLOCK)
    slots = np.stack([blocks[..., :, p, :, q] for p, q in FREQUENCIES], axis=-1)
    mean = blocks[..., :, 0, :, 0, None] / (2 * BLOCK)  # a block's DC = 2 * BLOCK * its mean
    steps = STEP * np.clip(mean, STEP_FLOOR, STEP_CEILING)
    usable = (mean > SATURATED[0]) & (mean < SATURATED[1])
    shape = (*lead, SLOTS)
    return (
        slots.reshape(shape),
        np.broadcast_to(steps, slots.shape).reshape(shape),
        np.broadcast_to(usable, slots.shape).reshape(shape),
    )


def _phase_cosines(slots: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """+1 on a 0's lattice point, -1 on a 1's."""
    _, dither, _ = _layout()
    return np.cos(2.0 * np.pi * (slots / steps - dither))


# --- pixels -----------------------------------------------------------------------------


def _luma(pixels: np.ndarray) -> np.ndarray:
    if pixels.ndim == 2:
        return pixels
    return pixels[..., 0] * 0.299 + pixels[..., 1] * 0.587 + pixels[..., 2] * 0.114


def _carrier(image: Image.Image) -> tuple[Image.Image, Image.Image | None]:
    """The image the mark is written into (L or RGB) and its alpha band, if any."""
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("L", "RGB"):
        return image, None
    if image.mode in ("LA", "RGBA"):
        return image.convert(image.mode[:-1]), image.getchannel("A")
    return image.convert("RGB"), None


def _check_size(image: Image.Image) -> None:
    if image.width < MIN_SIDE or image.height < MIN_SIDE:
        raise ImageTooSmallError(
            f"A {image.width}x{image.height} image is too small to carry a watermark; "
            f"both sides need at least {MIN_SIDE} pixels."
        )


# --- public API -------------------------------------------------------------------------


def embed(image: Image.Image, payload: int, *, strength: float = DEFAULT_STRENGTH) -> Image.Image:
    """A copy of ``image`` carrying ``payload`` (an integer in [0, 2**32)) invisibly.

    ``strength`` in (0, 1] is the share of the way each coefficient moves to its lattice
    point: 1.0 is the most robust (and visible), lower values trade robustness for PSNR.
    The result has the input's mode when it is L, LA, RGB or RGBA (alpha untouched), else
    RGB; save it losslessly (PNG) or as a high-quality JPEG. Deterministic: the same
    pixels and payload always give the same output.
    """
    if isinstance(payload, bool) or not isinstance(payload, (int, np.integer)):
        raise TypeError(f"payload must be an integer, not {type(payload).__name__}")
    payload = int(payload)
    if not 0 <= payload < 1 << PAYLOAD_BITS:
        raise ValueError(f"payload must be in [0, 2**{PAYLOAD_BITS}), not {payload}")
    if not 0.0 < strength <= 1.0:
        raise ValueError(f"strength must be in (0, 1], not {strength}")
    _check_size(image)
    from scipy.linalg import cho_factor, cho_solve

    carrier, alpha = _carrier(image)

    pixels = np.asarray(carrier, dtype=np.float64)
    height, width = pixels.shape[:2]
    work_height, work_width = _work_size(height, width)
    analysis_y, analysis_x = _analysis(height, work_height), _analysis(width, work_width)
    interpolation_y, interpolation_x = _interpolation(height), _interpolation(width)
    weights, reach = _masking(_luma(pixels))
    reach = strength * reach
    # A residual R on the LL grid, drawn at the image's resolution, changes the constrained
    # coefficients by G @ R.ravel(); the weighted least-norm R that makes a change d is
    # W G^T (G W G^T)^-1 d, with W the squared masking weights.
    rows, cols = _constrained()
    lift_y, lift_x = analysis_y @ interpolation_y, analysis_x @ interpolation_x
    effect = (lift_y[rows][:, :, None] * lift_x[cols][:, None, :]).reshape(len(rows), -1)
    allowed = weights.reshape(-1) ** 2
    spread = allowed[:, None] * effect.T
    normal = cho_factor(effect @ spread)

    bit_of, dither, _ = _layout()
    bits = _encode(_info_bits(payload))[bit_of].astype(np.float64)
    first = analysis_y @ _luma(pixels) @ analysis_x.T
    original, _, _ = _slots_and_steps(first)
    original_dc = first[rows[SLOTS:], cols[SLOTS:]]
    out = pixels
    for _ in range(EMBED_PASSES):
        coefficients = analysis_y @ _luma(out) @ analysis_x.T
        current, steps, _ = _slots_and_steps(coefficients)
        # Lattice points from the current steps (rounding and clipping move the block
        # means a little), reached from the original values.
        phase = original / steps - dither - bits / 2.0
        lattice = steps * (np.round(phase) + dither + bits / 2.0)
        target = original + reach * (lattice - original)
        dc = coefficients[rows[SLOTS:], cols[SLOTS:]]
        change = np.concatenate([target - current, original_dc - dc])
        grid = (spread @ cho_solve(normal, change)).reshape(LL_SIDE, LL_SIDE)
        residual = interpolation_y @ grid @ interpolation_x.T
        if out.ndim == 3:
            residual = residual[..., None]
        out = np.clip(np.round(out + residual), 0.0, 255.0)

    marked = Image.fromarray(out.astype(np.uint8), carrier.mode)
    if alpha is not None:
        marked.putalpha(alpha)
    return marked


def read(image: Image.Image, *, search_crops: bool = True) -> WatermarkRead | None:
    """The payload ``image`` carries, or None: no mark, a mark too damaged to decode (its
    CRC fails), or an image smaller than :data:`MIN_SIDE`.

    The whole image is read first (milliseconds); when that fails and ``search_crops`` is
    on, centred and one-sided crops of up to 12 % of each axis are searched (0.2-0.5 s on
    one core, paid by every unmarked image). Any size is read from an area reduction to
    at most 256 px, made a band of rows at a time. At most five CRC checks are made per
    image, so an unmarked one reads as marked with probability below 5 / 65536.
    """
    if image.width < MIN_SIDE or image.height < MIN_SIDE:
        return None
    luma = _work_luma(image)
    whole = _decode_frame(luma, (0.0, 1.0), (0.0, 1.0))
    if whole is not None or not search_crops:
        return whole
    for y_span, x_span in _search_crops(luma):
        found = _decode_frame(luma, y_span, x_span)
        if found is not None:
            return found
    return None


# --- reading ----------------------------------------------------------------------------


def _work_luma(image: Image.Image) -> np.ndarray:
    """The luminance, area-reduced to the working size (never a float copy of a large
    image: rows are reduced a band at a time)."""
    carrier, _alpha = _carrier(image)
    pixels = np.asarray(carrier)
    height, width = pixels.shape[:2]
    work_height, work_width = _work_size(height, width)
    if (work_height, work_width) == (height, width):
        return _luma(pixels.astype(np.float64))
    columns = _area_weights(width, work_width).T
    reduced = np.empty((height, work_width))
    for top in range(0, height, 256):
        reduced[top : top + 256] = _luma(pixels[top : top + 256].astype(np.float64)) @ columns
    return _area_weights(height, work_height) @ reduced


def _axis_operator(n: int, span: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    return (
        _frame_transform() @ _area_weights(n, FRAME_SIDE, *span),
        _block_validity(FRAME_SIDE, *span),
    )


def _soft_bits(
    luma: np.ndarray, y_span: tuple[float, float], x_span: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per coded bit: the sum of the phase cosines of its valid slots (> 0 leans to 1),
    and per slot: its cosine and whether it lies inside the image."""
    operator_y, valid_y = _axis_operator(luma.shape[0], y_span)
    operator_x, valid_x = _axis_operator(luma.shape[1], x_span)
    slots, steps, usable = _slots_and_steps(operator_y @ luma @ operator_x.T)
    cosines = _phase_cosines(slots, steps)
    valid = np.repeat(np.outer(valid_y, valid_x).reshape(-1), len(FREQUENCIES)) & usable
    _, _, assign = _layout()
    return -(cosines * valid) @ assign, cosines, valid


def _decode_frame(
    luma: np.ndarray, y_span: tuple[float, float], x_span: tuple[float, float]
) -> WatermarkRead | None:
    soft, cosines, valid = _soft_bits(luma, y_span, x_span)
    info = _viterbi(soft)
    payload = _payload_of(info)
    if payload is None:
        return None
    bit_of, _, _ = _layout()
    coded = _encode(info)
    agreement = cosines * (1.0 - 2.0 * coded[bit_of])  # +1 where a slot sits on its point
    confidence = float(agreement[valid].mean()) if valid.any() else 0.0
    disagreeing = int(np.count_nonzero((soft != 0) & ((soft > 0) != (coded > 0))))
    return WatermarkRead(
        payload=payload,
        confidence=round(confidence, 4),
        corrected_bits=disagreeing,
        frame=(x_span[0], y_span[0], x_span[1], y_span[1]),
    )


@lru_cache(maxsize=1)
def _crop_spans() -> tuple[tuple[float, float], ...]:
    """Where the image may lie in the marked frame, per axis: whole, a centred crop, or a
    crop from either side, of CROP_STEP .. CROP_MAX of the frame."""
    spans = [(0.0, 1.0)]
    count = round(CROP_MAX / CROP_STEP)
    for k in range(1, count + 1):
        cut = k * CROP_STEP
        spans += [(cut / 2, 1.0 - cut / 2), (0.0, 1.0 - cut), (cut, 1.0)]
    return tuple(spans)


@lru_cache(maxsize=8)
def _search_operators(n: int) -> tuple[np.ndarray, np.ndarray]:
    """For every crop span of an n-pixel axis: the analysis rows the slots use (float32,
    spans x rows x n) and which blocks lie inside the pixels (spans x BLOCKS)."""
    spans = _crop_spans()
    areas = np.stack([_area_weights(n, FRAME_SIDE, *span) for span in spans])
    rows = np.array([b * BLOCK + p for b in range(BLOCKS) for p in range(_KEPT)])
    transform = _frame_transform()[rows]
    # One product for all spans: (rows x FRAME_SIDE) @ (FRAME_SIDE x spans * n).
    operators = transform @ areas.transpose(1, 0, 2).reshape(FRAME_SIDE, -1)
    operators = operators.reshape(len(rows), len(spans), n).transpose(1, 0, 2)
    valid = np.stack([_block_validity(FRAME_SIDE, *span) for span in spans])
    return np.ascontiguousarray(operators, dtype=np.float32), valid


def _search_crops(luma: np.ndarray) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    """The CROP_CANDIDATES (y span, x span) pairs whose slots sit closest to a lattice,
    best first. Score: the coded bits' summed cosines, squared and normalised by what
    noise gives (about 1 for an unmarked image; several for the right crop). Computed in
    float32 from the DCT rows the slots use."""
    height, width = luma.shape
    spans = _crop_spans()
    count = len(spans)
    ops_y, valid_y = _search_operators(height)
    ops_x, valid_x = _search_operators(width)
    projected = luma.astype(np.float32) @ ops_x.reshape(-1, width).T  # (height, count * rows)
    valid_x_blocks = valid_x[None, :, None, :, None]
    bit_of, dither, _ = _layout()
    order = np.argsort(bit_of, kind="stable")
    starts = np.searchsorted(bit_of[order], np.arange(CODED_BITS))
    dither = dither.reshape(BLOCKS, BLOCKS, len(FREQUENCIES)).astype(np.float32)
    scores = np.empty((count, count), np.float32)
    chunk = 8
    for first in range(0, count, chunk):
        span_rows = range(first, min(first + chunk, count))
        stacked_y = ops_y[first : first + len(span_rows)].reshape(-1, height)
        blocks = (stacked_y @ projected).reshape(-1, BLOCKS, _KEPT, count, BLOCKS, _KEPT)
        # -> (y spans, x spans, block row, DCT row, block column, DCT column)
        blocks = blocks.transpose(0, 3, 1, 2, 4, 5)
        slots = np.stack([blocks[..., :, p, :, q] for p, q in FREQUENCIES], axis=-1)
        mean = blocks[..., :, 0, :, 0, None] / (2 * BLOCK)
        steps = STEP * np.clip(mean, STEP_FLOOR, STEP_CEILING)
        valid = (
            valid_y[first : first + len(span_rows), None, :, None, None]
            & valid_x_blocks
            & (mean > SATURATED[0])
            & (mean < SATURATED[1])
        )
        cosines = np.cos((2.0 * np.pi) * (slots / steps - dither)) * valid
        flat = cosines.reshape(len(span_rows), count, SLOTS)[..., order]
        soft = np.add.reduceat(flat, starts, axis=-1)
        slots_valid = np.broadcast_to(valid, cosines.shape).sum(axis=(-3, -2, -1))
        scores[first : first + len(span_rows)] = (soft**2).sum(axis=-1) / np.maximum(
            0.5 * slots_valid, 1.0
        )
    scores[0, 0] = -np.inf  # the whole frame was already tried
    best = np.argsort(scores, axis=None)[::-1][:CROP_CANDIDATES]
    return [(spans[i // count], spans[i % count]) for i in best]
