"""Trust anchors as the ecosystem configures them: the official C2PA trust list (shipped,
a pinned snapshot in ``provenance/trustlists``), the user's own additions, and files
given per command.

A verifier that trusts only what the user passes calls every real Content Credential
"valid, signer unknown". Validators such as Adobe's Inspect check signers against the
C2PA conformance program's list, so ``provaudit verify`` does too by default, and names
the list's issue date and digest in each report so a result can be traced to the list
that produced it.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import asdict, dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, Literal

from provenance.errors import InputError

TRUST_LISTS_DIR = Path(__file__).resolve().parent / "trustlists"
TrustListName = Literal["c2pa", "none"]
TRUST_LIST_NAMES: tuple[TrustListName, ...] = ("c2pa", "none")
_FILES = {"c2pa": "C2PA-TRUST-LIST", "c2pa-tsa": "C2PA-TSA-TRUST-LIST"}


@dataclass(frozen=True)
class TrustListInfo:
    """Which list a verification used: what every report names."""

    name: str
    issued: str
    next_update: str | None
    sha256: str
    """Of the PEM bundle the anchors were read from."""
    anchors: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TrustAnchor:
    """One certificate a signer may chain to."""

    name: str
    subject: str
    not_after: str
    sha256: str
    """SHA-256 of the certificate's DER: how ``trust show`` finds it."""
    source: str
    """``c2pa``, ``c2pa-tsa`` or ``user``."""
    pem: str

    def summary(self) -> dict[str, str]:
        return {key: value for key, value in asdict(self).items() if key != "pem"}

    @cached_property
    def certificate(self) -> Any:
        """The parsed certificate, parsed once: the TSA check of every report uses it."""
        from cryptography import x509

        return x509.load_pem_x509_certificate(self.pem.encode("ascii"))


@dataclass(frozen=True)
class TrustList:
    info: TrustListInfo
    anchors: tuple[TrustAnchor, ...]

    @property
    def pem(self) -> str:
        return "".join(anchor.pem for anchor in self.anchors)


def _certificates(pem: bytes) -> list[Any]:
    from cryptography import x509

    try:
        return x509.load_pem_x509_certificates(pem)
    except ValueError:
        return []


def _anchor(certificate: Any, name: str | None, source: str) -> TrustAnchor:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    common_names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    subject_name = common_names[0].value if common_names else certificate.subject.rfc4514_string()
    return TrustAnchor(
        name=name or str(subject_name),
        subject=certificate.subject.rfc4514_string(),
        not_after=certificate.not_valid_after_utc.isoformat(),
        sha256=certificate.fingerprint(hashes.SHA256()).hex(),
        source=source,
        pem=certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"),
    )


def _entity_names(listing: dict[str, Any]) -> dict[str, str]:
    """Certificate SHA-256 -> the trusted entity's name, from the ETSI TS 119 602 JSON."""
    names: dict[str, str] = {}
    for entity in listing.get("TrustedEntitiesList", []):
        information = entity.get("TrustedEntityInformation", {})
        entity_name = next((n["value"] for n in information.get("TEName", [])), "")
        for service in entity.get("TrustedEntityServices", []):
            identity = service.get("ServiceInformation", {}).get("ServiceDigitalIdentity", {})
            for certificate in identity.get("X509Certificates", []):
                der = base64.b64decode(certificate.get("val", ""))
                names[hashlib.sha256(der).hexdigest()] = entity_name
    return names


@lru_cache(maxsize=2)
def bundled_trust_list(kind: Literal["c2pa", "c2pa-tsa"] = "c2pa") -> TrustList:
    """The shipped snapshot of the C2PA claim-signing (``c2pa``) or TSA (``c2pa-tsa``) list."""
    stem = TRUST_LISTS_DIR / _FILES[kind]
    pem = stem.with_suffix(".pem").read_bytes()
    listing = json.loads(stem.with_suffix(".json").read_text())["LoTE"]
    scheme = listing["ListAndSchemeInformation"]
    names = _entity_names(listing)
    anchors = []
    for certificate in _certificates(pem):
        anchor = _anchor(certificate, None, kind)
        anchors.append(_anchor(certificate, names.get(anchor.sha256), kind))
    info = TrustListInfo(
        name=next((n["value"] for n in scheme.get("SchemeName", [])), kind),
        issued=scheme.get("ListIssueDateTime", ""),
        next_update=scheme.get("NextUpdate"),
        sha256=hashlib.sha256(pem).hexdigest(),
        anchors=len(anchors),
    )
    return TrustList(info, tuple(anchors))


def user_trust_dir() -> Path:
    """Where ``provaudit trust add`` keeps the user's anchors (beside the dev identity)."""
    from provenance.keys import default_identity_dir

    return default_identity_dir().parent / "trust"


def user_anchors() -> list[TrustAnchor]:
    directory = user_trust_dir()
    if not directory.is_dir():
        return []
    return [
        _anchor(certificate, None, "user")
        for path in sorted(directory.glob("*.pem"))
        for certificate in _certificates(path.read_bytes())
    ]


def add_user_anchors(pem: bytes, origin: str) -> list[TrustAnchor]:
    """Keep the certificates of a PEM file as the user's anchors, one file each, named by
    fingerprint (adding one twice changes nothing)."""
    from provenance.files import atomic_write

    certificates = _certificates(pem)
    if not certificates:
        raise InputError(f"{origin} holds no PEM certificate.")
    directory = user_trust_dir()
    directory.mkdir(parents=True, exist_ok=True)
    added = [_anchor(certificate, None, "user") for certificate in certificates]
    for anchor in added:
        atomic_write(directory / f"{anchor.sha256}.pem", anchor.pem.encode("ascii"))
    return added


def all_anchors(trust_list: TrustListName = "c2pa") -> list[TrustAnchor]:
    """The anchors ``verify`` uses before any ``--trust`` file: the list and the user's
    (``none``: neither, only what each command is given)."""
    if trust_list == "none":
        return []
    return list(bundled_trust_list("c2pa").anchors) + user_anchors()


def find_anchor(query: str, anchors: list[TrustAnchor]) -> TrustAnchor:
    """An anchor by fingerprint prefix (at least 8 hex digits) or by a word of its name."""
    needle = query.lower().replace(":", "")
    if len(needle) >= 8 and all(c in "0123456789abcdef" for c in needle):
        found = [anchor for anchor in anchors if anchor.sha256.startswith(needle)]
    else:
        found = [
            anchor
            for anchor in anchors
            if needle in anchor.name.lower() or needle in anchor.subject.lower()
        ]
    if len(found) != 1:
        what = "No anchor" if not found else f"{len(found)} anchors"
        raise InputError(f"{what} match {query!r}; give more of the fingerprint.")
    return found[0]


def trust_list_info(trust_list: TrustListName) -> TrustListInfo | None:
    return bundled_trust_list("c2pa").info if trust_list == "c2pa" else None
