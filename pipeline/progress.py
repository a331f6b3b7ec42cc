"""Progress of long work (frames done / total, rate, ETA) for people at a terminal.

Long operations (the job runner, QC scoring, preview movies, the demo) take a
:class:`Progress` and report frames to it; they never decide whether a bar is
shown. The CLI passes :func:`terminal_progress`: a tqdm bar on stderr when stderr
is a TTY and ``--json`` is off, else :class:`NoProgress` (quiet for pipes, farm
logs and machine-readable output).
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any, Protocol, TextIO


class Progress(Protocol):
    def start(self, total: int, desc: str) -> None: ...

    def advance(self, n: int = 1) -> None: ...

    def close(self) -> None: ...


class NoProgress:
    """Shows nothing."""

    def start(self, total: int, desc: str) -> None:
        return None

    def advance(self, n: int = 1) -> None:
        return None

    def close(self) -> None:
        return None


class TqdmProgress:
    """A tqdm bar per ``start`` (frames done/total, rate, ETA); thread-safe ``advance``."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._bar: Any = None
        self._lock = threading.Lock()

    def start(self, total: int, desc: str) -> None:
        from tqdm import tqdm

        stream = self._stream or sys.stderr
        width = _columns(stream)
        with self._lock:
            if self._bar is not None:
                self._bar.close()
            # a terminal that reports no size (a bare pty: 0x0, where tqdm would print nothing)
            # still gets a bar, 100 columns wide
            size: dict[str, Any] = {"dynamic_ncols": True} if width else {"ncols": 100, "nrows": 20}
            self._bar = tqdm(total=max(0, int(total)), desc=desc, unit="frame", file=stream, leave=True, **size)

    def advance(self, n: int = 1) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.update(n)

    def close(self) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.close()
                self._bar = None


def _columns(stream: TextIO) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        return 0


def terminal_progress(quiet: bool = False, stream: TextIO | None = None) -> Progress:
    """A bar on ``stream`` (default stderr) when it is a TTY and not ``quiet`` (``--json``), else nothing."""
    s = stream or sys.stderr
    try:
        tty = s.isatty()
    except (AttributeError, ValueError):
        tty = False
    return TqdmProgress(s) if tty and not quiet else NoProgress()
