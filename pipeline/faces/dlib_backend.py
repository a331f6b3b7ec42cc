"""The embedded default analyser: dlib HOG detector, 5/68-point landmarks, 128-D ResNet.

Model files come from the ``face-recognition-models`` wheel (found by path, not
imported: its ``__init__`` needs ``pkg_resources``) or from
``AnalyserOptions.models_dir``. Nothing is downloaded.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from recast.pipeline.errors import FaceModelError
from recast.pipeline.faces.base import Detection, FaceAnalyser, Fit, Notify
from recast.pipeline.faces.geometry import kps5_from_dlib5, kps5_from_dlib68
from recast.pipeline.faces.identity import SAME_PERSON_THRESHOLDS
from recast.pipeline.faces.options import AnalyserOptions
from recast.pipeline.faces.pyramid import DetectorRange
from recast.pipeline.faces.verify import MeshPresence

PREDICTOR_5 = "shape_predictor_5_face_landmarks.dat"
PREDICTOR_68 = "shape_predictor_68_face_landmarks.dat"
RESNET = "dlib_face_recognition_resnet_model_v1.dat"
MMOD = "mmod_human_face_detector.dat"
DETECT_THREADS = 3  # detection searches of one frame at once: the caller's thread and up to 2 more

# Licence facts per model file (from dlib-models' README).
MODEL_LICENCES: dict[str, dict[str, Any]] = {
    "hog": {
        "file": None,
        "licence": "Boost Software License 1.0 (built into dlib)",
        "commercial_use": True,
    },
    PREDICTOR_5: {
        "licence": "public domain (CC0), trained by Davis King on his own data set",
        "commercial_use": True,
    },
    PREDICTOR_68: {
        "licence": "trained on iBUG 300-W, whose licence excludes commercial use",
        "commercial_use": False,
    },
    RESNET: {
        "licence": "public domain (CC0) per dlib-models",
        "commercial_use": True,
    },
    MMOD: {
        "licence": "public domain (CC0) per dlib-models; trained on dlib's own labelled images",
        "commercial_use": True,
    },
}


NONCOMMERCIAL_NOTICE = (
    f"recast: faces: using {PREDICTOR_68} (training data licensed for non-commercial use only; "
    "set allow_noncommercial_models=false for 5-point landmarks)"
)


def default_models_dir() -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise FaceModelError(
            "face_recognition_models: package not installed (pip install face-recognition-models==0.3.0) "
            "or set the analyser's models_dir"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models"


class DlibModels:
    """dlib's loaded model files of one folder, each loaded once and shared by every analyser
    made from it (:meth:`DlibAnalyser.derive`): the engine's analyser and the warp swapper's
    68-point landmarker are one load, not two (~0.8 s and ~100 MB each)."""

    def __init__(self, dlib: Any, folder: Path) -> None:
        self.dlib = dlib
        self.folder = folder
        self._loaded: dict[str, Any] = {}
        self.unchecked: str | None = None  # why candidates go without the presence check
        self._hog_thread = threading.get_ident()  # the thread whose detector is hog() (see hog_here)
        self._local = threading.local()  # other threads' own detectors
        self._lock = threading.Lock()
        self.net_lock = threading.Lock()  # the ResNet runs on one thread at a time
        self._pool: tuple[int, ThreadPoolExecutor] | None = None  # (pid, detection threads)

    def get(self, filename: str, loader: Any) -> Any:
        if filename not in self._loaded:
            self._loaded[filename] = self._load(filename, loader)
        return self._loaded[filename]

    def presence(self) -> MeshPresence | None:
        """The face mesh's presence check on candidates (:mod:`.verify`), loaded once; None
        when the MediaPipe models are not set up (candidates then go unchecked)."""
        if "presence" not in self._loaded:
            try:
                self._loaded["presence"] = MeshPresence.load()
            except FaceModelError as exc:
                self._loaded["presence"] = None
                self.unchecked = str(exc)
        return self._loaded["presence"]

    def hog(self) -> Any:
        if "hog" not in self._loaded:
            self._loaded["hog"] = self._frontal_detector()
        return self._loaded["hog"]

    def hog_here(self) -> Any:
        """The HOG detector for the calling thread. dlib's object detector keeps its scan of
        the last image inside itself (one instance must not run on two threads at once): the
        thread that loaded :meth:`hog` uses it, every other thread gets an instance of its own
        (the same serialised detector, so the same detections)."""
        hog = self.hog()
        if threading.get_ident() == self._hog_thread:
            return hog
        mine = getattr(self._local, "hog", None)
        if mine is None:
            mine = self._local.hog = self._frontal_detector()
        return mine

    def detection_pool(self) -> ThreadPoolExecutor | None:
        """Threads for detection searches beside the caller (one fewer than the cores, at most
        ``DETECT_THREADS``); None on one core. Made again in a forked child."""
        n = min(DETECT_THREADS, os.cpu_count() or 1) - 1
        if n < 1:
            return None
        with self._lock:
            if self._pool is None or self._pool[0] != os.getpid():
                self._pool = (os.getpid(), ThreadPoolExecutor(max_workers=n, thread_name_prefix="recast-detect"))
            return self._pool[1]

    def _frontal_detector(self) -> Any:
        """dlib's built-in frontal face detector. Building it decodes the copy compiled into
        dlib (~0.5 s CPU, in every process); it is saved once per dlib version under
        ``$RECAST_HOME/cache/dlib`` and read back from there (~1 ms): the same serialised
        detector, so the same detections. A cache that cannot be read or written is
        ignored (the detector is built in memory as before)."""
        from recast.pipeline.jobs.store import recast_home

        version = str(getattr(self.dlib, "__version__", "unknown"))
        path = recast_home() / "cache" / "dlib" / f"frontal_face_detector-{version}.svm"
        if path.is_file():
            try:
                detector = self.dlib.fhog_object_detector(str(path))
                if int(detector.num_detectors) == 5:  # the built-in's five poses: a whole file
                    return detector
            except Exception:  # noqa: BLE001, S110 - a damaged cache is rebuilt below
                pass
        detector = self.dlib.get_frontal_face_detector()
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            detector.save(str(tmp))
            os.replace(tmp, path)  # readers see the whole file or none
        except Exception:  # noqa: BLE001, S110 - no cache: the next process builds it again
            with contextlib.suppress(OSError):
                tmp.unlink()
        return detector

    def _load(self, filename: str, loader: Any) -> Any:
        path = self.folder / filename
        if not path.is_file():
            raise FaceModelError(f"{path}: dlib model file not found")
        try:
            return loader(str(path))
        except Exception as exc:  # the model loaders raise many kinds; reported as one line
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise FaceModelError(f"{path}: cannot load dlib model ({first})") from None


class DlibAnalyser(FaceAnalyser):
    name = "dlib"
    embedding_kind = "dlib128"
    same_person_threshold = SAME_PERSON_THRESHOLDS["dlib128"]
    # HOG margins from 1.0 up are faces (texture measured up to ~0.6 on skimage's non-face
    # images and the astronaut's suit); weaker candidates get the face mesh's opinion
    sure_score = 1.0

    def __init__(
        self, options: AnalyserOptions | None = None, notify: Notify | None = None, *, models: DlibModels | None = None
    ) -> None:
        super().__init__(options, notify)
        import dlib

        self._dlib = dlib
        opts = self.options
        self.models_dir = Path(opts.models_dir) if opts.models_dir is not None else default_models_dir()
        if opts.landmarks == "68" and not opts.allow_noncommercial_models:
            raise FaceModelError(
                "analyser.landmarks: '68' needs allow_noncommercial_models=true "
                f"({PREDICTOR_68} was trained on non-commercial data)"
            )
        if models is None or models.folder != self.models_dir:
            models = DlibModels(dlib, self.models_dir)
        self.models = models
        self.use_68 = opts.landmarks == "68" or (opts.landmarks == "auto" and opts.allow_noncommercial_models)
        self._sp5 = self._load(PREDICTOR_5, dlib.shape_predictor)
        self._sp68 = self._load(PREDICTOR_68, dlib.shape_predictor) if self.use_68 else None
        self._told_unchecked = False
        self._resnet: Any = None  # loaded on first embed (~20 MB, not needed for detection)
        if opts.detector == "cnn":
            self._cnn: Any = self._load(MMOD, dlib.cnn_face_detection_model_v1)
            self._hog: Any = None
        else:
            self._cnn = None
            self._hog = models.hog()
        if self.use_68:
            self.notify(NONCOMMERCIAL_NOTICE)

    def _detection_pool(self) -> ThreadPoolExecutor | None:
        # HOG releases the GIL and each thread runs a detector of its own (DlibModels.hog_here);
        # the CNN detector stays on the caller's thread
        return self.models.detection_pool() if self._hog is not None else None

    def derive(self, options: AnalyserOptions, notify: Notify | None = None) -> DlibAnalyser:
        """An analyser with ``options`` that shares this one's loaded model files (loads
        only what it needs and this one has not loaded; another models_dir loads its own)."""
        return DlibAnalyser(options, notify or self.notify, models=self.models)

    def _load(self, filename: str, loader: Any) -> Any:
        return self.models.get(filename, loader)

    def licences(self) -> list[dict[str, Any]]:
        used = ["hog" if self._hog is not None else MMOD, PREDICTOR_5, RESNET]
        if self.use_68:
            used.append(PREDICTOR_68)
        out = []
        for key in used:
            info = dict(MODEL_LICENCES[key])
            file = key if key != "hog" else None
            out.append(
                {
                    "backend": self.name,
                    "model": key,
                    "file": None if file is None else str(self.models_dir / file),
                    "licence": info["licence"],
                    "commercial_use": info["commercial_use"],
                }
            )
        return out

    def detector_range(self) -> DetectorRange:
        # HOG's 80 px window finds face boxes from about 60 px (measured on lfw/astronaut);
        # each upsample step halves that. Its own pyramid covers every larger size in a tile.
        # Small-face hits below a 0.3 SVM margin are mostly texture (badges, folds).
        # Tiles of up to 3072 px: HOG's time is linear in pixels and its memory ~5 bytes per
        # pixel, so larger tiles mean less overlap scanned twice (4K: 2 tiles, 16 Mpx, not 6).
        # Hits from -0.3 to 0.3 get a second look (a window at ~110 px faces): a real small
        # face's margin in a tile depends on where HOG's 8 px cells fall, not only on the face.
        return DetectorRange(
            min_px=64.0 / (2 ** int(self.options.upsample)),
            tile=3072,
            level_ratio=100.0,
            tile_min_score=max(0.3, float(self.options.detect_threshold)),
            second_look_score=-0.3,
        )

    # ---- hooks -------------------------------------------------------------
    def _detect(self, pixels: np.ndarray) -> list[Detection]:
        up = self.options.upsample
        if self._cnn is not None:
            found = self._cnn(pixels, up)
            return [
                Detection(_box_of(r.rect), float(r.confidence))
                for r in found
                if float(r.confidence) >= self.options.detect_threshold
            ]
        rects, scores, _ = self.models.hog_here().run(pixels, up, float(self.options.detect_threshold))
        return [Detection(_box_of(r), float(s)) for r, s in zip(rects, scores, strict=True)]

    def _detect_candidates(self, pixels: np.ndarray, lowest: float) -> list[Detection]:
        if self._cnn is not None:
            return self._detect(pixels)
        threshold = min(float(lowest), float(self.options.detect_threshold))
        rects, scores, _ = self.models.hog_here().run(pixels, self.options.upsample, threshold)
        return [Detection(_box_of(r), float(s)) for r, s in zip(rects, scores, strict=True)]

    def _rect(self, box: np.ndarray) -> Any:
        x0, y0, x1, y1 = (round(float(v)) for v in box)
        return self._dlib.rectangle(x0, y0, max(x0 + 1, x1 - 1), max(y0 + 1, y1 - 1))

    def _fit_crop(self, crop: np.ndarray, box: np.ndarray, det: Detection | None) -> Fit:
        rect = self._rect(box)
        shape5 = self._sp5(crop, rect)
        pts5 = _points(shape5)
        if self._sp68 is not None:
            # one fit unless asked for more: averaged fits read the Megamind mouth steadier but
            # real talking faces' mouths and eyes less well (benchmarks/README.md, thirteenth round)
            fits = [_points(self._sp68(crop, self._rect(b))) for b in fit_boxes(box, self.options.landmark_fits or 1)]
            pts68 = averaged_fit(np.asarray(fits)) if len(fits) > 1 else fits[0]
            return Fit(kps5_from_dlib68(pts68), pts68, "dlib68", shape5, box)
        return Fit(kps5_from_dlib5(pts5), None, None, shape5, box)

    def _presence(self, crop: np.ndarray, box: np.ndarray, fit: Fit) -> float | None:
        check = self.models.presence()
        if check is None:
            if not self._told_unchecked:
                self._told_unchecked = True
                self.notify(f"recast: faces: weak detections go unverified ({self.models.unchecked})")
            return None
        return check(crop, box, fit.kps5)

    def _embed_crop(self, crop: np.ndarray, fit: Fit) -> np.ndarray:
        if fit.state is not None:
            shape = fit.state
        else:  # a face from elsewhere (tracked, propagated): refit dlib's 5 points in its box
            shape = self._sp5(crop, self._rect(fit.box if fit.box is not None else _bbox(fit.kps5)))
        # the ResNet keeps its layers' outputs inside itself: one thread at a time (the engine's
        # tracks on the compute thread, QC's comp faces on the writer's share it)
        with self.models.net_lock:
            if self._resnet is None:
                self._resnet = self._load(RESNET, self._dlib.face_recognition_model_v1)
            vec = self._resnet.compute_face_descriptor(crop, shape, int(self.options.embed_jitters))
        return np.asarray(vec, np.float32)


# (x shift, y shift, scale) of the boxes the landmarks are averaged over (landmark_fits): the
# face's own box, moved by FIT_SHIFT of its size each way, then scaled by 5 %, then moved diagonally
FIT_MOVES = ((0, 0, 1.0), (-1, 0, 1.0), (1, 0, 1.0), (0, -1, 1.0), (0, 1, 1.0), (0, 0, 0.95), (0, 0, 1.05),
              (-1, -1, 1.0), (1, 1, 1.0), (1, -1, 1.0), (-1, 1, 1.0))
FIT_SHIFT = 0.04
EYES = slice(36, 48)  # the 68-point layout's eyes


def averaged_fit(fits: np.ndarray) -> np.ndarray:
    """The 68 points of ``fits`` (K, 68, 2) averaged: the mean, but the eyes' points (36-47) the
    median. Where one box's fit loses a large eye's corner (a cartoon's eye read as an average
    one) the mean would pull the eye's outline in (its white then lies outside it); the median
    keeps what most fits agree on."""
    out = fits.mean(axis=0)
    out[EYES] = np.median(fits[:, EYES], axis=0)
    return out


def fit_boxes(box: np.ndarray, count: int) -> list[np.ndarray]:
    """``count`` (1..11) boxes round ``box`` (x0, y0, x1, y1): itself first, then the moves of
    ``FIT_MOVES``, the same pattern every time (so a still face reads the same every frame)."""
    x0, y0, x1, y1 = (float(v) for v in box)
    cx, cy, size = 0.5 * (x0 + x1), 0.5 * (y0 + y1), max(x1 - x0, y1 - y0)
    out = []
    for dx, dy, k in FIT_MOVES[: max(1, min(int(count), len(FIT_MOVES)))]:
        hx, hy = 0.5 * k * (x1 - x0), 0.5 * k * (y1 - y0)
        ox, oy = cx + FIT_SHIFT * size * dx, cy + FIT_SHIFT * size * dy
        out.append(np.array([ox - hx, oy - hy, ox + hx, oy + hy]))
    return out


def _box_of(rect: Any) -> np.ndarray:
    """dlib rectangles are inclusive; boxes here are x0, y0, x1, y1 with exclusive ends."""
    return np.array([rect.left(), rect.top(), rect.right() + 1, rect.bottom() + 1], np.float64)


def _points(shape: Any) -> np.ndarray:
    return np.array([(p.x, p.y) for p in shape.parts()], np.float64)


def _bbox(pts: np.ndarray) -> np.ndarray:
    p = np.asarray(pts, np.float64)
    return np.array([*p.min(0), *p.max(0)])
