"""Typed exceptions. Each carries one clear, single-line message for the user.

The CLI prints ``recast: error: <message>`` and exits with ``exit_code``; no
traceback unless ``--debug``.
"""

from __future__ import annotations

EXIT_FRAMES_FAILED = 1  # a command ran, but one or more frames failed (the summary names them)
EXIT_NO_SWAP = 4  # swap / job run: frames ran, none failed, but no face was swapped in any frame


class RecastError(Exception):
    """Base of every error meant for a user. ``str(err)`` is one line."""

    exit_code: int = 2

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


class PlateError(RecastError):
    """A plate file or sequence cannot be read/written (names the file)."""


class OutputError(RecastError):
    """A comp, element or record cannot be written (names the file and the OS cause)."""


class SequenceError(RecastError):
    """A sequence pattern or frame list is invalid."""


class ColorError(RecastError):
    """Colour configuration or conversion problem."""


class FaceModelError(RecastError):
    """A face model file is missing, corrupt or of the wrong signature."""


class ActorError(RecastError):
    """Actor model missing, malformed, or cannot be built."""


class ConsentError(ActorError):
    """No or invalid consent record: no swap."""


class IntegrityError(ActorError):
    """A hash recorded in a manifest does not match the file on disk."""


class SwapError(RecastError):
    """The swap/composite stage failed for a frame."""


class SpecError(RecastError):
    """A JobSpec or settings value is invalid (names the field)."""


class JobError(RecastError):
    """A job cannot be found, run, resumed or published."""


class QCError(RecastError):
    """QC scoring or reporting failed."""


class TrainError(RecastError):
    """Actor training cannot start, resume or export (missing extra, bad data, no checkpoint)."""


def os_cause(exc: BaseException) -> str:
    """The operating system's cause of a failed read or write, named: ``No space left on
    device (ENOSPC)``; the file is added when the error names one. Other errors: their text."""
    import errno as _errno
    import os as _os

    if isinstance(exc, OSError) and exc.errno:
        name = _errno.errorcode.get(exc.errno, str(exc.errno))
        text = f"{exc.strerror or _os.strerror(exc.errno)} ({name})"
        return f"{text}: {exc.filename}" if exc.filename else text
    return " ".join(str(exc).split()) or type(exc).__name__


def describe(exc: BaseException) -> str:
    """One line for any exception: a RecastError's message; an OSError with its cause named
    (``OSError: No space left on device (ENOSPC): path``); else ``Type: message``."""
    if isinstance(exc, RecastError):
        return str(exc)
    if isinstance(exc, OSError) and exc.errno:
        return f"{type(exc).__name__}: {os_cause(exc)}"
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
