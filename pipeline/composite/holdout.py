"""Holdout mattes: the compositor's own answer to occlusion.

``settings.holdout`` / ``--holdout PATTERN[:CHANNEL]`` names a matte sequence
(EXR, PNG, any format the plate reader takes) with one frame per plate frame.
Where its channel (default: alpha) is 1 the plate pixel is kept: the swapped
face's matte is multiplied by ``1 - holdout``, so a hand, glasses or hair that
an artist rotoscoped in front of the face stays in front of it, in the comp
and in the element's alpha. Values are clipped to 0..1; NaN counts as 0.

The matte lines up with the plate in image coordinates: both data windows are
honoured; where the holdout has no data it holds nothing out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from recast.pipeline.errors import PlateError, SpecError

if TYPE_CHECKING:
    from recast.pipeline.plateio import Plate
    from recast.pipeline.sequence import PlateSequence

_CHANNEL_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]{0,63}$")
ALPHA_NAMES = ("a", "alpha")


@dataclass(frozen=True)
class HoldoutSpec:
    pattern: str
    channel: str | None = None  # None: alpha (or the only channel of a one-channel matte)

    def to_text(self) -> str:
        return self.pattern if self.channel is None else f"{self.pattern}:{self.channel}"

    def to_json(self) -> dict[str, Any]:
        return {"pattern": self.pattern, "channel": self.channel or "alpha"}


def parse_holdout(text: str, where: str = "settings.holdout") -> HoldoutSpec:
    """``"roto.####.exr"``, ``"roto.####.exr:R"``, ``"/abs/roto.%04d.png:A"``."""
    raw = str(text).strip()
    if not raw:
        raise SpecError(f"{where}: empty holdout pattern")
    pattern, channel = raw, None
    head, sep, tail = raw.rpartition(":")
    if sep and head and _CHANNEL_RE.match(tail) and "/" not in tail and not tail.lower().endswith((".exr", ".png")):
        pattern, channel = head, tail
    if not Path(pattern).suffix:
        raise SpecError(f"{where}: {raw!r} is not PATTERN[:CHANNEL] (e.g. roto.####.exr:A)")
    return HoldoutSpec(pattern, channel)


def absolute_holdout(text: str, base: Path) -> str:
    """``text`` with a relative pattern made absolute against ``base``."""
    spec = parse_holdout(text)
    p = Path(spec.pattern)
    if not p.is_absolute():
        p = (base / p).resolve()
    return HoldoutSpec(str(p), spec.channel).to_text()


def pick_channel(plate: Plate, channel: str | None, where: str) -> np.ndarray:
    """The named channel (exact, then case-insensitive; alpha by default) as float32 (H, W)."""
    names = list(plate.channel_names)
    lower = [n.lower() for n in names]
    if channel is None:
        idx = next((lower.index(n) for n in ALPHA_NAMES if n in lower), None)
        if idx is None and len(names) == 1:
            idx = 0
        if idx is None:
            raise PlateError(f"{where}: no alpha channel (channels: {', '.join(names)}); name one with PATTERN:CHANNEL")
    elif channel in names:
        idx = names.index(channel)
    elif channel.lower() in lower:
        idx = lower.index(channel.lower())
    elif channel.lower() in ALPHA_NAMES and any(n in lower for n in ALPHA_NAMES):
        idx = next(lower.index(n) for n in ALPHA_NAMES if n in lower)
    else:
        raise PlateError(f"{where}: no channel {channel!r} (channels: {', '.join(names)})")
    values = np.asarray(plate.pixels[..., idx], np.float32)
    return np.clip(np.nan_to_num(values, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)


class HoldoutReader:
    """Reads the holdout matte of a frame, aligned with a plate's data window."""

    def __init__(self, spec: HoldoutSpec) -> None:
        self.spec = spec
        self._seq: PlateSequence | None = None

    def sequence(self) -> PlateSequence:
        from recast.pipeline.sequence import PlateSequence

        if self._seq is None:
            self._seq = PlateSequence.open(self.spec.pattern)
        return self._seq

    def path(self, frame: int) -> Path:
        seq = self.sequence()
        if frame not in seq.frames:
            still = Path(self.spec.pattern)
            if len(seq.frames) == 1 and still.is_file():  # one still matte for every frame
                return still
            raise PlateError(f"holdout {self.spec.pattern}: no frame {frame}")
        return seq.path(frame)

    def read(self, frame: int, plate: Plate) -> tuple[np.ndarray, Path]:
        """The (H, W) matte over the plate's data window (0 where the holdout has no data)."""
        from recast.pipeline.plateio import read_plate

        path = self.path(frame)
        matte_plate = read_plate(path)
        values = pick_channel(matte_plate, self.spec.channel, f"holdout {path}")
        px, py, pw, ph = plate.data_window
        mx, my, mw, mh = matte_plate.data_window
        out = np.zeros((ph, pw), np.float32)
        x0, y0 = max(px, mx), max(py, my)
        x1, y1 = min(px + pw, mx + mw), min(py + ph, my + mh)
        if x1 > x0 and y1 > y0:
            out[y0 - py : y1 - py, x0 - px : x1 - px] = values[y0 - my : y1 - my, x0 - mx : x1 - mx]
        return out, path


__all__ = ["HoldoutReader", "HoldoutSpec", "absolute_holdout", "parse_holdout", "pick_channel"]
