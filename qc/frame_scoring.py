"""Score one frame record on crops, with a per-frame cache under ``<out>/qc/frames``.

:class:`FrameScorer` holds what a run needs once (metrics, face backend,
display transform, actor embeddings). A job runner may call
``FrameScorer.score_cached(record)`` right after each frame is written, so the
QC cost is spread over the job; ``qc.scoring.score_job`` later only scores the
frames whose files changed (the cache key is the record's, plate's, comp's and
element's size + mtime and the scoring options) and then runs the sequence
metrics and rules, which are cheap.
"""

from __future__ import annotations

import hashlib
import os
import threading
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from recast.pipeline.atomic import temp_path_for
from recast.pipeline.color import PlateColour, PlateColours
from recast.pipeline.errors import QCError, RecastError
from recast.pipeline.outputs import embeddings_sidecar, read_embeddings
from recast.pipeline.schema.layout import JobLayout
from recast.qc.comp_features import crop_digest, face_scale, features_key, grow_box, read_actor_features, read_comp_features, residual_of, shrink
from recast.qc.cropio import Box, ImageInfo, image_info, read_region
from recast.qc.display import BakedDisplay
from recast.qc.identity import FaceProbe, actor_embedding, face_from_record
from recast.qc.lpips_metric import LpipsOptions
from recast.qc.metrics import METRICS, Metric, MetricContext, MetricResult, run_metric
from recast.qc.temporal import FaceFeatures, FrameFeatures, TemporalOptions

CACHE_SCHEMA = 1


@dataclass(frozen=True)
class QCOptions:
    thresholds: Path | None = None  # None: qc/thresholds.toml
    take: int = 1
    margin: float = 0.25  # the crop is the face box grown by this fraction on each side
    face_px: int = 320  # faces larger than this are scored downscaled to it (same thresholds at any resolution)
    metrics: tuple[str, ...] | None = None  # crop metrics to run (None: all registered)
    identity: bool = True  # embeddings + landmark refit through pipeline.faces
    lpips: LpipsOptions = field(default_factory=LpipsOptions)
    temporal: TemporalOptions = field(default_factory=TemporalOptions)
    cache: bool = True  # reuse per-frame scores whose inputs did not change
    workers: int = 0  # threads scoring frames in score_job (0: one per CPU, at most 8)

    def fingerprint(self) -> str:
        """What changes per-frame scores (not thresholds or temporal options: applied later)."""
        key = {"metrics": self.metrics, "margin": self.margin, "face_px": self.face_px, "identity": self.identity, "lpips": asdict(self.lpips), "schema": CACHE_SCHEMA}
        return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]


def take_dir(out: Path, take: int) -> Path:
    """The root of take ``take``'s outputs (the schema's layout)."""
    return JobLayout(Path(out)).take_root(take)


@dataclass
class FaceScore:
    track: str
    box: list[float]
    actor: str | None
    results: dict[str, MetricResult]
    features: FaceFeatures

    def to_json(self) -> dict[str, Any]:
        f = self.features
        return {
            "track": self.track, "box": self.box, "actor": self.actor,
            "metrics": {k: v.to_json() for k, v in self.results.items()},
            "residual": None if f.residual is None else np.round(f.residual, 6).tolist(),
            "colour_delta": None if f.colour_delta is None else np.round(f.colour_delta, 7).tolist(),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> FaceScore:
        res = {k: MetricResult(v["value"], v["reason"]) for k, v in d["metrics"].items()}
        r, c = d.get("residual"), d.get("colour_delta")
        feats = FaceFeatures(d["track"], None if r is None else np.asarray(r, np.float64), None if c is None else np.asarray(c, np.float64))
        return cls(d["track"], d["box"], d.get("actor"), res, feats)


@dataclass
class FrameScore:
    frame: int
    errors: list[str]
    faces: list[FaceScore]

    @property
    def features(self) -> FrameFeatures:
        return FrameFeatures(self.frame, swapped=len(self.faces), faces=[f.features for f in self.faces])

    def to_json(self) -> dict[str, Any]:
        return {"frame": self.frame, "errors": self.errors, "faces": [f.to_json() for f in self.faces]}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> FrameScore:
        return cls(int(d["frame"]), list(d["errors"]), [FaceScore.from_json(f) for f in d["faces"]])


_grow = grow_box


def _stat(path: Any) -> list[int] | None:
    try:
        st = Path(path).stat()
    except (OSError, TypeError):
        return None
    return [st.st_size, st.st_mtime_ns]


def _write_cache(path: Path, doc: dict[str, Any]) -> None:
    """A cache entry, atomically (temp file + rename) but not flushed to disk: a cache entry
    lost in a crash is scored again, so the fsync of every frame is not worth its time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(path)
    try:
        tmp.write_text(json.dumps(doc))
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)


class FrameScorer:
    """Scores frame records of one job output (explicit state, one per run)."""

    def __init__(self, out: Path, options: QCOptions, analyser: str = "dlib") -> None:
        self.out = Path(out)
        self.layout = JobLayout.discover(self.out)  # record names padded like the plate
        self.options = options
        names = options.metrics if options.metrics is not None else tuple(METRICS.names())
        self.metrics: list[Metric] = [METRICS.create(n, options.lpips) if n == "lpips" else METRICS.create(n) for n in names]
        self.probe = FaceProbe(analyser) if options.identity else None
        self.display: BakedDisplay | None = None  # the current record's (see score)
        self.colours = PlateColours()  # the engine's colour decision, read from each record
        self._displays: dict[PlateColour, BakedDisplay] = {}
        self.plate_info: ImageInfo | None = None
        self.actor_emb: dict[str, tuple[np.ndarray | None, str | None]] = {}
        self.fingerprint = options.fingerprint()
        self.computed = 0  # frames scored (not from the cache) by this scorer
        self._lock = threading.Lock()  # shared state (displays, actor embeddings) when frames are scored on threads
        # the engine's in-memory crops (comp_features.FaceCrops) are used once the first of them
        # read back equal to the files: None = not checked yet, then True or False for this scorer
        self.memory_crops: bool | None = None

    # -- cache ---------------------------------------------------------------

    def cache_path(self, frame: int) -> Path:
        return self.layout.qc_cache_path(self.options.take, frame)

    def _key(self, record_path: Path | None, rec: dict[str, Any]) -> dict[str, Any]:
        # "display": scores from before QC took the engine's colour decision are recomputed
        return {"options": self.fingerprint, "display": 2, "colorspace": rec.get("colorspace"), "record": _stat(record_path), "plate": _stat(rec.get("plate")),
                "comp": _stat(rec.get("comp")), "element": _stat(rec.get("element"))}

    def score_cached(self, rec: dict[str, Any], record_path: Path | None = None, crops: dict[int, Any] | None = None) -> FrameScore:
        """The cached score when its inputs are unchanged, else score and cache it. ``crops``:
        the engine's crops of the swapped faces (see :meth:`score`)."""
        frame = int(rec["frame"])
        if record_path is None:
            record_path = self.layout.record_path(self.options.take, frame)
            if not record_path.is_file():
                record_path = None
        key = self._key(record_path, rec)
        cp = self.cache_path(frame)
        if self.options.cache and cp.is_file():
            try:
                d = json.loads(cp.read_text())
                if d.get("key") == key:
                    return FrameScore.from_json(d["score"])
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                pass  # a bad cache entry is just recomputed
        score = self.score(rec, record_path, crops)
        _write_cache(cp, {"key": key, "score": score.to_json()})
        return score

    # -- scoring -------------------------------------------------------------

    def score(self, rec: dict[str, Any], record_path: Path | None = None, crops: dict[int, Any] | None = None) -> FrameScore:
        """Score one frame record. ``record_path``: where it lies, so the engine's plate-face
        embeddings beside it (``<take>/embeddings/<frame>.json``) are used instead of
        embedding the plate faces again. ``crops``: face index -> the engine's in-memory plate
        and comp crops of the face (``comp_features.FaceCrops``), used instead of decoding the
        rows under the face from both files (the same values: the first ones are checked
        against the files)."""
        frame = int(rec["frame"])
        errors: list[str] = []
        if rec.get("status") == "failed":
            errors.append(f"frame {frame}: swap failed: {rec.get('error') or 'no reason recorded'}")
        elif not rec.get("comp") or not Path(rec["comp"]).is_file():
            errors.append(f"frame {frame}: comp file missing ({rec.get('comp')})")
        elif not rec.get("plate") or not Path(rec["plate"]).is_file():
            errors.append(f"frame {frame}: plate file missing ({rec.get('plate')})")
        stats = rec.get("stats") or {}
        if int(stats.get("nan", 0) or 0) or int(stats.get("inf", 0) or 0):
            errors.append(f"frame {frame}: comp has {stats.get('nan', 0)} NaN and {stats.get('inf', 0)} Inf pixels")
        faces: list[FaceScore] = []
        with self._lock:
            self.computed += 1
        if errors and not errors[-1].startswith(f"frame {frame}: comp has"):
            return FrameScore(frame, errors, faces)
        if self.plate_info is None:
            self.plate_info = image_info(rec["plate"])
        try:
            colour = self.colours.of_record(rec)  # the engine's decision (old records: its resolver)
        except RecastError as exc:
            return FrameScore(frame, [*errors, str(exc)], faces)
        with self._lock:  # frames may be scored on several threads (score_job)
            display = self._displays.get(colour)
            if display is None:
                display = self._displays[colour] = BakedDisplay(colour, self.colours)
        self.display = display
        if record_path is None:
            guess = self.layout.record_path(self.options.take, frame)
            record_path = guess if guess.is_file() else None
        known = read_embeddings(record_path) if record_path is not None and self.probe is not None else {}
        # the comp faces' embeddings and refit landmarks the engine computed (qc.comp_features)
        comp = read_comp_features(embeddings_sidecar(record_path)) if record_path is not None and self.probe is not None else {}
        actors_file = embeddings_sidecar(record_path).parent / "actors.json" if record_path is not None else None
        for i, face in enumerate(rec.get("faces") or []):
            if not face.get("swapped"):
                continue
            extra: dict[str, Any] = {"_index": i}
            if i in known:  # the engine's own embedding of this plate face (its track's)
                extra.update(embedding=known[i][0].tolist(), embedding_kind=known[i][1])
            if i in comp:
                extra["_comp"] = comp[i]
            try:
                faces.append(self._score_face(rec, dict(face, **extra), display, actors_file, (crops or {}).get(i)))
            except QCError as exc:
                errors.append(str(exc))
        return FrameScore(frame, errors, faces)

    def _score_face(
        self, rec: dict[str, Any], face: dict[str, Any], display: BakedDisplay, actors_file: Path | None = None, crops: Any = None
    ) -> FaceScore:
        assert self.plate_info is not None
        crop_box = _grow(face["box"], self.options.margin, self.plate_info.display_window)
        if crop_box[2] - crop_box[0] < 8 or crop_box[3] - crop_box[1] < 8:
            raise QCError(f"frame {rec['frame']}: face box {face['box']} is outside the plate")
        plate_raw, out_raw = self._face_pixels(rec, crop_box, crops)
        matte_raw = self._matte(rec, face, crop_box, out_raw.shape[:2])
        fb = face["box"]
        # score the face at a canonical size: cheaper, and thresholds hold at any resolution
        scale = face_scale(fb, self.options.face_px)
        plate_s, out_s, matte = (shrink(x, scale) for x in (plate_raw, out_raw, matte_raw))
        plate_d, out_d = display(plate_s), display(out_s)
        h, w = plate_d.shape[:2]
        bx0, by0, bx1, by1 = (round((float(v) - o) * scale) for v, o in zip(fb, (crop_box[0], crop_box[1]) * 2, strict=True))
        face_box = (max(0, bx0), max(0, by0), min(w, bx1), min(h, by1))
        finite = plate_raw[np.isfinite(plate_raw)]
        plate_range = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        actor = str(face.get("actor") or rec.get("actor") or "")
        if actor and self.probe is not None:
            with self._lock:
                if actor not in self.actor_emb:
                    self.actor_emb[actor] = self._actor_embedding(actor, actors_file)
        act_emb, act_reason = self.actor_emb.get(actor, (None, "record names no actor"))
        ctx = MetricContext(matte=matte, face_box=face_box, face=face, crop_origin=(crop_box[0], crop_box[1]), scale=scale,
                            plate_range=plate_range, out_raw=out_raw, matte_raw=matte_raw, actor_embedding=act_emb, probe=self.probe)
        ctx.cache["actor_reason"] = act_reason
        fit = self._engine_features(rec, face, out_raw, ctx)
        results = {m.name: run_metric(m, plate_d, out_d, ctx) for m in self.metrics}
        pf, cf = ctx.face_slice(plate_d), ctx.face_slice(out_d)
        colour = (cf.reshape(-1, 3).mean(0) - pf.reshape(-1, 3).mean(0)).astype(np.float64) if pf.size else None
        track = str(face.get("track_id") if face.get("track_id") is not None else face.get("_index", 0))
        residual = residual_of(face, fit[0], ctx.crop_origin, scale) if fit is not None else self._residual(out_d, face, ctx)
        return FaceScore(track, list(face["box"]), face.get("actor"), results, FaceFeatures(track, residual, colour))

    def _face_pixels(self, rec: dict[str, Any], crop_box: Box, crops: Any) -> tuple[np.ndarray, np.ndarray]:
        """The raw plate and comp pixels under ``crop_box``: the engine's in-memory crops when it
        gave them for this very box and they proved equal to the files, else read from the files."""
        assert self.plate_info is not None
        if crops is not None and tuple(crops.crop_box) == tuple(crop_box) and self.memory_crops is not False:
            if self.memory_crops:
                return crops.plate_raw, crops.out_raw
            plate_raw = read_region(rec["plate"], crop_box, self.plate_info.rgb)
            out_raw = read_region(rec["comp"], crop_box, image_info(rec["comp"]).rgb)
            same = all(
                a.shape == b.shape and np.array_equal(a, b, equal_nan=True)
                for a, b in ((plate_raw, crops.plate_raw), (out_raw, crops.out_raw))
            )
            with self._lock:
                self.memory_crops = same
            return plate_raw, out_raw
        return read_region(rec["plate"], crop_box, self.plate_info.rgb), read_region(rec["comp"], crop_box, image_info(rec["comp"]).rgb)

    def _engine_features(self, rec: dict[str, Any], face: dict[str, Any], out_raw: np.ndarray, ctx: MetricContext) -> tuple[dict[str, Any] | None] | None:
        """Use the engine's comp features of this face (qc.comp_features) when they were computed
        on exactly these comp pixels with these options: the comp embedding goes into the metric
        cache, the refit landmarks are returned (in a 1-tuple; None: compute them here)."""
        entry = face.get("_comp")
        if self.probe is None or not isinstance(entry, dict) or not entry.get("kind"):
            return None
        key = features_key(self.options.margin, self.options.face_px, rec.get("colorspace"), self.probe.analyser_name, entry["kind"])
        if entry.get("key") != key or entry.get("crop") != crop_digest(out_raw) or not entry.get("embedding"):
            return None
        if self.probe.kind_hint is None:
            self.probe.kind_hint = str(entry["kind"])
        ctx.cache["comp_embedding"] = np.asarray(entry["embedding"], np.float64)
        return (entry.get("fit"),)

    def _actor_embedding(self, actor: str, actors_file: Path | None) -> tuple[np.ndarray | None, str | None]:
        """The actor's reference embedding: the engine's (``<take>/embeddings/actors.json``) when
        the actor's images are unchanged, else embedded here."""
        assert self.probe is not None
        if actors_file is not None:
            entry = read_actor_features(actors_file, actor, self.probe.analyser_name)
            if entry is not None and entry.get("kind"):
                if self.probe.kind_hint is None:
                    self.probe.kind_hint = str(entry["kind"])
                emb = entry.get("embedding")
                return (None if emb is None else np.asarray(emb, np.float64)), entry.get("reason")
        return actor_embedding(actor, self.probe)

    def _matte(self, rec: dict[str, Any], face: dict[str, Any], crop_box: Box, shape: tuple[int, int]) -> np.ndarray:
        if rec.get("element") and Path(rec["element"]).is_file():
            a = image_info(rec["element"]).alpha
            if a is not None:
                return read_region(rec["element"], crop_box, (a,))[..., 0]
            return np.zeros(shape, np.float32)
        matte = np.zeros(shape, np.float32)  # no element: the matte box is the best we know
        mb = face.get("matte_box")
        if mb:
            x0, y0, x1, y1 = (round(float(v)) for v in mb)
            matte[max(0, y0 - crop_box[1]) : max(0, y1 - crop_box[1]), max(0, x0 - crop_box[0]) : max(0, x1 - crop_box[0])] = 1.0
        return matte

    def _residual(self, out_d: np.ndarray, face: dict[str, Any], ctx: MetricContext) -> np.ndarray | None:
        """Comp landmarks (refit on the comp) minus the plate's, over face size."""
        if self.probe is None:
            return None
        try:
            plate_face = face_from_record(face, ctx.crop_origin, ctx.scale)
            comp_face = self.probe.fit_landmarks(out_d, plate_face.box)
        except Exception:  # noqa: BLE001 - a refit failure only leaves jitter unavailable
            return None
        ref = plate_face.landmarks if plate_face.landmarks is not None else plate_face.kps5
        pts = comp_face.landmarks if plate_face.landmarks is not None else comp_face.kps5
        if pts is None or np.shape(pts) != np.shape(ref):
            return None
        return (np.asarray(pts, np.float64) - ref) / max(plate_face.size, 1.0)
