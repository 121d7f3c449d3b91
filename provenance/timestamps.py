"""The RFC 3161 time-stamp of a manifest's signature, read from the file's bytes.

c2pa reports the signing time of a token it validated, trusts the time-stamping authority
("legacy timestamp cert trusted") whatever list the user configured, and drops a token it
cannot decode without a word. Here the token is found in the active manifest's signature
box (the ``sigTst`` / ``sigTst2`` header of its COSE signature), so a report can say that
one was there, and which authority issued it, checked against the C2PA TSA trust list.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from provenance.trustlist import TrustAnchor

_TIMESTAMPING_EKU = "1.3.6.1.5.5.7.3.8"


@dataclass(frozen=True)
class TsaCheck:
    """Who issued a manifest's time-stamp, and whether the TSA trust list vouches for it."""

    tsa: str | None
    on_tsa_list: bool
    tsa_list: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def signature_box(data: bytes, active_label: str | None) -> bytes:
    """The CBOR payload of the active manifest's ``c2pa.signature`` box, or b"".

    Found in the raw bytes: the manifest's label, then its ``c2pa.signature`` description
    box, then the ``cbor`` box that follows it (in a JPEG the store may be split across
    APP11 segments; a box that straddles one is not found, and nothing is claimed).
    """
    if not active_label:
        return b""
    label_at = data.find(active_label.encode())
    signature_at = data.find(b"c2pa.signature", label_at) if label_at != -1 else -1
    cbor_at = data.find(b"cbor", signature_at) if signature_at != -1 else -1
    if cbor_at < 4:
        return b""
    length = int.from_bytes(data[cbor_at - 4 : cbor_at], "big")
    return data[cbor_at + 4 : cbor_at - 4 + length]


def carries_timestamp(box: bytes) -> bool:
    return b"sigTst" in box


def timestamp_token(box: bytes) -> bytes | None:
    """The first token's DER: ``sigTst: {tstTokens: [{val: bstr}]}`` in the COSE header."""
    key = box.find(b"sigTst")
    value = box.find(b"cval", key) if key != -1 else -1  # text string "val": 0x63 'val'
    if value == -1:
        return None
    start = value + 4
    head = box[start : start + 1]
    sizes = {b"\x58": 1, b"\x59": 2, b"\x5a": 4}
    if head not in sizes:
        return None
    width = sizes[head]
    length = int.from_bytes(box[start + 1 : start + 1 + width], "big")
    token = box[start + 1 + width : start + 1 + width + length]
    return token if len(token) == length else None


def token_certificates(token: bytes) -> list[Any]:
    """The X.509 certificates a time-stamp token carries (its SignedData ``certificates``).

    OpenSSL's PKCS#7 reader refuses a SignedData whose content is a TSTInfo, so the
    certificates are found as the DER sequences inside the token that parse as one.
    """
    from cryptography import x509

    found = []
    offset = token.find(b"\x30\x82")
    while offset != -1:
        length = int.from_bytes(token[offset + 2 : offset + 4], "big") + 4
        if token[offset + 4 : offset + 6] == b"\x30\x82":
            try:
                found.append(x509.load_der_x509_certificate(token[offset : offset + length]))
                offset = token.find(b"\x30\x82", offset + length)
                continue
            except ValueError:
                pass
        offset = token.find(b"\x30\x82", offset + 1)
    return found


def _issued_by(certificate: Any, issuer: Any) -> bool:
    if certificate.issuer != issuer.subject:
        return False
    try:
        certificate.verify_directly_issued_by(issuer)
    except Exception:  # InvalidSignature, or a key type the check does not handle
        return False
    return True


def check_tsa(token: bytes, anchors: list[TrustAnchor], list_name: str | None) -> TsaCheck:
    """The token's TSA (the certificate with the time-stamping usage) and whether it, or a
    certificate it chains to through the token's own, is one of ``anchors``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    certificates = token_certificates(token)

    def stamps(certificate: Any) -> bool:
        try:
            usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
        except x509.ExtensionNotFound:
            return False
        return any(oid.dotted_string == _TIMESTAMPING_EKU for oid in usage.value)

    leaf = next((c for c in certificates if stamps(c)), certificates[0] if certificates else None)
    if leaf is None:
        return TsaCheck(None, False, list_name)
    names = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    tsa = str(names[0].value) if names else leaf.subject.rfc4514_string()
    trusted = {anchor.sha256 for anchor in anchors}
    anchor_certificates = [anchor.certificate for anchor in anchors]
    current, seen = leaf, set()
    while current is not None and current.fingerprint(hashes.SHA256()).hex() not in seen:
        fingerprint = current.fingerprint(hashes.SHA256()).hex()
        if fingerprint in trusted or any(_issued_by(current, a) for a in anchor_certificates):
            return TsaCheck(tsa, True, list_name)
        seen.add(fingerprint)
        current = next(
            (c for c in certificates if c is not current and _issued_by(current, c)), None
        )
    return TsaCheck(tsa, False, list_name)
