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


class DataError(ProvauditError):
    """A data folder cannot be used as a whole (empty, no images, wrong layout)."""

    code = "bad_data"


class ImageTooSmallError(InputError, DataError):
    """Too small to judge or to train on: one bad input, and a data folder that cannot be used
    as it is."""

    code = "image_too_small"


class CheckpointError(ProvauditError):
    """A model checkpoint (generator or detector) that is missing, malformed or tampered with."""

    code = "bad_checkpoint"


class CertificateProfileError(ProvauditError):
    """A signing certificate that C2PA validators would reject; refused before signing."""

    code = "bad_certificate"


class SigningError(ProvauditError):
    code = "signing_failed"


class ManifestDefinitionError(ProvauditError):
    code = "bad_manifest"
