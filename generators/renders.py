"""Human-made negatives: images drawn by ordinary programs, with no generative model.

A real-vs-AI detector that only ever saw camera photos in its real class learns a
shortcut: smooth, flat and colourful means "AI". People make such images every day with
ordinary software (illustrations, vector art, slides, scanned documents, charts,
screenshots, textures, pixel art, diagrams, digital paintings), and the detector then
flags them falsely. This module draws images of those kinds procedurally, with Pillow,
NumPy and matplotlib, so that they can go into the *real* class of a detector data set.

Every kind is one function ``(rng, width, height) -> uint8 array (height, width, 3)`` in
:data:`RENDERERS`. Image ``k`` of an export is a pure function of ``(seed, k)`` and the
list of kinds (its generator is ``np.random.default_rng([seed, k])``), so any range of an
export can be drawn again alone. Files are byte-identical for the same seed on the same
installation: the fonts found on the machine and the builds of Pillow, libjpeg, libwebp
and matplotlib all shape the bytes.

Text is drawn only with fonts whose licence is known (DejaVu, Liberation, Noto under
/usr/share/fonts, Pillow's embedded Aileron, matplotlib's DejaVu Sans); the export's
``ATTRIBUTION.txt`` names every font file it actually used, with its licence.
"""

from __future__ import annotations

import colorsys
import io
import itertools
import json
import math
import textwrap
import time
import warnings
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from provenance.errors import DataError

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

# ---------------------------------------------------------------------------- fonts

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


# ---------------------------------------------------------------------------- words

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


# ---------------------------------------------------------------------------- colours


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


# ---------------------------------------------------------------------------- arrays


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


# ---------------------------------------------------------------------------- gradient


def render_gradient(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Linear, radial, conic, diamond or four-corner gradients, some banded or dithered."""
    stops = int(rng.integers(2, 6))
    colours = np.array(_palette(rng, max(stops, 4)), np.float32)
    if np.ptp(colours[:stops], axis=0).max() < 60:
        # Near-identical stops make a flat fill, not a gradient: push the last one away.
        lift = 100.0 if _luma(colours[0]) < 128 else -100.0
        colours[stops - 1] = np.clip(colours[0] + lift, 0, 255)
    ramp_colours = colours[:stops]
    ramp_positions = np.concatenate(([0.0], np.sort(rng.random(stops - 2)), [1.0]))
    y, x = _coords(width, height)
    centre_x, centre_y = rng.uniform(-0.1, 1.1, 2) * (width, height) / max(width, height)
    shape = _pick(
        rng, ("linear", "radial", "conic", "diamond", "corners"), p=(0.45, 0.25, 0.1, 0.08, 0.12)
    )
    if shape == "linear":
        angle = rng.integers(0, 8) * math.pi / 4 if rng.random() < 0.5 else rng.uniform(0, 7)
        t = _normalise(x * math.cos(angle) + y * math.sin(angle))
    elif shape == "radial":
        stretch = rng.uniform(0.6, 1.6)
        distance = np.hypot((x - centre_x) * stretch, (y - centre_y) / stretch)
        # The radius is relative to the farthest pixel, so the ramp always shows.
        t = distance / (float(distance.max()) * rng.uniform(0.5, 1.1))
    elif shape == "conic":
        t = (np.arctan2(y - centre_y, x - centre_x) / (2 * math.pi) + rng.random()) % 1.0
        # Seamless all round: the ramp ends on the colour it starts with.
        ramp_colours = np.concatenate([colours[:stops], colours[:1]])
        ramp_positions = np.linspace(0.0, 1.0, stops + 1)
    elif shape == "diamond":
        distance = np.abs(x - centre_x) + np.abs(y - centre_y)
        t = distance / (float(distance.max()) * rng.uniform(0.5, 1.1))
    else:
        t = None
    if t is not None:
        if rng.random() < 0.15:
            # Repeating and reflecting gradients, as design tools offer them.
            t = np.abs((t * rng.integers(2, 6)) % 2.0 - 1.0)
        t = np.clip(t, 0.0, 1.0)
        levels = int(rng.integers(6, 33)) if rng.random() < 0.3 else 0
        if levels:
            t = np.floor(t * levels) / (levels - 1)
        image = _ramp(t, ramp_colours, ramp_positions)
    else:
        u = (x / x.max())[..., None]
        v = (y / y.max())[..., None]
        top = colours[0] * (1 - u) + colours[1] * u
        bottom = colours[2] * (1 - u) + colours[3] * u
        image = top * (1 - v) + bottom * v
    image = np.broadcast_to(image, (height, width, 3)).astype(np.float32)
    # Dither as image editors apply it against banding: a level or two of noise, the same
    # in every channel. Ordered (Bayer) dithering per channel is left out: its periodic
    # colour pattern is the very trace upsampling generators leave, and it is rare in
    # images people publish today.
    if rng.random() < 0.4:
        noise = rng.uniform(-1.0, 1.0, (height, width, 1)).astype(np.float32)
        image = image + noise * rng.uniform(1, 3)
    return _to_uint8(image)


# ---------------------------------------------------------------------------- vector


def _regular_points(centre: Point, radius: float, sides: int, rotation: float) -> list[Point]:
    return [
        (
            centre[0] + radius * math.cos(rotation + 2 * math.pi * i / sides),
            centre[1] + radius * math.sin(rotation + 2 * math.pi * i / sides),
        )
        for i in range(sides)
    ]


def _star_points(centre: Point, radius: float, tips: int, inner: float, rotation: float) -> list:
    points = []
    for i in range(2 * tips):
        r = radius if i % 2 == 0 else radius * inner
        angle = rotation + math.pi * i / tips
        points.append((centre[0] + r * math.cos(angle), centre[1] + r * math.sin(angle)))
    return points


_SHAPES = ("circle", "ellipse", "rect", "rounded", "polygon", "star", "triangle", "ring", "pie")


def _draw_shape(
    draw: ImageDraw.ImageDraw,
    rng: np.random.Generator,
    shape: str,
    centre: Point,
    radius: float,
    fill: tuple[int, ...] | None,
    outline: Rgb | None,
    line_width: int,
) -> None:
    cx, cy = centre
    rotation = rng.uniform(0, 2 * math.pi)
    aspect = rng.uniform(0.4, 1.0)
    box = [cx - radius, cy - radius * aspect, cx + radius, cy + radius * aspect]
    if shape == "circle":
        draw.ellipse(
            [cx - radius, cy - radius, cx + radius, cy + radius], fill, outline, line_width
        )
    elif shape == "ellipse":
        draw.ellipse(box, fill, outline, line_width)
    elif shape == "rect":
        draw.rectangle(box, fill, outline, line_width)
    elif shape == "rounded":
        corner = radius * aspect * rng.uniform(0.15, 0.9)
        draw.rounded_rectangle(box, corner, fill, outline, line_width)
    elif shape == "polygon":
        sides = int(rng.integers(5, 9))
        if rng.random() < 0.5:
            points = _regular_points(centre, radius, sides, rotation)
        else:
            angles = np.sort(rng.uniform(0, 2 * math.pi, sides))
            radii = radius * rng.uniform(0.6, 1.0, sides)
            points = [
                (cx + r * math.cos(a), cy + r * math.sin(a))
                for a, r in zip(angles, radii, strict=True)
            ]
        draw.polygon(points, fill, outline, line_width)
    elif shape == "star":
        tips = int(rng.integers(4, 9))
        points = _star_points(centre, radius, tips, rng.uniform(0.35, 0.6), rotation)
        draw.polygon(points, fill, outline, line_width)
    elif shape == "triangle":
        draw.polygon(_regular_points(centre, radius, 3, rotation), fill, outline, line_width)
    elif shape == "ring":
        ring = max(2, round(radius * rng.uniform(0.1, 0.4)))
        colour = fill if fill is not None else outline
        draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], None, colour, ring)
    else:
        start = rng.uniform(0, 360)
        draw.pieslice(
            [cx - radius, cy - radius, cx + radius, cy + radius],
            start,
            start + rng.uniform(60, 320),
            fill,
            outline,
            line_width,
        )


def render_vector(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Flat-colour vector art, aliased at 1x or anti-aliased by drawing at 2x/4x."""
    scale = int(_pick(rng, (1, 2, 4), p=(0.35, 0.15, 0.5)))
    big_w, big_h = width * scale, height * scale
    palette = _palette(rng, int(rng.integers(3, 8)))
    if rng.random() < 0.2:
        ground = Image.fromarray(render_gradient(rng, width, height))
        canvas = ground.resize((big_w, big_h), Image.Resampling.BILINEAR)
    else:
        canvas = Image.new("RGB", (big_w, big_h), _background(rng, palette))
    draw = ImageDraw.Draw(canvas, "RGBA")
    outline_kind = _pick(rng, ("none", "dark", "light", "colour"), p=(0.5, 0.25, 0.1, 0.15))
    outline_colour = {
        "none": None,
        "dark": _hls(rng.random(), 0.12, 0.3),
        "light": (255, 255, 255),
        "colour": _pick(rng, palette),
    }[outline_kind]
    line_width = max(1, round(rng.uniform(0.6, 4.0) * scale))
    unit = min(big_w, big_h)
    shadow = rng.random() < 0.2
    shadow_offset = unit * rng.uniform(0.01, 0.04)
    translucent = rng.random() < 0.25
    if rng.random() < 0.25:
        # A repeated motif: icons on a grid, wallpaper, a pattern swatch.
        shape = _pick(rng, _SHAPES)
        step = unit * rng.uniform(0.12, 0.35)
        radius = step * rng.uniform(0.25, 0.45)
        placements = [
            (
                col * step + step / 2,
                row * step + step / 2,
                radius,
                palette[(row + col) % len(palette)],
            )
            for row in range(int(big_h / step) + 1)
            for col in range(int(big_w / step) + 1)
        ]
        shapes = [shape] * len(placements)
    else:
        count = int(rng.integers(3, 26))
        shapes = [_pick(rng, _SHAPES) for _ in range(count)]
        placements = [
            (
                rng.uniform(-0.1, 1.1) * big_w,
                rng.uniform(-0.1, 1.1) * big_h,
                unit * rng.uniform(0.04, 0.35),
                _pick(rng, palette),
            )
            for _ in range(count)
        ]
    for shape, (cx, cy, radius, colour) in zip(shapes, placements, strict=True):
        alpha = int(rng.integers(110, 231)) if translucent else 255
        # The shadow is the same shape, hence the same generator for both.
        form = int(rng.integers(1 << 62))
        if shadow:
            offset = (cx + shadow_offset, cy + shadow_offset)
            shade = (0, 0, 0, 70)
            _draw_shape(draw, np.random.default_rng(form), shape, offset, radius, shade, None, 1)
        fill = (*colour, alpha)
        _draw_shape(
            draw,
            np.random.default_rng(form),
            shape,
            (cx, cy),
            radius,
            fill,
            outline_colour,
            line_width,
        )
    if scale > 1:
        canvas = canvas.reduce(scale)
    return np.asarray(canvas)


# ---------------------------------------------------------------------------- text


def render_text(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Slides, posters and title cards: a title, then bullets, a paragraph or a figure."""
    palette = _palette(rng, 5)
    if rng.random() < 0.2:
        canvas = Image.fromarray(render_gradient(rng, width, height))
        background = tuple(int(v) for v in np.asarray(canvas).reshape(-1, 3).mean(axis=0))
    else:
        background = _background(rng, palette)
        canvas = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(canvas, "RGBA")
    ink = _ink(background)
    accent = _contrasting(palette, background)
    margin = round(min(width, height) * rng.uniform(0.04, 0.1))
    inner = width - 2 * margin
    centred = rng.random() < 0.4
    title_px = float(np.clip(height * rng.uniform(0.06, 0.14), 9, 72))
    body_px = float(np.clip(title_px * rng.uniform(0.4, 0.65), 7, 36))
    title_font = _font(rng, title_px, bold=rng.random() < 0.7, serif=rng.random() < 0.25)
    body_font = _font(rng, body_px, serif=rng.random() < 0.2)
    small_font = _font(rng, max(7.0, body_px * 0.75))
    x_anchor = width / 2 if centred else margin
    anchor = "ma" if centred else "la"

    def text_line(y: float, text: str, font: Font, colour: Rgb) -> float:
        draw.text((x_anchor, y), text, fill=colour, font=font, anchor=anchor)
        return y + _line_height(font)

    y = float(margin)
    banded = rng.random() < 0.3
    title_lines = _wrap(_title(rng, 2, 6), title_font, inner)[:2]
    if banded:
        band = 1.6 * margin + len(title_lines) * _line_height(title_font)
        draw.rectangle([0, 0, width, band], fill=accent)
    for line in title_lines:
        y = text_line(y, line, title_font, _ink(accent) if banded else ink)
    if banded:
        y = band
    if rng.random() < 0.5:
        y += _line_height(body_font) * 0.3
        for line in _wrap(_sentence(rng, 4, 9), body_font, inner)[:2]:
            y = text_line(y, line, body_font, ink if banded else accent)
    if rng.random() < 0.4 and not centred:
        y += 4
        draw.rectangle([margin, y, margin + inner * rng.uniform(0.15, 1.0), y + 2], fill=accent)
    y += _line_height(body_font) * 0.8
    bottom = height - margin
    body = _pick(rng, ("bullets", "paragraph", "figure"), p=(0.45, 0.35, 0.2))
    if body == "bullets":
        line_h = _line_height(body_font)
        bullet = line_h * 0.2
        square = rng.random() < 0.3
        for _ in range(int(rng.integers(2, 7))):
            lines = _wrap(_sentence(rng, 3, 10), body_font, inner - 3 * bullet)
            if y + line_h > bottom:
                break
            cx, cy = margin + bullet, y + line_h * 0.45
            dot = [cx - bullet, cy - bullet, cx + bullet, cy + bullet]
            (draw.rectangle if square else draw.ellipse)(dot, fill=accent)
            for line in lines:
                if y + line_h > bottom:
                    break
                draw.text((margin + 3.5 * bullet, y), line, fill=ink, font=body_font)
                y += line_h
            y += line_h * 0.3
    elif body == "paragraph":
        text = " ".join(_sentence(rng) for _ in range(int(rng.integers(2, 9))))
        for line in _wrap(text, body_font, inner):
            if y + _line_height(body_font) > bottom:
                break
            y = text_line(y, line, body_font, ink)
    else:
        figure = _pick(rng, ("{}%", "${}M", "{}x", "{}k", "+{}"))
        value = figure.format(int(rng.integers(2, 100)))
        # Bold digits are about 0.75 em wide: the figure fits the width.
        big_px = min(title_px * 2.2, (bottom - y) * 0.6, inner / (0.75 * len(value)))
        big = _font(rng, big_px, bold=True)
        if y + _line_height(big) <= bottom:
            y = text_line(y, value, big, accent)
            for line in _wrap(_sentence(rng, 3, 6), body_font, inner):
                if y + _line_height(body_font) > bottom:
                    break
                y = text_line(y, line, body_font, ink)
    if rng.random() < 0.4:
        footer = _pick(
            rng,
            (
                f"{int(rng.integers(1, 30))} / {int(rng.integers(30, 60))}",
                f"www.{_words(rng, 1)[0]}.org",
                f"{int(rng.integers(1, 29))} {_pick(rng, _MONTHS)} {int(rng.integers(1995, 2026))}",
            ),
        )
        if small_font.getlength(footer) <= inner:
            draw.text((width - margin, height - margin / 2), footer, ink, small_font, anchor="rd")
    return np.asarray(canvas)


# ---------------------------------------------------------------------------- document


def _justify(
    draw: ImageDraw.ImageDraw, x: float, y: float, line: str, font: Font, width: float, ink: Rgb
) -> None:
    words = line.split()
    if len(words) < 2:
        draw.text((x, y), line, ink, font)
        return
    widths = [font.getlength(word) for word in words]
    gap = (width - sum(widths)) / (len(words) - 1)
    for word, word_width in zip(words, widths, strict=True):
        draw.text((x, y), word, ink, font)
        x += word_width + gap


def _scan(
    rng: np.random.Generator, page: Image.Image, pad: int, width: int, height: int
) -> np.ndarray:
    """What a flatbed scanner and its software do to a printed page."""
    bed = tuple([int(rng.integers(30, 90))] * 3) if rng.random() < 0.5 else (250, 250, 250)
    angle = float(np.clip(rng.normal(0, 0.8), -2.5, 2.5))
    page = page.rotate(angle, Image.Resampling.BICUBIC, fillcolor=bed)
    left = top = pad
    if rng.random() < 0.3:
        # A page edge and a strip of scanner bed in view.
        left += int(rng.integers(-pad, pad + 1))
        top += int(rng.integers(-pad, pad + 1))
    page = page.crop((left, top, left + width, top + height))
    if rng.random() < 0.7:
        page = page.filter(ImageFilter.GaussianBlur(rng.uniform(0.25, 0.8)))
    pixels = np.asarray(page, np.float32)
    light = 1.0 - rng.uniform(0.0, 0.08) * _smooth_noise(rng, width, height, 2)
    noise = rng.normal(0, rng.uniform(1.0, 4.5), (height, width, 1)).astype(np.float32)
    pixels = pixels * light[..., None] + noise
    if rng.random() < 0.45:
        pixels = np.repeat(pixels.mean(axis=2, keepdims=True), 3, axis=2)
    scanned = Image.fromarray(_to_uint8(pixels))
    if rng.random() < 0.5:
        buffer = io.BytesIO()
        scanned.save(buffer, "JPEG", quality=int(rng.integers(35, 76)))
        scanned = Image.open(buffer).convert("RGB")
    return np.asarray(scanned)


def render_document(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A scanned printed page: headings, justified paragraphs, tables, slightly askew."""
    pad = round(max(width, height) * 0.05)
    page_w, page_h = width + 2 * pad, height + 2 * pad
    tone = int(rng.integers(236, 254))
    paper = (tone, tone - int(rng.integers(0, 5)), tone - int(rng.integers(0, 14)))
    shade = int(rng.integers(5, 60))
    ink = (shade, shade, shade + int(rng.integers(0, 20)))
    page = Image.new("RGB", (page_w, page_h), paper)
    draw = ImageDraw.Draw(page)
    text_px = float(np.clip(page_h / rng.uniform(32, 62), 6, 16))
    serif = rng.random() < 0.6
    body = _font(rng, text_px, serif=serif)
    bold = _font(rng, text_px * rng.uniform(1.3, 2.0), bold=True, serif=serif)
    line_h = _line_height(body) * rng.uniform(1.0, 1.25)
    margin = pad + round(page_w * rng.uniform(0.06, 0.13))
    columns = 2 if page_w > 320 and rng.random() < 0.25 else 1
    gutter = round(page_w * 0.04)
    column_w = (page_w - 2 * margin - gutter * (columns - 1)) / columns
    y = float(pad + round(page_h * rng.uniform(0.04, 0.1)))
    if rng.random() < 0.3:
        date = f"{int(rng.integers(1, 29))} {_pick(rng, _MONTHS)} {int(rng.integers(1960, 2026))}"
        draw.text((page_w - margin, y), date, ink, body, anchor="ra")
        y += line_h * 2
    heading = _title(rng, 2, 7)
    for line in _wrap(heading, bold, page_w - 2 * margin)[:2]:
        if rng.random() < 0.4:
            draw.text((page_w / 2, y), line, ink, bold, anchor="ma")
        else:
            draw.text((margin, y), line, ink, bold)
        y += _line_height(bold)
    y += line_h * 0.6
    justified = rng.random() < 0.6
    indent = text_px * 2 if rng.random() < 0.5 else 0.0
    bottom = page_h - pad - page_h * 0.08
    column_top = y
    for column in range(columns):
        x = margin + column * (column_w + gutter)
        y = column_top
        while y + line_h < bottom:
            block = _pick(rng, ("paragraph", "table", "list", "subheading"), p=(0.7, 0.1, 0.1, 0.1))
            if block == "paragraph":
                text = " ".join(_sentence(rng) for _ in range(int(rng.integers(2, 6))))
                lines = _wrap(text, body, column_w - indent)
                lines = lines[:1] + _wrap(" ".join(lines[1:]), body, column_w)
                for i, line in enumerate(lines):
                    if y + line_h > bottom:
                        break
                    offset = indent if i == 0 else 0.0
                    if justified and i < len(lines) - 1:
                        _justify(draw, x + offset, y, line, body, column_w - offset, ink)
                    else:
                        draw.text((x + offset, y), line, ink, body)
                    y += line_h
                y += line_h * (0.5 if indent == 0 else 0.0)
            elif block == "subheading":
                y += line_h * 0.4
                draw.text((x, y), _title(rng, 1, 4), ink, _font(rng, text_px * 1.15, bold=True))
                y += line_h * 1.3
            elif block == "list":
                for number in range(1, int(rng.integers(3, 6))):
                    if y + line_h > bottom:
                        break
                    line = _wrap(_sentence(rng, 3, 8), body, column_w - text_px * 2)[0]
                    draw.text((x, y), f"{number}.", ink, body)
                    draw.text((x + text_px * 2, y), line, ink, body)
                    y += line_h
                y += line_h * 0.5
            else:
                cols = int(rng.integers(2, 5))
                rows = int(rng.integers(3, 8))
                cell_w = column_w / cols
                draw.line([(x, y), (x + column_w, y)], ink, 1)
                for row in range(rows):
                    if y + line_h * 1.2 > bottom:
                        break
                    for col in range(cols):
                        if row == 0:
                            cell = _words(rng, 1)[0].capitalize()
                        elif col == 0:
                            cell = _words(rng, 1)[0]
                        else:
                            cell = f"{rng.uniform(0, 1000):.{int(rng.integers(0, 3))}f}"
                        cell = _clip_text(cell, body, cell_w - 4)
                        draw.text((x + col * cell_w + 2, y + 2), cell, ink, body)
                    y += line_h * 1.2
                    if row == 0 or rng.random() < 0.3:
                        draw.line([(x, y), (x + column_w, y)], ink, 1)
                draw.line([(x, y), (x + column_w, y)], ink, 1)
                y += line_h * 0.8
    if rng.random() < 0.6:
        number = str(int(rng.integers(1, 300)))
        draw.text((page_w / 2, page_h - pad - page_h * 0.04), number, ink, body, anchor="ma")
    return _scan(rng, page, pad, width, height)


# ---------------------------------------------------------------------------- chart

_CHART_STYLES = (
    "default",
    "classic",
    "ggplot",
    "bmh",
    "fivethirtyeight",
    "seaborn-v0_8-whitegrid",
    "seaborn-v0_8-darkgrid",
    "seaborn-v0_8-pastel",
    "seaborn-v0_8-muted",
    "dark_background",
    "grayscale",
    "Solarize_Light2",
    "tableau-colorblind10",
)
_CHART_DPIS = (48, 64, 72, 80, 96, 100, 120)
MATPLOTLIB_MISSING = (
    "The chart kind needs matplotlib, which is not installed: pip install 'provaudit[train]'."
)


def matplotlib_available() -> bool:
    return find_spec("matplotlib") is not None


def _categories(rng: np.random.Generator, count: int) -> list[str]:
    kind = _pick(rng, ("months", "quarters", "years", "words"))
    if kind == "months":
        start = int(rng.integers(0, 12))
        return [_MONTHS[(start + i) % 12] for i in range(count)]
    if kind == "quarters":
        year = int(rng.integers(15, 26))
        return [f"Q{i % 4 + 1} {year + i // 4}" for i in range(count)]
    if kind == "years":
        start = int(rng.integers(1990, 2020))
        return [str(start + i) for i in range(count)]
    return [word.capitalize() for word in _words(rng, count)]


def _chart_bars(rng: np.random.Generator, axes: Any) -> float:
    count = int(rng.integers(3, 9))
    labels = _categories(rng, count)
    series = int(rng.integers(1, 4))
    values = rng.gamma(2.5, 10.0, (series, count)) * 10.0 ** int(rng.integers(0, 3))
    horizontal = rng.random() < 0.3
    stacked = series > 1 and rng.random() < 0.4
    positions = np.arange(count)
    thickness = 0.8 if stacked or series == 1 else 0.8 / series
    base = np.zeros(count)
    names = [word.capitalize() for word in _words(rng, series)]
    for index in range(series):
        offset = 0.0 if stacked or series == 1 else (index - (series - 1) / 2) * thickness
        if horizontal:
            bars = axes.barh(
                positions + offset, values[index], thickness, left=base, label=names[index]
            )
        else:
            bars = axes.bar(
                positions + offset, values[index], thickness, bottom=base, label=names[index]
            )
        if stacked:
            base = base + values[index]
        if series == 1 and rng.random() < 0.4:
            axes.bar_label(bars, fmt="%.0f", fontsize="small")
    if horizontal:
        axes.set_yticks(positions, labels)
    else:
        axes.set_xticks(positions, labels, rotation=int(_pick(rng, (0, 0, 30, 45))))
    if series > 1:
        axes.legend(fontsize="small")
    axes.set_ylabel("" if horizontal else _words(rng, 1)[0].capitalize())
    return 7.0 if horizontal else 5.0


def _chart_lines(rng: np.random.Generator, axes: Any) -> float:
    count = int(rng.integers(8, 60))
    x = np.arange(count) + (int(rng.integers(1990, 2015)) if rng.random() < 0.5 else 0)
    series = int(rng.integers(1, 5))
    area = rng.random() < 0.25
    marker = _pick(rng, (None, None, "o", "s", "^", "."))
    for name in _words(rng, series):
        shape = _pick(rng, ("walk", "trend", "season"))
        if shape == "walk":
            y = 50 + np.cumsum(rng.normal(0, 3, count))
        elif shape == "trend":
            y = rng.uniform(5, 20) * np.exp(np.linspace(0, rng.uniform(0.3, 2.0), count))
            y = y + rng.normal(0, y.std() * 0.1 + 0.1, count)
        else:
            phase = rng.uniform(0, 2 * math.pi)
            y = 40 + 15 * np.sin(np.linspace(0, rng.uniform(2, 12), count) + phase)
            y = y + rng.normal(0, 2, count)
        axes.plot(x, y, marker=marker, label=name.capitalize(), markersize=4)
        if area:
            axes.fill_between(x, y, y.min() - abs(y.min()) * 0.1, alpha=0.25)
    if series > 1 or rng.random() < 0.3:
        axes.legend(fontsize="small", loc=_pick(rng, ("best", "upper left", "lower right")))
    axes.set_xlabel(_words(rng, 1)[0].capitalize())
    axes.set_ylabel(_words(rng, 1)[0].capitalize())
    return 5.5


def _chart_scatter(rng: np.random.Generator, axes: Any) -> float:
    clusters = int(rng.integers(1, 5))
    for name in _words(rng, clusters):
        count = int(rng.integers(20, 200))
        centre = rng.normal(0, 3, 2)
        spread = rng.uniform(0.3, 1.5, 2)
        correlation = rng.uniform(-0.9, 0.9)
        points = rng.normal(0, 1, (count, 2))
        points[:, 1] = correlation * points[:, 0] + math.sqrt(1 - correlation**2) * points[:, 1]
        points = centre + points * spread
        sizes = rng.uniform(5, 60, count) if rng.random() < 0.3 else 14
        axes.scatter(points[:, 0], points[:, 1], s=sizes, alpha=rng.uniform(0.4, 1.0), label=name)
    if clusters > 1:
        axes.legend(fontsize="small")
    axes.set_xlabel(_words(rng, 1)[0].capitalize())
    axes.set_ylabel(_words(rng, 1)[0].capitalize())
    return 5.5


def _chart_pie(rng: np.random.Generator, axes: Any) -> float:
    count = int(rng.integers(3, 8))
    shares = rng.dirichlet(np.full(count, rng.uniform(0.8, 4.0)))
    labels = [word.capitalize() for word in _words(rng, count)]
    wedge = {"width": rng.uniform(0.3, 0.6)} if rng.random() < 0.35 else None
    explode = [0.08 if i == 0 and rng.random() < 0.3 else 0.0 for i in range(count)]
    axes.pie(
        shares,
        labels=labels if rng.random() < 0.7 else None,
        autopct="%1.0f%%" if rng.random() < 0.5 else None,
        startangle=float(rng.uniform(0, 360)),
        wedgeprops=wedge,
        explode=explode,
        textprops={"fontsize": "small"},
    )
    axes.set_aspect("equal")
    return 1.2


def _chart_histogram(rng: np.random.Generator, axes: Any) -> float:
    overlays = int(rng.integers(1, 3))
    bins = int(rng.integers(8, 40))
    for name in _words(rng, overlays):
        count = int(rng.integers(200, 2000))
        shape = _pick(rng, ("normal", "lognormal", "bimodal"))
        if shape == "normal":
            data = rng.normal(rng.uniform(-5, 5), rng.uniform(0.5, 3), count)
        elif shape == "lognormal":
            data = rng.lognormal(rng.uniform(0, 2), rng.uniform(0.2, 0.7), count)
        else:
            data = np.concatenate(
                [rng.normal(-2, 1, count // 2), rng.normal(rng.uniform(1, 4), 1, count // 2)]
            )
        axes.hist(
            data,
            bins=bins,
            alpha=0.6 if overlays > 1 else 1.0,
            label=name.capitalize(),
            edgecolor="white" if rng.random() < 0.5 else None,
            density=overlays > 1,
        )
        if rng.random() < 0.3:
            axes.axvline(float(np.mean(data)), color="black", linestyle="--", linewidth=1)
    if overlays > 1:
        axes.legend(fontsize="small")
    axes.set_xlabel(_words(rng, 1)[0].capitalize())
    axes.set_ylabel(_pick(rng, ("Count", "Frequency", "Density")))
    return 5.5


_CHART_PLOTS: dict[str, Callable[[np.random.Generator, Any], float]] = {
    "bar": _chart_bars,
    "line": _chart_lines,
    "scatter": _chart_scatter,
    "pie": _chart_pie,
    "histogram": _chart_histogram,
}


def render_chart(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A matplotlib chart (bar, line, scatter, pie, histogram) in a random built-in style."""
    try:
        from matplotlib import font_manager, rc_context, style
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise DataError(MATPLOTLIB_MISSING) from exc

    style_name = _pick(rng, _CHART_STYLES)
    if style_name != "default" and style_name not in style.available:
        style_name = "default"
    dpi = float(_pick(rng, _CHART_DPIS))
    font_px = float(np.clip(min(width, height) / rng.uniform(22, 36), 6, 15))
    plot_name = _pick(rng, tuple(_CHART_PLOTS))
    settings = {
        "font.family": "DejaVu Sans",
        "font.size": font_px * 72 / dpi,
        "axes.titlesize": "large",
        "axes.labelsize": "medium",
        "lines.linewidth": rng.uniform(1.0, 2.5) * 72 / dpi,
        "axes.grid": bool(rng.random() < 0.5) or None,
    }
    settings = {key: value for key, value in settings.items() if value is not None}
    with style.context(["default", style_name]), rc_context(settings):
        figure = Figure(figsize=((width + 0.5) / dpi, (height + 0.5) / dpi), dpi=dpi)
        canvas = FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        left = _CHART_PLOTS[plot_name](rng, axes)
        title_lines = 0
        if rng.random() < 0.8:
            # Titles are 1.2 font heights tall and their characters about 0.6 wide.
            per_line = max(10, int(width / (font_px * 1.2 * 0.62)))
            title = textwrap.wrap(_title(rng, 2, 5), per_line)[:2]
            axes.set_title("\n".join(title))
            title_lines = len(title)
        if plot_name != "pie" and rng.random() < 0.4:
            axes.spines[["top", "right"]].set_visible(False)
        figure.subplots_adjust(
            left=min(0.4, font_px * left / width),
            right=1 - min(0.2, font_px * 1.2 / width),
            bottom=min(0.35, font_px * 3.6 / height),
            top=1 - min(0.35, font_px * (1.0 + 1.5 * title_lines) / height),
        )
        canvas.draw()
        pixels = np.asarray(canvas.buffer_rgba())[..., :3]
        _record_font(font_manager.findfont("DejaVu Sans"), DEJAVU_LICENCE)
    return _fit(pixels, width, height)


# ---------------------------------------------------------------------------- ui


@dataclass
class _Theme:
    window: Rgb
    panel: Rgb
    field: Rgb
    text: Rgb
    muted: Rgb
    border: Rgb
    accent: Rgb
    selection: Rgb


def _ui_theme(rng: np.random.Generator) -> _Theme:
    accent = _hls(rng.random(), rng.uniform(0.4, 0.55), rng.uniform(0.55, 0.9))
    if rng.random() < 0.3:
        base = int(rng.integers(28, 48))
        return _Theme(
            window=(base, base, base + 3),
            panel=(base + 12, base + 12, base + 15),
            field=(base - 10, base - 10, base - 8),
            text=(230, 230, 232),
            muted=(150, 150, 155),
            border=(base + 35, base + 35, base + 38),
            accent=accent,
            selection=_mix((base, base, base), accent, 0.45),
        )
    base = int(rng.integers(236, 251))
    return _Theme(
        window=(base, base, base + min(4, 255 - base)),
        panel=(255, 255, 255) if rng.random() < 0.5 else (base - 12, base - 12, base - 10),
        field=(255, 255, 255),
        text=(int(rng.integers(15, 45)),) * 3,
        muted=(int(rng.integers(105, 135)),) * 3,
        border=(int(rng.integers(185, 215)),) * 3,
        accent=accent,
        selection=_mix((255, 255, 255), accent, 0.25),
    )


class _UiPainter:
    """Widgets of a flat-design desktop or web app, laid out in rows."""

    def __init__(
        self, draw: ImageDraw.ImageDraw, rng: np.random.Generator, theme: _Theme, size: int
    ) -> None:
        self.draw = draw
        self.rng = rng
        self.theme = theme
        self.size = size
        self.font = _font(rng, size)
        self.bold = _font(rng, size, bold=True)
        self.small = _font(rng, max(7, size * 0.85))
        self.radius = int(_pick(rng, (0, 2, 4, 6))) * max(1, size // 12)

    def text(
        self, xy: Point, text: str, colour: Rgb | None = None, font: Font | None = None
    ) -> None:
        self.draw.text(xy, text, colour or self.theme.text, font or self.font, anchor="lm")

    def title_bar(self, width: int) -> int:
        theme, size = self.theme, self.size
        bar = round(size * 2.2)
        colour = _mix(theme.window, theme.text, 0.08) if self.rng.random() < 0.7 else theme.accent
        self.draw.rectangle([0, 0, width, bar], fill=colour)
        ink = _ink(colour)
        title = _title(self.rng, 1, 3)
        if self.rng.random() < 0.5:  # macOS-like
            for i, light in enumerate(((237, 106, 94), (245, 191, 79), (98, 197, 84))):
                cx, cy, r = size * (1.0 + 1.4 * i), bar / 2, size * 0.45
                self.draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=light)
            self.draw.text((width / 2, bar / 2), title, ink, self.bold, anchor="mm")
        else:
            self.draw.text((size * 0.8, bar / 2), title, ink, self.font, anchor="lm")
            for i in range(3):
                cx, cy, r = width - size * (1.2 + 2.2 * i), bar / 2, size * 0.35
                if i == 0:
                    self.draw.line([cx - r, cy - r, cx + r, cy + r], ink, 1)
                    self.draw.line([cx - r, cy + r, cx + r, cy - r], ink, 1)
                elif i == 1:
                    self.draw.rectangle([cx - r, cy - r, cx + r, cy + r], outline=ink)
                else:
                    self.draw.line([cx - r, cy, cx + r, cy], ink, 1)
        return bar

    def menu_bar(self, top: int, width: int) -> int:
        height = round(self.size * 1.9)
        self.draw.rectangle([0, top, width, top + height], fill=self.theme.window)
        x = self.size * 0.8
        names = ("File", "Edit", "View", "Insert", "Format", "Tools", "Window", "Help")
        for name in names[: int(self.rng.integers(3, 9))]:
            self.text((x, top + height / 2), name)
            x += self.font.getlength(name) + self.size * 1.3
        self.draw.line([0, top + height, width, top + height], self.theme.border)
        return top + height + 1

    def icon(self, centre: Point, radius: float, colour: Rgb) -> None:
        cx, cy = centre
        kind = int(self.rng.integers(5))
        if kind == 0:
            self.draw.ellipse(
                [cx - radius, cy - radius, cx + radius, cy + radius], outline=colour, width=2
            )
        elif kind == 1:
            self.draw.rectangle(
                [cx - radius, cy - radius, cx + radius, cy + radius], outline=colour, width=2
            )
        elif kind == 2:
            for dy in (-radius * 0.6, 0, radius * 0.6):
                self.draw.line([cx - radius, cy + dy, cx + radius, cy + dy], colour, 2)
        elif kind == 3:
            self.draw.polygon(_regular_points(centre, radius, 3, -math.pi / 2), fill=colour)
        else:
            self.draw.line([cx - radius, cy, cx + radius, cy], colour, 2)
            self.draw.line([cx, cy - radius, cx, cy + radius], colour, 2)

    def toolbar(self, top: int, width: int) -> int:
        theme, size = self.theme, self.size
        height = round(size * 2.6)
        self.draw.rectangle([0, top, width, top + height], fill=theme.panel)
        x = size * 0.6
        labelled = self.rng.random() < 0.4
        for i in range(int(self.rng.integers(3, 12))):
            if labelled:
                label = _words(self.rng, 1)[0].capitalize()
                button_w = self.font.getlength(label) + size * 1.4
            else:
                label, button_w = "", size * 1.9
            if x + button_w > width:
                break
            box = [x, top + size * 0.35, x + button_w, top + height - size * 0.35]
            if i == 0 or self.rng.random() < 0.15:
                self.draw.rounded_rectangle(box, self.radius, fill=theme.selection)
            if label:
                self.text((x + size * 0.7, top + height / 2), label)
            else:
                self.icon((x + button_w / 2, top + height / 2), size * 0.5, theme.text)
            x += button_w + size * (0.3 if self.rng.random() < 0.8 else 1.2)
        self.draw.line([0, top + height, width, top + height], theme.border)
        return top + height + 1

    def status_bar(self, width: int, height: int) -> int:
        bar = round(self.size * 1.8)
        top = height - bar
        self.draw.rectangle([0, top, width, height], fill=self.theme.panel)
        self.draw.line([0, top, width, top], self.theme.border)
        status = _pick(self.rng, ("Ready", "Saved", "Connected", "Syncing..."))
        self.text((self.size * 0.6, top + bar / 2), status, self.theme.muted, self.small)
        detail = f"Ln {int(self.rng.integers(1, 400))}, Col {int(self.rng.integers(1, 80))}"
        self.draw.text(
            (width - self.size * 0.6, top + bar / 2),
            detail,
            self.theme.muted,
            self.small,
            anchor="rm",
        )
        return top

    def sidebar(self, top: int, bottom: int, width: int) -> int:
        theme, size = self.theme, self.size
        right = round(width * self.rng.uniform(0.18, 0.3))
        self.draw.rectangle([0, top, right, bottom], fill=theme.panel)
        self.draw.line([right, top, right, bottom], theme.border)
        row = round(size * 2.1)
        y = top + size * 0.6
        if self.rng.random() < 0.5:
            self.text(
                (size * 0.8, y + row / 2), _title(self.rng, 1, 2).upper(), theme.muted, self.small
            )
            y += row
        selected = int(self.rng.integers(0, 6))
        for i in range(int(self.rng.integers(3, 14))):
            if y + row > bottom:
                break
            if i == selected:
                self.draw.rounded_rectangle(
                    [size * 0.3, y, right - size * 0.3, y + row], self.radius, fill=theme.selection
                )
            self.icon(
                (size * 1.3, y + row / 2),
                size * 0.4,
                theme.accent if i == selected else theme.muted,
            )
            self.text((size * 2.4, y + row / 2), _words(self.rng, 1)[0].capitalize())
            y += row
        return right + 1

    def heading(self, x: float, y: float, width: float) -> float:
        font = _font(self.rng, self.size * self.rng.uniform(1.3, 1.8), bold=True)
        self.draw.text((x, y), _title(self.rng, 1, 4), self.theme.text, font)
        return _line_height(font) * 1.4

    def field(self, x: float, y: float, width: float) -> float:
        theme, size = self.theme, self.size
        label = _words(self.rng, 1)[0].capitalize()
        self.text((x, y + size * 0.6), label, theme.muted, self.small)
        top = y + size * 1.4
        box_w = min(width, size * self.rng.uniform(12, 30))
        focused = self.rng.random() < 0.2
        self.draw.rounded_rectangle(
            [x, top, x + box_w, top + size * 2.2],
            self.radius,
            fill=theme.field,
            outline=theme.accent if focused else theme.border,
            width=2 if focused else 1,
        )
        if self.rng.random() < 0.3:
            value, colour = _title(self.rng, 1, 2), theme.muted
        else:
            value, colour = " ".join(_words(self.rng, int(self.rng.integers(1, 4)))), theme.text
        self.text((x + size * 0.6, top + size * 1.1), value, colour)
        if focused:
            caret = x + size * 0.7 + self.font.getlength(value)
            self.draw.line([caret, top + size * 0.5, caret, top + size * 1.7], theme.text, 1)
        return size * 4.2

    def checkboxes(self, x: float, y: float, width: float) -> float:
        theme, size = self.theme, self.size
        radio = self.rng.random() < 0.35
        chosen = int(self.rng.integers(0, 4))
        rows = int(self.rng.integers(2, 5))
        for i in range(rows):
            cy = y + size * (1.0 + 1.8 * i)
            box = [x, cy - size * 0.55, x + size * 1.1, cy + size * 0.55]
            checked = i == chosen if radio else self.rng.random() < 0.5
            if radio:
                self.draw.ellipse(
                    box,
                    fill=theme.field,
                    outline=theme.accent if checked else theme.border,
                    width=2 if checked else 1,
                )
                if checked:
                    r = size * 0.25
                    cx = x + size * 0.55
                    self.draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=theme.accent)
            elif checked:
                self.draw.rounded_rectangle(box, max(0, self.radius // 2), fill=theme.accent)
                ink = _ink(theme.accent)
                points = [
                    (x + size * 0.25, cy),
                    (x + size * 0.48, cy + size * 0.25),
                    (x + size * 0.85, cy - size * 0.3),
                ]
                self.draw.line(points, ink, max(1, size // 7))
            else:
                self.draw.rounded_rectangle(
                    box, max(0, self.radius // 2), fill=theme.field, outline=theme.border
                )
            self.text((x + size * 1.7, cy), _sentence(self.rng, 2, 5).rstrip(".?"))
        return size * (1.8 * rows + 0.6)

    def buttons(self, x: float, y: float, width: float) -> float:
        theme, size = self.theme, self.size
        height = size * 2.3
        for i in range(int(self.rng.integers(1, 4))):
            label = _pick(
                self.rng, ("OK", "Cancel", "Save", "Apply", "Next", "Back", "Submit", "Delete")
            )
            if self.rng.random() < 0.3:
                label = _words(self.rng, 1)[0].capitalize()
            button_w = self.bold.getlength(label) + size * 2.4
            if x + button_w > width + size:
                break
            box = [x, y + size * 0.3, x + button_w, y + size * 0.3 + height]
            if i == 0:
                self.draw.rounded_rectangle(box, self.radius, fill=theme.accent)
                ink = _ink(theme.accent)
            else:
                self.draw.rounded_rectangle(
                    box, self.radius, fill=theme.panel, outline=theme.border
                )
                ink = theme.text
            self.draw.text(
                (x + button_w / 2, y + size * 0.3 + height / 2), label, ink, self.bold, anchor="mm"
            )
            x += button_w + size * 0.8
        return height + size * 1.2

    def progress(self, x: float, y: float, width: float) -> float:
        theme, size = self.theme, self.size
        fraction = self.rng.uniform(0.05, 1.0)
        length = min(width, size * self.rng.uniform(14, 35))
        cy = y + size * 1.2
        thick = size * self.rng.uniform(0.25, 0.6)
        track = [x, cy - thick, x + length, cy + thick]
        self.draw.rounded_rectangle(track, int(thick), fill=_mix(theme.window, theme.text, 0.15))
        self.draw.rounded_rectangle(
            [x, cy - thick, x + length * fraction, cy + thick], int(thick), fill=theme.accent
        )
        if self.rng.random() < 0.5:  # a slider's knob
            knob = x + length * fraction
            r = size * 0.7
            self.draw.ellipse(
                [knob - r, cy - r, knob + r, cy + r], fill=theme.field, outline=theme.border
            )
        else:
            self.text((x + length + size * 0.6, cy), f"{fraction:.0%}", theme.muted, self.small)
        return size * 2.6

    def table(self, x: float, y: float, width: float) -> float:
        theme, size = self.theme, self.size
        cols = int(self.rng.integers(2, 6))
        rows = int(self.rng.integers(3, 12))
        row_h = size * 2.0
        cell_w = width / cols
        self.draw.rectangle([x, y, x + width, y + row_h], fill=theme.panel)
        for col in range(cols):
            header = _clip_text(_words(self.rng, 1)[0].capitalize(), self.bold, cell_w - size)
            self.text((x + col * cell_w + size * 0.5, y + row_h / 2), header, font=self.bold)
        striped = self.rng.random() < 0.5
        highlighted = int(self.rng.integers(0, rows))
        for row in range(1, rows + 1):
            top = y + row * row_h
            if row - 1 == highlighted:
                self.draw.rectangle([x, top, x + width, top + row_h], fill=theme.selection)
            elif striped and row % 2 == 0:
                self.draw.rectangle(
                    [x, top, x + width, top + row_h], fill=_mix(theme.window, theme.text, 0.04)
                )
            self.draw.line([x, top, x + width, top], theme.border)
            for col in range(cols):
                if col == 0:
                    cell = _words(self.rng, 1)[0]
                elif self.rng.random() < 0.5:
                    cell = f"{self.rng.uniform(0, 5000):,.2f}"
                else:
                    cell = f"{int(self.rng.integers(1, 29))} {_pick(self.rng, _MONTHS)}"
                cell = _clip_text(cell, self.font, cell_w - size)
                self.text((x + col * cell_w + size * 0.5, top + row_h / 2), cell)
        return row_h * (rows + 1) + size

    def cards(self, x: float, y: float, width: float) -> float:
        theme, size = self.theme, self.size
        count = int(self.rng.integers(2, 5))
        gap = size
        card_w = (width - gap * (count - 1)) / count
        card_h = size * self.rng.uniform(6, 10)
        thumb = self.rng.random() < 0.5
        palette = _palette(self.rng, count)
        for i in range(count):
            left = x + i * (card_w + gap)
            self.draw.rounded_rectangle(
                [left, y, left + card_w, y + card_h],
                self.radius * 2,
                fill=theme.panel,
                outline=theme.border,
            )
            top = y + size * 0.7
            if thumb:
                self.draw.rectangle(
                    [left + 1, y + 1, left + card_w - 1, y + card_h * 0.45], fill=palette[i]
                )
                top = y + card_h * 0.45 + size * 0.6
            self.draw.text((left + size * 0.7, top), _title(self.rng, 1, 2), theme.text, self.bold)
            for line in _wrap(_sentence(self.rng, 4, 10), self.small, card_w - size * 1.4)[:2]:
                top += _line_height(self.small) * 1.1
                self.draw.text((left + size * 0.7, top + size * 0.4), line, theme.muted, self.small)
        return card_h + size * 1.2

    def content(self, canvas: Image.Image) -> None:
        """Widgets from top to bottom until the area is full; the area clips what overflows."""
        width, height = canvas.size
        margin = self.size * self.rng.uniform(0.8, 2.0)
        y = margin
        widgets = (
            self.heading,
            self.field,
            self.checkboxes,
            self.buttons,
            self.progress,
            self.table,
            self.cards,
        )
        weights = np.array((1.0, 3.0, 1.5, 1.0, 1.0, 1.2, 1.0))
        if self.rng.random() < 0.7:
            y += self.heading(margin, y, width - 2 * margin)
        while y < height:
            widget = widgets[int(self.rng.choice(len(widgets), p=weights / weights.sum()))]
            y += widget(margin, y, width - 2 * margin) + self.size * 0.4


def render_ui(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A screenshot of a flat-design app window (or a cut-out of a larger one)."""
    whole = rng.random() < 0.5
    canvas_w = width if whole else max(width, int(rng.integers(360, 1000)))
    canvas_h = height if whole else max(height, int(rng.integers(260, 760)))
    theme = _ui_theme(rng)
    size = round(rng.integers(10, 15) * _pick(rng, (1.0, 1.0, 1.25, 1.5, 2.0)))
    size = int(np.clip(size, 8, max(8, min(canvas_w, canvas_h) // 9)))
    canvas = Image.new("RGB", (canvas_w, canvas_h), theme.window)
    painter = _UiPainter(ImageDraw.Draw(canvas), rng, theme, size)
    top, bottom, left = 0, canvas_h, 0
    if rng.random() < 0.8:
        top = painter.title_bar(canvas_w)
    if rng.random() < 0.6:
        top = painter.menu_bar(top, canvas_w)
    if rng.random() < 0.6:
        top = painter.toolbar(top, canvas_w)
    if rng.random() < 0.4:
        bottom = painter.status_bar(canvas_w, canvas_h)
    if rng.random() < 0.55 and canvas_w > size * 24:
        left = painter.sidebar(top, bottom, canvas_w)
    if bottom > top and canvas_w > left:
        area = Image.new("RGB", (canvas_w - left, bottom - top), theme.window)
        painter.draw = ImageDraw.Draw(area)
        painter.content(area)
        canvas.paste(area, (left, top))
    pixels = np.asarray(canvas)
    # A cut-out of empty window background is no screenshot anyone shares: a few tries
    # for one with content, else the top-left corner (the title bar and the first rows).
    offsets = zip(
        rng.integers(0, canvas_w - width + 1, 4).tolist(),
        rng.integers(0, canvas_h - height + 1, 4).tolist(),
        strict=True,
    )
    for x0, y0 in offsets:
        crop = pixels[y0 : y0 + height, x0 : x0 + width]
        packed = crop[::2, ::2].astype(np.int32) @ np.array([1 << 16, 1 << 8, 1], np.int32)
        if float(crop.std()) > 20 and len(np.unique(packed)) >= 16:
            return crop.copy()
    return pixels[:height, :width].copy()


# ---------------------------------------------------------------------------- texture


def render_texture(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Procedural textures: fractal noise, marble, wood, checkers, stripes, tiles, cells."""
    pattern = _pick(rng, ("noise", "marble", "wood", "checker", "stripes", "tiles", "cells"))
    colours = np.array(_palette(rng, int(rng.integers(2, 6))), np.float32)
    y, x = _coords(width, height)
    if pattern == "noise":
        t = _fbm(
            rng, width, height, rng.uniform(2, 8), int(rng.integers(2, 6)), rng.uniform(0.4, 0.65)
        )
        image = _ramp(t, colours)
    elif pattern == "marble":
        turbulence = _fbm(rng, width, height, rng.uniform(2, 5), 5)
        angle = rng.uniform(0, math.pi)
        frequency = rng.uniform(3, 12)
        along = x * math.cos(angle) + y * math.sin(angle)
        veins = np.abs(np.sin((along * frequency + turbulence * rng.uniform(2, 6)) * math.pi))
        t = veins ** rng.uniform(0.3, 3.0)
        image = _ramp(t, colours[:2] if rng.random() < 0.6 else colours)
    elif pattern == "wood":
        hue = rng.uniform(0.04, 0.11)
        light = _hls(hue, rng.uniform(0.55, 0.75), rng.uniform(0.35, 0.6))
        dark = _hls(hue, rng.uniform(0.25, 0.4), rng.uniform(0.35, 0.6))
        centre_x, centre_y = rng.uniform(-1.0, 2.0), rng.uniform(-1.0, 2.0)
        stretch = rng.uniform(2, 8)
        distortion = _fbm(rng, width, height, rng.uniform(2, 6), 3) * rng.uniform(0.5, 2)
        rings = np.hypot(x - centre_x, (y - centre_y) / stretch) * rng.uniform(15, 60) + distortion
        t = (rings % 1.0) ** rng.uniform(0.5, 2.5)
        grain = _smooth_noise(rng, width, height, max(width, height) / 3)
        image = _ramp(t * 0.85 + grain * 0.15, np.array([light, dark], np.float32))
    elif pattern == "checker":
        size = rng.uniform(0.03, 0.2)
        angle = rng.uniform(0, math.pi / 2) if rng.random() < 0.3 else 0.0
        u = (x * math.cos(angle) + y * math.sin(angle)) / size
        v = (y * math.cos(angle) - x * math.sin(angle)) / size
        t = (np.floor(u) + np.floor(v)) % 2
        image = _ramp(t, colours[:2])
    elif pattern == "stripes":
        angle = _pick(rng, (0.0, math.pi / 2, math.pi / 4, rng.uniform(0, math.pi)))
        count = len(colours)
        widths = rng.uniform(0.3, 1.0, count)
        bounds = np.cumsum(widths) / widths.sum()
        period = rng.uniform(0.04, 0.3)
        phase = ((x * math.cos(angle) + y * math.sin(angle)) / period) % 1.0
        image = colours[np.searchsorted(bounds, phase)]
        if rng.random() < 0.3:  # plaid: a crossing set of stripes, half transparent
            cross = ((y * math.cos(angle) - x * math.sin(angle)) / period) % 1.0
            image = 0.5 * image + 0.5 * colours[np.searchsorted(bounds, cross)]
    elif pattern == "tiles":
        tile_h = rng.uniform(0.04, 0.15)
        tile_w = tile_h * _pick(rng, (1.0, 2.0, 3.0))
        row = np.floor(y / tile_h)
        shift = 0.5 * (row % 2) if rng.random() < 0.6 else 0.0
        col = np.floor(x / tile_w + shift)
        fy = (y / tile_h) % 1.0
        fx = (x / tile_w + shift) % 1.0
        mortar = rng.uniform(0.03, 0.1)
        joint = (fy < mortar) | (fx < mortar * tile_h / tile_w)
        # Each tile its own colour and tint, from tables that repeat every 64 tiles.
        rows, cols = row.astype(np.int64) % 64, col.astype(np.int64) % 64
        choice = rng.integers(0, len(colours), (64, 64))
        tint = rng.uniform(-25, 25, (64, 64)).astype(np.float32)
        base = colours[choice[rows, cols]] + tint[rows, cols][..., None]
        grout = np.array(
            _hls(rng.random(), rng.uniform(0.6, 0.9), rng.uniform(0, 0.15)), np.float32
        )
        image = np.where(joint[..., None], grout, base)
    else:
        points = int(rng.integers(6, 30))
        aspect_w, aspect_h = width / max(width, height), height / max(width, height)
        px, py = rng.uniform(0, aspect_w, points), rng.uniform(0, aspect_h, points)
        nearest = np.full((height, width), np.inf, np.float32)
        second = np.full((height, width), np.inf, np.float32)
        owner = np.zeros((height, width), np.int64)
        for index in range(points):
            distance = np.hypot(x - px[index], y - py[index])
            closer = distance < nearest
            second = np.where(closer, nearest, np.minimum(second, distance))
            owner = np.where(closer, index, owner)
            nearest = np.minimum(nearest, distance)
        image = colours[owner % len(colours)]
        edge = np.clip((second - nearest) * max(width, height) / 3.0, 0, 1)[..., None]
        image = image * (0.55 + 0.45 * edge)
    image = np.broadcast_to(image, (height, width, 3)).astype(np.float32)
    if rng.random() < 0.25:
        image = image * (0.85 + 0.3 * _fbm(rng, width, height, 3, 3)[..., None])
    return _to_uint8(image)


# ---------------------------------------------------------------------------- pixel art


def _sprite(rng: np.random.Generator, size: int, palette: np.ndarray) -> np.ndarray:
    """A left-right symmetric sprite (RGBA, alpha 0 or 255) with a dark outline."""
    half = (size + 1) // 2
    mask = rng.random((size, half)) < rng.uniform(0.35, 0.6)
    mask[:, -1] |= rng.random(size) < 0.7  # a solid spine keeps the two halves together
    mask[[0, -1]] = False
    mask = np.concatenate([mask, mask[:, : size // 2][:, ::-1]], axis=1)
    # One cellular-automaton step turns random pixels into blobs (it keeps the symmetry).
    padded = np.pad(mask, 1).astype(np.int8)
    neighbours = sum(
        padded[1 + dy : 1 + dy + size, 1 + dx : 1 + dx + size]
        for dy in (-1, 0, 1)
        for dx in (-1, 0, 1)
        if dy or dx
    )
    mask = (neighbours >= 5) | (mask & (neighbours >= 3))
    mask[:, [0, -1]] = False
    mask[[0, -1]] = False
    rows = rng.integers(0, len(palette), size)
    colours = palette[rows][:, None, :].repeat(size, axis=1)
    highlight = rng.random((size, half)) < 0.15
    highlight = np.concatenate([highlight, highlight[:, : size // 2][:, ::-1]], axis=1)
    colours = np.where(highlight[..., None], np.minimum(colours + 60, 255), colours)
    grown = mask.copy()
    grown[1:] |= mask[:-1]
    grown[:-1] |= mask[1:]
    grown[:, 1:] |= mask[:, :-1]
    grown[:, :-1] |= mask[:, 1:]
    sprite = np.zeros((size, size, 4), np.uint8)
    sprite[mask, :3] = colours[mask]
    outline = grown & ~mask
    sprite[outline, :3] = (palette.min(axis=0) * 0.3).astype(np.uint8)
    sprite[..., 3] = np.where(grown, 255, 0)
    return sprite


def _tile_set(rng: np.random.Generator, tile: int) -> dict[str, np.ndarray]:
    def speckled(colour: Rgb, spread: float) -> np.ndarray:
        base = np.empty((tile, tile, 3), np.float32)
        base[:] = colour
        specks = rng.integers(-1, 2, (tile, tile))
        specks[rng.random((tile, tile)) < 0.7] = 0
        return np.clip(base + specks[..., None] * spread, 0, 255).astype(np.uint8)

    water = speckled(_hls(rng.uniform(0.55, 0.62), rng.uniform(0.4, 0.55), 0.7), 0)
    wave = _hls(rng.uniform(0.55, 0.62), 0.75, 0.6)
    for row in range(1, tile, 4):
        start = int(rng.integers(0, tile // 2))
        water[row, start : start + tile // 3] = wave
    stone = speckled(_hls(rng.random(), rng.uniform(0.45, 0.6), 0.08), 18)
    stone[:: tile // 2] = stone[:: tile // 2] * 0.6
    stone[: tile // 2, 0] = stone[: tile // 2, 0] * 0.6
    stone[tile // 2 :, tile // 2] = stone[tile // 2 :, tile // 2] * 0.6
    return {
        "water": water,
        "sand": speckled(_hls(rng.uniform(0.1, 0.14), rng.uniform(0.65, 0.75), 0.55), 14),
        "grass": speckled(_hls(rng.uniform(0.25, 0.35), rng.uniform(0.35, 0.45), 0.55), 22),
        "forest": speckled(_hls(rng.uniform(0.28, 0.38), rng.uniform(0.2, 0.28), 0.5), 18),
        "stone": stone,
    }


def _pixel_landscape(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    sky_top = np.array(_hls(rng.uniform(0.5, 0.7), rng.uniform(0.3, 0.6), 0.6), np.float32)
    sky_low = np.array(_hls(rng.uniform(0.0, 0.15), rng.uniform(0.6, 0.8), 0.7), np.float32)
    t = (np.arange(height, dtype=np.float32) / height)[:, None, None]
    step = float(_pick(rng, (16.0, 24.0, 32.0)))
    sky = sky_top * (1 - t) + sky_low * t
    image = np.round(sky / step + _bayer(width, height)) * step
    image = np.broadcast_to(image, (height, width, 3)).copy()
    if rng.random() < 0.6:
        cx, cy, r = rng.uniform(0.1, 0.9) * width, rng.uniform(0.1, 0.4) * height, height * 0.08
        yy, xx = np.ogrid[:height, :width]
        image[(xx - cx) ** 2 + (yy - cy) ** 2 <= r * r] = _hls(rng.uniform(0.1, 0.16), 0.85, 0.9)
    layers = int(rng.integers(2, 5))
    hue = rng.random()
    for layer in range(layers):
        base = height * (0.45 + 0.45 * (layer + 1) / (layers + 1))
        ridge = base - _smooth_noise(rng, width, 1, rng.uniform(3, 10))[0] * height * rng.uniform(
            0.1, 0.35
        )
        colour = _hls(hue + 0.05 * layer, 0.55 - 0.4 * layer / layers, 0.35)
        rows = np.arange(height)[:, None]
        image[rows > np.round(ridge)[None, :]] = colour
    return image.astype(np.uint8)


def render_pixelart(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Pixel art upscaled by nearest neighbour: sprite sheets, tile maps, landscapes."""
    variant = _pick(rng, ("sprites", "tilemap", "landscape"))
    scale = int(rng.integers(2, 9))
    single = rng.random() < 0.4
    sprite_size = int(rng.integers(7, 17))
    if variant == "sprites" and single:
        scale = max(2, int(min(width, height) * rng.uniform(0.5, 0.85) / sprite_size))
    low_w, low_h = math.ceil(width / scale), math.ceil(height / scale)
    if variant == "sprites":
        palette = np.array(_palette(rng, int(rng.integers(3, 7))), np.int32)
        background = _background(rng, [tuple(int(v) for v in palette[0])])
        cell = sprite_size + int(rng.integers(1, 4))
        cols = 1 if single else max(1, (low_w - sprite_size) // cell + 1)
        rows = 1 if single else max(1, (low_h - sprite_size) // cell + 1)
        sheet_w, sheet_h = (cols - 1) * cell + sprite_size, (rows - 1) * cell + sprite_size
        small = np.empty((max(sheet_h, low_h), max(sheet_w, low_w), 3), np.uint8)
        small[:] = background
        top0 = (small.shape[0] - sheet_h) // 2
        left0 = (small.shape[1] - sheet_w) // 2
        for row in range(rows):
            for col in range(cols):
                sprite = _sprite(rng, sprite_size, palette)
                top, left = top0 + row * cell, left0 + col * cell
                region = small[top : top + sprite_size, left : left + sprite_size]
                opaque = sprite[..., 3] > 0
                region[opaque] = sprite[..., :3][opaque]
        top, left = (small.shape[0] - low_h) // 2, (small.shape[1] - low_w) // 2
        small = small[top : top + low_h, left : left + low_w]
    elif variant == "tilemap":
        tile = int(_pick(rng, (8, 16)))
        tiles = _tile_set(rng, tile)
        map_w, map_h = math.ceil(low_w / tile), math.ceil(low_h / tile)
        terrain = _fbm(rng, map_w, map_h, rng.uniform(1.5, 4), 2)
        levels = np.array([0.3, 0.38, 0.7, 0.85])
        names = ("water", "sand", "grass", "forest", "stone")
        kinds = np.searchsorted(levels, terrain)
        small = np.zeros((map_h * tile, map_w * tile, 3), np.uint8)
        for row in range(map_h):
            for col in range(map_w):
                small[row * tile : (row + 1) * tile, col * tile : (col + 1) * tile] = tiles[
                    names[kinds[row, col]]
                ]
        small = small[:low_h, :low_w]
    else:
        small = _pixel_landscape(rng, low_w, low_h)
    big = np.repeat(np.repeat(small, scale, axis=0), scale, axis=1)
    return np.ascontiguousarray(big[:height, :width])


# ---------------------------------------------------------------------------- diagram


def _dashed(
    draw: ImageDraw.ImageDraw, start: Point, end: Point, colour: Rgb, width: int, dash: float
) -> None:
    length = math.dist(start, end)
    if length == 0:
        return
    dx, dy = (end[0] - start[0]) / length, (end[1] - start[1]) / length
    position = 0.0
    while position < length:
        stop = min(position + dash, length)
        draw.line(
            [
                (start[0] + dx * position, start[1] + dy * position),
                (start[0] + dx * stop, start[1] + dy * stop),
            ],
            colour,
            width,
        )
        position += 2 * dash


def _arrowhead(
    draw: ImageDraw.ImageDraw, tip: Point, direction: Point, size: float, colour: Rgb
) -> None:
    dx, dy = direction
    norm = math.hypot(dx, dy) or 1.0
    dx, dy = dx / norm, dy / norm
    back = (tip[0] - dx * size, tip[1] - dy * size)
    draw.polygon(
        [
            tip,
            (back[0] - dy * size * 0.5, back[1] + dx * size * 0.5),
            (back[0] + dy * size * 0.5, back[1] - dx * size * 0.5),
        ],
        fill=colour,
    )


@dataclass
class _Node:
    centre: Point
    half: Point
    shape: str
    lines: list[str]
    children: list[int] = field(default_factory=list)


def render_diagram(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A flowchart: labelled boxes, decisions and terminals joined by arrows."""
    scale = 2 if rng.random() < 0.5 else 1
    big_w, big_h = width * scale, height * scale
    theme = _pick(rng, ("white", "paper", "blueprint", "dark"), p=(0.55, 0.15, 0.15, 0.15))
    pastel = _palette(rng, 5)
    if theme == "blueprint":
        background, line, fills = _hls(rng.uniform(0.58, 0.64), 0.3, 0.6), (235, 240, 250), [None]
    elif theme == "dark":
        background, line = _hls(rng.random(), 0.14, 0.15), (220, 220, 225)
        fills = [_hls(rng.random(), 0.3, 0.35)]
    else:
        background = (255, 255, 255) if theme == "white" else (250, 248, 240)
        line = (int(rng.integers(20, 80)),) * 3
        fills = pastel if rng.random() < 0.6 else [(255, 255, 255)]
    canvas = Image.new("RGB", (big_w, big_h), background)
    draw = ImageDraw.Draw(canvas)
    if theme == "blueprint" or rng.random() < 0.2:
        grid = max(6, round(min(big_w, big_h) / rng.uniform(12, 30)))
        grid_colour = _mix(background, line, 0.15)
        for gx in range(0, big_w, grid):
            draw.line([gx, 0, gx, big_h], grid_colour)
        for gy in range(0, big_h, grid):
            draw.line([0, gy, big_w, gy], grid_colour)
    stroke = max(1, round(rng.uniform(1, 3) * scale))
    font_px = float(np.clip(min(big_w, big_h) / rng.uniform(18, 30), 7 * scale, 18 * scale))
    margin = min(big_w, big_h) * 0.05
    top = margin
    if rng.random() < 0.3 and big_h > 6 * font_px:
        title_font = _font(rng, font_px * 1.4, bold=True)
        draw.text((big_w / 2, margin), _title(rng, 2, 4), line, title_font, anchor="ma")
        top += _line_height(title_font) * 1.5
    vertical = rng.random() < (0.7 if big_h >= big_w * 0.8 else 0.3)
    layers = int(rng.integers(2, 5))
    extent_along = (big_h - top - margin) if vertical else (big_w - 2 * margin)
    extent_across = (big_w - 2 * margin) if vertical else (big_h - top - margin)
    along_step = extent_along / layers
    # Two label lines and padding (about 3.6 font sizes) fit the height a box may take.
    box_room = 0.6 * (along_step if vertical else extent_across / 3)
    font_px = max(6.0 * scale, min(font_px, box_room / 3.6))
    font = _font(rng, font_px, bold=rng.random() < 0.2, mono=rng.random() < 0.15)
    line_h = _line_height(font)
    nodes: list[_Node] = []
    layer_nodes: list[list[int]] = []
    for layer in range(layers):
        count = 1 if layer in (0, layers - 1) and rng.random() < 0.6 else int(rng.integers(1, 4))
        across_step = extent_across / count
        room_w = (across_step if vertical else along_step) * 0.8
        room_h = (along_step if vertical else across_step) * 0.6
        members = []
        for slot in range(count):
            if layer in (0, layers - 1) and rng.random() < 0.5:
                shape = "terminal"
            else:
                shape = _pick(
                    rng,
                    ("rect", "rounded", "diamond", "data", "store"),
                    p=(0.35, 0.35, 0.15, 0.1, 0.05),
                )
            label = (
                _title(rng, 1, 3)
                if layer == 0 or rng.random() < 0.5
                else _sentence(rng, 1, 3).rstrip(".?")
            )
            lines = _wrap(label, font, room_w * 0.8)[:2]
            text_w = max(font.getlength(text) for text in lines)
            widen = 1.7 if shape == "diamond" else 1.25 if shape in ("terminal", "data") else 1.0
            half_w = min(room_w, text_w * widen + font_px * 1.6) / 2
            half_h = (
                min(room_h, (len(lines) * line_h + font_px) * (1.5 if shape == "diamond" else 1.0))
                / 2
            )
            along = (top if vertical else margin) + (layer + 0.5) * along_step
            across = (margin if vertical else top) + (slot + 0.5) * across_step
            centre = (across, along) if vertical else (along, across)
            nodes.append(_Node(centre, (half_w, half_h), shape, lines))
            members.append(len(nodes) - 1)
        layer_nodes.append(members)
    for upper, lower in itertools.pairwise(layer_nodes):
        for child in lower:
            nodes[upper[int(rng.integers(len(upper)))]].children.append(child)
        for parent in upper:
            if not nodes[parent].children or rng.random() < 0.2:
                nodes[parent].children.append(lower[int(rng.integers(len(lower)))])
    elbows = rng.random() < 0.5
    dashed = rng.random() < 0.1
    arrow = font_px * rng.uniform(0.5, 0.8)
    for node in nodes:
        for index, child in enumerate(dict.fromkeys(node.children)):
            target = nodes[child]
            if vertical:
                start = (node.centre[0], node.centre[1] + node.half[1])
                end = (target.centre[0], target.centre[1] - target.half[1])
                middle = (start[1] + end[1]) / 2
                path = (
                    [start, (start[0], middle), (end[0], middle), end] if elbows else [start, end]
                )
            else:
                start = (node.centre[0] + node.half[0], node.centre[1])
                end = (target.centre[0] - target.half[0], target.centre[1])
                middle = (start[0] + end[0]) / 2
                path = (
                    [start, (middle, start[1]), (middle, end[1]), end] if elbows else [start, end]
                )
            for a, b in itertools.pairwise(path):
                if dashed:
                    _dashed(draw, a, b, line, stroke, font_px * 0.4)
                else:
                    draw.line([a, b], line, stroke)
            _arrowhead(draw, end, (end[0] - path[-2][0], end[1] - path[-2][1]), arrow, line)
            if node.shape == "diamond" and index < 2:
                draw.text(
                    (start[0] + font_px * 0.3, start[1] + font_px * 0.2),
                    ("yes", "no")[index],
                    line,
                    font,
                )
    for node in nodes:
        (cx, cy), (hw, hh) = node.centre, node.half
        fill = _pick(rng, fills)
        box = [cx - hw, cy - hh, cx + hw, cy + hh]
        if node.shape == "rect":
            draw.rectangle(box, fill, line, stroke)
        elif node.shape == "rounded":
            draw.rounded_rectangle(box, min(hw, hh) * 0.35, fill, line, stroke)
        elif node.shape == "terminal":
            draw.rounded_rectangle(box, hh, fill, line, stroke)
        elif node.shape == "diamond":
            draw.polygon(
                [(cx, cy - hh), (cx + hw, cy), (cx, cy + hh), (cx - hw, cy)], fill, line, stroke
            )
        elif node.shape == "data":
            slant = hh * 0.6
            draw.polygon(
                [
                    (cx - hw + slant, cy - hh),
                    (cx + hw, cy - hh),
                    (cx + hw - slant, cy + hh),
                    (cx - hw, cy + hh),
                ],
                fill,
                line,
                stroke,
            )
        else:
            lid = hh * 0.35
            draw.rectangle([cx - hw, cy - hh + lid / 2, cx + hw, cy + hh - lid / 2], fill)
            draw.ellipse([cx - hw, cy + hh - lid, cx + hw, cy + hh], fill, line, stroke)
            draw.line([cx - hw, cy - hh + lid / 2, cx - hw, cy + hh - lid / 2], line, stroke)
            draw.line([cx + hw, cy - hh + lid / 2, cx + hw, cy + hh - lid / 2], line, stroke)
            draw.ellipse([cx - hw, cy - hh, cx + hw, cy - hh + lid], fill, line, stroke)
        ink = line if fill is None else _ink(fill)
        first = cy - (len(node.lines) - 1) * line_h / 2
        for i, text in enumerate(node.lines):
            draw.text((cx, first + i * line_h), text, ink, font, anchor="mm")
    if scale > 1:
        canvas = canvas.reduce(scale)
    return np.asarray(canvas)


# ---------------------------------------------------------------------------- painting


def _painting_reference(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """The scene the painter has in mind: a smooth colour field the strokes sample."""
    scene = _pick(rng, ("landscape", "abstract", "still_life"), p=(0.45, 0.3, 0.25))
    rows = (np.arange(height, dtype=np.float32) / height)[:, None, None]
    palette = np.array(_palette(rng, 5), np.float32)
    if scene == "landscape":
        warm = rng.random() < 0.35
        top = _hls(rng.uniform(0.55, 0.66), rng.uniform(0.35, 0.6), rng.uniform(0.4, 0.8))
        low = _hls(rng.uniform(0.02, 0.12), 0.7, 0.8) if warm else _hls(0.58, 0.85, 0.5)
        image = np.asarray(top, np.float32) * (1 - rows) + np.asarray(low, np.float32) * rows
        image = np.broadcast_to(image, (height, width, 3)).copy()
        horizon = rng.uniform(0.35, 0.7)
        layers = int(rng.integers(1, 4))
        ground_hue = rng.uniform(0.2, 0.4) if rng.random() < 0.7 else rng.uniform(0.05, 0.12)
        row_index = np.arange(height)[:, None]
        for layer in range(layers):
            level = horizon + (1 - horizon) * layer / (layers + 1)
            ridge = (
                level - _smooth_noise(rng, width, 1, rng.uniform(2, 6))[0] * rng.uniform(0.05, 0.25)
            ) * height
            colour = np.array(_hls(ground_hue + 0.04 * layer, 0.5 - 0.1 * layer, 0.45), np.float32)
            texture = 0.8 + 0.4 * _fbm(rng, width, height, 4, 3)[..., None]
            mask = row_index > ridge[None, :]
            image[mask] = (colour * texture)[mask]
    elif scene == "abstract":
        warp = _fbm(rng, width, height, rng.uniform(1.5, 4), 3)
        t = _fbm(rng, width, height, rng.uniform(1.5, 4), 3) * 0.6 + warp * 0.4
        image = _ramp(_normalise(t), palette)
    else:
        a, b = palette[0], palette[1] * 0.5 + 40
        image = np.broadcast_to(a * (1 - rows) + b * rows, (height, width, 3)).copy()
        y, x = _coords(width, height)
        light = rng.uniform(-1, 1, 2)
        for colour in palette[2:] if rng.random() < 0.5 else palette[1:]:
            cx, cy = (
                rng.uniform(0.2, 0.8) * width / max(width, height),
                rng.uniform(0.35, 0.85) * height / max(width, height),
            )
            rx, ry = rng.uniform(0.08, 0.25, 2)
            dx, dy = (x - cx) / rx, (y - cy) / ry
            inside = dx**2 + dy**2 <= 1
            shading = np.clip(1.0 - 0.35 * (dx * light[0] + dy * light[1]), 0.4, 1.4)
            image = np.where(inside[..., None], colour * shading[..., None], image)
    return image


def render_painting(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A digital painting: semi-transparent brush strokes from coarse to fine, along a flow."""
    reference = _painting_reference(rng, width, height)
    if rng.random() < 0.5:
        ground = Image.fromarray(_to_uint8(reference)).filter(
            ImageFilter.BoxBlur(max(width, height) / 30)
        )
    else:
        ground = Image.new(
            "RGB", (width, height), _jitter(rng, tuple(int(v) for v in reference.mean((0, 1))), 20)
        )
    draw = ImageDraw.Draw(ground, "RGBA")
    flow = _fbm(rng, width, height, rng.uniform(1.5, 4), 2) * rng.uniform(1, 4) * math.pi
    flow = flow + rng.uniform(0, 2 * math.pi)
    long_side = max(width, height)
    passes = int(rng.integers(3, 6))
    sizes = np.geomspace(
        long_side * rng.uniform(0.05, 0.09), long_side * rng.uniform(0.006, 0.012), passes
    )
    colour_jitter = rng.uniform(5, 25)
    budget = int(rng.integers(600, 1600))
    for size in sizes:
        count = int(min(budget / passes, width * height / (size * size) * 0.8)) + 1
        xs = rng.uniform(0, width - 1, count)
        ys = rng.uniform(0, height - 1, count)
        alphas = rng.integers(70, 230, count)
        lengths = size * rng.uniform(1.5, 5.0, count)
        dabs = rng.random(count) < 0.15
        noise = rng.normal(0, colour_jitter, (count, 3))
        picked = reference[ys.astype(int), xs.astype(int)] + noise
        colours = np.clip(picked, 0, 255).astype(int).tolist()
        # Every stroke follows the flow field for three steps, all strokes at once.
        x, y = xs, ys
        path = [np.stack([x, y], axis=1)]
        step = lengths / 3
        for _ in range(3):
            angle = flow[
                np.clip(y.astype(int), 0, height - 1), np.clip(x.astype(int), 0, width - 1)
            ]
            x, y = x + step * np.cos(angle), y + step * np.sin(angle)
            path.append(np.stack([x, y], axis=1))
        paths = np.stack(path, axis=1).reshape(count, -1).tolist()
        brush = max(1, round(size))
        joint = "curve" if brush > 3 else None
        radius = size * 0.6
        for i in range(count):
            fill = (*colours[i], int(alphas[i]))
            if dabs[i]:
                cx, cy = paths[i][0], paths[i][1]
                draw.ellipse([cx - radius, cy - radius * 0.7, cx + radius, cy + radius * 0.7], fill)
            else:
                draw.line(paths[i], fill=fill, width=brush, joint=joint)
    image = np.asarray(ground)
    if rng.random() < 0.3:  # canvas weave showing through
        weave = rng.normal(0, rng.uniform(2, 6), (height, width, 1))
        image = _to_uint8(image + weave)
    return image


# ---------------------------------------------------------------------------- registry

RENDERERS: dict[str, Renderer] = {
    "gradient": render_gradient,
    "vector": render_vector,
    "text": render_text,
    "document": render_document,
    "chart": render_chart,
    "ui": render_ui,
    "texture": render_texture,
    "pixelart": render_pixelart,
    "diagram": render_diagram,
    "painting": render_painting,
}
KINDS: tuple[str, ...] = tuple(RENDERERS)


def draw_size(rng: np.random.Generator) -> tuple[int, int]:
    """Width and height in [MIN_SIDE, MAX_SIDE], width/height in [1/MAX_ASPECT, MAX_ASPECT]."""
    aspect = math.exp(rng.uniform(-math.log(MAX_ASPECT), math.log(MAX_ASPECT)))
    low = max(MIN_SIDE, math.ceil(MIN_SIDE * aspect))
    high = min(MAX_SIDE, math.floor(MAX_SIDE * aspect))
    width = int(rng.integers(low, high + 1))
    height = min(MAX_SIDE, max(MIN_SIDE, round(width / aspect)))
    return width, height


@dataclass(frozen=True, eq=False)
class Render:
    index: int
    kind: str
    pixels: np.ndarray
    format: str
    quality: int | None  # None: PNG or lossless WebP

    def encode(self) -> bytes:
        image = Image.fromarray(self.pixels)
        buffer = io.BytesIO()
        if self.format == "png":
            image.save(buffer, "PNG")
        elif self.format == "jpeg":
            image.save(buffer, "JPEG", quality=self.quality)
        elif self.quality is None:
            image.save(buffer, "WEBP", lossless=True)
        else:
            image.save(buffer, "WEBP", quality=self.quality)
        return buffer.getvalue()


def render(
    seed: int, index: int, kinds: Sequence[str] = KINDS, formats: Sequence[str] = FORMATS
) -> Render:
    """Image ``index`` of an export: its kind is ``kinds[index % len(kinds)]``."""
    kind = kinds[index % len(kinds)]
    rng = np.random.default_rng([seed, index])
    # Format and quality are drawn first, a fixed number of draws, so the pixels do not
    # depend on which formats are allowed.
    weights = np.array([FORMAT_WEIGHTS[name] if name in formats else 0.0 for name in FORMATS])
    image_format = FORMATS[int(rng.choice(len(FORMATS), p=weights / weights.sum()))]
    quality: int | None = int(rng.integers(80, 96))
    lossless = rng.random() < 0.3  # the share of WebP graphics served lossless
    if image_format == "png" or (image_format == "webp" and lossless):
        quality = None
    width, height = draw_size(rng)
    pixels = RENDERERS[kind](rng, width, height)
    return Render(index, kind, pixels, image_format, quality)


@dataclass(frozen=True)
class RendersSummary:
    folder: Path
    images: int
    counts: dict[str, int]
    formats: dict[str, int]
    fonts: tuple[str, ...]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "folder": str(self.folder),
            "images": self.images,
            "counts": self.counts,
            "formats": self.formats,
            "fonts": list(self.fonts),
            "seconds": round(self.seconds, 2),
            "images_per_second": round(self.images / self.seconds, 1) if self.seconds else None,
        }


def _resolve_kinds(kinds: Sequence[str] | None) -> tuple[str, ...]:
    if kinds:
        unknown = sorted(set(kinds) - set(RENDERERS))
        if unknown:
            raise DataError(
                f"Unknown render kind {', '.join(unknown)}; the kinds are {', '.join(KINDS)}."
            )
        chosen = tuple(dict.fromkeys(kinds))
        if "chart" in chosen and not matplotlib_available():
            raise DataError(MATPLOTLIB_MISSING)
        return chosen
    if matplotlib_available():
        return KINDS
    warnings.warn(
        "matplotlib is not installed, so the chart kind is left out: "
        "pip install 'provaudit[train]'.",
        UserWarning,
        stacklevel=3,
    )
    return tuple(kind for kind in KINDS if kind != "chart")


def attribution_text(fonts: Sequence[tuple[str, str]]) -> str:
    lines = [
        "Programmatic renders made by provaudit (generators/renders.py) with Pillow, NumPy",
        "and matplotlib: every pixel is drawn by code, with no photograph, no generative model",
        "and no third-party image content. They are human-made (non-AI) images for the real",
        "class of a detector data set.",
        "",
    ]
    if fonts:
        lines.append("Fonts used to draw text:")
        for name, licence in fonts:
            lines += [f"  {name}", f"    licence: {licence}"]
    else:
        lines.append("No font was used.")
    return "\n".join(lines) + "\n"


def export_renders(
    out_dir: Path | str,
    n: int,
    seed: int = 0,
    kinds: Sequence[str] | None = None,
    formats: Sequence[str] = FORMATS,
    progress: Callable[[int], None] | None = None,
) -> RendersSummary:
    """Write ``n`` renders spread evenly over ``kinds`` (default: all) to ``out_dir``.

    Files are ``<kind>_<index:05d>.<ext>``; ``renders.jsonl`` records each one and
    ``ATTRIBUTION.txt`` states what they are and which fonts drew their text. Without
    matplotlib, the chart kind is left out with a warning, or is an error when asked for.
    """
    if n < 1:
        raise DataError("The number of renders must be at least 1.")
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown or not formats:
        raise DataError(
            f"Unknown image format {', '.join(unknown)}; the formats are {', '.join(FORMATS)}."
        )
    chosen = _resolve_kinds(kinds)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    counts = dict.fromkeys(chosen, 0)
    format_counts = dict.fromkeys(formats, 0)
    used: set[tuple[str, str]] = set()
    token = _USED_FONTS.set(used)
    started = time.perf_counter()
    try:
        with (out_dir / LOG_FILE).open("w") as log:
            for index in range(n):
                image = render(seed, index, chosen, formats)
                name = f"{image.kind}_{index:05d}.{EXTENSIONS[image.format]}"
                (out_dir / name).write_bytes(image.encode())
                record = {
                    "file": name,
                    "kind": image.kind,
                    "width": int(image.pixels.shape[1]),
                    "height": int(image.pixels.shape[0]),
                    "format": image.format,
                    "quality": image.quality,
                    "seed": seed,
                    "index": index,
                }
                log.write(json.dumps(record) + "\n")
                counts[image.kind] += 1
                format_counts[image.format] += 1
                if progress is not None:
                    progress(1)
    finally:
        _USED_FONTS.reset(token)
    seconds = time.perf_counter() - started
    fonts = sorted(used)
    (out_dir / ATTRIBUTION_FILE).write_text(attribution_text(fonts))
    return RendersSummary(
        out_dir, n, counts, format_counts, tuple(name for name, _ in fonts), seconds
    )
