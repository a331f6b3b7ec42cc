"""Typed option objects for face analysis and tracking (no module-level state)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

from recast.pipeline.errors import SpecError

DetectorKind = Literal["hog", "cnn"]
LandmarkMode = Literal["auto", "68", "5"]


@dataclass(frozen=True)
class AnalyserOptions:
    """Settings shared by every analyser backend; a backend ignores what it does not use.

    ``detect_size`` is the long side of the downscaled copy detection runs on:
    detection never sees the full-resolution frame. Landmarks and embeddings
    run on full-resolution crops (capped at ``crop_max_size`` pixels per face).
    """

    detect_size: int = 1024
    upsample: int = 0  # dlib HOG pyramid upsampling for small faces (each step: 2x, ~4x slower)
    detect_threshold: float = 0.0  # dlib: HOG/SVM margin; insightface: probability (see det_prob)
    det_prob: float = 0.5  # insightface SCRFD probability threshold
    detector: DetectorKind = "hog"  # dlib: "cnn" = mmod detector (slow, off by default)
    landmarks: LandmarkMode = "auto"  # dlib: "auto" = 68 when allowed, else 5
    allow_noncommercial_models: bool = True
    models_dir: Path | None = None  # dlib: dir with the .dat files; insightface: the pack dir
    crop_margin: float = 0.35  # crop = box grown by this fraction on each side
    crop_max_size: int = 800  # faces larger than this are fitted on a downscaled crop
    # the smallest face (plate px, box height) a full scan looks for: the detection pyramid's
    # finest level is scaled so such a face reaches the detector's minimum (0 = downscale only)
    min_face: int = 48
    drop_below: int = 16  # faces smaller than this (full-res px) are dropped
    embed_jitters: int = 0  # dlib: >0 averages jittered crops (slower, steadier)
    # dlib, mediapipe: the landmarks averaged over this many fits in boxes (the mesh: crops) moved
    # and scaled round the face's (1: one fit; 0: the backend's default, FACE_MESH_FITS for the
    # mesh, one fit for dlib). One fit's points move with its box (the mouth's and lids' most)
    landmark_fits: int = 0
    use_gpu: bool = True  # insightface: CUDA only when usable
    threads: int = 0  # ONNX Runtime intra-op threads, 0 = default
    region_face_size: int = 110  # face size (px) aimed at when detecting inside a window (HOG needs >= 80)
    extra: dict[str, Any] = field(default_factory=dict)

    def replace(self, **changes: Any) -> AnalyserOptions:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["models_dir"] = None if self.models_dir is None else str(self.models_dir)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "analyser") -> AnalyserOptions:
        known = {f.name: f for f in fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key not in known:
                raise SpecError(f"{where}.{key}: unknown analyser option (known: {', '.join(sorted(known))})")
            kwargs[key] = value
        if kwargs.get("models_dir") is not None:
            kwargs["models_dir"] = Path(kwargs["models_dir"])
        opts = cls(**kwargs)
        opts.validate(where)
        return opts

    def validate(self, where: str = "analyser") -> None:
        checks: list[tuple[bool, str, str]] = [
            (isinstance(self.detect_size, int) and 64 <= self.detect_size <= 8192, "detect_size", "must be an int in 64..8192"),
            (isinstance(self.upsample, int) and 0 <= self.upsample <= 3, "upsample", "must be an int in 0..3"),
            (isinstance(self.min_face, int) and (self.min_face == 0 or 8 <= self.min_face <= 4096), "min_face", "must be 0 (off) or an int in 8..4096"),
            (self.detector in ("hog", "cnn"), "detector", "must be 'hog' or 'cnn'"),
            (self.landmarks in ("auto", "68", "5"), "landmarks", "must be 'auto', '68' or '5'"),
            (0.0 <= float(self.crop_margin) <= 2.0, "crop_margin", "must be in 0..2"),
            (isinstance(self.crop_max_size, int) and self.crop_max_size >= 64, "crop_max_size", "must be an int >= 64"),
            (0.0 < float(self.det_prob) < 1.0, "det_prob", "must be in (0, 1)"),
            (isinstance(self.embed_jitters, int) and 0 <= self.embed_jitters <= 100, "embed_jitters", "must be in 0..100"),
            (isinstance(self.landmark_fits, int) and 0 <= self.landmark_fits <= 11, "landmark_fits", "must be an int in 0..11 (0: the backend's default)"),
        ]
        for ok, name, msg in checks:
            if not ok:
                raise SpecError(f"{where}.{name}: {getattr(self, name)!r} {msg}")


@dataclass(frozen=True)
class TrackerOptions:
    """Linking faces across frames, smoothing and propagation."""

    iou_min: float = 0.2  # box overlap needed to link without an embedding
    max_center_shift: float = 0.6  # centre move allowed per frame, in face sizes
    embed_max_distance: float | None = None  # None = the backend's same-person threshold
    max_dropout: int = 12  # frames a track survives without a detection
    max_gap: int = 6  # frames landmarks are propagated by optical flow
    cut_threshold: float = 0.5  # grey histogram distance (0..1) above which a new shot starts
    cut_correlation: float = 0.5  # ... or thumbnail correlation (-1..1) below which one starts
    smooth: bool = True
    min_cutoff: float = 1.0  # One-Euro: cutoff (Hz) when still (lower = steadier)
    beta: float = 5.0  # One-Euro: cutoff gain per face-size/second of speed (higher = less lag)
    d_cutoff: float = 1.0
    # smooth the face's shape in the head's own moving frame (no lag when the head moves);
    # False: the points themselves (a moving head is followed about half a frame late)
    smooth_rigid: bool = True
    fps: float = 24.0

    def replace(self, **changes: Any) -> TrackerOptions:
        return replace(self, **changes)
