"""Exit codes of every ``provaudit`` command, documented in the README."""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    """Process exit codes.

    ``verify`` reports the worst state over all its files, in the order
    SUCCESS < UNTRUSTED < ABSENT < INVALID < ERROR.
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

    @property
    def severity(self) -> int:
        return _SEVERITY[self]


_SEVERITY = {
    ExitStatus.SUCCESS: 0,
    ExitStatus.UNTRUSTED: 1,
    ExitStatus.ABSENT: 2,
    ExitStatus.INVALID: 3,
    ExitStatus.USAGE: 4,
    ExitStatus.ERROR: 5,
}


def worst(statuses: list[ExitStatus]) -> ExitStatus:
    """The most severe of ``statuses`` (SUCCESS for an empty list)."""
    return max(statuses, key=lambda status: status.severity, default=ExitStatus.SUCCESS)
