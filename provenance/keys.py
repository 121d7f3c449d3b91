"""Signing identities: a development CA, PEM key + chain files, or an external signer.

A C2PA validator (c2pa-rs) only accepts a signing certificate that is an end-entity
certificate (BasicConstraints CA:false) with KeyUsage digitalSignature, an
AuthorityKeyIdentifier and an ExtendedKeyUsage that includes emailProtection. A
certificate with only the documentSigning or C2PA EKU signs fine but then reads as
``signingCredential.invalid`` everywhere, so :func:`check_signing_certificate` refuses
such certificates before anything is signed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from provenance.errors import CertificateProfileError

if TYPE_CHECKING:
    import c2pa
    from cryptography import x509

SUPPORTED_ALGORITHMS = ("es256", "es384", "es512", "ps256", "ed25519")
EMAIL_PROTECTION_OID = "1.3.6.1.5.5.7.3.4"
DEV_IDENTITY_NOTICE = (
    "This is a DEVELOPMENT signing identity: its root CA is self-made and is trusted only "
    "where you pass root-ca.pem as a trust anchor (e.g. `provaudit verify --trust`). "
    "Do not use it to sign content for publication."
)
DEV_ORGANIZATION = "provaudit (development)"
"""The organization of every development identity's certificates (``issue_certificates``):
verify reports flag a signer it issued as a development signer, whoever's machine made it."""
ROOT_FILE = "root-ca.pem"
ROOT_KEY_FILE = "root-ca.key"
CERT_FILE = "signer.pem"
KEY_FILE = "signer.key"
INFO_FILE = "identity.json"


@dataclass(frozen=True)
class SigningIdentity:
    """Everything needed to sign: the chain (leaf first) and either a key or a callback.

    ``sign_callback`` lets the private key live elsewhere (a KMS or HSM): it receives the
    bytes to be signed and returns the signature in the form C2PA expects for ``alg``
    (raw r||s for ECDSA, as COSE does).
    """

    alg: str
    cert_chain_pem: bytes
    private_key_pem: bytes | None = None
    sign_callback: Callable[[bytes], bytes] | None = None
    tsa_url: str | None = None
    is_development: bool = False
    source: str = ""
    root_pem: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.alg not in SUPPORTED_ALGORITHMS:
            raise CertificateProfileError(
                f"Signing algorithm {self.alg!r} is not supported; use one of "
                f"{', '.join(SUPPORTED_ALGORITHMS)}."
            )
        if (self.private_key_pem is None) == (self.sign_callback is None):
            raise CertificateProfileError(
                "A signing identity needs exactly one of a private key or a signing callback."
            )

    def make_signer(self) -> c2pa.Signer:
        import c2pa

        if self.sign_callback is not None:
            return c2pa.Signer.from_callback(
                self.sign_callback,
                _C2PA_ALG[self.alg](),
                self.cert_chain_pem.decode(),
                self.tsa_url,
            )
        info = c2pa.C2paSignerInfo(
            self.alg.encode(), self.cert_chain_pem, self.private_key_pem, self.tsa_url
        )
        return c2pa.Signer.from_info(info)


def _alg_enum(name: str) -> Callable[[], object]:
    def resolve() -> object:
        import c2pa

        return getattr(c2pa.C2paSigningAlg, name)

    return resolve


_C2PA_ALG = {alg: _alg_enum(alg.upper()) for alg in SUPPORTED_ALGORITHMS}


# --- certificate checks ------------------------------------------------------------------


def _load_chain(cert_chain_pem: bytes) -> list[x509.Certificate]:
    from cryptography import x509

    try:
        chain = x509.load_pem_x509_certificates(cert_chain_pem)
    except ValueError as exc:
        raise CertificateProfileError(
            f"The certificate file is not a PEM certificate chain ({exc})."
        ) from None
    if not chain:
        raise CertificateProfileError("The certificate file holds no certificate.")
    return chain


def algorithm_for_key(private_key_pem: bytes) -> str:
    """The C2PA algorithm that matches a PEM private key (ES*, PS256 for RSA, Ed25519)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    try:
        key = serialization.load_pem_private_key(private_key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise CertificateProfileError(
            f"The private key is not an unencrypted PEM key ({exc})."
        ) from None
    if isinstance(key, ec.EllipticCurvePrivateKey):
        by_curve = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}
        if key.curve.name not in by_curve:
            raise CertificateProfileError(
                f"EC curve {key.curve.name} is not allowed by C2PA; use P-256, P-384 or P-521."
            )
        return by_curve[key.curve.name]
    if isinstance(key, rsa.RSAPrivateKey):
        return "ps256"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    raise CertificateProfileError(f"Key type {type(key).__name__} is not allowed by C2PA.")


def check_signing_certificate(
    cert_chain_pem: bytes, *, now: dt.datetime | None = None
) -> x509.Certificate:
    """Refuse, with one sentence, a leaf certificate that C2PA validators would reject."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID

    leaf = _load_chain(cert_chain_pem)[0]
    subject = leaf.subject.rfc4514_string() or "(no subject)"
    now = now or dt.datetime.now(dt.timezone.utc)
    if now > leaf.not_valid_after_utc:
        raise CertificateProfileError(
            f"The signing certificate {subject} expired on "
            f"{leaf.not_valid_after_utc:%Y-%m-%d}; issue a new one."
        )
    if now < leaf.not_valid_before_utc:
        raise CertificateProfileError(
            f"The signing certificate {subject} is not valid before "
            f"{leaf.not_valid_before_utc:%Y-%m-%d}."
        )

    def extension(oid_class: type) -> object | None:
        try:
            return leaf.extensions.get_extension_for_class(oid_class).value
        except x509.ExtensionNotFound:
            return None

    constraints = extension(x509.BasicConstraints)
    if constraints is not None and constraints.ca:
        raise CertificateProfileError(
            f"The signing certificate {subject} is a CA certificate; C2PA needs an "
            "end-entity certificate (BasicConstraints CA:false)."
        )
    usage = extension(x509.KeyUsage)
    if usage is None or not usage.digital_signature:
        raise CertificateProfileError(
            f"The signing certificate {subject} lacks KeyUsage digitalSignature."
        )
    eku = extension(x509.ExtendedKeyUsage)
    if eku is None or ExtendedKeyUsageOID.EMAIL_PROTECTION not in eku:
        raise CertificateProfileError(
            f"The signing certificate {subject} lacks the emailProtection extended key "
            f"usage ({EMAIL_PROTECTION_OID}); C2PA validators would reject its signatures."
        )
    if extension(x509.AuthorityKeyIdentifier) is None:
        raise CertificateProfileError(
            f"The signing certificate {subject} has no AuthorityKeyIdentifier extension."
        )
    public_key = leaf.public_key()
    if isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size < 2048:
        raise CertificateProfileError(
            f"The signing certificate {subject} has a {public_key.key_size}-bit RSA key; "
            "C2PA needs at least 2048 bits."
        )
    if not isinstance(
        public_key, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey, ed25519.Ed25519PublicKey)
    ):
        raise CertificateProfileError(
            f"The signing certificate {subject} has a key type C2PA does not allow."
        )
    return leaf


# --- loading -----------------------------------------------------------------------------


def load_identity(
    cert_path: Path,
    key_path: Path,
    *,
    alg: str | None = None,
    tsa_url: str | None = None,
) -> SigningIdentity:
    """A signing identity from a PEM chain (leaf first) and a PEM private key."""
    for path in (cert_path, key_path):
        if not path.is_file():
            raise CertificateProfileError(f"{path} does not exist or is not a file.")
    cert_chain_pem = cert_path.read_bytes()
    private_key_pem = key_path.read_bytes()
    check_signing_certificate(cert_chain_pem)
    key_alg = algorithm_for_key(private_key_pem)
    if alg is None:
        alg = key_alg
    elif alg != key_alg:
        raise CertificateProfileError(f"Algorithm {alg} does not match the key ({key_alg}).")
    return SigningIdentity(
        alg=alg,
        cert_chain_pem=cert_chain_pem,
        private_key_pem=private_key_pem,
        tsa_url=tsa_url,
        source=str(cert_path),
    )


def default_identity_dir() -> Path:
    """``$PROVAUDIT_HOME/dev-identity``, else the user's data directory."""
    home = os.environ.get("PROVAUDIT_HOME")
    if home:
        return Path(home) / "dev-identity"
    from platformdirs import user_data_path

    return user_data_path("provaudit", appauthor=False) / "dev-identity"


def load_dev_identity(directory: Path, *, tsa_url: str | None = None) -> SigningIdentity:
    identity = load_identity(directory / CERT_FILE, directory / KEY_FILE, tsa_url=tsa_url)
    root = directory / ROOT_FILE
    return SigningIdentity(
        alg=identity.alg,
        cert_chain_pem=identity.cert_chain_pem,
        private_key_pem=identity.private_key_pem,
        tsa_url=tsa_url,
        is_development=True,
        source=str(directory),
        root_pem=root.read_bytes() if root.is_file() else None,
    )


def default_identity(*, tsa_url: str | None = None) -> tuple[SigningIdentity, bool]:
    """The user's development identity, created on first use; also says if it was created."""
    directory = default_identity_dir()
    created = not (directory / CERT_FILE).is_file()
    if created:
        create_dev_identity(directory)
    return load_dev_identity(directory, tsa_url=tsa_url), created


# --- the development CA ------------------------------------------------------------------


@dataclass(frozen=True)
class DevIdentityFiles:
    directory: Path
    root_cert: Path
    signer_cert: Path
    signer_key: Path


def _new_private_key(alg: str) -> object:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if alg == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if alg == "ps256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    curve = {"es256": ec.SECP256R1, "es384": ec.SECP384R1, "es512": ec.SECP521R1}[alg]
    return ec.generate_private_key(curve())


def _hash_for(alg: str) -> object | None:
    from cryptography.hazmat.primitives import hashes

    return None if alg == "ed25519" else hashes.SHA256()


def _pem_private(key: object) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, 0o600)  # an existing file keeps its mode through O_CREAT


def issue_certificates(
    *,
    alg: str = "es256",
    common_name: str = "provaudit development signer",
    organization: str = DEV_ORGANIZATION,
    valid_days: int = 730,
    not_before: dt.datetime | None = None,
    extended_key_usages: list[str] | None = None,
) -> tuple[bytes, bytes, bytes, bytes]:
    """A root CA and a signing certificate under it.

    Returns ``(root_cert_pem, root_key_pem, signer_chain_pem, signer_key_pem)``.
    ``extended_key_usages`` (dotted OIDs) exists so tests can make certificates C2PA
    rejects; by default the leaf carries emailProtection.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    if alg not in SUPPORTED_ALGORITHMS:
        raise CertificateProfileError(f"Signing algorithm {alg!r} is not supported.")
    start = not_before or (dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5))
    root_key = _new_private_key("es256")
    root_name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "provaudit development root CA"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
        ]
    )
    root_public = root_key.public_key()  # type: ignore[attr-defined]
    root_cert = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_public), critical=False)
        .sign(root_key, _hash_for("es256"))  # type: ignore[arg-type]
    )

    signer_key = _new_private_key(alg)
    signer_public = signer_key.public_key()  # type: ignore[attr-defined]
    ekus = [
        x509.ObjectIdentifier(oid)
        for oid in (extended_key_usages or [ExtendedKeyUsageOID.EMAIL_PROTECTION.dotted_string])
    ]
    signer_cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
                ]
            )
        )
        .issuer_name(root_name)
        .public_key(signer_public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage(ekus), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(signer_public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_public), critical=False
        )
        .sign(root_key, _hash_for("es256"))  # type: ignore[arg-type]
    )
    pem = serialization.Encoding.PEM
    root_pem = root_cert.public_bytes(pem)
    return (
        root_pem,
        _pem_private(root_key),
        signer_cert.public_bytes(pem) + root_pem,
        _pem_private(signer_key),
    )


def create_dev_identity(
    directory: Path, *, alg: str = "es256", overwrite: bool = False
) -> DevIdentityFiles:
    """Write a development root CA and a C2PA-conformant signing certificate."""
    directory = Path(directory)
    files = DevIdentityFiles(
        directory=directory,
        root_cert=directory / ROOT_FILE,
        signer_cert=directory / CERT_FILE,
        signer_key=directory / KEY_FILE,
    )
    if files.signer_cert.exists() and not overwrite:
        raise CertificateProfileError(
            f"{directory} already holds a signing identity; pass --force to replace it."
        )
    if directory.exists() and not directory.is_dir():
        raise CertificateProfileError(f"{directory} exists and is not a directory.")
    root_pem, root_key_pem, chain_pem, key_pem = issue_certificates(alg=alg)
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    files.root_cert.write_bytes(root_pem)
    _write_private(directory / ROOT_KEY_FILE, root_key_pem)
    files.signer_cert.write_bytes(chain_pem)
    _write_private(files.signer_key, key_pem)
    (directory / INFO_FILE).write_text(
        json.dumps(
            {
                "kind": "development",
                "alg": alg,
                "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "notice": DEV_IDENTITY_NOTICE,
            },
            indent=2,
        )
        + "\n"
    )
    return files
