"""Build a small job output folder from real video frames, in the engine's layout.

For tests and benchmarks of QC when no engine run is at hand: real faces from
a clip (detected with dlib's HOG detector and 68-point predictor), scene-linear
EXR plates, a "comp" made by a real alteration inside a feathered face matte,
the RGBA face element and frame records in the contract schema. Glitches can be
planted on chosen frames: ``shift`` (swap pasted off target), ``colour`` (a
colour jump) and ``missing`` (the face not swapped).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import OpenImageIO as oiio

from recast.pipeline.atomic import atomic_path, atomic_write_json
from recast.pipeline.errors import QCError
from recast.pipeline.schema.layout import OutputLayout, frame_token

Glitch = Literal["shift", "colour", "missing"]


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


def decode_frames(video: Path, start: int, count: int) -> list[np.ndarray]:
    """``count`` RGB uint8 frames from ``start`` (PyAV)."""
    import av

    frames: list[np.ndarray] = []
    with av.open(str(video)) as c:
        for i, fr in enumerate(c.decode(video=0)):
            if i >= start:
                frames.append(fr.to_ndarray(format="rgb24"))
            if len(frames) >= count:
                break
    if len(frames) < count:
        raise QCError(f"{video}: only {len(frames)} frames from {start}, wanted {count}")
    return frames


def _dlib_models() -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise QCError("face_recognition_models package not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


@dataclass
class SampleJobSpec:
    out: Path
    first_frame: int = 1001
    plate_name: str = "shot"
    actor: str = "sample_actor"
    fps: float = 24.0
    glitches: dict[int, Glitch] = field(default_factory=dict)


def _write_exr(path: Path, pixels: np.ndarray, channels: list[str], display: tuple[int, int],
               origin: tuple[int, int] = (0, 0), fps: float | None = None) -> None:
    h, w = pixels.shape[:2]
    spec = oiio.ImageSpec(w, h, len(channels), oiio.HALF)
    spec.channelnames = tuple(channels)
    spec.x, spec.y = origin
    spec.full_x, spec.full_y, spec.full_width, spec.full_height = 0, 0, display[0], display[1]
    spec.attribute("compression", "zip")
    if fps:
        rate = Fraction(fps).limit_denominator(1001)
        spec.attribute("FramesPerSecond", oiio.TypeDesc("rational"), (rate.numerator, rate.denominator))
    with atomic_path(path) as tmp:
        out = oiio.ImageOutput.create(str(tmp))
        if out is None or not out.open(str(tmp), spec):
            raise QCError(f"{path}: cannot write EXR ({oiio.geterror()})")
        out.write_image(np.ascontiguousarray(pixels, np.float32))
        out.close()


def build_sample_job(frames: list[np.ndarray], spec: SampleJobSpec) -> list[dict[str, Any]]:
    """Write plates, comps, elements and records; returns the records."""
    import dlib  # type: ignore[import-untyped]

    models = _dlib_models()
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(models / "shape_predictor_68_face_landmarks.dat"))
    out = spec.out
    layout = OutputLayout(out, spec.plate_name, 4)  # the sample plate is written 4-digit padded
    records: list[dict[str, Any]] = []
    prev_box: np.ndarray | None = None
    for k, rgb8 in enumerate(frames):
        frame = spec.first_frame + k
        h, w = rgb8.shape[:2]
        dets, scores, _ = detector.run(rgb8, 0, 0)
        if len(dets):
            i = int(np.argmax([d.area() for d in dets]))
            d, score = dets[i], float(scores[i])
            box = np.array([d.left(), d.top(), d.right(), d.bottom()], np.float64)
            source = "detected"
        elif prev_box is not None:
            box, score, source = prev_box, 0.0, "propagated"
        else:
            raise QCError(f"frame {frame}: no face detected in the sample clip")
        prev_box = box
        shape = predictor(rgb8, dlib.rectangle(*[int(v) for v in box]))
        lm = np.array([[p.x, p.y] for p in shape.parts()], np.float64)
        kps5 = np.stack([lm[36:42].mean(0), lm[42:48].mean(0), lm[30], lm[48], lm[54]])
        plate = srgb_to_linear(rgb8.astype(np.float32) / 255.0)
        plate_path = out / "plate" / f"{spec.plate_name}.{frame_token(frame, 4)}.exr"
        _write_exr(plate_path, plate, ["R", "G", "B"], (w, h), fps=spec.fps)

        glitch = spec.glitches.get(frame)
        matte: np.ndarray = np.zeros((h, w), np.float32)
        hull = cv2.convexHull(lm.astype(np.int32))
        cv2.fillConvexPoly(matte, hull, 1.0)
        fs = float(box[2] - box[0])
        matte = cv2.GaussianBlur(matte, (0, 0), max(1.0, fs * 0.03))
        swapped = glitch != "missing"
        if swapped:
            gain = np.array([1.08, 1.0, 0.92], np.float32)  # a warm grade + soften: the stand-in "swap"
            if glitch == "colour":
                gain = np.array([1.6, 0.75, 0.6], np.float32)
            face_img: np.ndarray = cv2.GaussianBlur(plate, (0, 0), max(0.5, 0.007 * fs)) * gain  # softening relative to face size
            if glitch == "shift":
                m = np.array([[1, 0, 0.18 * fs], [0, 1, 0.10 * fs]], np.float32)
                face_img = cv2.warpAffine(face_img, m, (w, h), borderMode=cv2.BORDER_REFLECT)
            comp = plate * (1 - matte[..., None]) + face_img * matte[..., None]
        else:
            comp, matte = plate.copy(), np.zeros_like(matte)
        comp = np.where(matte[..., None] > 0, comp, plate).astype(np.float32)  # outside the matte: the plate, bit for bit
        comp_path = layout.comp_path(frame)
        _write_exr(comp_path, comp, ["R", "G", "B"], (w, h), fps=spec.fps)
        elem_path = layout.element_path(frame)
        ys, xs = np.nonzero(matte > 0)
        matte_box = None
        if swapped and len(xs):
            x0, y0, x1, y1 = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
            matte_box = [x0, y0, x1, y1]
            a = matte[y0:y1, x0:x1, None]
            _write_exr(elem_path, np.concatenate([comp[y0:y1, x0:x1] * a, a], -1), ["R", "G", "B", "A"], (w, h), (x0, y0))
        face = {
            "track_id": 1, "box": [round(float(v), 3) for v in box], "score": round(score, 5),
            "kps5": np.round(kps5, 3).tolist(), "landmarks": np.round(lm, 3).tolist(), "landmark_kind": "dlib68",
            "landmarks_source": source, "pose": [0.0, 0.0, 0.0], "embedding_kind": "dlib128",
            "swapped": swapped, "actor": spec.actor if swapped else None, "matte_box": matte_box,
            "color_match": None, "swap_info": {"stand_in": "graded plate face (QC sample job)"},
        }
        rec = {
            "schema": 1, "frame": frame, "take": 1, "status": "done" if swapped else "passthrough", "error": None,
            "job": None, "plate": str(plate_path.resolve()), "comp": str(comp_path.resolve()),
            "element": str(elem_path.resolve()) if matte_box else None, "actor": spec.actor, "backend": "sample",
            "model_sha256": None, "consent_id": "sample-consent", "settings": {"analyser": "dlib", "fps": spec.fps},
            "faces": [face] if swapped else [], "stats": {"nan": 0, "inf": 0},
            "timings": {}, "created": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        atomic_write_json(layout.record_path(frame), rec)
        records.append(rec)
    return records
