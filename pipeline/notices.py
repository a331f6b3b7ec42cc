"""One notice per process: the registry every user notice goes through.

Components (face analysers, swappers, the engine, QC) each used to print their
own licence notice, so one demo printed the 68-point licence notice six times.
Now they all hand notices to the process's :class:`NoticeBoard`
(:func:`process_notices`), which prints each distinct notice once per process.

The board is an explicit object: a caller that wants its own (a test, a
service collecting notices for a response) makes a ``NoticeBoard`` and passes
its :meth:`NoticeBoard.notify` as the ``notify`` callback. The process board is
keyed by the process id, so a forked worker starts with a clean board and
prints its own notices once.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from typing import TextIO

Notify = Callable[[str], None]


class NoticeBoard:
    """Prints each distinct notice once (thread-safe) and remembers what it printed."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream  # None: the current sys.stderr at print time
        self._seen: list[str] = []
        self._lock = threading.Lock()

    def notify(self, text: str) -> bool:
        """Print ``text`` unless this board printed it already; True when printed now."""
        key = " ".join(str(text).split())
        with self._lock:
            if key in self._seen:
                return False
            self._seen.append(key)
        print(text, file=self._stream or sys.stderr, flush=True)
        return True

    __call__ = notify

    @property
    def seen(self) -> list[str]:
        """The notices printed so far, in order."""
        with self._lock:
            return list(self._seen)


class _ProcessBoards:
    """The board of the current process (a fresh one after a fork)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid = -1
        self._board = NoticeBoard()

    def current(self) -> NoticeBoard:
        pid = os.getpid()
        with self._lock:
            if pid != self._pid:
                self._pid, self._board = pid, NoticeBoard()
            return self._board


_BOARDS = _ProcessBoards()


def process_notices() -> NoticeBoard:
    """This process's notice board (each notice printed once per process)."""
    return _BOARDS.current()


def notice(text: str) -> None:
    """The default ``notify`` callback: ``text`` through the process board (once per process)."""
    process_notices().notify(text)
