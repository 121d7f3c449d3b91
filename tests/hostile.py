"""A corpus of hostile and odd files, generated deterministically, each with one expected
outcome per surface (every upload route of the service and every CLI command that takes a
file).

``python -m tests.hostile DIR`` writes the corpus into DIR (``build_corpus`` does the same
for the tests); nothing here is committed as a file. What each case should give a user:

* a file that cannot be used (bombs, truncations, empty, random bytes, SVG) is refused with
  a JSON 4xx (413 too many pixels, 415 unsupported, 422 unreadable) and, on the CLI, a
  non-zero exit with one ``error:`` line on stderr;
* a file that is a usable image, however odd (modes, sizes, frames, trailing payloads,
  hostile XMP, malformed C2PA data), is audited: 200 on every route, its provenance
  reported (``absent``, or ``invalid`` for C2PA data that cannot be parsed);
* an image too flat or too small for PDQ is hashed (quality reported) but refused (422)
  where it would be matched or banked;
* an image over the decode budget is refused (413) wherever pixels are decoded, and
  verified and signed where they are not;
* an XML entity is never expanded: no output ever carries ``/etc/passwd``.
"""

from __future__ import annotations

import io
import struct
import sys
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from provenance.cli.exit_status import ExitStatus
from provenance.media import DEFAULT_MAX_DECODE_PIXELS
from tests.conftest import C2PA_FIXTURES, encode, make_image

HTTP_SURFACES = ("audit", "verify", "hash", "lookup", "bank", "by_content", "sign")
"""Upload routes: POST /v1/audit, /v1/verify, /v1/hash, /v1/lookup (multipart),
/v1/banks/{name}/content (multipart), /v1/matches/byContent (raw body), /v1/sign."""
CLI_SURFACES = ("cli_verify", "cli_hash", "cli_detect", "cli_sign")
SURFACES = HTTP_SURFACES + CLI_SURFACES

CLI_SIGN_CASES = frozenset(
    {
        "png-bomb",
        "png-over-decode-budget",
        "jpeg-truncated",
        "tiff-truncated-ifd",
        "zero-bytes",
        "svg-xxe",
        "jpeg-zip-polyglot",
        "jpeg-xmp-xxe",
        "jpeg-jumbf-length-bomb",
        "jpeg-jumbf-truncated",
        "mode-P-alpha-table",
        "mode-I16",
        "tiff-many-pages",
    }
)
"""The cases ``provaudit sign`` runs on (set HOSTILE_SIGN_ALL=1 for every case). It takes
one file a process, a second or more each; POST /v1/sign runs the same signer on every
case, so the CLI needs one case of each outcome, plus those where only a terminal would
show a difference (Pillow warnings on stderr, the CLI's own sentences)."""

OK_STATUS = {"bank": 201}
"""The success status of each route (200 unless listed)."""

PASSWD_MARKERS = ("root:x:0:0", "/bin/bash", "/usr/sbin/nologin", "daemon:x:")
"""What /etc/passwd would put in an output if an XML entity were ever expanded."""


@dataclass(frozen=True)
class Outcome:
    """One expected outcome: an HTTP status or a CLI exit status, a fragment the error
    message must hold (errors only) and, for a successful verify or audit, the provenance
    state."""

    status: int
    says: str = ""
    state: str | None = None


@dataclass(frozen=True)
class Case:
    name: str
    filename: str
    data: bytes
    expect: Mapping[str, Outcome] = field(repr=False)

    def __post_init__(self) -> None:
        missing = set(SURFACES) - set(self.expect)
        assert not missing, f"{self.name}: no outcome for {sorted(missing)}"


# ---------------------------------------------------------------------------------------
# Outcomes


def accepted(state: str = "absent", **overrides: Outcome) -> dict[str, Outcome]:
    """A usable image: audited, verified, hashed, matched, banked and signed."""
    cli_state = {"absent": ExitStatus.ABSENT, "invalid": ExitStatus.INVALID}[state]
    expect = {surface: Outcome(OK_STATUS.get(surface, 200)) for surface in HTTP_SURFACES}
    expect["audit"] = Outcome(200, state=state)
    expect["verify"] = Outcome(200, state=state)
    expect["cli_verify"] = Outcome(int(cli_state), state=state)
    expect["cli_hash"] = Outcome(int(ExitStatus.SUCCESS))
    expect["cli_detect"] = Outcome(int(ExitStatus.SUCCESS))
    expect["cli_sign"] = Outcome(int(ExitStatus.SUCCESS))
    expect.update(overrides)
    return expect


def refused(status: int, says: str, **overrides: Outcome) -> dict[str, Outcome]:
    """Refused everywhere with the same sentence: a JSON ``status``, CLI exit 1."""
    expect = {surface: Outcome(status, says) for surface in HTTP_SURFACES}
    expect.update({surface: Outcome(int(ExitStatus.ERROR), says) for surface in CLI_SURFACES})
    expect.update(overrides)
    return expect


def too_flat(**overrides: Outcome) -> dict[str, Outcome]:
    """Usable, but too flat or too small for PDQ: refused only where it would be matched."""
    flat = Outcome(422, "too flat or too small")
    return accepted(lookup=flat, bank=flat, by_content=flat, **overrides)


BOMB = "too many pixels to decode safely"
BUDGET = "within the budget"
TRUNCATED = "truncated"
UNSUPPORTED = "not a supported image"


# ---------------------------------------------------------------------------------------
# Building blocks


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload))
    )


def flat_png(width: int, height: int) -> bytes:
    """An RGB PNG of the given size whose IDAT is a few bytes: whatever the header says."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + png_chunk(b"IEND", b"")
    )


def huge_gif(width: int = 65_535, height: int = 65_535) -> bytes:
    """A 40-byte GIF whose logical screen and single image claim ``width`` x ``height``."""
    screen = (
        b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\x00" * 3 + b"\xff" * 3
    )
    image = b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0)
    data = b"\x02\x02\x44\x01\x00"  # LZW minimum code size 2, one tiny sub-block
    return screen + image + data + b"\x3b"


def jpeg_with_segment(jpeg: bytes, marker: int, payload: bytes) -> bytes:
    """``jpeg`` with an APPn segment inserted right after SOI (payload up to 65533 bytes)."""
    assert jpeg[:2] == b"\xff\xd8" and len(payload) <= 0xFFFF - 2
    return jpeg[:2] + struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload + jpeg[2:]


def xmp_packet(body: str, doctype: str) -> bytes:
    """An APP1 XMP payload whose packet carries ``doctype`` before its root element."""
    packet = (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        f"{doctype}\n"
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" '
        'xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f"{body}"
        "</rdf:Description></rdf:RDF></x:xmpmeta>\n"
        '<?xpacket end="w"?>'
    )
    return b"http://ns.adobe.com/xap/1.0/\x00" + packet.encode()


XXE_DOCTYPE = '<!DOCTYPE x:xmpmeta [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'


def billion_laughs_doctype(root: str) -> str:
    entities = ['<!ENTITY lol0 "lol">']
    entities += [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    return f"<!DOCTYPE {root} [{''.join(entities)}]>"


C2PA_STORE_UUID = bytes.fromhex("6332706100110010800000aa00389b71")


def jumbf_description(label: str) -> bytes:
    payload = C2PA_STORE_UUID + b"\x03" + label.encode() + b"\x00"
    return struct.pack(">I4s", 8 + len(payload), b"jumd") + payload


def app11_jumbf(box: bytes) -> bytes:
    """An APP11 payload as C2PA embeds JUMBF in JPEG: CI ``JP``, instance 1, sequence 1."""
    return b"JP" + struct.pack(">HI", 1, 1) + box


def jumbf_length_bomb() -> bytes:
    """A manifest store superbox declaring 0xFFFFFFF0 bytes, of which 40-odd are there."""
    description = jumbf_description("c2pa")
    return struct.pack(">I4s", 0xFFFFFFF0, b"jumb") + description


def truncated_c2pa_jpeg() -> bytes:
    """A real C2PA test file whose first JUMBF (APP11) segment is cut to a third: the
    manifest store superbox declares far more than the file carries."""
    data = (C2PA_FIXTURES / "adobe-20220124-CA.jpg").read_bytes()
    start = data.index(b"\xff\xeb")
    (length,) = struct.unpack(">H", data[start + 2 : start + 4])
    kept = (length - 2) // 3
    segment = data[start + 4 : start + 4 + kept]
    return (
        data[:start]
        + struct.pack(">BBH", 0xFF, 0xEB, kept + 2)
        + segment
        + data[start + 2 + length :]
    )


def zip_bytes(size: int) -> bytes:
    """A real zip archive holding one stored (uncompressed) file of ``size`` random bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(zipfile.ZipInfo("payload.bin", (2020, 1, 1, 0, 0, 0)), _noise(size))
    return buffer.getvalue()


def _noise(size: int, seed: int = 7) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()


def _photo(size: tuple[int, int] = (256, 192), seed: int = 0) -> Image.Image:
    return make_image(size, seed)


def _gray(size: tuple[int, int] = (256, 192), seed: int = 0) -> np.ndarray:
    """A photo-like luminance plane in 0..1."""
    return np.asarray(_photo(size, seed).convert("L"), dtype=np.float32) / 255.0


def _frames(count: int, size: tuple[int, int] = (128, 96)) -> list[Image.Image]:
    return [_photo(size, seed) for seed in range(count)]


def _exif_rotated_jpeg() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 CW to display
    return encode(_photo((256, 192), 3), "JPEG", quality=90, exif=exif)


def _animated(fmt: str, **options: object) -> bytes:
    first, *rest = _frames(4)
    return encode(first, fmt, save_all=True, append_images=rest, duration=100, loop=0, **options)


def _tiff_pages(count: int) -> bytes:
    first, *rest = _frames(count, (64, 48))
    return encode(first, "TIFF", save_all=True, append_images=rest)


def _strip(size: tuple[int, int]) -> bytes:
    width, height = size
    ramp = np.linspace(0, 255, max(width, height), dtype=np.float32)
    noise = np.random.default_rng(1).normal(0, 20, ramp.shape)
    line = np.clip(ramp + noise, 0, 255).astype(np.uint8).reshape(height, width)
    return encode(Image.fromarray(line).convert("RGB"), "PNG")


def _cut(data: bytes, keep: float = 0.5) -> bytes:
    return data[: int(len(data) * keep)]


def _tiff_cut_in_ifd(tiff: bytes) -> bytes:
    """A little-endian TIFF cut four entries into its first IFD (Pillow writes it first)."""
    assert tiff[:4] == b"II*\x00"
    (ifd,) = struct.unpack("<I", tiff[4:8])
    return tiff[: ifd + 2 + 4 * 12]


def _huge_jpeg(width: int = 65_000, height: int = 65_000) -> bytes:
    """A small JPEG whose frame header (SOF0) claims ``width`` x ``height``."""
    data = bytearray(encode(_photo((64, 48)), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def _huge_webp(side: int = 30_000) -> bytes:
    """A WebP whose VP8X header announces a ``side`` x ``side`` canvas, and nothing else."""
    payload = b"VP8X" + (10).to_bytes(4, "little") + b"\x00" * 4
    payload += (side - 1).to_bytes(3, "little") * 2
    return b"RIFF" + (len(payload) + 4).to_bytes(4, "little") + b"WEBP" + payload


def _corrupt_exif_jpeg() -> bytes:
    """A JPEG whose EXIF ImageDescription points 16 MB past the end of its segment."""
    exif = Image.Exif()
    exif[0x0112] = 1
    exif[0x010E] = "a description long enough to be stored out of line"
    raw = bytearray(exif.tobytes())
    order = ">" if raw[6:8] == b"MM" else "<"
    entry = raw.index(struct.pack(f"{order}HH", 0x010E, 2))
    raw[entry + 8 : entry + 12] = struct.pack(f"{order}I", 0xFFFF00)
    return encode(_photo((256, 192), 5), "JPEG", exif=bytes(raw))


def _palette_with_alpha_table() -> bytes:
    """A palette PNG whose tRNS gives several entries partial alpha (Pillow reads it as
    bytes, and warns when it converts such an image to RGB)."""
    image = _photo().convert("P", palette=Image.Palette.ADAPTIVE)
    return encode(image, "PNG", transparency=bytes([0, 64, 128, 192] + [255] * 12))


def _float_with_nonfinite(gray: np.ndarray) -> bytes:
    values = gray.astype(np.float32) * 1000.0 - 200.0  # outside 0..1 and 0..255
    values[0, :32] = np.nan
    values[1, :32] = np.inf
    values[2, :32] = -np.inf
    return encode(Image.fromarray(values), "TIFF")


# ---------------------------------------------------------------------------------------
# The corpus


def _cases() -> list[Case]:
    photo = _photo()
    jpeg = encode(photo, "JPEG", quality=90)
    png = encode(photo, "PNG")
    gray = _gray()
    svg_xxe = (
        b'<?xml version="1.0"?>\n'
        b'<!DOCTYPE svg [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
        b'<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64">'
        b"<text x='0' y='20'>&xxe;</text></svg>\n"
    )
    svg_laughs = (
        '<?xml version="1.0"?>\n'
        f"{billion_laughs_doctype('svg')}\n"
        '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64">'
        "<text x='0' y='20'>&lol9;</text></svg>\n"
    ).encode()
    bomb_side = int((Image.MAX_IMAGE_PIXELS or 89_478_485) ** 0.5) + 100  # over the warning
    budget_side = int(DEFAULT_MAX_DECODE_PIXELS**0.5) + 1  # just over the decode budget
    tiff = encode(photo, "TIFF", compression="raw")
    webp = encode(photo, "WEBP", quality=80)
    # Audited (no detector score), hashed (quality 0); `detect` says why it cannot judge.
    tiny = too_flat(cli_detect=Outcome(int(ExitStatus.ERROR), "too small to judge"))

    cases: list[tuple[str, str, bytes, dict[str, Outcome]]] = [
        # Bombs and budgets: refused from the header, before any pixel is decoded.
        ("png-bomb", "bomb.png", flat_png(bomb_side, bomb_side), refused(413, BOMB)),
        ("png-huge-header", "huge.png", flat_png(60_000, 60_000), refused(413, BOMB)),
        ("gif-huge-header", "huge.gif", huge_gif(), refused(413, BOMB)),
        ("jpeg-huge-header", "huge.jpg", _huge_jpeg(), refused(413, BOMB)),
        ("webp-huge-canvas", "huge.webp", _huge_webp(), refused(413, BOMB)),
        (
            "png-over-decode-budget",
            "budget.png",
            flat_png(budget_side, budget_side),
            refused(
                413,
                BUDGET,
                verify=Outcome(200, state="absent"),
                cli_verify=Outcome(int(ExitStatus.ABSENT), state="absent"),
                # Signing reads no pixels; it signs without a soft binding.
                sign=Outcome(200),
                cli_sign=Outcome(int(ExitStatus.SUCCESS)),
            ),
        ),
        # Truncated, empty, noise.
        ("jpeg-truncated", "cut.jpg", _cut(jpeg), refused(422, TRUNCATED)),
        ("png-truncated", "cut.png", _cut(png), refused(422, TRUNCATED)),
        ("webp-truncated", "cut.webp", _cut(webp), refused(422, TRUNCATED)),
        ("tiff-truncated", "cut.tif", _cut(tiff), refused(422, TRUNCATED)),
        (
            "tiff-truncated-ifd",
            "cut-ifd.tif",
            _tiff_cut_in_ifd(tiff),
            refused(422, "not a readable image"),
        ),
        (
            "zero-bytes",
            "empty.jpg",
            b"",
            refused(422, "empty", by_content=Outcome(422, "carries no asset")),
        ),
        ("random-bytes", "noise.jpg", _noise(4096), refused(415, UNSUPPORTED)),
        # Polyglots: a usable image with something else after it.
        ("jpeg-zip-polyglot", "polyglot.jpg", jpeg + zip_bytes(8192), accepted()),
        (
            "png-trailing-html",
            "trailing.png",
            png + b"<html><script>alert(document.cookie)</script></html>\n" * 4,
            accepted(),
        ),
        # XML entities: never expanded; SVG is not a format we take.
        ("svg-xxe", "xxe.svg", svg_xxe, refused(415, UNSUPPORTED)),
        ("svg-billion-laughs", "laughs.svg", svg_laughs, refused(415, UNSUPPORTED)),
        (
            "jpeg-xmp-xxe",
            "xmp-xxe.jpg",
            jpeg_with_segment(
                jpeg,
                0xE1,
                xmp_packet(
                    "<Iptc4xmpExt:DigitalSourceType>&xxe;</Iptc4xmpExt:DigitalSourceType>"
                    "<dc:title>&xxe;</dc:title>",
                    XXE_DOCTYPE,
                ),
            ),
            accepted(),
        ),
        (
            "jpeg-xmp-billion-laughs",
            "xmp-laughs.jpg",
            jpeg_with_segment(
                jpeg,
                0xE1,
                xmp_packet("<dc:title>&lol9;</dc:title>", billion_laughs_doctype("x:xmpmeta")),
            ),
            accepted(),
        ),
        # Malformed C2PA data: a broken manifest is "invalid", never a reason to refuse.
        (
            "jpeg-jumbf-length-bomb",
            "jumbf-bomb.jpg",
            jpeg_with_segment(jpeg, 0xEB, app11_jumbf(jumbf_length_bomb())),
            accepted("invalid"),
        ),
        (
            "jpeg-jumbf-truncated",
            "jumbf-cut.jpg",
            truncated_c2pa_jpeg(),
            # c2pa cannot carry the file's broken C2PA data forward as its own history.
            accepted(
                "invalid",
                sign=Outcome(422, "carries C2PA data that cannot be read"),
                cli_sign=Outcome(int(ExitStatus.ERROR), "carries C2PA data that cannot be read"),
            ),
        ),
        ("jpeg-corrupt-exif", "bad-exif.jpg", _corrupt_exif_jpeg(), accepted()),
        # Pillow modes.
        ("mode-1", "mode-1.png", encode(photo.convert("1"), "PNG"), accepted()),
        ("mode-L", "mode-L.png", encode(photo.convert("L"), "PNG"), accepted()),
        ("mode-LA", "mode-LA.png", encode(photo.convert("LA"), "PNG"), accepted()),
        (
            "mode-P-transparency",
            "mode-P.png",
            encode(photo.convert("P", palette=Image.Palette.ADAPTIVE), "PNG", transparency=0),
            accepted(),
        ),
        ("mode-P-alpha-table", "mode-P-alpha.png", _palette_with_alpha_table(), accepted()),
        (
            "mode-I16",
            "mode-I16.png",
            encode(Image.fromarray((gray * 65535).astype(np.uint16)), "PNG"),
            accepted(),
        ),
        (
            "mode-I",
            "mode-I.tif",
            encode(Image.fromarray((gray * 65535).astype(np.int32)), "TIFF"),
            accepted(),
        ),
        (
            "mode-F",
            "mode-F.tif",
            encode(Image.fromarray(gray.astype(np.float32)), "TIFF"),
            accepted(),
        ),
        ("mode-F-nonfinite", "mode-F-nan.tif", _float_with_nonfinite(gray), accepted()),
        ("mode-CMYK-jpeg", "cmyk.jpg", encode(photo.convert("CMYK"), "JPEG"), accepted()),
        ("mode-RGBA", "rgba.png", encode(photo.convert("RGBA"), "PNG"), accepted()),
        (
            "png-16-bit-rgb",
            "rgb16.png",
            _png16_rgb(photo),
            accepted(),
        ),
        # Extreme sizes.
        ("size-1x1", "one.png", encode(Image.new("RGB", (1, 1), (200, 30, 30)), "PNG"), tiny),
        ("size-1x20000", "column.png", _strip((1, 20_000)), tiny),
        ("size-20000x1", "row.png", _strip((20_000, 1)), tiny),
        # Frames, pages, orientation, names.
        ("gif-multi-frame", "frames.gif", _animated("GIF"), accepted()),
        ("webp-animated", "frames.webp", _animated("WEBP", quality=80), accepted()),
        ("tiff-many-pages", "pages.tif", _tiff_pages(64), accepted()),
        ("jpeg-exif-rotated", "rotated.jpg", _exif_rotated_jpeg(), accepted()),
        ("png-named-jpg", "really-a-png.jpg", png, accepted()),
    ]
    return [Case(*case) for case in cases]


def _png16_rgb(photo: Image.Image) -> bytes:
    """A 16-bit-per-channel RGB PNG (Pillow reads it as 8-bit RGB; it cannot write one)."""
    pixels = np.asarray(photo, dtype=np.uint16) * 257
    height, width = pixels.shape[:2]
    raw = b"".join(b"\x00" + pixels[y].astype(">u2").tobytes() for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(raw, 6))
        + png_chunk(b"IEND", b"")
    )


def corpus() -> list[Case]:
    """Every case, in a fixed order, the same bytes on every run."""
    cases = _cases()
    names = [case.name for case in cases]
    assert len(set(names)) == len(names), "case names must be unique"
    files = [case.filename for case in cases]
    assert len(set(files)) == len(files), "file names must be unique"
    return cases


def build_corpus(directory: Path, cases: list[Case] | None = None) -> dict[str, Path]:
    """Write every case into ``directory`` under its file name; ``{case name: path}``."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for case in cases if cases is not None else corpus():
        path = directory / case.filename
        path.write_bytes(case.data)
        paths[case.name] = path
    return paths


def _main(argv: list[str]) -> None:
    if len(argv) != 1:
        sys.exit("usage: python -m tests.hostile DIRECTORY")
    for name, path in build_corpus(Path(argv[0])).items():
        print(f"{name}\t{path}\t{path.stat().st_size}")


if __name__ == "__main__":
    _main(sys.argv[1:])
