"""What every kind of render draws with: sizes and formats, licensed fonts, words, colours
and array helpers."""

from __future__ import annotations

import colorsys
import math
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFont

Rgb = tuple[int, int, int]
Point = tuple[float, float]
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont
Renderer = Callable[[np.random.Generator, int, int], np.ndarray]

MIN_SIDE = 96
MAX_SIDE = 640
MAX_ASPECT = 2.0
FORMATS: tuple[str, ...] = ("png", "jpeg", "webp")
# Graphics reach the web mostly as PNG, the rest as JPEG or WebP.
FORMAT_WEIGHTS = {"png": 0.7, "jpeg": 0.15, "webp": 0.15}
EXTENSIONS = {"png": "png", "jpeg": "jpg", "webp": "webp"}
LOG_FILE = "renders.jsonl"
ATTRIBUTION_FILE = "ATTRIBUTION.txt"


_FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"))
DEJAVU_LICENCE = (
    "DejaVu Fonts licence (Bitstream Vera licence, DejaVu changes in the public domain): "
    "free to use, modify and redistribute"
)
OFL_LICENCE = "SIL Open Font License 1.1"
# Only fonts whose licence is known are used, so that ATTRIBUTION.txt can state it.
_FONT_LICENCES = (
    ("DejaVu*.ttf", DEJAVU_LICENCE),
    ("Liberation*.ttf", OFL_LICENCE),
    ("NotoSans-*.ttf", OFL_LICENCE),
    ("NotoSerif-*.ttf", OFL_LICENCE),
    ("NotoSansMono-*.ttf", OFL_LICENCE),
)
PILLOW_FONT = "Pillow ImageFont.load_default(size) (Aileron Regular, embedded in PIL.ImageFont)"
PILLOW_FONT_LICENCE = "CC0 1.0 (Aileron by Sora Sagano, https://dotcolon.net/fonts/aileron)"


@dataclass(frozen=True)
class FontFace:
    name: str  # a font file path, or PILLOW_FONT
    licence: str
    bold: bool = False
    serif: bool = False
    mono: bool = False
    italic: bool = False


@lru_cache(maxsize=1)
def font_faces() -> tuple[FontFace, ...]:
    """Pillow's embedded font, then the known-licence font files of this machine, sorted."""
    paths: dict[Path, str] = {}
    for directory in _FONT_DIRS:
        if directory.is_dir():
            for pattern, licence in _FONT_LICENCES:
                for path in directory.rglob(pattern):
                    # DejaVu Math is a TeX Gyre font with a licence of its own.
                    if "Math" not in path.name:
                        paths.setdefault(path, licence)
    faces = [FontFace(PILLOW_FONT, PILLOW_FONT_LICENCE)]
    for path in sorted(paths):
        stem = path.stem.lower()
        faces.append(
            FontFace(
                str(path),
                paths[path],
                bold="bold" in stem,
                serif="serif" in stem,
                mono="mono" in stem,
                italic="italic" in stem or "oblique" in stem,
            )
        )
    return tuple(faces)


# The fonts an export has drawn with, for its ATTRIBUTION.txt (None outside an export).
_USED_FONTS: ContextVar[set[tuple[str, str]] | None] = ContextVar("_USED_FONTS", default=None)


def _record_font(name: str, licence: str) -> None:
    used = _USED_FONTS.get()
    if used is not None:
        used.add((name, licence))


@lru_cache(maxsize=512)
def _load_font(name: str, size: int) -> Font:
    if name == PILLOW_FONT:
        return ImageFont.load_default(size)
    return ImageFont.truetype(name, size)


def _font(
    rng: np.random.Generator,
    size: float,
    *,
    bold: bool = False,
    serif: bool | None = False,
    mono: bool = False,
) -> Font:
    # One draw whatever fonts are installed, so the rest of the image does not depend on them.
    pick = rng.random()
    faces = [
        face
        for face in font_faces()
        if face.bold == bold
        and face.mono == mono
        and not face.italic
        and (serif is None or face.serif == serif)
    ] or [font_faces()[0]]
    face = faces[int(pick * len(faces))]
    _record_font(face.name, face.licence)
    return _load_font(face.name, max(6, round(size)))


_WORD_TEXT = """
    about access account action active adjust agenda album amount analysis annual answer
    apply archive area asset audio author balance band base basic batch begin benefit
    better board border bridge budget build button cable camera campaign capital card
    carbon career centre change channel chapter check circle city class clear client
    climate cloud coast colour column comment common community company compare complete
    content contract control copy corner cost country course cover create credit culture
    current customer cycle daily data date debate decade design detail develop device
    digital direct display district document domain draft driver early earth economy
    edge edition effect energy engine enter estate event evidence example expert export
    factor family feature field figure file filter final finance focus folder forest
    format forward frame front fund future garden general global goal green group growth
    guide harbour health heart history holiday home house image impact import income
    index input insight island issue item journal kitchen label language large layer
    layout learning letter level library light limit line local market master matter
    measure media meeting member memory method middle minute model module moment monthly
    motion mountain music national native natural network news north notice number
    object office online option order output owner page panel paper partner pattern
    people period phase plan planet policy portal power practice preview price primary
    print private process product profile program project public quality quarter query
    question quick range rate reader record region report research resource result
    review river route sales sample scale school screen search season section sector
    select series service session settings share signal simple single site source space
    speed spring staff stage standard start station status steel step storage store
    story street studio style summary summer supply support surface system table target
    team template test theme theory timeline title today token topic total tower track
    trade traffic training travel trend update upload user valley value version video
    view village vision visual volume water weekly window winter world yearly
    """
_WORDS = tuple(_WORD_TEXT.split())
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _words(rng: np.random.Generator, count: int) -> list[str]:
    return [_WORDS[i] for i in rng.integers(0, len(_WORDS), count)]


def _sentence(rng: np.random.Generator, low: int = 6, high: int = 16) -> str:
    words = _words(rng, int(rng.integers(low, high + 1)))
    if len(words) > 6 and rng.random() < 0.4:
        cut = int(rng.integers(2, len(words) - 2))
        words[cut] += ","
    if rng.random() < 0.15:
        words.insert(int(rng.integers(0, len(words))), str(int(rng.integers(2, 2030))))
    return " ".join(words).capitalize() + ("." if rng.random() < 0.9 else "?")


def _title(rng: np.random.Generator, low: int = 2, high: int = 5) -> str:
    words = _words(rng, int(rng.integers(low, high + 1)))
    case = rng.random()
    if case < 0.5:
        return " ".join(word.capitalize() for word in words)
    if case < 0.65:
        return " ".join(words).upper()
    return " ".join(words).capitalize()


def _wrap(text: str, font: Font, max_width: float) -> list[str]:
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}" if current else word
        if current and font.getlength(candidate) > max_width:
            lines.append(current)
            current = word
        else:
            current = candidate
    if current:
        lines.append(current)
    return lines


def _clip_text(text: str, font: Font, width: float) -> str:
    """Cut ``text`` to ``width``, as a table cell does."""
    while len(text) > 1 and font.getlength(text) > width:
        text = text[:-1]
    return text


def _line_height(font: Font) -> int:
    top, bottom = font.getbbox("Hgjy")[1::2]
    return max(1, round((bottom - top) * 1.3))


def _pick(
    rng: np.random.Generator, options: Sequence[Any], p: Sequence[float] | None = None
) -> Any:
    return options[int(rng.choice(len(options), p=p))]


def _hls(hue: float, lightness: float, saturation: float) -> Rgb:
    red, green, blue = colorsys.hls_to_rgb(
        hue % 1.0, min(max(lightness, 0.0), 1.0), min(max(saturation, 0.0), 1.0)
    )
    return (round(red * 255), round(green * 255), round(blue * 255))


def _palette(rng: np.random.Generator, count: int) -> list[Rgb]:
    """Colours as designers pick them: related hues at a shared saturation and lightness."""
    base = rng.random()
    scheme = int(rng.integers(5))
    if scheme == 0:  # analogous
        hues = base + rng.uniform(-0.08, 0.08, count)
    elif scheme == 1:  # complementary
        hues = base + 0.5 * rng.integers(0, 2, count) + rng.uniform(-0.03, 0.03, count)
    elif scheme == 2:  # triadic
        hues = base + rng.integers(0, 3, count) / 3 + rng.uniform(-0.03, 0.03, count)
    elif scheme == 3:
        hues = rng.random(count)
    else:  # monochrome
        hues = np.full(count, base)
    saturation_range, lightness_range = _pick(
        rng,
        (
            ((0.65, 1.0), (0.4, 0.6)),  # vivid
            ((0.35, 0.7), (0.72, 0.88)),  # pastel
            ((0.12, 0.4), (0.3, 0.7)),  # muted
            ((0.4, 0.9), (0.15, 0.4)),  # dark
        ),
    )
    saturation = rng.uniform(*saturation_range, count)
    lightness = rng.uniform(*lightness_range, count)
    if scheme == 4 or rng.random() < 0.3:
        # A palette with light and dark members, for contrast.
        lightness = np.linspace(0.2, 0.85, count)[rng.permutation(count)]
    return [_hls(h, li, s) for h, li, s in zip(hues, lightness, saturation, strict=True)]


def _luma(colour: Sequence[float]) -> float:
    return 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2]


def _ink(background: Rgb) -> Rgb:
    return (25, 25, 30) if _luma(background) > 140 else (242, 242, 245)


def _mix(a: Rgb, b: Rgb, t: float) -> Rgb:
    return tuple(round(x + (y - x) * t) for x, y in zip(a, b, strict=True))  # type: ignore[return-value]


def _jitter(rng: np.random.Generator, colour: Rgb, amount: float) -> Rgb:
    shifted = np.clip(np.asarray(colour) + rng.normal(0, amount, 3), 0, 255)
    return tuple(int(v) for v in shifted)  # type: ignore[return-value]


def _contrasting(colours: Sequence[Rgb], background: Rgb) -> Rgb:
    return max(colours, key=lambda colour: abs(_luma(colour) - _luma(background)))


def _background(rng: np.random.Generator, palette: Sequence[Rgb]) -> Rgb:
    kind = _pick(rng, ("white", "light", "dark", "colour"), p=(0.3, 0.25, 0.15, 0.3))
    if kind == "white":
        return (255, 255, 255)
    if kind == "light":
        return _hls(rng.random(), rng.uniform(0.9, 0.97), rng.uniform(0.0, 0.5))
    if kind == "dark":
        return _hls(rng.random(), rng.uniform(0.08, 0.2), rng.uniform(0.0, 0.4))
    return _pick(rng, palette)


def _to_uint8(values: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def _coords(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel centres as (y column, x row), scaled so the long side spans [0, 1]."""
    scale = float(max(width, height))
    y = (np.arange(height, dtype=np.float32)[:, None] + 0.5) / scale
    x = (np.arange(width, dtype=np.float32)[None, :] + 0.5) / scale
    return y, x


def _ramp(t: np.ndarray, colours: np.ndarray, positions: np.ndarray | None = None) -> np.ndarray:
    """Map values in [0, 1] through a multi-stop colour ramp: (H, W) -> (H, W, 3) floats."""
    if positions is None:
        positions = np.linspace(0.0, 1.0, len(colours))
    return np.stack([np.interp(t, positions, colours[:, c]) for c in range(3)], axis=-1)


def _normalise(values: np.ndarray) -> np.ndarray:
    low, high = float(values.min()), float(values.max())
    return (values - low) / (high - low) if high > low else np.zeros_like(values)


def _smooth_noise(rng: np.random.Generator, width: int, height: int, cells: float) -> np.ndarray:
    """Value noise: random values on a coarse grid, bicubic-upsampled (one octave)."""
    long_side = max(width, height)
    grid_w = max(2, round(cells * width / long_side)) + 1
    grid_h = max(2, round(cells * height / long_side)) + 1
    grid = rng.random((grid_h, grid_w), dtype=np.float32)
    return np.asarray(Image.fromarray(grid).resize((width, height), Image.Resampling.BICUBIC))


def _fbm(
    rng: np.random.Generator,
    width: int,
    height: int,
    cells: float = 3.0,
    octaves: int = 4,
    persistence: float = 0.5,
) -> np.ndarray:
    """Fractal noise in [0, 1]: octaves of value noise at doubling frequencies."""
    total = np.zeros((height, width), np.float32)
    amplitude = 1.0
    for octave in range(octaves):
        octave_cells = min(cells * 2**octave, max(width, height) / 2)
        total += amplitude * _smooth_noise(rng, width, height, octave_cells)
        amplitude *= persistence
    return _normalise(total)


_BAYER_4 = np.array([[0, 8, 2, 10], [12, 4, 14, 6], [3, 11, 1, 9], [15, 7, 13, 5]]) / 16 - 0.5


def _bayer(width: int, height: int) -> np.ndarray:
    return np.tile(_BAYER_4, (height // 4 + 1, width // 4 + 1))[:height, :width, None]


def _fit(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Crop or pad (with the corner colour) to exactly (height, width, 3)."""
    if image.shape[:2] == (height, width):
        return np.ascontiguousarray(image)
    out = np.empty((height, width, 3), np.uint8)
    out[:] = image[0, 0]
    rows, cols = min(height, image.shape[0]), min(width, image.shape[1])
    out[:rows, :cols] = image[:rows, :cols]
    return out


def _regular_points(centre: Point, radius: float, sides: int, rotation: float) -> list[Point]:
    return [
        (
            centre[0] + radius * math.cos(rotation + 2 * math.pi * i / sides),
            centre[1] + radius * math.sin(rotation + 2 * math.pi * i / sides),
        )
        for i in range(sides)
    ]
