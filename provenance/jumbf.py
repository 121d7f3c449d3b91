"""Reading labels out of a C2PA manifest store's JUMBF boxes (ISO/IEC 19566-5), no c2pa.

Reading the active manifest's label from the bytes c2pa returns after signing is far
cheaper than validating the signed file again with a Reader.
"""

from __future__ import annotations

import struct

from provenance.errors import InputError


def active_manifest_label(manifest_store: bytes) -> str:
    """The label (``urn:c2pa:...``) of the active manifest in a JUMBF manifest store.

    The active manifest is the last manifest box of the store. Reading the label from the
    bytes c2pa returns is far cheaper than validating the signed file again with a Reader.
    """
    store = jumbf_boxes(manifest_store, 0, len(manifest_store))
    if not store or store[0][0] != b"jumb":
        raise InputError("The manifest store is not a JUMBF box.")
    _kind, start, end = store[0]
    labels = [
        _jumd_label(manifest_store, child_start, child_end)
        for kind, child_start, child_end in jumbf_boxes(manifest_store, start, end)
        if kind == b"jumb"
    ]
    if not labels or not labels[-1]:
        raise InputError("The manifest store holds no labelled manifest.")
    return labels[-1]


def jumbf_boxes(data: bytes, start: int, end: int) -> list[tuple[bytes, int, int]]:
    """``(type, payload start, payload end)`` of the ISO BMFF-style boxes in a byte range."""
    boxes: list[tuple[bytes, int, int]] = []
    offset = start
    while offset + 8 <= end:
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        header = 8
        if size == 1:
            if offset + 16 > end:
                break
            (size,) = struct.unpack(">Q", data[offset + 8 : offset + 16])
            header = 16
        elif size == 0:
            size = end - offset
        if size < header or offset + size > end:
            break
        boxes.append((kind, offset + header, offset + size))
        offset += size
    return boxes


def _jumd_label(data: bytes, start: int, end: int) -> str | None:
    """The label of a JUMBF superbox, from its first child (the ``jumd`` description box)."""
    children = jumbf_boxes(data, start, end)
    if not children or children[0][0] != b"jumd":
        return None
    _kind, payload, payload_end = children[0]
    toggles_at = payload + 16  # after the content type UUID
    if toggles_at >= payload_end or not data[toggles_at] & 0x02:
        return None
    label_end = data.find(b"\x00", toggles_at + 1, payload_end)
    raw = data[toggles_at + 1 : label_end if label_end != -1 else payload_end]
    return raw.decode("utf-8", "replace")
