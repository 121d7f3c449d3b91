"""Personal metadata in image files: finding it, and writing copies without it.

What counts as personal: where the picture was taken (EXIF and XMP GPS position, IPTC and
XMP location names), what identifies the camera and so its owner (body and lens serial
numbers, the camera owner's name, the maker note, where serials hide), and who made or
owns the picture (EXIF Artist / Copyright / XPAuthor, XMP ``dc:creator`` / ``dc:rights``
/ ``xmpRights:Owner``, IPTC by-line, contact and copyright notice, people shown).

Scrubbing works on the file's own segments (JPEG) and chunks (PNG): the compressed pixels,
the orientation and the colour profile are kept byte for byte, as are the XMP properties
that are not personal (an IPTC digital source type still declares AI). A C2PA manifest
is dropped from a copy that had to be changed: its hard binding could not hold, and its
assertions may name people too.
"""

from __future__ import annotations

import io
import re
import struct
import zlib
from dataclasses import dataclass, field
from typing import Literal
from xml.etree import ElementTree

from provenance.errors import InputError

Kind = Literal["gps", "serial", "name", "location", "contact"]
KIND_TEXT: dict[str, str] = {
    "gps": "GPS position",
    "serial": "camera or lens serial number",
    "name": "owner, author or copyright name",
    "location": "place name",
    "contact": "contact details",
}

# EXIF tags by IFD: 0 is IFD0, 0x8769 the Exif IFD, 0x8825 the GPS IFD (removed whole).
GPS_IFD, EXIF_IFD = 0x8825, 0x8769
EXIF_PERSONAL: dict[tuple[int, int], tuple[str, Kind]] = {
    (0, 0x013B): ("EXIF Artist", "name"),
    (0, 0x8298): ("EXIF Copyright", "name"),
    (0, 0x9C9D): ("EXIF XPAuthor", "name"),
    (EXIF_IFD, 0xA430): ("EXIF CameraOwnerName", "name"),
    (EXIF_IFD, 0xA431): ("EXIF BodySerialNumber", "serial"),
    (EXIF_IFD, 0xA435): ("EXIF LensSerialNumber", "serial"),
    (EXIF_IFD, 0x927C): ("EXIF MakerNote", "serial"),
}
GPS_POSITION_TAGS = (1, 2, 3, 4)  # GPSLatitudeRef, GPSLatitude, GPSLongitudeRef, GPSLongitude

_DC = "http://purl.org/dc/elements/1.1/"
_EXIF = "http://ns.adobe.com/exif/1.0/"
_AUX = "http://ns.adobe.com/exif/1.0/aux/"
_EXIF_EX = "http://cipa.jp/exif/1.0/"
_RIGHTS = "http://ns.adobe.com/xap/1.0/rights/"
_PHOTOSHOP = "http://ns.adobe.com/photoshop/1.0/"
_IPTC_CORE = "http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/"
_IPTC_EXT = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
_TIFF = "http://ns.adobe.com/tiff/1.0/"
XMP_PERSONAL: dict[tuple[str, str], tuple[str, Kind]] = {
    (_DC, "creator"): ("XMP dc:creator", "name"),
    (_DC, "rights"): ("XMP dc:rights", "name"),
    (_RIGHTS, "Owner"): ("XMP xmpRights:Owner", "name"),
    (_TIFF, "Artist"): ("XMP tiff:Artist", "name"),
    (_TIFF, "Copyright"): ("XMP tiff:Copyright", "name"),
    (_PHOTOSHOP, "AuthorsPosition"): ("XMP photoshop:AuthorsPosition", "name"),
    (_PHOTOSHOP, "Credit"): ("XMP photoshop:Credit", "name"),
    (_PHOTOSHOP, "City"): ("XMP photoshop:City", "location"),
    (_PHOTOSHOP, "State"): ("XMP photoshop:State", "location"),
    (_PHOTOSHOP, "Country"): ("XMP photoshop:Country", "location"),
    (_IPTC_CORE, "CreatorContactInfo"): ("XMP Iptc4xmpCore:CreatorContactInfo", "contact"),
    (_IPTC_CORE, "Location"): ("XMP Iptc4xmpCore:Location", "location"),
    (_IPTC_EXT, "PersonInImage"): ("XMP Iptc4xmpExt:PersonInImage", "name"),
    (_IPTC_EXT, "LocationCreated"): ("XMP Iptc4xmpExt:LocationCreated", "location"),
    (_IPTC_EXT, "LocationShown"): ("XMP Iptc4xmpExt:LocationShown", "location"),
    (_EXIF, "GPSLatitude"): ("XMP exif:GPSLatitude", "gps"),
    (_EXIF, "GPSLongitude"): ("XMP exif:GPSLongitude", "gps"),
    (_EXIF, "GPSAltitude"): ("XMP exif:GPSAltitude", "gps"),
    (_AUX, "SerialNumber"): ("XMP aux:SerialNumber", "serial"),
    (_AUX, "LensSerialNumber"): ("XMP aux:LensSerialNumber", "serial"),
    (_AUX, "OwnerName"): ("XMP aux:OwnerName", "name"),
    (_EXIF_EX, "BodySerialNumber"): ("XMP exifEX:BodySerialNumber", "serial"),
    (_EXIF_EX, "LensSerialNumber"): ("XMP exifEX:LensSerialNumber", "serial"),
    (_EXIF_EX, "CameraOwnerName"): ("XMP exifEX:CameraOwnerName", "name"),
}
# IPTC IIM datasets of record 2 (the Photoshop APP13 block of a JPEG).
IPTC_PERSONAL: dict[tuple[int, int], tuple[str, Kind]] = {
    (2, 80): ("IPTC By-line", "name"),
    (2, 85): ("IPTC By-line Title", "name"),
    (2, 90): ("IPTC City", "location"),
    (2, 92): ("IPTC Sub-location", "location"),
    (2, 95): ("IPTC Province-State", "location"),
    (2, 101): ("IPTC Country", "location"),
    (2, 110): ("IPTC Credit", "name"),
    (2, 116): ("IPTC Copyright Notice", "name"),
    (2, 118): ("IPTC Contact", "contact"),
    (2, 122): ("IPTC Writer-Editor", "name"),
}
PNG_TEXT_PERSONAL = {b"Author": ("PNG Author", "name"), b"Copyright": ("PNG Copyright", "name")}

_XMP_PACKET = re.compile(rb"<x:xmpmeta[\s>].*?</x:xmpmeta>", re.DOTALL)
_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"


@dataclass(frozen=True)
class PersonalField:
    """One personal field found in a file: its name (``EXIF BodySerialNumber``) and kind.
    Values are not kept: a report about personal data should not spread it further."""

    name: str
    kind: Kind


def find_personal_metadata(data: bytes) -> list[PersonalField]:
    """The personal fields an image file carries (EXIF, XMP, IPTC IIM, PNG text), sorted."""
    from PIL import Image, IptcImagePlugin

    found: set[PersonalField] = set()
    try:
        with Image.open(io.BytesIO(data)) as image:
            found.update(_exif_fields(image.getexif()))
            if image.format == "JPEG":
                iptc = IptcImagePlugin.getiptcinfo(image) or {}
                found.update(
                    PersonalField(*IPTC_PERSONAL[key]) for key in iptc if key in IPTC_PERSONAL
                )
            for key, value in (image.info or {}).items():
                if isinstance(key, str) and key.encode() in PNG_TEXT_PERSONAL and value:
                    found.add(PersonalField(*PNG_TEXT_PERSONAL[key.encode()]))
    except Exception:
        pass
    for packet in _XMP_PACKET.findall(data):
        found.update(PersonalField(*XMP_PERSONAL[key]) for key in _xmp_keys(packet))
    return sorted(found, key=lambda f: (f.kind, f.name))


def _exif_fields(exif: object) -> set[PersonalField]:
    fields: set[PersonalField] = set()
    if not exif:
        return fields
    gps = exif.get_ifd(GPS_IFD)  # type: ignore[attr-defined]
    if any(tag in gps for tag in GPS_POSITION_TAGS):
        fields.add(PersonalField("EXIF GPS position", "gps"))
    sub = exif.get_ifd(EXIF_IFD)  # type: ignore[attr-defined]
    for (ifd, tag), (name, kind) in EXIF_PERSONAL.items():
        where = exif if ifd == 0 else sub
        value = where.get(tag)
        if value not in (None, "", b""):
            fields.add(PersonalField(name, kind))
    return fields


def _xmp_keys(packet: bytes) -> set[tuple[str, str]]:
    """The personal (namespace, name) properties of an XMP packet, as elements or as
    attributes of an ``rdf:Description``."""
    try:
        root = ElementTree.fromstring(packet)
    except ElementTree.ParseError:
        return set()
    keys: set[tuple[str, str]] = set()
    for element in root.iter():
        for name in [element.tag, *element.attrib]:
            key = _split(name)
            if key in XMP_PERSONAL:
                keys.add(key)
    return keys


def _split(name: str) -> tuple[str, str]:
    if name.startswith("{"):
        namespace, _, local = name[1:].partition("}")
        return namespace, local
    return "", name


# Scrubbing


@dataclass
class ScrubResult:
    data: bytes
    removed: list[PersonalField] = field(default_factory=list)
    dropped_c2pa: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.removed)


def scrub_bytes(data: bytes, name: str = "image") -> ScrubResult:
    """A copy of an image file without its personal metadata (the input is not changed).

    A file without any is returned as is. JPEG and PNG are rewritten segment by segment;
    other formats with personal metadata are refused (``InputError``) rather than
    re-encoded.
    """
    removed = find_personal_metadata(data)
    if not removed:
        return ScrubResult(data)
    if data.startswith(b"\xff\xd8"):
        out, dropped = _scrub_jpeg(data)
    elif data.startswith(b"\x89PNG\r\n\x1a\n"):
        out, dropped = _scrub_png(data)
    else:
        raise InputError(
            f"{name} carries personal metadata ({', '.join(f.name for f in removed)}) but "
            "only JPEG and PNG files can be scrubbed without re-encoding them."
        )
    left = find_personal_metadata(out)
    if left:  # a field in a place the rewrite does not reach: never hand out such a copy
        raise InputError(f"{name}: {', '.join(f.name for f in left)} could not be removed.")
    return ScrubResult(out, removed, dropped)


def _scrub_exif(tiff: bytes) -> bytes:
    """EXIF (``Exif\\0\\0`` + TIFF) without the personal tags; orientation and the rest kept."""
    from PIL import Image

    exif = Image.Exif()
    exif.load(tiff)
    sub = exif.get_ifd(EXIF_IFD)
    exif.get_ifd(GPS_IFD)
    if GPS_IFD in exif:
        del exif[GPS_IFD]
    for ifd, tag in EXIF_PERSONAL:
        where = exif if ifd == 0 else sub
        if tag in where:
            del where[tag]
    return exif.tobytes()


def _scrub_xmp(packet: bytes) -> bytes | None:
    """The XMP packet without personal properties; None when nothing else is left."""
    try:
        prefixes = {
            uri: prefix
            for _event, (prefix, uri) in ElementTree.iterparse(
                io.BytesIO(packet), events=("start-ns",)
            )
        }
        root = ElementTree.fromstring(packet)
    except ElementTree.ParseError:
        return None
    for uri, prefix in prefixes.items():
        # The file's own prefixes, so the rewritten packet reads like the original; a
        # default namespace or a reserved ns0-style prefix keeps ElementTree's own.
        if prefix and not re.fullmatch(r"ns\d+", prefix):
            ElementTree.register_namespace(prefix, uri)
    for element in root.iter():
        for attribute in list(element.attrib):
            if _split(attribute) in XMP_PERSONAL:
                del element.attrib[attribute]
        for child in list(element):
            if _split(child.tag) in XMP_PERSONAL:
                element.remove(child)
    body = ElementTree.tostring(root, encoding="unicode")
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>' + body + '<?xpacket end="w"?>'
    ).encode("utf-8")


_XMP_APP1 = b"http://ns.adobe.com/xap/1.0/\x00"
_XMP_EXTENSION = b"http://ns.adobe.com/xmp/extension/\x00"


def _scrub_jpeg(data: bytes) -> tuple[bytes, bool]:
    out = bytearray(data[:2])
    position, dropped_c2pa = 2, False
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            raise InputError("The JPEG's segments are malformed; it cannot be scrubbed.")
        marker = data[position + 1]
        if marker == 0xDA or marker == 0xD9:  # start of scan: the rest is pixels
            out += data[position:]
            return bytes(out), dropped_c2pa
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:
            out += data[position : position + 2]
            position += 2
            continue
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        payload = data[position + 4 : position + 2 + length]
        segment = data[position : position + 2 + length]
        position += 2 + length
        if marker == 0xE1 and payload.startswith(b"Exif\x00\x00"):
            payload = _scrub_exif(payload)
        elif marker == 0xE1 and payload.startswith(_XMP_APP1):
            packet = _XMP_PACKET.search(payload)
            cleaned = _scrub_xmp(packet.group(0)) if packet else None
            if cleaned is None:
                continue
            payload = _XMP_APP1 + cleaned
        elif (marker == 0xE1 and payload.startswith(_XMP_EXTENSION)) or marker == 0xED:
            continue
        elif marker == 0xEB:  # APP11 JUMBF: the C2PA manifest store
            dropped_c2pa = True
            continue
        else:
            out += segment
            continue
        if len(payload) + 2 > 0xFFFF:
            raise InputError("A metadata segment is too large to rewrite; it cannot be scrubbed.")
        out += bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload
    raise InputError("The JPEG ends before its pixels; it cannot be scrubbed.")


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _scrub_png(data: bytes) -> tuple[bytes, bool]:
    out = bytearray(data[:8])
    position, dropped_c2pa = 8, False
    while position + 8 <= len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        chunk = data[position : position + 12 + length]
        position += 12 + length
        if kind == b"eXIf":
            out += _png_chunk(kind, _scrub_exif(b"Exif\x00\x00" + body)[6:])
        elif kind in (b"tEXt", b"iTXt", b"zTXt"):
            keyword = body.split(b"\x00", 1)[0]
            if keyword in PNG_TEXT_PERSONAL:
                continue
            if keyword == b"XML:com.adobe.xmp" and kind == b"iTXt":
                packet = _XMP_PACKET.search(body)
                cleaned = _scrub_xmp(packet.group(0)) if packet else None
                if cleaned is None:
                    continue
                # Uncompressed iTXt: keyword, flag 0, method 0, no language, no translation.
                out += _png_chunk(kind, keyword + b"\x00\x00\x00\x00\x00" + cleaned)
            elif keyword == b"XML:com.adobe.xmp" or keyword.startswith(b"Raw profile type"):
                continue  # compressed XMP or ImageMagick's raw EXIF/IPTC: dropped whole
            else:
                out += chunk
        elif kind == b"caBX":
            dropped_c2pa = True
        else:
            out += chunk
        if kind == b"IEND":
            return bytes(out), dropped_c2pa
    raise InputError("The PNG ends without its IEND chunk; it cannot be scrubbed.")
