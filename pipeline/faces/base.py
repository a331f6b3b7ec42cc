"""The FaceAnalyser contract and the flow every backend shares.

``analyse`` = detect on a display-referred downscale -> for each box, fit
landmarks on a full-resolution crop -> (optionally) embed from that crop ->
estimate pose. Backends only implement the model calls (``_detect``,
``_fit_crop``, ``_embed_crop``); coordinates, crops, sanitising and pose live here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from recast.pipeline.errors import FaceModelError
from recast.pipeline.faces.geometry import box_iou, estimate_pose
from recast.pipeline.faces.imageprep import Crop, Downscaled, Shrunk, ToDisplay, as_rgb, crop_around, downscale, window
from recast.pipeline.faces.options import AnalyserOptions
from recast.pipeline.faces.pyramid import DetectorRange, Tile, pyramid_tiles, render_tile
from recast.pipeline.faces.verify import MIN_PRESENCE
from recast.pipeline.types import Face


Notify = Callable[[str], None]  # receives one-line notices for the user
SECOND_LOOKS = 8  # per tile: hits under the tile score floor looked at again, best first
TRUSTED_IOU = 0.3  # a candidate overlapping a live track's predicted box this much is that track's


def print_notice(text: str) -> None:
    """The default ``Notify``: the notice on stderr, once per process (``pipeline.notices``)."""
    from recast.pipeline.notices import notice

    notice(text)


@dataclass(frozen=True)
class Detection:
    box: np.ndarray  # x0, y0, x1, y1 in the coordinates of the image passed to _detect
    score: float
    kps5: np.ndarray | None = None  # detectors that also give keypoints (SCRFD)
    # found in a window around a live track, or on one: not checked again (see _verified)
    trusted: bool = False


@dataclass(frozen=True)
class Fit:
    """Landmarks in crop coordinates."""

    kps5: np.ndarray
    landmarks: np.ndarray | None
    landmark_kind: str | None
    state: Any = None  # backend data reused by _embed_crop (e.g. a dlib shape)
    box: np.ndarray | None = None  # the face box in crop coordinates
    confidence: float | None = None  # the landmark model's own face presence (0..1), when it has one


class FaceAnalyser(ABC):
    """Backend-neutral face analyser; faces come back in full-res pixel coordinates."""

    name: str = "base"
    embedding_kind: str = ""
    same_person_threshold: float = 0.0  # face_distance below this = same person
    # candidates scoring at least this are faces without a second opinion (inf: every
    # candidate not on a live track is checked by :meth:`_presence`)
    sure_score: float = float("inf")

    def __init__(self, options: AnalyserOptions | None = None, notify: Notify | None = None) -> None:
        self.options = options or AnalyserOptions()
        self.options.validate()
        self.notify: Notify = notify or print_notice

    # ---- backend hooks -------------------------------------------------
    @abstractmethod
    def _detect(self, pixels: np.ndarray) -> list[Detection]:
        """Detect on a uint8 RGB image."""

    @abstractmethod
    def _fit_crop(self, crop: np.ndarray, box: np.ndarray, det: Detection | None) -> Fit:
        """Fit landmarks on a uint8 RGB crop; ``box`` (and ``det``) in crop coordinates."""

    @abstractmethod
    def _embed_crop(self, crop: np.ndarray, fit: Fit) -> np.ndarray:
        """Identity vector (not yet normalised) from a crop and its fit."""

    @abstractmethod
    def licences(self) -> list[dict[str, Any]]:
        """One entry per model file this analyser uses: model, file, licence, commercial_use."""

    def derive(self, options: AnalyserOptions, notify: Notify | None = None) -> FaceAnalyser | None:
        """An analyser of this backend with ``options`` that shares this one's loaded models
        (one load per process part, e.g. the engine's and a swapper's); None: it cannot."""
        return None

    def detector_range(self) -> DetectorRange:
        """Face sizes the detector finds (its own input px) and the tiles it wants; the
        small-face pyramid is derived from it and ``options.min_face``."""
        return DetectorRange(min_px=64.0, tile=1024, level_ratio=100.0)

    # ---- public API ----------------------------------------------------
    def analyse(
        self,
        image: np.ndarray,
        *,
        to_display: ToDisplay | None = None,
        embed: bool = True,
        regions: list[np.ndarray] | None = None,
        downscaled: Downscaled | None = None,
        tiles: bool = True,
        whole: bool | None = None,
        trusted: list[np.ndarray] | None = None,
    ) -> list[Face]:
        """All faces in ``image`` (full-res plate RGB, any range; NaN/Inf allowed).

        A full scan (``regions`` None) detects on the whole-frame downscale and, with
        ``tiles``, on the small-face pyramid (:meth:`detection_tiles`): every face of at
        least ``options.min_face`` plate px is looked for at a scale the detector sees it.
        ``regions`` (full-res boxes) replaces the pyramid with a search of windows around
        expected faces at a higher resolution than the downscale; ``whole`` (default: no
        regions given) adds the whole-frame downscale to it. ``downscaled`` reuses a
        detection copy the caller already made with :meth:`detection_image`.

        Every candidate that is not a live track's (found in a ``regions`` window, or
        overlapping a box of ``trusted``: the tracks' predicted boxes) and scores under
        ``sure_score`` gets a second opinion (:meth:`_presence`) and is dropped when that
        says no face: a weak false hit (texture) cannot start a track.
        """
        rgb = as_rgb(image)
        if whole is None:
            whole = regions is None
        # the searches (whole-frame downscale, pyramid tiles, windows) are pure functions of the
        # pixels: run side by side where the backend can (``_detection_pool``), results kept in
        # this order, so the detections are those of one search after the other
        searches: list[Callable[[], list[Detection]]] = []
        if whole:
            small = downscaled if downscaled is not None else self.detection_image(rgb, to_display=to_display)
            searches.append(lambda: self._detect_whole(small))
        if regions is None:
            if tiles:
                searches += [_bind(self._detect_tile, rgb, tile, to_display) for tile in self.detection_tiles(rgb.shape[:2])]
        else:
            searches += [_bind(self._detect_trusted_region, rgb, np.asarray(region, np.float64), to_display) for region in regions]
        dets = [d for found in self._run_searches(searches) for d in found]
        known = [np.asarray(b, np.float64) for b in [*(trusted or []), *(regions or [])]]
        if known:
            dets = [replace(d, trusted=True) if any(box_iou(d.box, b) > TRUSTED_IOU for b in known) else d for d in dets]
        dets = _nms(dets, 0.4)
        faces: list[Face] = []
        for det in dets:
            face = self._face_from_box(rgb, det.box, det, to_display, embed)
            if face is not None:
                faces.append(face)
        faces.sort(key=lambda f: (float(f.box[0]), float(f.box[1])))
        return faces

    def _detection_pool(self) -> ThreadPoolExecutor | None:
        """Threads that run detection searches beside the calling thread; None (the default):
        one search after the other. A backend returns one only when its detector may run on
        several threads at once (each thread with a detector of its own, see the dlib backend)."""
        return None

    def _run_searches(self, searches: list[Callable[[], list[Detection]]]) -> list[list[Detection]]:
        """Each search's detections, in the order given: the first on this thread, the others
        on the detection pool's threads at the same time (the detector releases the GIL)."""
        pool = self._detection_pool() if len(searches) > 1 else None
        if pool is None:
            return [search() for search in searches]
        futures = [pool.submit(search) for search in searches[1:]]
        try:
            first = searches[0]()
        finally:
            wait(futures)  # none left running on the caller's pixels, whatever happened here
        return [first, *(f.result() for f in futures)]

    def _detect_trusted_region(self, rgb: np.ndarray, region: np.ndarray, to_display: ToDisplay | None) -> list[Detection]:
        """A window around a live track's expected box: its detections are that track's."""
        return [replace(d, trusted=True) for d in self._detect_in_region(rgb, region, to_display)]

    def detection_tiles(self, shape: tuple[int, int]) -> list[Tile]:
        """The small-face pyramid's tiles for a plate of ``shape`` (H, W): empty when the
        whole-frame downscale already sees faces of ``options.min_face`` px."""
        return pyramid_tiles((int(shape[0]), int(shape[1])), self.options.detect_size, self.options.min_face, self.detector_range())

    def _detect_whole(self, small: Downscaled) -> list[Detection]:
        """Level 0: the whole-frame downscale (the pyramid's edge tiles reach past the frame)."""
        return [_scaled(d, 1.0 / small.scale, (0.0, 0.0)) for d in self._detect(small.pixels)]

    def _detect_tile(self, rgb: np.ndarray, tile: Tile, to_display: ToDisplay | None) -> list[Detection]:
        pixels = render_tile(rgb, tile, to_display)
        sx = pixels.shape[1] / (tile.box[2] - tile.box[0])
        rng = self.detector_range()
        floor = rng.tile_min_score
        raw = self._detect_candidates(pixels, rng.second_look_score) if rng.second_look_score < floor else self._detect(pixels)
        dets = [_scaled(d, 1.0 / sx, (tile.box[0], tile.box[1])) for d in raw]
        found = [d for d in dets if d.score >= floor]
        # a hit just under the floor gets a second look in a window around it, at the size
        # windowed detection aims for: a real face's score there clears the floor (its score
        # in the tile hangs on where the tile's cell grid fell), texture rarely does
        doubtful = sorted((d for d in dets if rng.second_look_score <= d.score < floor), key=lambda d: -d.score)[:SECOND_LOOKS]
        for d in doubtful:
            again = [a for a in self._detect_in_region(rgb, d.box, to_display) if a.score >= floor and box_iou(a.box, d.box) > 0.3]
            if again:
                found.append(max(again, key=lambda a: a.score))
        # a face the coarser level sees at its own size is that level's call (fewer false hits)
        return [d for d in found if max(d.box[2] - d.box[0], d.box[3] - d.box[1]) < tile.max_face]

    def _presence(self, crop: np.ndarray, box: np.ndarray, fit: Fit) -> float | None:
        """A second opinion (0..1) that a detector's candidate is a face: ``crop`` uint8 RGB,
        ``box`` and ``fit`` in its coordinates; None: this backend has none (kept)."""
        return None

    def _detect_candidates(self, pixels: np.ndarray, lowest: float) -> list[Detection]:
        """Detections down to score ``lowest`` (below the usual threshold: candidates for a
        second look); backends whose detector has no such knob return :meth:`_detect`'s."""
        return self._detect(pixels)

    def detection_image(self, image: np.ndarray, *, to_display: ToDisplay | None = None, shrunk: Shrunk | None = None) -> Downscaled:
        """The display-referred uint8 downscale full-frame detection runs on; ``shrunk``: the
        same pixels already resampled (:func:`~recast.pipeline.faces.imageprep.shrink`)."""
        return downscale(as_rgb(image), self.options.detect_size, to_display, shrunk)

    def fit_landmarks(self, image: np.ndarray, box: np.ndarray, *, to_display: ToDisplay | None = None) -> Face:
        """Landmarks for a known box (full-res); score 0 marks it as not detected here."""
        rgb = as_rgb(image)
        face = self._face_from_box(rgb, np.asarray(box, np.float64), None, to_display, embed=False)
        if face is None:
            raise FaceModelError(
                f"fit_landmarks: box {np.round(box, 1).tolist()} is outside the image "
                f"or smaller than drop_below ({self.options.drop_below} px)"
            )
        return face

    def embed(self, image: np.ndarray, face: Face, *, to_display: ToDisplay | None = None) -> np.ndarray:
        """L2-normalised identity embedding of ``face`` (full-res coordinates)."""
        rgb = as_rgb(image)
        crop = crop_around(rgb, face.box, self.options.crop_margin, self.options.crop_max_size, to_display)
        if crop is None:
            raise FaceModelError(f"embed: face box {np.round(face.box, 1).tolist()} lies outside the image")
        fit = self._refit_for_embedding(crop, face)
        return _normalise(self._embed_crop(crop.pixels, fit))

    # ---- shared plumbing -------------------------------------------------
    def _refit_for_embedding(self, crop: Crop, face: Face) -> Fit:
        """The face's own keypoints in crop coordinates (embeddings align on them)."""
        landmarks = None if face.landmarks is None else crop.to_crop(face.landmarks)
        return Fit(crop.to_crop(face.kps5), landmarks, face.landmark_kind, None, _box_to_crop(crop, face.box))

    def _detect_in_region(self, rgb: np.ndarray, region: np.ndarray, to_display: ToDisplay | None) -> list[Detection]:
        size = max(float(region[2] - region[0]), float(region[3] - region[1]))
        if not np.isfinite(region).all() or size <= 1:
            return []
        # a window of 2.4 face sizes, resampled so the expected face is ~region_face_size px
        cx, cy = (region[0] + region[2]) / 2.0, (region[1] + region[3]) / 2.0
        half = 1.2 * size
        box = np.array([cx - half, cy - half, cx + half, cy + half])
        scale = min(2.0, float(self.options.region_face_size) / size)
        crop = window(rgb, box, scale, to_display)
        if crop is None:
            return []
        return [_scaled(d, 1.0 / crop.scale, crop.origin) for d in self._detect(crop.pixels)]

    def _face_from_box(
        self,
        rgb: np.ndarray,
        box: np.ndarray,
        det: Detection | None,
        to_display: ToDisplay | None,
        embed: bool,
    ) -> Face | None:
        opts = self.options
        if max(float(box[2] - box[0]), float(box[3] - box[1])) < opts.drop_below:
            return None
        crop = crop_around(rgb, box, opts.crop_margin, opts.crop_max_size, to_display)
        if crop is None:
            return None
        box_c = _box_to_crop(crop, box)
        det_c = None if det is None else _to_crop_det(crop, det)
        fit = self._fit_crop(crop.pixels, box_c, det_c)
        if det is not None and fit.confidence is not None and fit.confidence < 0.5:
            return None  # the landmark model finds no face where the detector saw one
        presence = None
        if det is not None and not det.trusted and det.score < self.sure_score:
            presence = self._presence(crop.pixels, box_c, fit)
            if presence is not None and presence < MIN_PRESENCE:
                return None  # a second opinion sees no face there (texture the detector took for one)
        kps5 = crop.to_image(fit.kps5)
        landmarks = None if fit.landmarks is None else crop.to_image(fit.landmarks)
        face = Face(
            box=np.asarray(box, np.float64).copy(),
            score=float(det.score) if det is not None else 0.0,
            kps5=kps5,
            landmarks=landmarks,
            landmark_kind=fit.landmark_kind,
            pose=estimate_pose(kps5),
            source="detected",
        )
        face.extra["analyser"] = self.name
        if det is None:
            face.extra["fitted_box"] = True
        if fit.confidence is not None:
            face.extra["landmark_confidence"] = round(float(fit.confidence), 4)
        if presence is not None:
            face.extra["face_presence"] = round(float(presence), 4)
        if embed:
            face.embedding = _normalise(self._embed_crop(crop.pixels, fit))
            face.embedding_kind = self.embedding_kind
        return face


def _bind(fn: Callable[..., list[Detection]], *args: Any) -> Callable[[], list[Detection]]:
    return lambda: fn(*args)


def _normalise(vec: np.ndarray) -> np.ndarray:
    v = np.asarray(vec, np.float32).reshape(-1)
    n = float(np.linalg.norm(v))
    return v / n if n > 0 and np.isfinite(n) else v


def _box_to_crop(crop: Crop, box: np.ndarray) -> np.ndarray:
    pts = crop.to_crop(np.asarray(box, np.float64).reshape(2, 2))
    return pts.reshape(4)


def _to_crop_det(crop: Crop, det: Detection) -> Detection:
    kps = None if det.kps5 is None else crop.to_crop(det.kps5)
    return Detection(_box_to_crop(crop, det.box), det.score, kps)


def _scaled(det: Detection, inv_scale: float, origin: tuple[float, float]) -> Detection:
    o = np.asarray(origin, np.float64)
    box = np.asarray(det.box, np.float64).reshape(2, 2) * inv_scale + o
    kps = None if det.kps5 is None else np.asarray(det.kps5, np.float64) * inv_scale + o
    return Detection(box.reshape(4), det.score, kps)


def _nms(dets: list[Detection], iou_max: float, inside_max: float = 0.7) -> list[Detection]:
    """Best score first; a box overlapping a kept one by more than ``iou_max`` IoU, or lying
    mostly (``inside_max`` of its area) inside it, is the same face seen again (tiles, levels)."""
    kept: list[Detection] = []
    for d in sorted(dets, key=lambda x: -x.score):
        if all(box_iou(d.box, k.box) <= iou_max and _inside(d.box, k.box) <= inside_max for k in kept):
            kept.append(d)
    return kept


def _inside(a: np.ndarray, b: np.ndarray) -> float:
    """Fraction of the smaller of boxes ``a`` and ``b`` covered by their intersection."""
    iw = max(0.0, min(float(a[2]), float(b[2])) - max(float(a[0]), float(b[0])))
    ih = max(0.0, min(float(a[3]), float(b[3])) - max(float(a[1]), float(b[1])))
    small = min((float(a[2]) - float(a[0])) * (float(a[3]) - float(a[1])), (float(b[2]) - float(b[0])) * (float(b[3]) - float(b[1])))
    return iw * ih / small if small > 0 else 0.0


__all__ = ["Detection", "FaceAnalyser", "Fit"]
