"""The bridge's errors: each carries one line that an artist can act on."""

from __future__ import annotations


class BridgeError(Exception):
    """Any bridge failure; ``str(exc)`` is one line."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


class ServiceDown(BridgeError):
    """The service cannot be reached (not running, wrong URL, refused, timed out)."""


class ServiceError(BridgeError):
    """The service answered with an error status; ``status`` is the HTTP code."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class HostError(BridgeError):
    """The host application (Nuke, Resolve) refused or failed a step."""


class WaitTimeout(BridgeError):
    """A job did not finish within the time asked for."""
