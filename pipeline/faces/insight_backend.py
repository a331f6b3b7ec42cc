"""insightface analyser: a local model pack (e.g. buffalo_l) loaded with insightface 2.1.

The pack directory holds ONNX files that insightface's model router sorts by
signature: an SCRFD detector (one input [1,3,H,W], 6/9/10/15 outputs), a
2d106 landmark model ([B,3,192,192] -> [B,212], optional) and an ArcFace
recogniser ([B,3,112,112] -> [B,512]). Nothing is downloaded: a missing pack
is one clear error naming the directory and the files it needs. ONNX Runtime
providers come from ``pipeline.onnxrt.choose_providers`` (CUDA only when usable).

insightface models take BGR uint8 images; our crops are RGB, so they are
flipped at this boundary only.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from recast.pipeline.errors import FaceModelError
from recast.pipeline.faces.pyramid import DetectorRange
from recast.pipeline.faces.base import Detection, FaceAnalyser, Fit, Notify
from recast.pipeline.faces.geometry import kps5_from_insight106
from recast.pipeline.faces.identity import SAME_PERSON_THRESHOLDS
from recast.pipeline.faces.options import AnalyserOptions
from recast.pipeline.onnxrt import RuntimeOptions, choose_providers, provider_options

NEEDED = (
    "an SCRFD detector (e.g. det_10g.onnx) and an ArcFace recogniser (e.g. w600k_r50.onnx); "
    "2d106det.onnx adds dense landmarks"
)
# insightface's own packs: the code is MIT, the pretrained weights are for non-commercial research.
PACK_LICENCE = "insightface model pack: weights licensed for non-commercial research use only (see the pack's licence)"


class InsightAnalyser(FaceAnalyser):
    name = "insightface"
    embedding_kind = "arcface512"
    same_person_threshold = SAME_PERSON_THRESHOLDS["arcface512"]

    def __init__(self, options: AnalyserOptions | None = None, notify: Notify | None = None) -> None:
        super().__init__(options, notify)
        opts = self.options
        if opts.models_dir is None:
            raise FaceModelError(f"analyser.models_dir: the insightface backend needs a model pack directory with {NEEDED}")
        self.pack = Path(opts.models_dir).expanduser()
        if not self.pack.is_dir():
            raise FaceModelError(f"{self.pack}: insightface model pack not found (needs {NEEDED})")
        files = sorted(self.pack.glob("*.onnx"))
        if not files:
            raise FaceModelError(f"{self.pack}: no .onnx files in the insightface model pack (needs {NEEDED})")
        self.providers = choose_providers(RuntimeOptions(use_gpu=opts.use_gpu, threads=opts.threads))
        self.models: dict[str, Any] = {}
        self.files: dict[str, Path] = {}
        for path in files:
            model = self._route(path)
            if model is None or model.taskname in self.models:
                continue
            if model.taskname in ("detection", "recognition", "landmark_2d_106"):
                self.models[model.taskname] = model
                self.files[model.taskname] = path
        missing = [t for t in ("detection", "recognition") if t not in self.models]
        if missing:
            raise FaceModelError(
                f"{self.pack}: insightface model pack has no {' or '.join(missing)} model (needs {NEEDED})"
            )
        self.detector = self.models["detection"]
        self.recogniser = self.models["recognition"]
        self.landmarker = self.models.get("landmark_2d_106")
        ctx = 0 if "CUDAExecutionProvider" in self.providers else -1
        self.detector.prepare(ctx, det_thresh=float(opts.det_prob), input_size=(640, 640))

    def _route(self, path: Path) -> Any:
        import onnxruntime as ort

        ort.set_default_logger_severity(3)
        from insightface.model_zoo import model_zoo

        so = ort.SessionOptions()
        so.log_severity_level = 3
        if self.options.threads:
            so.intra_op_num_threads = int(self.options.threads)
        try:
            return model_zoo.get_model(
                os.fspath(path), providers=self.providers, provider_options=provider_options(self.providers), sess_options=so,
                static_shape_sessions=False,
            )
        except Exception as exc:  # the model loaders raise many kinds; reported as one line
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise FaceModelError(f"{path}: cannot load insightface model ({first})") from None

    def licences(self) -> list[dict[str, Any]]:
        return [
            {
                "backend": self.name,
                "model": task,
                "file": str(path),
                "licence": PACK_LICENCE,
                "commercial_use": False,
            }
            for task, path in sorted(self.files.items())
        ]

    def detector_range(self) -> DetectorRange:
        # SCRFD letterboxes every image to 640 px and finds faces from about 16 px there
        return DetectorRange(min_px=16.0, tile=640, level_ratio=4.0, fixed_input=True)

    # ---- hooks -------------------------------------------------------------
    def _detect(self, pixels: np.ndarray) -> list[Detection]:
        bgr = np.ascontiguousarray(pixels[:, :, ::-1])
        det, kpss = self.detector.detect(bgr, input_size=(640, 640), det_thresh=float(self.options.det_prob))
        out = []
        for i in range(det.shape[0]):
            kps = None if kpss is None else np.asarray(kpss[i], np.float64)
            out.append(Detection(np.asarray(det[i, :4], np.float64), float(det[i, 4]), kps))
        return out

    def _fit_crop(self, crop: np.ndarray, box: np.ndarray, det: Detection | None) -> Fit:
        from insightface.app.common import Face as InsightFace

        dense = None
        if self.landmarker is not None:
            face = InsightFace(bbox=np.asarray(box, np.float32))
            self.landmarker.get(np.ascontiguousarray(crop[:, :, ::-1]), face)
            dense = np.asarray(face["landmark_2d_106"], np.float64)
        if det is not None and det.kps5 is not None:
            kps5 = np.asarray(det.kps5, np.float64)  # ArcFace is aligned on the detector's points
        elif dense is not None:
            kps5 = kps5_from_insight106(dense)
        else:
            kps5 = _kps5_from_box(box)
        return Fit(kps5, dense, "insight106" if dense is not None else None)

    def _embed_crop(self, crop: np.ndarray, fit: Fit) -> np.ndarray:
        from insightface.app.common import Face as InsightFace

        face = InsightFace(kps=np.asarray(fit.kps5, np.float32))
        return np.asarray(self.recogniser.get(np.ascontiguousarray(crop[:, :, ::-1]), face), np.float32)


def _kps5_from_box(box: np.ndarray) -> np.ndarray:
    """Template keypoints placed in the box (a last resort when a pack has no landmark model)."""
    from recast.pipeline.faces.geometry import KPS5_TEMPLATE_112

    x0, y0, x1, y1 = (float(v) for v in box)
    return KPS5_TEMPLATE_112 / 112.0 * np.array([x1 - x0, y1 - y0]) + np.array([x0, y0])
