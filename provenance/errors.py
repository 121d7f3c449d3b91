"""Errors that carry one readable sentence for the user (CLI line, API message)."""

from __future__ import annotations


class ProvauditError(Exception):
    """Base class: ``str(error)`` is a complete sentence meant for the user."""

    code = "error"


class InputError(ProvauditError):
    """The input file or bytes cannot be used (missing, empty, truncated, not an image...)."""

    code = "bad_input"


class UnsupportedFormatError(InputError):
    code = "unsupported_format"


class ImageTooLargeError(InputError):
    code = "image_too_large"


class CertificateProfileError(ProvauditError):
    """A signing certificate that C2PA validators would reject; refused before signing."""

    code = "bad_certificate"


class SigningError(ProvauditError):
    code = "signing_failed"


class ManifestDefinitionError(ProvauditError):
    code = "bad_manifest"
