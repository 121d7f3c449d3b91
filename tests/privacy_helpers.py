"""Images with personal metadata, for the scrub and privacy-report tests (a module with a
unique name, not conftest)."""

from __future__ import annotations

import io

from PIL import Image

from tests.conftest import make_image

# A generative-AI declaration beside a personal field: scrubbing must keep the first.
XMP_WITH_CREATOR = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" '
    b'xmlns:dc="http://purl.org/dc/elements/1.1/" '
    b'xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
    b'Iptc4xmpExt:DigitalSourceType="http://cv.iptc.org/newscodes/digitalsourcetype/'
    b'trainedAlgorithmicMedia"><dc:creator><rdf:Seq><rdf:li>Jane Doe</rdf:li></rdf:Seq>'
    b"</dc:creator></rdf:Description></rdf:RDF></x:xmpmeta>"
)
ICC = b"\x00\x00\x02\x0cICC-profile-stand-in" * 8


def personal_exif() -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: kept
    exif[0x010F] = "Canon"  # make: not personal, kept
    exif[0x013B] = "Jane Doe"
    exif.get_ifd(0x8769)[0xA431] = "SN-0042"
    exif.get_ifd(0x8769)[0xA435] = "LENS-77"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", (48.0, 51.0, 30.0), "E", (2.0, 21.0, 5.0)
    return exif


def personal_jpeg(seed: int = 0) -> bytes:
    buffer = io.BytesIO()
    make_image(seed=seed).save(
        buffer, "JPEG", exif=personal_exif().tobytes(), icc_profile=ICC, xmp=XMP_WITH_CREATOR
    )
    return buffer.getvalue()


def personal_png(seed: int = 0) -> bytes:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Jane Doe")
    info.add_text("Title", "Street")
    buffer = io.BytesIO()
    make_image(seed=seed).save(buffer, "PNG", exif=personal_exif().tobytes(), pnginfo=info)
    return buffer.getvalue()
