"""Plate sequences: frame-list parsing and frame discovery on disk.

Pattern forms accepted by :meth:`PlateSequence.open`:

- Nuke style ``shot.####.exr`` — one ``#`` stands for one digit;
- printf style ``shot.%04d.exr`` (``%d`` = no padding);
- ``shot.@@@@.exr`` — one ``@`` stands for one digit;
- a single file (``shot.1001.exr`` or ``still.png``);
- a directory holding exactly one sequence.

Frame numbers are non-negative integers, zero-padded to at least ``padding``
digits; a number wider than the padding is accepted (frame 10000 of
``####``), a zero-padded number of the wrong width is not part of the sequence.
Missing frames are the gaps between the first and last frame found on disk.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from recast.pipeline.atomic import is_temp_name
from recast.pipeline.errors import SequenceError

MAX_FRAME_LIST = 1_000_000  # a frame list longer than this is a typo, not a shot

_RANGE_RE = re.compile(r"^(-?\d+)(?:-(-?\d+)(?:x(\d+))?)?$")
_TOKEN_RE = re.compile(r"(#+|@+|%0?(\d*)d)")
# name + frame + extension, frame = last digit run before the extension
_FRAME_FILE_RE = re.compile(r"^(?P<head>.*?)(?P<frame>\d+)(?P<tail>\.[A-Za-z0-9]+)$")


def parse_frames(text: str) -> list[int]:
    """Parse ``"1001-1100"``, ``"1001-1100x2"``, ``"1001,1005,1010-1020"`` into sorted unique frames."""
    if not isinstance(text, str) or not text.strip():
        raise SequenceError(f"frames {text!r}: empty frame list")
    frames: set[int] = set()
    for chunk in text.replace(" ", "").split(","):
        m = _RANGE_RE.match(chunk)
        if not m:
            raise SequenceError(
                f"frames {text!r}: cannot parse {chunk!r} (use 1001-1100, 1001-1100x2 or 1001,1005,1010-1020)"
            )
        start = int(m.group(1))
        end = int(m.group(2)) if m.group(2) is not None else start
        step = int(m.group(3)) if m.group(3) is not None else 1
        if step < 1:
            raise SequenceError(f"frames {text!r}: step in {chunk!r} must be at least 1")
        if end < start:
            raise SequenceError(f"frames {text!r}: range {chunk!r} ends before it starts")
        if (end - start) // step + 1 + len(frames) > MAX_FRAME_LIST:
            raise SequenceError(f"frames {text!r}: more than {MAX_FRAME_LIST} frames")
        frames.update(range(start, end + 1, step))
    return sorted(frames)


def format_frames(frames: list[int]) -> str:
    """Compact text for a frame list: ``[1001, 1002, 1003, 1007]`` -> ``"1001-1003,1007"``."""
    if not frames:
        return ""
    ordered = sorted(set(frames))
    parts: list[str] = []
    start = prev = ordered[0]
    for f in [*ordered[1:], None]:
        if f is not None and f == prev + 1:
            prev = f
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if f is not None:
            start = prev = f
    return ",".join(parts)


@dataclass(frozen=True)
class FrameTemplate:
    """``head`` + frame (zero-padded to ``padding``) + ``tail`` inside ``directory``."""

    directory: Path
    head: str
    tail: str
    padding: int

    def filename(self, frame: int) -> str:
        if frame < 0:
            raise SequenceError(f"frame {frame}: negative frame numbers are not supported")
        return f"{self.head}{frame:0{self.padding}d}{self.tail}"

    def hash_pattern(self) -> str:
        return str(self.directory / f"{self.head}{'#' * self.padding}{self.tail}")

    def match(self, name: str) -> int | None:
        if not (name.startswith(self.head) and name.endswith(self.tail)):
            return None
        digits = name[len(self.head) : len(name) - len(self.tail)]
        if not digits.isdigit() or not digits.isascii():
            return None
        frame = int(digits)
        return frame if f"{frame:0{self.padding}d}" == digits else None


def _template_from_pattern(pattern: str) -> FrameTemplate | None:
    path = Path(pattern)
    name = path.name
    tokens = list(_TOKEN_RE.finditer(name))
    if not tokens:
        return None
    if len(tokens) > 1:
        raise SequenceError(f"{pattern}: more than one frame token in the file name")
    tok = tokens[0]
    text = tok.group(1)
    if text.startswith("%"):
        width = tok.group(2)
        padding = int(width) if width else 1
    else:
        padding = len(text)
    if padding < 1 or padding > 12:
        raise SequenceError(f"{pattern}: frame padding {padding} is out of range 1-12")
    return FrameTemplate(path.parent, name[: tok.start()], name[tok.end() :], padding)


def _list_names(directory: Path) -> list[str]:
    try:
        with os.scandir(directory) as it:
            return [e.name for e in it if not is_temp_name(e.name) and not e.name.startswith(".") and e.is_file()]
    except FileNotFoundError:
        raise SequenceError(f"{directory}: directory not found") from None
    except NotADirectoryError:
        raise SequenceError(f"{directory}: not a directory") from None
    except PermissionError:
        raise SequenceError(f"{directory}: permission denied") from None
    except OSError as exc:  # ELOOP (a symlink loop), EIO, ENAMETOOLONG...
        from recast.pipeline.errors import os_cause

        exc.filename = None
        raise SequenceError(f"{directory}: cannot list ({os_cause(exc)})") from None


def _discover(template: FrameTemplate) -> list[int]:
    frames = [f for f in (template.match(n) for n in _list_names(template.directory)) if f is not None]
    return sorted(set(frames))


def _template_from_directory(directory: Path) -> FrameTemplate:
    by_name: dict[tuple[str, str], list[str]] = {}
    for name in _list_names(directory):
        m = _FRAME_FILE_RE.match(name)
        if m:
            by_name.setdefault((m.group("head"), m.group("tail")), []).append(m.group("frame"))
    if not by_name:
        raise SequenceError(f"{directory}: no numbered image files in this directory")
    if len(by_name) > 1:
        names = ", ".join(sorted(f"{h}#{t}" for h, t in by_name))
        raise SequenceError(f"{directory}: holds more than one sequence ({names}); give a pattern")
    (head, tail), numbers = next(iter(by_name.items()))
    # a number with a leading zero shows the padding; without one, the narrowest width is it
    padded = {len(d) for d in numbers if d.startswith("0") and len(d) > 1}
    if len(padded) > 1:
        raise SequenceError(f"{directory}: mixed frame padding in {head}#{tail}; give a pattern")
    padding = padded.pop() if padded else min(len(d) for d in numbers)
    return FrameTemplate(directory, head, tail, padding)


def _single_file_template(path: Path) -> tuple[FrameTemplate | None, int]:
    m = _FRAME_FILE_RE.match(path.name)
    if not m:
        return None, 1
    digits = m.group("frame")
    return FrameTemplate(path.parent, m.group("head"), m.group("tail"), len(digits)), int(digits)


def _sequence_name(head: str) -> str:
    name = head.rstrip("._- ")
    return name or head


@dataclass
class PlateSequence:
    """A plate on disk: a frame-numbered image sequence (or one still file)."""

    pattern: str
    frames: list[int]
    missing: list[int]
    name: str
    ext: str
    padding: int
    _template: FrameTemplate | None = field(default=None, repr=False)
    _single: Path | None = field(default=None, repr=False)

    @classmethod
    def open(cls, pattern: str | Path) -> PlateSequence:
        """Resolve ``pattern`` and discover its frames on disk (SequenceError when none)."""
        text = os.fspath(pattern)
        if not text.strip():
            raise SequenceError("plate pattern is empty")
        path = Path(text).expanduser().absolute()
        template = _template_from_pattern(str(path))
        if template is None:
            if path.is_dir():
                template = _template_from_directory(path)
            elif path.is_file():
                template, frame = _single_file_template(path)
                if template is None:
                    return cls._still(path)
                # a numbered single file is that one frame
                return cls(
                    pattern=str(path),
                    frames=[frame],
                    missing=[],
                    name=_sequence_name(template.head),
                    ext=template.tail.lstrip(".").lower(),
                    padding=template.padding,
                    _template=template,
                    _single=path,
                )
            elif path.exists():
                raise SequenceError(f"{path}: not a regular file")
            else:
                raise SequenceError(f"{path}: file not found")
        if not template.directory.is_dir():
            raise SequenceError(f"{template.hash_pattern()}: directory {template.directory} not found")
        frames = _discover(template)
        if not frames:
            raise SequenceError(f"{template.hash_pattern()}: no frames found on disk")
        if frames[-1] - frames[0] >= MAX_FRAME_LIST:
            raise SequenceError(
                f"{template.hash_pattern()}: frames {frames[0]}-{frames[-1]} span more than {MAX_FRAME_LIST}"
                " frames; move the stray file away"
            )
        have = set(frames)
        missing = [f for f in range(frames[0], frames[-1] + 1) if f not in have]
        return cls(
            pattern=template.hash_pattern(),
            frames=frames,
            missing=missing,
            name=_sequence_name(template.head),
            ext=template.tail.rsplit(".", 1)[-1].lower() if "." in template.tail else "",
            padding=template.padding,
            _template=template,
        )

    @classmethod
    def _still(cls, path: Path) -> PlateSequence:
        stem, _, ext = path.name.rpartition(".")
        return cls(
            pattern=str(path),
            frames=[1],
            missing=[],
            name=stem or path.name,
            ext=ext.lower() if stem else "",
            padding=1,
            _template=None,
            _single=path,
        )

    @property
    def first(self) -> int:
        return self.frames[0]

    @property
    def last(self) -> int:
        return self.frames[-1]

    @property
    def directory(self) -> Path:
        return self._template.directory if self._template else Path(self.pattern).parent

    def __len__(self) -> int:
        return len(self.frames)

    def path(self, frame: int) -> Path:
        """The file of ``frame`` (it need not exist: used for gaps and outputs too)."""
        if self._single is not None and (self._template is None or frame in self.frames):
            if frame not in self.frames:
                raise SequenceError(f"{self.pattern}: single file has no frame {frame}")
            return self._single
        assert self._template is not None
        return self._template.directory / self._template.filename(frame)

    def select(self, frames: str | list[int] | None) -> list[int]:
        """Frames to work on: all on disk (None), or the requested ones (SequenceError if absent)."""
        if frames is None:
            return list(self.frames)
        wanted = parse_frames(frames) if isinstance(frames, str) else sorted(set(frames))
        have = set(self.frames)
        absent = [f for f in wanted if f not in have]
        if absent:
            raise SequenceError(f"{self.pattern}: frames not on disk: {format_frames(absent)}")
        return wanted


def output_pattern(pattern: str | Path) -> FrameTemplate:
    """Parse an OUTPUT pattern (need not exist on disk); SequenceError when it has no frame token."""
    path = Path(os.fspath(pattern)).expanduser().absolute()
    template = _template_from_pattern(str(path))
    if template is None:
        raise SequenceError(f"{path}: output pattern needs a frame token (####, %04d or @@@@)")
    return template


def frame_path(pattern: str | Path, frame: int) -> Path:
    """The path of ``frame`` in an output ``pattern`` such as ``out/shot.####.exr``."""
    template = output_pattern(pattern)
    return template.directory / template.filename(frame)
