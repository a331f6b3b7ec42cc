"""Identity: embedding distance of the comp face to the actor's and to the plate face's.

Distances are in units of the backend's same-person threshold
(``pipeline.faces.identity.same_person_threshold``): below 1.0 the two faces
read as the same person, so thresholds hold for every backend. Uses the job's
own embedding backend through :mod:`pipeline.faces`
(``create_analyser(name).embed`` and ``pipeline.faces.identity.face_distance``),
so distances are on the same scale as the swap's selection. The
:class:`FaceProbe` also refits landmarks on the comp for temporal jitter.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from recast.pipeline.types import Face
from recast.qc.metrics import Direction, MetricContext, Unavailable


def face_from_record(entry: dict[str, Any], origin: tuple[int, int] = (0, 0), scale: float = 1.0) -> Face:
    """A :class:`Face` from a frame record's face entry in crop coordinates (shifted, then scaled)."""
    off = np.array(origin, np.float64)
    box = (np.asarray(entry["box"], np.float64) - np.concatenate([off, off])) * scale
    kps = (np.asarray(entry.get("kps5") or np.zeros((5, 2)), np.float64).reshape(-1, 2) - off) * scale
    lm = entry.get("landmarks")
    return Face(
        box=box,
        score=float(entry.get("score", 0.0)),
        kps5=kps,
        landmarks=None if lm is None else (np.asarray(lm, np.float64).reshape(-1, 2) - off) * scale,
        landmark_kind=entry.get("landmark_kind"),
        source=entry.get("landmarks_source", "detected"),
        track_id=entry.get("track_id"),
    )


@dataclass
class FaceProbe:
    """The job's face backend, used on display-referred crops."""

    analyser_name: str = "dlib"
    _analyser: Any = None
    _distance: Any = None
    error: str | None = None
    _embed_cache: dict[int, np.ndarray] = field(default_factory=dict)
    # the backend's embedding kind as the engine's probe of the same backend recorded it
    # (qc.comp_features): distances need no model loaded when every embedding came from there
    kind_hint: str | None = None
    _lock: Any = field(default_factory=threading.RLock, repr=False)  # one analyser call at a time

    @classmethod
    def sharing(cls, analyser_name: str, analyser: Any) -> FaceProbe:
        """A probe over an analyser already loaded (the engine's, when its options are QC's)."""
        from recast.pipeline.faces.identity import face_distance

        return cls(analyser_name, _analyser=analyser, _distance=face_distance)

    def _load(self) -> bool:
        with self._lock:
            return self._load_locked()

    def _load_locked(self) -> bool:
        if self._analyser is not None:
            return True
        if self.error is not None:
            return False
        try:
            from recast.pipeline.faces import create_analyser
            from recast.pipeline.faces.identity import face_distance
        except ImportError as exc:
            self.error = f"face backend unavailable ({exc.name} not importable)"
            return False
        try:
            self._analyser = create_analyser(self.analyser_name)
        except Exception as exc:  # noqa: BLE001 - report any backend failure as the reason
            self.error = f"face analyser {self.analyser_name!r} unavailable ({' '.join(str(exc).split())})"
            return False
        self._distance = face_distance
        return True

    def embed(self, crop: np.ndarray, face: Face) -> np.ndarray:
        if not self._load():
            raise Unavailable(self.error or "face backend unavailable")
        with self._lock:
            return np.asarray(self._analyser.embed(crop, face), np.float64)

    def analyse(self, image: np.ndarray) -> list[Face]:
        if not self._load():
            raise Unavailable(self.error or "face backend unavailable")
        with self._lock:
            return list(self._analyser.analyse(image, embed=True))

    def fit_landmarks(self, crop: np.ndarray, box: np.ndarray) -> Face:
        if not self._load():
            raise Unavailable(self.error or "face backend unavailable")
        with self._lock:
            return self._analyser.fit_landmarks(crop, np.asarray(box, np.float64))

    @property
    def kind(self) -> str:
        """The backend's embedding kind ("dlib128", "arcface512"), "" when unavailable."""
        if self._analyser is None and self.kind_hint:
            return self.kind_hint
        return str(getattr(self._analyser, "embedding_kind", "") or "") if self._load() else ""

    def distance(self, a: np.ndarray, b: np.ndarray) -> float:
        """Embedding distance in units of the backend's same-person threshold (1.0 = the threshold)."""
        if self._analyser is None and self.kind_hint:
            from recast.pipeline.faces.identity import face_distance

            self._distance = self._distance or face_distance
        elif not self._load():
            raise Unavailable(self.error or "face backend unavailable")
        from recast.pipeline.faces.identity import same_person_threshold

        try:
            thr = same_person_threshold(self.kind)
        except Exception as exc:  # noqa: BLE001 - FaceModelError: unknown kind
            raise Unavailable(" ".join(str(exc).split())) from None
        return float(self._distance(a, b)) / thr


def _comp_embedding(out_crop: np.ndarray, ctx: MetricContext) -> np.ndarray:
    if ctx.probe is None:
        raise Unavailable("identity not scored (disabled for this run)")
    if "comp_embedding" not in ctx.cache:
        face = face_from_record(ctx.face, ctx.crop_origin, ctx.scale)
        ctx.cache["comp_embedding"] = ctx.probe.embed(out_crop, face)
    return ctx.cache["comp_embedding"]


class IdentityToPlate:
    """How far the comp face is from the plate face (higher: the swap took)."""

    name: str = "id_plate"
    direction: Direction = "higher"
    label: str = "identity distance comp ↔ plate face (1 = same-person threshold)"

    def score(self, plate_crop: np.ndarray, out_crop: np.ndarray, ctx: MetricContext) -> float | None:
        comp = _comp_embedding(out_crop, ctx)
        stored = ctx.face.get("embedding")  # the engine's own plate embedding, when its record keeps it
        if isinstance(stored, list) and len(stored) == comp.size and ctx.face.get("embedding_kind") == ctx.probe.kind:
            plate = np.asarray(stored, np.float64)
        else:
            plate = ctx.probe.embed(plate_crop, face_from_record(ctx.face, ctx.crop_origin, ctx.scale))
        return ctx.probe.distance(comp, plate)


class IdentityToActor:
    """How far the comp face is from the actor (lower: looks like the actor)."""

    name: str = "id_actor"
    direction: Direction = "lower"
    label: str = "identity distance comp ↔ actor (1 = same-person threshold)"

    def score(self, plate_crop: np.ndarray, out_crop: np.ndarray, ctx: MetricContext) -> float | None:
        comp = _comp_embedding(out_crop, ctx)
        if ctx.actor_embedding is None:
            raise Unavailable(ctx.cache.get("actor_reason") or "no reference embedding for the actor")
        return ctx.probe.distance(comp, ctx.actor_embedding)


MAX_ACTOR_IMAGES = 8


def actor_images(model: Any) -> list[Path]:
    """The actor's face images: its source images still on disk, else images in its folder."""
    from recast.models.images import IMAGE_EXTS

    found = [Path(e["path"]) for e in model.manifest.get("source_files") or [] if e.get("path") and Path(e["path"]).is_file()]
    if not found:
        found = sorted(p for p in model.root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTS and not p.name.startswith("."))
    return found[:MAX_ACTOR_IMAGES]


def actor_embedding(actor: str | None, probe: FaceProbe) -> tuple[np.ndarray | None, str | None]:
    """The actor's reference embedding with the job's own backend, or (None, reason).

    Backends store different things (a warp face bank, an ArcFace vector for
    inswapper), so QC embeds the actor's images with the analyser the job used:
    the mean of the largest face's embedding per image, L2-normalised.
    """
    if not actor:
        return None, "record names no actor"
    try:
        from recast.models.actor import load_actor
        from recast.models.images import load_rgb
    except ImportError:
        return None, "actor models unavailable (models.actor not importable)"
    try:
        model = load_actor(actor, verify=False)
    except Exception as exc:  # noqa: BLE001 - any actor failure is the reason
        return None, " ".join(str(exc).split())
    vecs: list[np.ndarray] = []
    for path in actor_images(model):
        try:
            faces = probe.analyse(load_rgb(path))
        except Unavailable as exc:
            return None, str(exc)
        except Exception:  # noqa: BLE001, S112 - an unreadable image is skipped, the others still count
            continue
        faces = [f for f in faces if f.embedding is not None]
        if faces:
            vecs.append(np.asarray(max(faces, key=lambda f: f.size).embedding, np.float64))
    if not vecs:
        return None, f"actor {actor!r}: no face found in its images"
    mean = np.mean(vecs, axis=0)
    return mean / max(float(np.linalg.norm(mean)), 1e-12), None


