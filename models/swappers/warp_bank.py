"""The ``warp`` actor's face bank: aligned crops + landmarks + pose + expression.

On disk (inside the actor folder)::

    bank/000.png ...      aligned RGB crops, 16-bit PNG, working space
    bank/bank.json        one entry per crop view (mirrored views share a PNG)

An entry's ``landmarks`` are the 68 dlib points in its crop; ``heights`` are the
forehead heights above the brows (fractions of eye-to-chin length); ``pose``
is (yaw, pitch, roll) in degrees; ``expression`` holds mouth/eye opening.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from recast.models.swappers import warp_shape as ws
from recast.pipeline.atomic import atomic_path, atomic_write_json
from recast.pipeline.errors import ActorError
from recast.models.hashing import sha256_file

BANK_DIR = "bank"
BANK_INDEX = "bank/bank.json"
BANK_VERSION = 1


@dataclass(frozen=True)
class BankEntry:
    id: int
    file: str  # relative to the actor folder
    source: str  # source image name
    mirrored: bool
    landmarks: np.ndarray  # (68, 2) in this entry's crop (after mirroring)
    heights: np.ndarray  # (10,) forehead heights
    pose: tuple[float, float, float]
    expression: ws.Expression

    def extended(self) -> np.ndarray:
        return ws.extend_points(self.landmarks, self.heights)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "file": self.file,
            "source": self.source,
            "mirrored": self.mirrored,
            "landmarks": np.round(self.landmarks, 3).tolist(),
            "heights": np.round(self.heights, 4).tolist(),
            "pose": [round(float(v), 3) for v in self.pose],
            "expression": {
                "mouth_open": round(self.expression.mouth_open, 5),
                "eye_open": round(self.expression.eye_open, 5),
                "mouth_width": round(self.expression.mouth_width, 5),
            },
        }

    @classmethod
    def from_json(cls, d: dict[str, Any], where: str) -> BankEntry:
        try:
            lm = np.asarray(d["landmarks"], np.float64)
            heights = np.asarray(d["heights"], np.float64)
            pose = tuple(float(v) for v in d["pose"])
            ex = d["expression"]
            entry = cls(
                id=int(d["id"]),
                file=str(d["file"]),
                source=str(d.get("source", "")),
                mirrored=bool(d.get("mirrored", False)),
                landmarks=lm,
                heights=heights,
                pose=(pose[0], pose[1], pose[2]),
                expression=ws.Expression(float(ex["mouth_open"]), float(ex["eye_open"]), float(ex["mouth_width"])),
            )
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ActorError(f"{where}: malformed bank entry ({type(exc).__name__}: {exc})") from None
        if lm.shape != (ws.N68, 2) or heights.shape != (ws.N_FOREHEAD,) or len(pose) != 3:
            raise ActorError(f"{where}: bank entry {d.get('id')} has wrong landmark/height/pose sizes")
        return entry


@dataclass(frozen=True)
class Choice:
    entry: BankEntry
    pose_distance: float  # degrees, yaw/pitch
    expression_distance: float
    cost: float


def choose(
    entries: list[BankEntry],
    pose: tuple[float, float, float],
    expr: ws.Expression,
    expression_weight: float = 40.0,
    mirror_penalty: float = 6.0,
    previous: int | None = None,
    switch_penalty: float = 0.0,
) -> Choice:
    """The entry nearest in yaw/pitch (degrees) and expression; mirrored views pay a small penalty.

    ``previous`` (the entry this face track used last frame) makes every other
    entry pay ``switch_penalty`` degrees, so a pose hovering between two views
    doesn't flip the texture frame to frame.
    """
    if not entries:
        raise ActorError("warp face bank is empty")
    best: Choice | None = None
    for e in entries:
        pd = float(np.hypot(e.pose[0] - pose[0], e.pose[1] - pose[1]))
        ed = e.expression.distance(expr)
        cost = pd + expression_weight * ed + (mirror_penalty if e.mirrored else 0.0)
        if previous is not None and e.id != previous:
            cost += switch_penalty
        if best is None or cost < best.cost:
            best = Choice(e, pd, ed, cost)
    assert best is not None
    return best



def write_png16(path: Path, rgb: np.ndarray) -> None:
    """Atomic 16-bit RGB PNG of a float [0, 1] image."""
    data = (np.clip(np.nan_to_num(rgb[..., :3]), 0.0, 1.0) * 65535.0 + 0.5).astype(np.uint16)
    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp), np.ascontiguousarray(data[..., ::-1])):
            raise ActorError(f"{path}: cannot write bank image")


def read_png(path: Path) -> np.ndarray:
    data = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if data is None or data.ndim != 3 or data.shape[2] < 3:
        raise ActorError(f"{path}: bank image missing or unreadable")
    scale = 65535.0 if data.dtype == np.uint16 else 255.0
    return np.ascontiguousarray(data[..., 2::-1].astype(np.float32) / scale)


@dataclass
class FaceBank:
    """A loaded bank; crop images are read on first use and kept."""

    root: Path
    crop_size: int
    entries: list[BankEntry]
    _images: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, root: Path) -> FaceBank:
        index = root / BANK_INDEX
        try:
            data = json.loads(index.read_text())
        except FileNotFoundError:
            raise ActorError(f"{index}: warp face bank index missing (rebuild the actor)") from None
        except (OSError, ValueError) as exc:
            raise ActorError(f"{index}: unreadable warp face bank index ({exc})") from None
        if not isinstance(data, dict) or data.get("version") != BANK_VERSION:
            raise ActorError(
                f"{index}: unsupported warp bank version {data.get('version') if isinstance(data, dict) else None!r}"
            )
        entries = [BankEntry.from_json(d, str(index)) for d in data.get("entries", [])]
        if not entries:
            raise ActorError(f"{index}: warp face bank has no entries")
        return cls(root=root, crop_size=int(data.get("crop_size", 0)), entries=entries)

    def image(self, entry: BankEntry) -> np.ndarray:
        """The entry's crop (mirrored when the entry is a mirrored view)."""
        key = f"{entry.file}|{int(entry.mirrored)}"
        img = self._images.get(key)
        if img is None:
            base = read_png(self.root / entry.file)
            img = np.ascontiguousarray(base[:, ::-1]) if entry.mirrored else base
            self._images[key] = img
        return img

    def save(self) -> list[str]:
        """Write the index; returns the relative paths of every bank file.

        The index records the sha256 of every bank image, so the index's own
        hash identifies the whole bank (it is the actor's primary model file).
        """
        files = sorted({e.file for e in self.entries})
        atomic_write_json(
            self.root / BANK_INDEX,
            {
                "version": BANK_VERSION,
                "crop_size": self.crop_size,
                "images": {rel: sha256_file(self.root / rel) for rel in files},
                "entries": [e.to_json() for e in self.entries],
            },
        )
        return files + [BANK_INDEX]
