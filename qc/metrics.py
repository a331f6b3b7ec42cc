"""The metric contract: ``score(plate_crop, out_crop, ctx) -> float | None``.

A metric has a name, a direction (is a higher value better or worse) and, when
it cannot score, a reason. Crop metrics see one face: the plate and comp crops
(display-referred RGB float32 in [0, 1]) around the face, and a
:class:`MetricContext` with the matte, the face box inside the crop and what
the job knows about the face. Sequence metrics (temporal) are computed later
from per-frame features; they are listed here too so reports and rules see one
vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np

from recast.pipeline.registry import Registry

Direction = Literal["higher", "lower"]  # which way is better


class Unavailable(Exception):
    """Raised by a metric that cannot score this face; the message is the reason."""


@dataclass
class MetricContext:
    """Everything a crop metric may look at besides the two crops."""

    matte: np.ndarray  # (h, w) float32 [0, 1] from the element's alpha, crop-sized
    face_box: tuple[int, int, int, int]  # x0, y0, x1, y1 of the face inside the (scaled) crop
    face: dict[str, Any]  # the record's face entry (box, kps5, landmarks, score, ...)
    crop_origin: tuple[int, int]  # crop's top-left in plate pixels
    scale: float = 1.0  # crops were resized by this factor (faces are scored at a canonical size)
    plate_range: tuple[float, float] = (0.0, 1.0)  # min/max of the raw plate crop (before display)
    out_raw: np.ndarray | None = None  # raw comp crop (plate space, full resolution) for range/NaN checks
    matte_raw: np.ndarray | None = None  # the matte at full resolution (pairs with out_raw)
    actor_embedding: np.ndarray | None = None
    probe: Any = None  # a FaceProbe (qc.identity) when an analyser is available
    cache: dict[str, Any] = field(default_factory=dict)  # per-face scratch shared by metrics

    def face_slice(self, img: np.ndarray) -> np.ndarray:
        x0, y0, x1, y1 = self.face_box
        return img[y0:y1, x0:x1]


class Metric(Protocol):
    name: str
    direction: Direction
    label: str

    def score(self, plate_crop: np.ndarray, out_crop: np.ndarray, ctx: MetricContext) -> float | None: ...


@dataclass(frozen=True)
class MetricInfo:
    """Description of a metric for reports and rules (crop or sequence)."""

    name: str
    direction: Direction
    label: str
    kind: Literal["crop", "sequence", "frame"] = "crop"


@dataclass
class MetricResult:
    value: float | None
    reason: str | None = None  # why value is None

    def to_json(self) -> dict[str, Any]:
        v = None if self.value is None or not np.isfinite(self.value) else round(float(self.value), 6)
        return {"value": v, "reason": self.reason}


def run_metric(metric: Metric, plate_crop: np.ndarray, out_crop: np.ndarray, ctx: MetricContext) -> MetricResult:
    """Score one face; a metric that raises :class:`Unavailable` yields value None + the reason."""
    try:
        value = metric.score(plate_crop, out_crop, ctx)
    except Unavailable as exc:
        return MetricResult(None, str(exc))
    if value is None:
        return MetricResult(None, f"{metric.name}: no value")
    return MetricResult(float(value))


METRICS: Registry[Metric] = Registry("QC metric", "recast.metrics")  # entry points; built-ins in pyproject.toml

# Sequence metrics (computed from the per-frame features of a whole take).
SEQUENCE_METRICS: tuple[MetricInfo, ...] = (
    MetricInfo("landmark_jitter", "lower", "landmark jitter (comp vs plate, / face size)", "sequence"),
    MetricInfo("flicker", "lower", "face-region flicker (comp vs plate mean colour)", "sequence"),
    MetricInfo("missing_faces", "lower", "faces expected from neighbours but not swapped", "sequence"),
)

# Frame metrics read from the frame's record alone (every face, swapped or not).
FRAME_METRICS: tuple[MetricInfo, ...] = (
    MetricInfo("pose_uncovered", "lower", "swap faded out: face turned past the actor's pose coverage (1 - kept)", "frame"),
)


def record_metrics(rec: dict[str, Any]) -> dict[str, MetricResult]:
    """:data:`FRAME_METRICS` of one frame record. ``pose_uncovered``: the most any face's swap
    was faded because the face was turned past the actor's views (the swapper's
    ``pose_coverage``; 1 = faded out, the plate's face kept)."""
    kept = [
        float(info["pose_coverage"])
        for face in rec.get("faces") or []
        if isinstance(info := face.get("swap_info"), dict) and isinstance(info.get("pose_coverage"), int | float)
    ]
    if not kept:
        return {"pose_uncovered": MetricResult(None, "no face with a pose coverage reading")}
    return {"pose_uncovered": MetricResult(max(0.0, 1.0 - min(kept)))}
