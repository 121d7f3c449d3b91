"""Exit codes of every ``provaudit`` command, documented in the README."""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    """Process exit codes.

    ``verify`` reports the worst state over all its files, in the order
    SUCCESS < UNTRUSTED < ABSENT < INVALID < ERROR. ``audit`` reports the worst verdict
    class over all its files, in the order SUCCESS (every file ``likely_real``) <
    INCONCLUSIVE < LIKELY_AI < DECLARED_AI < ERROR: a file that could not be audited at
    all outranks any verdict, as in ``verify``.
    """

    SUCCESS = 0
    """Everything asked for was done; for ``verify``: every file is trusted."""
    ERROR = 1
    """An input could not be processed (missing, unreadable, not an image...)."""
    USAGE = 2
    """The command line itself was wrong (unknown option, missing argument)."""
    UNTRUSTED = 3
    """``verify``: a manifest is intact but its signer is not among the trust anchors."""
    ABSENT = 4
    """``verify``: a file carries no C2PA manifest."""
    INVALID = 5
    """``verify``: a manifest fails validation (tampered, bad signature, expired...)."""
    INCONCLUSIVE = 6
    """``audit``: a file's verdict is ``inconclusive`` (no declaration, no usable score)."""
    LIKELY_AI = 7
    """``audit``: a file's verdict is ``likely_ai`` (the detector, no declaration)."""
    DECLARED_AI = 8
    """``audit``: a file's verdict is ``declared_ai`` (a manifest or its metadata says so)."""

    @property
    def severity(self) -> int:
        return _SEVERITY[self]


_SEVERITY = {
    ExitStatus.SUCCESS: 0,
    ExitStatus.UNTRUSTED: 1,
    ExitStatus.ABSENT: 2,
    ExitStatus.INVALID: 3,
    ExitStatus.INCONCLUSIVE: 1,
    ExitStatus.LIKELY_AI: 2,
    ExitStatus.DECLARED_AI: 3,
    ExitStatus.USAGE: 4,
    ExitStatus.ERROR: 5,
}


def worst(statuses: list[ExitStatus]) -> ExitStatus:
    """The most severe of ``statuses`` (SUCCESS for an empty list)."""
    return max(statuses, key=lambda status: status.severity, default=ExitStatus.SUCCESS)
