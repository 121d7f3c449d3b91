"""IPTC ``DigitalSourceType`` from an embedded XMP packet.

Some platforms label AI images this way instead of (or besides) C2PA. It is a weaker
signal than a manifest: anyone can write it and nothing binds it to the pixels.
"""

from __future__ import annotations

import re

_XMP_FIELD = b"DigitalSourceType"
# <Iptc4xmpExt:DigitalSourceType>URI</...>, DigitalSourceType="URI" or rdf:resource="URI"
_PATTERNS = (
    re.compile(rb"DigitalSourceType\s*=\s*[\"']([^\"']+)[\"']"),
    re.compile(rb"DigitalSourceType[^>]*rdf:resource\s*=\s*[\"']([^\"']+)[\"']"),
    re.compile(rb"DigitalSourceType>\s*([^<\s]+)\s*<"),
)


def iptc_digital_source_type(data: bytes) -> str | None:
    """The IPTC digital source type declared in the file's XMP, if any."""
    start = data.find(_XMP_FIELD)
    if start < 0:
        return None
    window = data[max(0, start - 64) : start + 512]
    for pattern in _PATTERNS:
        found = pattern.search(window)
        if found:
            return found.group(1).decode("utf-8", "replace").strip()
    return None
