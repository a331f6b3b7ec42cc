"""The comp face's identity features, computed by the engine while the comp is in memory.

QC's identity metrics need the comp face's embedding (``id_actor``, ``id_plate``) and its
landmarks refit on the comp (``landmark_jitter``). Both are computed on the display-referred
comp crop QC scores (``FrameScorer._score_face``): the face box grown by ``margin``, shrunk
to ``face_px``, through the engine's plate colour. The engine holds that crop in memory
when it computes a frame, so it computes them there with QC's own code
(:func:`comp_inputs`, :class:`qc.identity.FaceProbe`) and writes them to the take's
embeddings sidecar (``<take>/embeddings/<frame>.json``, key ``"comp"``) beside the plate
faces' embeddings: biometric data, never in records, scores or reports, deleted by
``recast job purge``.

Each entry carries a digest of the exact crop pixels (the comp's values as the file stores
them) and a key of what else shapes the features (margin, face size, colour, analyser):
QC uses an entry only when the crop it reads from the comp file has the same digest and the
key matches, so scores are identical whether the features came from the sidecar or were
computed by QC itself (sidecar purged, absent, or stale).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from recast.qc.cropio import Box, ImageInfo, clamp_box
from recast.qc.identity import FaceProbe, face_from_record

if TYPE_CHECKING:
    from recast.pipeline.plateio import Plate
    from recast.qc.display import BakedDisplay

COMP_SCHEMA = 1
MARGIN = 0.25  # QCOptions' defaults (the features are keyed by them)
FACE_PX = 320


def grow_box(box: list[float], margin: float, bounds: Box) -> Box:
    """The face box grown by ``margin`` of its size on each side, in whole pixels, inside ``bounds``."""
    x0, y0, x1, y1 = box
    mx, my = (x1 - x0) * margin, (y1 - y0) * margin
    return clamp_box((int(np.floor(x0 - mx)), int(np.floor(y0 - my)), int(np.ceil(x1 + mx)), int(np.ceil(y1 + my))), bounds)


def face_scale(box: list[float], face_px: int) -> float:
    """Faces larger than ``face_px`` are scored shrunk to it."""
    return min(1.0, face_px / max(float(box[2] - box[0]), float(box[3] - box[1]), 1.0))


def shrink(x: np.ndarray, scale: float) -> np.ndarray:
    """``x`` resized by ``scale`` (INTER_AREA, non-finite values as numpy's nan_to_num), as QC scores it."""
    if scale >= 1.0:
        return x
    size = (max(8, round(x.shape[1] * scale)), max(8, round(x.shape[0] * scale)))
    return cv2.resize(np.nan_to_num(x), size, interpolation=cv2.INTER_AREA)


def crop_digest(out_raw: np.ndarray) -> str:
    """The identity of a raw comp crop (float32 values, shape)."""
    a = np.ascontiguousarray(out_raw, np.float32)
    return hashlib.sha256(repr(a.shape).encode() + a.tobytes()).hexdigest()[:32]


def features_key(margin: float, face_px: int, colour: Any, analyser: str, kind: str) -> str:
    doc = {"schema": COMP_SCHEMA, "margin": margin, "face_px": face_px, "colour": colour, "analyser": analyser, "kind": kind}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass
class CompInputs:
    """The comp crop of one face as QC scores it."""

    crop_box: Box
    scale: float
    out_d: np.ndarray  # display-referred, shrunk


def comp_inputs(face: dict[str, Any], out_raw: np.ndarray, crop_box: Box, scale: float, display: BakedDisplay) -> CompInputs:
    return CompInputs(crop_box, scale, display(shrink(out_raw, scale)))


def refit(probe: FaceProbe, out_d: np.ndarray, face: dict[str, Any], origin: tuple[int, int], scale: float) -> dict[str, Any] | None:
    """The comp face's landmarks refit in the plate face's box (crop coordinates); None when the fit fails."""
    plate_face = face_from_record(face, origin, scale)
    try:
        comp_face = probe.fit_landmarks(out_d, plate_face.box)
    except Exception:  # noqa: BLE001 - a refit failure only leaves jitter unavailable
        return None
    lm = None if comp_face.landmarks is None else np.asarray(comp_face.landmarks, np.float64).tolist()
    kps = None if comp_face.kps5 is None else np.asarray(comp_face.kps5, np.float64).tolist()
    return {"landmarks": lm, "kps5": kps}


def residual_of(face: dict[str, Any], fit: dict[str, Any] | None, origin: tuple[int, int], scale: float) -> np.ndarray | None:
    """Comp landmarks (refit on the comp) minus the plate's, over face size."""
    if fit is None:
        return None
    plate_face = face_from_record(face, origin, scale)
    ref = plate_face.landmarks if plate_face.landmarks is not None else plate_face.kps5
    pts = fit.get("landmarks") if plate_face.landmarks is not None else fit.get("kps5")
    if pts is None or np.shape(pts) != np.shape(ref):
        return None
    return (np.asarray(pts, np.float64) - ref) / max(plate_face.size, 1.0)


def _quantised(pixels: np.ndarray, plate: Plate, chans: tuple[int, int, int]) -> np.ndarray | None:
    """The comp's colour channels as the file stores them (half or float); None for other types."""
    spec = plate.spec
    fmts = [str(f) for f in spec.channelformats] or [str(spec.format)] * spec.nchannels
    picked = [fmts[c] for c in chans]
    out = np.stack([pixels[..., c] for c in chans], axis=-1).astype(np.float32)
    if all(f == "half" for f in picked):
        return out.astype(np.float16).astype(np.float32)
    if all(f == "float" for f in picked):
        return out
    return None


@dataclass(frozen=True)
class FaceCrops:
    """One swapped face's crop of the plate and of the comp, raw, as QC reads them from the
    files (``cropio.read_region`` over ``crop_box``, the colour channels): built by the engine
    from its memory so per-frame QC need not decode the rows under the face again."""

    crop_box: Box
    plate_raw: np.ndarray
    out_raw: np.ndarray


Pasted = tuple[int, int, int, int, np.ndarray]  # y0, y1, x0, x1 (array rows/columns) and the pixels there before a paste


def face_crops(
    rec: dict[str, Any], pixels: np.ndarray, plate: Plate, pasted: list[Pasted], margin: float
) -> dict[int, FaceCrops]:
    """Face index -> :class:`FaceCrops` of each swapped face of ``rec``; ``pixels`` is the comp
    (the plate's buffer with the faces pasted in, ``pasted`` in paste order); {} when the plate
    stores its colour channels in a type other than half or float (QC then reads the files)."""
    dx, dy, dw, dh = plate.data_window
    fx, fy, fw, fh = plate.display_window
    info = ImageInfo(Path(plate.path), (dx, dy, dx + dw, dy + dh), (fx, fy, fx + fw, fy + fh), plate.channel_names, {})
    chans = info.rgb
    out: dict[int, FaceCrops] = {}
    for i, face in enumerate(rec.get("faces") or []):
        if not face.get("swapped"):
            continue
        crop_box = grow_box(face["box"], margin, info.display_window)
        x0, y0, x1, y1 = crop_box
        if x1 - x0 < 8 or y1 - y0 < 8:
            continue
        comp = np.zeros((y1 - y0, x1 - x0, 3), np.float32)  # zeros outside the data window, as read_region
        orig = np.zeros((y1 - y0, x1 - x0, 3), np.float32)
        ix0, iy0, ix1, iy1 = clamp_box(crop_box, info.data_window)
        if ix1 > ix0 and iy1 > iy0:
            ay0, ay1, ax0, ax1 = iy0 - dy, iy1 - dy, ix0 - dx, ix1 - dx  # array rows and columns
            q = _quantised(pixels[ay0:ay1, ax0:ax1], plate, chans)
            if q is None:
                return {}
            comp[iy0 - y0 : iy1 - y0, ix0 - x0 : ix1 - x0] = q
            before = np.array(pixels[ay0:ay1, ax0:ax1], np.float32)
            for py0, py1, px0, px1, was in reversed(pasted):  # undone last paste first
                ty0, ty1, tx0, tx1 = max(py0, ay0), min(py1, ay1), max(px0, ax0), min(px1, ax1)
                if ty1 > ty0 and tx1 > tx0:
                    before[ty0 - ay0 : ty1 - ay0, tx0 - ax0 : tx1 - ax0] = was[ty0 - py0 : ty1 - py0, tx0 - px0 : tx1 - px0]
            # the plate as read: its file's values (half or float) are exactly the decoded buffer's
            orig[iy0 - y0 : iy1 - y0, ix0 - x0 : ix1 - x0] = np.stack([before[..., c] for c in chans], axis=-1)
        out[i] = FaceCrops(crop_box, orig, comp)
    return out


@dataclass
class CompFeatures:
    """Computes the comp-face features of a computed frame (the engine's hook, see the module doc)."""

    probe: FaceProbe
    actors_file: Path | None = None  # <take>/embeddings/actors.json: the actors' reference embeddings
    earlier: tuple[Path, ...] = ()  # earlier takes' actors.json: an entry whose key still holds is reused
    margin: float = MARGIN
    face_px: int = FACE_PX
    _colours: Any = None
    _displays: dict[Any, Any] = field(default_factory=dict)
    _actors: dict[str, dict[str, Any]] = field(default_factory=dict)

    def _actor(self, name: str) -> None:
        """Embed an actor's images once per take (QC's ``actor_embedding``) and write them down."""
        if not name or name in self._actors or self.actors_file is None:
            return
        key = actor_key(name, self.probe.analyser_name)
        if key is None:
            return
        from recast.pipeline.atomic import atomic_write_json
        from recast.qc.identity import actor_embedding

        # this take's own file first (an earlier chunk or run of the take wrote it), then earlier takes'
        for path in (self.actors_file, *self.earlier):
            entry = read_actor_features(path, name, self.probe.analyser_name)
            if entry is not None and entry.get("kind") == self.probe.kind:
                self._actors[name] = entry
                break
        else:
            emb, reason = actor_embedding(name, self.probe)
            self._actors[name] = {"key": key, "kind": self.probe.kind, "reason": reason,
                                  "embedding": None if emb is None else np.asarray(emb, np.float64).tolist()}
        atomic_write_json(self.actors_file, {"schema": COMP_SCHEMA, "actors": self._actors})

    def crops(self, rec: dict[str, Any], pixels: np.ndarray, plate: Plate, pasted: list[Pasted]) -> dict[int, FaceCrops]:
        """The swapped faces' plate and comp crops per-frame QC scores (:func:`face_crops`)."""
        return face_crops(rec, pixels, plate, pasted, self.margin)

    def __call__(self, rec: dict[str, Any], pixels: np.ndarray, plate: Plate) -> list[dict[str, Any]]:
        from recast.pipeline.color import PlateColours
        from recast.qc.display import BakedDisplay

        faces = [(i, f) for i, f in enumerate(rec.get("faces") or []) if f.get("swapped")]
        if not faces:
            return []
        if self._colours is None:
            self._colours = PlateColours()
        colour = self._colours.of_record(rec)
        display = self._displays.get(colour)
        if display is None:
            display = self._displays[colour] = BakedDisplay(colour, self._colours)
        dx, dy, dw, dh = plate.data_window
        fx, fy, fw, fh = plate.display_window
        info = ImageInfo(Path(plate.path), (dx, dy, dx + dw, dy + dh), (fx, fy, fx + fw, fy + fh), plate.channel_names, {})
        kind = self.probe.kind
        key = features_key(self.margin, self.face_px, rec.get("colorspace"), self.probe.analyser_name, kind)
        out: list[dict[str, Any]] = []
        for i, face in faces:
            self._actor(str(face.get("actor") or rec.get("actor") or ""))
            crop_box = grow_box(face["box"], self.margin, info.display_window)
            x0, y0, x1, y1 = crop_box
            if x1 - x0 < 8 or y1 - y0 < 8:
                continue
            raw = np.zeros((y1 - y0, x1 - x0, 3), np.float32)  # zeros outside the data window, as read_region
            ix0, iy0, ix1, iy1 = clamp_box(crop_box, info.data_window)
            if ix1 > ix0 and iy1 > iy0:
                q = _quantised(pixels[iy0 - dy : iy1 - dy, ix0 - dx : ix1 - dx], plate, info.rgb)
                if q is None:
                    return []
                raw[iy0 - y0 : iy1 - y0, ix0 - x0 : ix1 - x0] = q
            scale = face_scale(face["box"], self.face_px)
            inputs = comp_inputs(face, raw, crop_box, scale, display)
            origin = (crop_box[0], crop_box[1])
            emb = self.probe.embed(inputs.out_d, face_from_record(face, origin, scale))
            out.append({"index": i, "key": key, "kind": kind, "crop": crop_digest(raw), "embedding": np.asarray(emb, np.float64).tolist(),
                        "fit": refit(self.probe, inputs.out_d, face, origin, scale)})
        return out


def read_comp_features(sidecar: Path) -> dict[int, dict[str, Any]]:
    """Face index -> the engine's comp features from a frame's embeddings sidecar; {} when absent."""
    try:
        doc = json.loads(Path(sidecar).read_text())
        return {int(e["index"]): e for e in doc.get("comp", []) if isinstance(e, dict) and "index" in e}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}


def actor_key(actor: str, analyser: str) -> str | None:
    """What an actor's reference embedding depends on: its image files and the analyser (None: no actor)."""
    try:
        from recast.models.actor import load_actor
        from recast.qc.identity import actor_images

        images = actor_images(load_actor(actor, verify=False))
        stamps = [[str(p), p.stat().st_size, p.stat().st_mtime_ns] for p in images]
    except Exception:  # noqa: BLE001 - QC then embeds the actor itself and reports why it cannot
        return None
    doc = {"schema": COMP_SCHEMA, "actor": actor, "analyser": analyser, "images": stamps}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]


def read_actor_features(actors_file: Path, actor: str, analyser: str) -> dict[str, Any] | None:
    """The engine's reference embedding entry of ``actor`` when its images are unchanged; else None."""
    try:
        entry = json.loads(Path(actors_file).read_text())["actors"][actor]
    except (OSError, ValueError, TypeError, KeyError):
        return None
    if not isinstance(entry, dict) or entry.get("key") != actor_key(actor, analyser):
        return None
    return entry
