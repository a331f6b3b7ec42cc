"""Face extraction for training: aligned faces, hull masks and eyes/mouth maps.

Alignment is the ``dfm`` backend's own (``_align.dfl_matrix`` + ``warp_in``), so the
model learns exactly the crops it is fed at swap time. A face is rejected when it is

- tiny: its box is under ``min_face_px`` (default half the training resolution: the
  model would learn an upscaled blur);
- profile: the analyser's yaw estimate beyond ``max_yaw`` degrees;
- blurry: the variance of the Laplacian of its grey 128-px whole-face crop inside the
  hull mask, in 8-bit units, under ``min_sharpness``.

Actor footage keeps the largest face of each frame (the actor); plates keep every face.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from recast.models.swappers._align import dfl_matrix, warp_in
from recast.models.train.masks import aligned_points, hull_mask, parts_mask
from recast.models.train.sources import InputFrame
from recast.pipeline.errors import TrainError
from recast.pipeline.types import Face

SHARPNESS_SIZE = 128
REJECT_REASONS = ("tiny", "profile", "blurry")


@dataclass(frozen=True)
class ExtractOptions:
    resolution: int
    face_type: str = "whole_face"
    min_face_px: float | None = None  # None: resolution / 2
    max_yaw: float = 45.0
    min_sharpness: float = 150.0
    largest_only: bool = False

    @property
    def min_face(self) -> float:
        return float(self.min_face_px) if self.min_face_px is not None else self.resolution / 2.0


@dataclass
class ExtractReport:
    label: str
    frames: int = 0
    frames_without_face: int = 0
    found: int = 0
    kept: int = 0
    rejected: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REJECT_REASONS, 0))

    def line(self) -> str:
        rej = ", ".join(f"{n} {k}" for k, n in self.rejected.items())
        return f"{self.label}: {self.frames} frames, {self.found} faces found, {self.kept} kept (rejected: {rej}); {self.frames_without_face} frames without a face"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FaceSet:
    images: np.ndarray  # (N, R, R, 3) uint8 RGB
    masks: np.ndarray  # (N, R, R) uint8 hull mask
    parts: np.ndarray  # (N, R, R) uint8 eyes + mouth
    origins: list[dict[str, Any]]

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def resolution(self) -> int:
        return int(self.images.shape[1])

    def save(self, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, images=self.images, masks=self.masks, parts=self.parts, origins=np.array(json.dumps(self.origins)))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> FaceSet:
        with np.load(path) as z:
            return cls(z["images"], z["masks"], z["parts"], json.loads(str(z["origins"])))


def sharpness(image: np.ndarray, face: Face, face_type: str) -> float:
    """Variance of the Laplacian (8-bit units) of the face's grey 128-px aligned crop, inside its hull."""
    m, _ = dfl_matrix(face, SHARPNESS_SIZE, face_type)
    crop = np.clip(warp_in(image, m, SHARPNESS_SIZE), 0.0, 1.0)
    grey = cv2.cvtColor((crop * 255.0).astype(np.float32), cv2.COLOR_RGB2GRAY)
    lap = cv2.Laplacian(grey, cv2.CV_32F, ksize=3)
    lm, k5 = aligned_points(face, m)
    inside = cv2.erode(hull_mask(lm, k5, SHARPNESS_SIZE), np.ones((5, 5), np.uint8)) > 0
    values = lap[inside] if inside.sum() > 64 else lap.ravel()
    return float(values.var())


def verdict(image: np.ndarray, face: Face, opts: ExtractOptions) -> str | None:
    """The reason to reject ``face`` (one of REJECT_REASONS), or None to keep it."""
    if face.size < opts.min_face:
        return "tiny"
    if abs(float(face.pose[0])) > opts.max_yaw:
        return "profile"
    if sharpness(image, face, opts.face_type) < opts.min_sharpness:
        return "blurry"
    return None


def align_face(image: np.ndarray, face: Face, opts: ExtractOptions) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(uint8 RGB, uint8 hull mask, uint8 eyes/mouth map) on the aligned square."""
    r = opts.resolution
    m, _ = dfl_matrix(face, r, opts.face_type)
    rgb = np.clip(warp_in(image, m, r), 0.0, 1.0)
    lm, k5 = aligned_points(face, m)
    return (rgb * 255.0 + 0.5).astype(np.uint8), hull_mask(lm, k5, r), parts_mask(lm, k5, r)


def extract_faces(
    frames: Iterable[tuple[InputFrame, np.ndarray]],
    analyser: Any,
    opts: ExtractOptions,
    label: str,
    progress: Callable[[Iterable[Any]], Iterable[Any]] | None = None,
) -> tuple[FaceSet, ExtractReport]:
    report = ExtractReport(label)
    imgs: list[np.ndarray] = []
    masks: list[np.ndarray] = []
    parts: list[np.ndarray] = []
    origins: list[dict[str, Any]] = []
    items = progress(frames) if progress is not None else frames
    for item, image in items:
        report.frames += 1
        faces: list[Face] = list(analyser.analyse(image, embed=False))
        if not faces:
            report.frames_without_face += 1
            continue
        if opts.largest_only:
            faces = [max(faces, key=lambda f: f.size)]
        for face in faces:
            report.found += 1
            why = verdict(image, face, opts)
            if why is not None:
                report.rejected[why] += 1
                continue
            rgb, mask, part = align_face(image, face, opts)
            imgs.append(rgb)
            masks.append(mask)
            parts.append(part)
            origins.append({"path": str(item.path), "frame": item.frame, "box": [round(float(v), 2) for v in face.box]})
            report.kept += 1
    if not imgs:
        raise TrainError(f"no usable {label} face: {report.line()}")
    return FaceSet(np.stack(imgs), np.stack(masks), np.stack(parts), origins), report

