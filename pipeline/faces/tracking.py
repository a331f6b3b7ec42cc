"""Linking faces across frames into tracks, with smoothing, propagation and cut handling.

``FaceTracker.update`` is called once per frame in frame order. It

1. starts a new shot (all tracks end) on a histogram jump, a thumbnail
   decorrelation or a frame jump;
2. links detections to tracks by predicted-box overlap, centre distance and,
   when both sides have one, embedding distance (Hungarian assignment);
3. gives unmatched detections new track ids;
4. propagates landmarks of tracks the detector missed by LK optical flow for
   up to ``max_gap`` frames (``source="propagated"``), keeps a silent track for
   re-identification up to ``max_dropout`` frames, then drops it;
5. smooths every track's points with a One-Euro filter.

Memory is flat: one grey frame and a fixed state per live track.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

from recast.pipeline.faces.geometry import apply_affine, box_iou, estimate_pose
from recast.pipeline.faces.identity import SAME_PERSON_THRESHOLDS, face_distance
from recast.pipeline.faces.options import TrackerOptions
from recast.pipeline.faces.propagation import gray_u8, propagate_points, similarity_from_flow
from recast.pipeline.faces.smoothing import OneEuroFilter
from recast.pipeline.types import Face

_NO = 1e6


@dataclass
class Track:
    track_id: int
    shot: int
    last_frame: int
    box: np.ndarray
    velocity: np.ndarray  # box change per frame
    face: Face  # last output face (smoothed)
    raw: np.ndarray  # last unsmoothed points (kps5, box corners, dense landmarks): flow source
    filt: OneEuroFilter
    embedding: np.ndarray | None = None
    embedding_kind: str | None = None
    misses: int = 0
    hits: int = 1
    first_frame: int = 0
    frames_propagated: int = 0

    def predicted_box(self, frame: int) -> np.ndarray:
        return self.box + self.velocity * float(frame - self.last_frame)


@dataclass(frozen=True)
class ShotSignature:
    """What cut detection compares between consecutive frames (tiny, fixed size)."""

    hist: np.ndarray  # 32-bin grey histogram, sums to 1
    thumb: np.ndarray  # 32x18 grey thumbnail, zero mean, unit variance (zeros when flat)

    @classmethod
    def of(cls, gray: np.ndarray) -> ShotSignature:
        step = max(1, int(max(gray.shape[:2]) // 256))
        hist = np.bincount((gray[::step, ::step].reshape(-1) >> 3).astype(np.int64), minlength=32).astype(np.float64)
        thumb = cv2.resize(gray, (32, 18), interpolation=cv2.INTER_AREA).astype(np.float64)
        std = float(thumb.std())
        thumb = (thumb - thumb.mean()) / std if std > 1.0 else np.zeros_like(thumb)
        return cls(hist / max(hist.sum(), 1.0), thumb)

    def hist_distance(self, other: ShotSignature) -> float:
        return 0.5 * float(np.abs(self.hist - other.hist).sum())

    def correlation(self, other: ShotSignature) -> float:
        return float((self.thumb * other.thumb).mean())


def _points_of(face: Face) -> np.ndarray:
    parts = [np.asarray(face.kps5, np.float64), np.asarray(face.box, np.float64).reshape(2, 2)]
    if face.landmarks is not None:
        parts.append(np.asarray(face.landmarks, np.float64))
    return np.vstack(parts)


def _anchor(pts: np.ndarray) -> np.ndarray:
    """Indices (in ``_points_of``'s layout) the head's move is fitted on: the landmarks when
    there are any, else the five key points (never the detector's box)."""
    return np.arange(7, len(pts)) if len(pts) > 7 else np.arange(5)


def _set_points(face: Face, pts: np.ndarray) -> None:
    face.kps5 = pts[:5].copy()
    face.box = pts[5:7].reshape(4).copy()
    if face.landmarks is not None:
        face.landmarks = pts[7:].copy()


class FaceTracker:
    """Assigns stable track ids, smooths landmarks and propagates missed faces."""

    def __init__(self, options: TrackerOptions | None = None) -> None:
        self.options = options or TrackerOptions()
        self._tracks: list[Track] = []
        self._next_id = 1
        self._shot = 0
        self._prev_gray: np.ndarray | None = None
        self._prev_sig: ShotSignature | None = None
        self._last_frame: int | None = None
        self._gray_scale = 1.0
        self._checked: tuple[int, bool] | None = None  # (frame, cut) once check_cut ran for it
        self.cuts: list[int] = []  # frames where a new shot started (bounded by the sequence's cuts)

    @property
    def shot(self) -> int:
        return self._shot

    @property
    def active_tracks(self) -> list[Track]:
        return list(self._tracks)

    def predicted_boxes(self, frame: int) -> list[np.ndarray]:
        """Where live tracks are expected in ``frame`` (for windowed detection)."""
        return [t.predicted_box(frame) for t in self._tracks]

    def would_match(self, frame: int, face: Face) -> Track | None:
        """The track a face would join on geometry alone (no embedding needed), if unambiguous."""
        cands = [t for t in self._tracks if self._geometry_cost(t, face, frame) < _NO]
        return cands[0] if len(cands) == 1 else None

    def check_cut(self, frame: int, image_gray: np.ndarray | None) -> bool:
        """Run cut detection for ``frame`` ahead of :meth:`update` (which then reuses the
        answer), so callers see the new shot before deciding what to embed."""
        if self._checked is None or self._checked[0] != frame:
            gray = None if image_gray is None else gray_u8(image_gray)
            self._checked = (frame, self._maybe_new_shot(frame, gray))
        return self._checked[1]

    # ---- main entry ----------------------------------------------------
    def update(
        self, frame: int, faces: list[Face], image_gray: np.ndarray | None, *, gray_scale: float = 1.0
    ) -> list[Face]:
        """Tracked faces of ``frame`` (full-res coordinates). ``image_gray`` is the frame in
        display-referred grey, full-res or downscaled by ``gray_scale`` (grey px per plate px)."""
        gray = None if image_gray is None else gray_u8(image_gray)
        self._gray_scale = float(gray_scale)
        if self._checked is None or self._checked[0] != frame:
            self._maybe_new_shot(frame, gray)
        self._checked = None
        dets = list(faces)
        matches, new_dets, missed = self._assign(frame, dets)
        out: list[Face] = []
        for t, f in matches:
            out.append(self._continue(t, f, frame))
        for f in new_dets:
            out.append(self._start(f, frame))
        for t in missed:
            prop = self._propagate(t, frame, gray)
            if prop is not None:
                out.append(prop)
        self._tracks = [t for t in self._tracks if t.misses <= self.options.max_dropout]
        self._prev_gray = gray
        self._last_frame = frame
        out.sort(key=lambda f: int(f.track_id or 0))
        return out

    # ---- steps -----------------------------------------------------------
    def _maybe_new_shot(self, frame: int, gray: np.ndarray | None) -> bool:
        last = self._last_frame
        cut = last is not None and (frame <= last or frame - last > self.options.max_dropout)
        sig = None if gray is None else ShotSignature.of(gray)
        if sig is not None and self._prev_sig is not None:
            cut = cut or (
                sig.hist_distance(self._prev_sig) > self.options.cut_threshold
                or sig.correlation(self._prev_sig) < self.options.cut_correlation
            )
        if cut:  # (both tests need a previous frame)
            self._shot += 1
            self.cuts.append(frame)
            self._tracks = []
            self._prev_gray = None
        self._prev_sig = sig
        return cut

    def _threshold(self, kind: str | None) -> float:
        if self.options.embed_max_distance is not None:
            return float(self.options.embed_max_distance)
        return SAME_PERSON_THRESHOLDS.get(kind or "", 0.5)

    def _geometry_cost(self, t: Track, f: Face, frame: int) -> float:
        pred = t.predicted_box(frame)
        iou = box_iou(pred, f.box)
        size = max(float(pred[2] - pred[0]), float(pred[3] - pred[1]), 1.0)
        gap = max(1, frame - t.last_frame)
        shift = float(np.linalg.norm((pred[:2] + pred[2:]) / 2 - (f.box[:2] + f.box[2:]) / 2)) / size
        ratio = f.size / size
        if not (0.5 < ratio < 2.0):
            return _NO
        if iou < self.options.iou_min and shift > self.options.max_center_shift * min(gap, 3):
            return _NO
        return (1.0 - iou) + 0.5 * shift

    def _cost(self, t: Track, f: Face, frame: int) -> float:
        geo = self._geometry_cost(t, f, frame)
        emb_ok = t.embedding is not None and f.embedding is not None and f.embedding_kind == t.embedding_kind
        if emb_ok:
            d = face_distance(t.embedding, f.embedding)  # type: ignore[arg-type]
            thr = self._threshold(t.embedding_kind)
            if d > thr:
                return _NO  # a different person at the same place
            if geo >= _NO:
                # re-identification after a dropout: the same person, moved further
                return 3.0 + d / thr if t.misses > 0 else _NO
            return geo + 0.5 * d / thr
        return geo

    def _assign(self, frame: int, dets: list[Face]) -> tuple[list[tuple[Track, Face]], list[Face], list[Track]]:
        if not self._tracks or not dets:
            return [], dets, list(self._tracks)
        cost = np.array([[self._cost(t, f, frame) for f in dets] for t in self._tracks])
        rows, cols = linear_sum_assignment(cost)
        matches = [(self._tracks[r], dets[c]) for r, c in zip(rows, cols, strict=True) if cost[r, c] < _NO]
        used_t = {id(t) for t, _ in matches}
        used_f = {id(f) for _, f in matches}
        return (
            matches,
            [f for f in dets if id(f) not in used_f],
            [t for t in self._tracks if id(t) not in used_t],
        )

    def _smooth(self, t: Track, face: Face, frame: int) -> None:
        raw = _points_of(face)
        t.raw = raw
        face.extra["raw_kps5"] = np.asarray(face.kps5, np.float64).copy()
        if face.landmarks is not None:
            face.extra["raw_landmarks"] = np.asarray(face.landmarks, np.float64).copy()
        face.extra["raw_box"] = np.asarray(face.box, np.float64).copy()
        if not self.options.smooth:
            return
        dt = max(1, frame - t.last_frame) / self.options.fps
        if t.filt.state is not None and t.filt.state.x.shape != raw.shape:
            t.filt.reset()
        _set_points(face, t.filt(raw, dt, face.size, _anchor(raw)))
        face.pose = estimate_pose(face.kps5)

    def _start(self, f: Face, frame: int) -> Face:
        o = self.options
        t = Track(
            track_id=self._next_id,
            shot=self._shot,
            last_frame=frame,
            box=np.asarray(f.box, np.float64).copy(),
            velocity=np.zeros(4),
            face=f,
            raw=_points_of(f),
            filt=OneEuroFilter(o.min_cutoff, o.beta, o.d_cutoff, o.smooth_rigid),
            embedding=None if f.embedding is None else np.asarray(f.embedding, np.float32).copy(),
            embedding_kind=f.embedding_kind,
            first_frame=frame,
        )
        self._next_id += 1
        self._tracks.append(t)
        f.track_id = t.track_id
        self._smooth(t, f, frame)
        f.extra["shot"] = self._shot
        return f

    def _continue(self, t: Track, f: Face, frame: int) -> Face:
        gap = max(1, frame - t.last_frame)
        raw_box = np.asarray(f.box, np.float64)
        t.velocity = 0.5 * t.velocity + 0.5 * (raw_box - t.box) / gap
        t.box = raw_box.copy()
        if f.embedding is not None and (t.embedding is None or f.embedding_kind != t.embedding_kind):
            t.embedding, t.embedding_kind = np.asarray(f.embedding, np.float32).copy(), f.embedding_kind
        elif f.embedding is not None and t.embedding is not None:
            # a fresh embedding (re-embedding asked for): the track keeps a running mean
            mean = t.embedding + np.asarray(f.embedding, np.float32)
            norm = float(np.linalg.norm(mean))
            t.embedding = mean / norm if norm > 0 else t.embedding
        elif f.embedding is None and t.embedding is not None:
            f.embedding, f.embedding_kind = t.embedding.copy(), t.embedding_kind
            f.extra["embedding_from_track"] = True
        f.track_id = t.track_id
        self._smooth(t, f, frame)
        t.hits += 1
        t.misses = 0
        t.last_frame = frame
        t.face = f
        f.extra["shot"] = self._shot
        return f

    def _propagate(self, t: Track, frame: int, gray: np.ndarray | None) -> Face | None:
        t.misses += 1
        if t.misses > self.options.max_gap or gray is None or self._prev_gray is None:
            return None
        if frame - t.last_frame != 1:
            return None  # flow needs the previous frame
        prev_face = t.face
        src = t.raw
        used = src[:5] if prev_face.landmarks is None else src[7:]  # points on the face itself
        g = self._gray_scale
        flow = propagate_points(self._prev_gray, gray, used * g, np.asarray(prev_face.box, np.float64) * g)
        m = similarity_from_flow(used, flow.points / g, flow.ok)
        if m is None or flow.ratio < 0.5:
            return None
        moved = apply_affine(m, src)
        h, w = gray.shape[0] / g, gray.shape[1] / g
        box = moved[5:7].reshape(4)
        if box[2] <= 0 or box[3] <= 0 or box[0] >= w or box[1] >= h:
            return None
        face = Face(
            box=box.copy(),
            score=0.0,
            kps5=moved[:5].copy(),
            landmarks=None if prev_face.landmarks is None else moved[7:].copy(),
            landmark_kind=prev_face.landmark_kind,
            embedding=None if t.embedding is None else t.embedding.copy(),
            embedding_kind=t.embedding_kind,
            pose=estimate_pose(moved[:5]),
            source="propagated",
            track_id=t.track_id,
        )
        face.extra.update({"shot": self._shot, "flow_ratio": round(flow.ratio, 3), "gap": t.misses})
        face.extra["raw_kps5"] = face.kps5.copy()
        if face.landmarks is not None:
            face.extra["raw_landmarks"] = face.landmarks.copy()
        face.extra["raw_box"] = face.box.copy()
        if self.options.smooth:
            _set_points(face, t.filt(moved, 1.0 / self.options.fps, face.size, _anchor(moved)))
            face.pose = estimate_pose(face.kps5)
        t.raw = moved
        t.box = box.copy()
        t.last_frame = frame
        t.face = face
        t.frames_propagated += 1
        return face
