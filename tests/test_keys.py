"""Signing identities: the development CA, certificate profile checks, other algorithms."""

from __future__ import annotations

import datetime as dt
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import ExtendedKeyUsageOID

from provenance.errors import CertificateProfileError, SigningError
from provenance.keys import (
    SigningIdentity,
    check_signing_certificate,
    create_dev_identity,
    default_identity,
    issue_certificates,
    load_dev_identity,
)
from provenance.signing import ProvenanceSigner, SignRequest
from provenance.verify import ProvenanceVerifier
from tests.conftest import encode, make_image


def test_dev_identity_files_and_profile(tmp_path):
    files = create_dev_identity(tmp_path / "id")
    assert stat.S_IMODE(files.signer_key.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "id" / "root-ca.key").stat().st_mode) == 0o600
    leaf = x509.load_pem_x509_certificates(files.signer_cert.read_bytes())[0]
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert leaf.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.EMAIL_PROTECTION in eku
    leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    with pytest.raises(CertificateProfileError, match="already holds"):
        create_dev_identity(tmp_path / "id")


def test_default_identity_is_created_once(provaudit_home):
    identity, created = default_identity()
    assert created and identity.is_development and identity.alg == "es256"
    again, created_again = default_identity()
    assert not created_again
    assert again.cert_chain_pem == identity.cert_chain_pem


@pytest.mark.parametrize(
    ("eku", "message"),
    [
        ([ExtendedKeyUsageOID.CODE_SIGNING.dotted_string], "emailProtection"),
        (["1.3.6.1.5.5.7.3.36"], "emailProtection"),  # documentSigning only
    ],
)
def test_certificate_without_email_protection_is_refused(eku, message):
    _, _, chain, _ = issue_certificates(extended_key_usages=eku)
    with pytest.raises(CertificateProfileError, match=message):
        check_signing_certificate(chain)


def test_expired_certificate_is_refused_at_sign_time():
    long_ago = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)
    _, _, chain, key = issue_certificates(not_before=long_ago, valid_days=30)
    identity = SigningIdentity(alg="es256", cert_chain_pem=chain, private_key_pem=key)
    with pytest.raises(CertificateProfileError, match="expired on 2020-01-31"):
        ProvenanceSigner(identity)


@pytest.mark.parametrize("alg", ["ps256", "ed25519", "es384"])
def test_other_algorithms_sign_and_verify_trusted(alg):
    root, _, chain, key = issue_certificates(alg=alg)
    signer = ProvenanceSigner(SigningIdentity(alg=alg, cert_chain_pem=chain, private_key_pem=key))
    signed = signer.sign(encode(make_image(), "JPEG"), SignRequest(ai_generated=True))
    report = ProvenanceVerifier(root).verify_bytes(signed.data)
    assert report.state == "trusted"
    assert report.signer.algorithm == alg.upper()


def test_external_signer_callback_signs_like_a_kms(tmp_path):
    """The key never reaches c2pa: a callback returns raw r||s as COSE wants (a KMS's job)."""
    files = create_dev_identity(tmp_path / "kms")
    private_key = serialization.load_pem_private_key(files.signer_key.read_bytes(), None)
    calls = []

    def kms_sign(payload: bytes) -> bytes:
        calls.append(len(payload))
        r, s = decode_dss_signature(private_key.sign(payload, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    identity = SigningIdentity(
        alg="es256", cert_chain_pem=files.signer_cert.read_bytes(), sign_callback=kms_sign
    )
    signed = ProvenanceSigner(identity).sign(encode(make_image(), "PNG"))
    assert calls, "the callback was never asked to sign"
    report = ProvenanceVerifier(files.root_cert.read_bytes()).verify_bytes(signed.data)
    assert report.state == "trusted"


def test_unreachable_timestamp_authority_fails_with_one_sentence(tmp_path):
    files = create_dev_identity(tmp_path / "tsa")
    # Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    identity = load_dev_identity(files.directory, tsa_url="http://127.0.0.1:9/tsa")
    with pytest.raises(SigningError, match=r"timestamp authority http://127\.0\.0\.1:9/tsa"):
        ProvenanceSigner(identity).sign(encode(make_image(), "JPEG"))
