"""The ``warp`` actor's face bank: aligned crops + landmarks + pose + expression.

On disk (inside the actor folder)::

    bank/000.png ...      aligned RGB crops, 16-bit PNG, working space; RGBA where the
                          actor photo does not fill the crop: the alpha is 1 over the
                          photo's own pixels, 0 over the padding beyond its edges
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

from recast.models.hashing import sha256_file
from recast.models.swappers import warp_shape as ws
from recast.pipeline.atomic import atomic_path, atomic_write_json
from recast.pipeline.errors import ActorError

BANK_DIR = "bank"
BANK_INDEX = "bank/bank.json"
BANK_VERSION = 1
# the actor photo's edge inside a bank crop (padded by reflection beyond it): the swap's matte
# is feathered over about this much of the crop side, falling to 0 at the edge. Cut further in,
# it took the chin a tight photo cuts off (an opened mouth then read less open); allowed 3 % of
# the crop past the edge, it kept the mirrored bits it is there to drop (benchmarks/README.md)
PHOTO_EDGE_FEATHER = 0.008


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



def write_png16(path: Path, rgb: np.ndarray, alpha: np.ndarray | None = None) -> None:
    """Atomic 16-bit RGB (with ``alpha``: RGBA) PNG of a float [0, 1] image."""
    data = (np.clip(np.nan_to_num(rgb[..., :3]), 0.0, 1.0) * 65535.0 + 0.5).astype(np.uint16)[..., ::-1]
    if alpha is not None:
        a = (np.clip(np.nan_to_num(alpha), 0.0, 1.0) * 65535.0 + 0.5).astype(np.uint16)
        data = np.dstack([data, a])
    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp), np.ascontiguousarray(data)):
            raise ActorError(f"{path}: cannot write bank image")


def read_png(path: Path) -> np.ndarray:
    """A bank image's RGB (float32 [0, 1])."""
    return read_png_rgba(path)[0]


def read_png_rgba(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """A bank image's RGB and its alpha (None: the image has none)."""
    data = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if data is None or data.ndim != 3 or data.shape[2] < 3:
        raise ActorError(f"{path}: bank image missing or unreadable")
    scale = 65535.0 if data.dtype == np.uint16 else 255.0
    rgb = np.ascontiguousarray(data[..., 2::-1].astype(np.float32) / scale)
    alpha = np.ascontiguousarray(data[..., 3].astype(np.float32) / scale) if data.shape[2] > 3 else None
    return rgb, alpha


def photo_alpha(image_shape: tuple[int, int], m: np.ndarray, crop_shape: tuple[int, int]) -> np.ndarray | None:
    """Where an aligned crop (2x3 matrix ``m``: photo -> crop) holds the actor photo's own
    pixels: 1 there, 0 over the padding beyond the photo's edges (None: the photo fills it).
    A tight photo's face outline (the jaw dlib places by the face's shape) can run past its
    edge, where the crop is padded by reflection: mirrored bits of the face that must never
    be pasted."""
    h, w = crop_shape
    ones = np.ones(image_shape, np.float32)
    inside = cv2.warpAffine(ones, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    return None if float(inside.min()) >= 0.999 else np.clip(inside, 0.0, 1.0)


def photo_weight(alpha: np.ndarray | None, crop_size: int) -> np.ndarray | None:
    """How much of each bank pixel the swap may use: the stored alpha feathered inwards from
    the photo's edge (0 there and beyond, 1 a few pixels in), so a matte bounded by it never
    shows the padding. None: the photo fills the crop."""
    if alpha is None or float(alpha.min()) >= 0.999:
        return None
    inside = (alpha > 0.5).astype(np.float32)
    soft = cv2.GaussianBlur(inside, (0, 0), max(0.5, PHOTO_EDGE_FEATHER * max(1, crop_size)))
    return np.clip(2.0 * soft - 1.0, 0.0, 1.0)  # (the blur's half-way line moved in, its outer half dropped)


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
        return self.source(entry)[..., :3]

    def source(self, entry: BankEntry) -> np.ndarray:
        """What the swap warps: the entry's crop, with a fourth channel (``photo_weight``)
        where the actor photo does not fill it (mirrored when the entry is a mirrored view)."""
        key = f"{entry.file}|{int(entry.mirrored)}"
        img = self._images.get(key)
        if img is None:
            rgb, alpha = read_png_rgba(self.root / entry.file)
            weight = photo_weight(alpha, self.crop_size or rgb.shape[1])
            base = rgb if weight is None else np.dstack([rgb, weight])
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
