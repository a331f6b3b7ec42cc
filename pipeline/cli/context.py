"""Explicit CLI context handed to every command (no module globals)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from tqdm import tqdm

if TYPE_CHECKING:
    from recast.pipeline.progress import Progress

T = TypeVar("T")


@dataclass(frozen=True)
class CliContext:
    json: bool = False
    debug: bool = False

    @property
    def show_progress(self) -> bool:
        """A progress bar only for people: hidden with --json or when stderr is not a TTY."""
        return not self.json and sys.stderr.isatty()

    def frame_progress(self) -> Progress:
        """A frames-done bar for long work (runner, QC, movies): tqdm on a TTY, silent with --json or off a TTY."""
        from recast.pipeline.progress import terminal_progress

        return terminal_progress(quiet=self.json)

    def progress(self, items: Iterable[T], total: int | None = None, desc: str = "") -> Iterator[T]:
        if not self.show_progress:
            yield from items
            return
        yield from tqdm(items, total=total, desc=desc, unit="frame", file=sys.stderr, leave=False)

    def emit(self, data: Any, text: str | None = None) -> None:
        """Print ``data`` as JSON with --json, else ``text`` (or a readable dump)."""
        if self.json:
            print(json.dumps(data, indent=2, sort_keys=False, default=str))
        else:
            print(text if text is not None else json.dumps(data, indent=2, default=str))

    def info(self, text: str) -> None:
        """Human chatter goes to stderr so stdout stays clean for pipes."""
        print(text, file=sys.stderr)
