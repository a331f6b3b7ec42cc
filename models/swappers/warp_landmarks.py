"""Landmark adapter for the ``warp`` backend (dlib 68-point layout).

The face bank and the swapper need the same 68-point layout on both sides,
so both go through this adapter, which wraps ``pipeline.faces``' dlib analyser
(68-point mode; its licence list goes into the actor manifest).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recast.pipeline.errors import FaceModelError, SpecError
from recast.pipeline.faces import AnalyserOptions, FaceAnalyser, Notify, create_analyser
from recast.pipeline.types import Face


def to_uint8(image: np.ndarray) -> np.ndarray:
    """RGB float [0, 1] (NaN/Inf tolerated) → contiguous uint8 RGB."""
    img = np.nan_to_num(np.asarray(image, dtype=np.float32), nan=0.0, posinf=1.0, neginf=0.0)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return np.ascontiguousarray(np.clip(img[..., :3] * 255.0 + 0.5, 0, 255).astype(np.uint8))


NEEDS_68 = (
    "settings.allow_noncommercial_models is false, but the warp backend needs dlib's 68-point landmarks "
    "(shape_predictor_68_face_landmarks.dat, trained on data that excludes commercial use); "
    "set allow_noncommercial_models=true or use an inswapper/dfm actor"
)


@dataclass
class Landmarker:
    """68-point landmarks for the warp backend, from one of two analysers (created on first use):

    - ``dlib68``: dlib's 68-point predictor, whose training data excludes commercial use:
      with ``allow_noncommercial_models`` false it refuses at creation (SpecError naming the
      setting) rather than on the first face;
    - ``mesh68``: MediaPipe's Apache-2.0 face mesh (468 points) read in the 68-point layout
      (:func:`recast.pipeline.faces.mesh.mesh_to_68`);
    - ``auto`` (default): ``dlib68`` when non-commercial models are allowed, else ``mesh68``.
    """

    options: AnalyserOptions = field(default_factory=lambda: AnalyserOptions(landmarks="68", upsample=1))
    allow_noncommercial_models: bool = True
    notify: Notify | None = None
    kind: str = "auto"
    _analyser: FaceAnalyser | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        allowed = self.allow_noncommercial_models and self.options.allow_noncommercial_models
        if self.kind == "auto":
            self.kind = "dlib68" if allowed else "mesh68"
        if self.kind not in ("dlib68", "mesh68"):
            raise SpecError(f"warp.landmarks: {self.kind!r} must be 'auto', 'dlib68' or 'mesh68'")
        if self.kind == "dlib68" and not allowed:
            raise SpecError(NEEDS_68)

    def analyser(self) -> FaceAnalyser:
        if self._analyser is None:
            if self.kind == "mesh68":
                opts = self.options.replace(landmarks="auto", allow_noncommercial_models=False, upsample=0)
                self._analyser = create_analyser("mediapipe", opts, self.notify)
            else:
                self._analyser = create_analyser("dlib", self.options, self.notify)
        return self._analyser

    def adopt(self, analyser: FaceAnalyser) -> bool:
        """Share ``analyser``'s loaded models (the engine's) when it is the backend this
        landmarker would load, instead of loading the same files again. True when adopted."""
        if self._analyser is not None:
            return False
        backend = "mediapipe" if self.kind == "mesh68" else "dlib"
        if analyser.name != backend:
            return False
        opts = self.options
        if self.kind == "mesh68":
            opts = opts.replace(landmarks="auto", allow_noncommercial_models=False, upsample=0)
        derived = analyser.derive(opts, self.notify)
        if derived is None:
            return False
        self._analyser = derived
        return True

    def licences(self) -> list[dict[str, Any]]:
        return self.analyser().licences()

    def detect(self, image: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, float]]:
        """Faces in an RGB [0, 1] image as (box x0,y0,x1,y1, landmarks (68, 2), score), largest first."""
        faces = self.analyser().analyse(image, embed=False)
        out = [(np.asarray(f.box, np.float64), _lm68(f), float(f.score)) for f in faces]
        out.sort(key=lambda d: -(d[0][2] - d[0][0]) * (d[0][3] - d[0][1]))
        return out

    def fit(self, image: np.ndarray, box: np.ndarray) -> np.ndarray:
        """68 landmarks inside ``box`` (x0, y0, x1, y1) of an RGB [0, 1] image."""
        return _lm68(self.analyser().fit_landmarks(image, np.asarray(box, np.float64)))


def _lm68(face: Face) -> np.ndarray:
    lm = face.landmarks
    if lm is not None and face.landmark_kind == "mesh468" and lm.shape[0] == 468:
        from recast.pipeline.faces.mesh import mesh_to_68

        return mesh_to_68(lm)
    if lm is None or lm.shape != (68, 2) or face.landmark_kind != "dlib68":
        raise FaceModelError(
            "warp: needs 68-point landmarks (dlib68, or the face mesh's mesh68); the analyser returned "
            f"{face.landmark_kind or 'none'} (allow_noncommercial_models must be true for the 68-point model)"
        )
    return np.asarray(lm, np.float64)
