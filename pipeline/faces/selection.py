"""Which face gets which actor: modes ``all``, ``largest`` and ``reference``.

Reference mode compares each face's embedding with one or more reference
embeddings (an actor map: two characters in one shot -> two actors). A
reference is given as a frame number + face index in that frame, or as an
image; ``resolve_references`` turns either into an embedding with the
analyser the job uses. ``TrackSelector`` keeps the decision per track, so a
track does not flicker between actors from frame to frame.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from recast.pipeline.errors import SpecError
from recast.pipeline.faces.base import FaceAnalyser
from recast.pipeline.faces.identity import face_distance
from recast.pipeline.types import Face

SelectionMode = Literal["all", "largest", "reference"]
MODES: tuple[str, ...] = ("all", "largest", "reference")


@dataclass(frozen=True)
class Reference:
    """One actor's reference face: an embedding, or where to compute it from."""

    actor: str
    frame: int | None = None
    face_index: int | None = 0  # faces in a frame are ordered left to right; None: ``main_face``
    image: Path | None = None
    embedding: np.ndarray | None = None
    embedding_kind: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "actor": self.actor,
            "frame": self.frame,
            "face_index": self.face_index,
            "image": None if self.image is None else str(self.image),
            "embedding_kind": self.embedding_kind,
        }


@dataclass(frozen=True)
class Selection:
    mode: SelectionMode = "all"
    actor: str | None = None  # the actor for "all" / "largest"
    references: tuple[Reference, ...] = ()
    threshold: float | None = None  # max face_distance; None = the backend's same-person threshold
    one_face_per_actor: bool = True  # reference mode: each actor takes at most its closest face per frame

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise SpecError(f"selection.mode: {self.mode!r} is not one of {', '.join(MODES)}")
        if self.mode == "reference" and not self.references:
            raise SpecError("selection.references: reference mode needs at least one reference")
        if self.threshold is not None and not 0.0 < float(self.threshold) <= 2.0:
            raise SpecError(f"selection.threshold: {self.threshold} is not in (0, 2]")
        for i, ref in enumerate(self.references):
            if ref.embedding is None and ref.frame is None and ref.image is None:
                raise SpecError(f"selection.references[{i}]: give a frame (+ face_index), an image or an embedding")

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "selection") -> Selection:
        """From a job/settings dict: {"mode", "actor", "threshold", "references": [{"actor", "frame",
        "face_index", "image"}]}; SpecError names the bad field."""
        if not isinstance(data, dict):
            raise SpecError(f"{where}: expected an object, got {type(data).__name__}")
        known = {"mode", "actor", "threshold", "references", "one_face_per_actor"}
        for key in data:
            if key not in known:
                raise SpecError(f"{where}.{key}: unknown field (known: {', '.join(sorted(known))})")
        refs = []
        for i, r in enumerate(data.get("references") or []):
            if not isinstance(r, dict) or not isinstance(r.get("actor"), str) or not r["actor"]:
                raise SpecError(f"{where}.references[{i}].actor: a non-empty actor name is required")
            frame = r.get("frame")
            if frame is not None and not isinstance(frame, int):
                raise SpecError(f"{where}.references[{i}].frame: expected an integer frame number")
            index = r.get("face_index", 0)
            if index is not None and (not isinstance(index, int) or isinstance(index, bool) or index < 0):
                raise SpecError(f"{where}.references[{i}].face_index: expected an integer >= 0 (or null: the largest face)")
            image = r.get("image")
            refs.append(Reference(r["actor"], frame, index, None if image is None else Path(image)))
        try:
            return cls(
                mode=data.get("mode", "all"),
                actor=data.get("actor"),
                references=tuple(refs),
                threshold=data.get("threshold"),
                one_face_per_actor=bool(data.get("one_face_per_actor", True)),
            )
        except SpecError as exc:
            raise SpecError(str(exc).replace("selection", where, 1)) from None

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "actor": self.actor,
            "threshold": self.threshold,
            "one_face_per_actor": self.one_face_per_actor,
            "references": [r.to_dict() for r in self.references],
        }

    @property
    def actors(self) -> list[str]:
        if self.mode == "reference":
            return sorted({r.actor for r in self.references})
        return [self.actor] if self.actor else []


FrameLoader = Callable[[int], np.ndarray]
ImageLoader = Callable[[Path], np.ndarray]


@dataclass(frozen=True)
class FrameScan:
    """A plate frame as a run analyses it: its analysis pixels, their display map and the
    faces a full scan (tiles, no embeddings) finds there. The engine scans a reference frame
    this way once and hands the same detections to the frame's own run (``FaceStream.seed``)."""

    pixels: np.ndarray
    to_display: Callable[[np.ndarray], np.ndarray] | None
    faces: list[Face]


FrameScanner = Callable[[int], FrameScan]


def resolve_references(
    selection: Selection,
    analyser: FaceAnalyser,
    load_frame: FrameLoader | None = None,
    load_image: ImageLoader | None = None,
    to_display: Callable[[np.ndarray], np.ndarray] | None = None,
    scan_frame: FrameScanner | None = None,
) -> Selection:
    """A copy of ``selection`` whose references all carry embeddings from ``analyser``.

    ``scan_frame`` (instead of ``load_frame``) gives a reference frame already scanned the
    way the run scans it: its faces are used as they are, with its own display map."""
    out: list[Reference] = []
    for i, ref in enumerate(selection.references):
        if ref.embedding is not None and ref.embedding_kind == analyser.embedding_kind:
            out.append(ref)
            continue
        display = to_display
        scanned: list[Face] | None = None
        if ref.frame is not None and scan_frame is not None:
            scan = scan_frame(ref.frame)
            image, what, display, scanned = scan.pixels, f"frame {ref.frame}", scan.to_display, list(scan.faces)
        elif ref.frame is not None:
            if load_frame is None:
                raise SpecError(f"selection.references[{i}]: frame {ref.frame} given but no plate to read it from")
            image, what = load_frame(ref.frame), f"frame {ref.frame}"
        elif ref.image is not None:
            if load_image is None:
                raise SpecError(f"selection.references[{i}].image: no image loader given")
            image, what = load_image(ref.image), str(ref.image)
        else:
            raise SpecError(f"selection.references[{i}]: embedding of another kind and nothing to recompute it from")
        faces = scanned if scanned is not None else analyser.analyse(image, to_display=display, embed=False)
        if not faces:
            raise SpecError(f"selection.references[{i}]: no face found in {what}")
        if ref.face_index is None:
            face = main_face(faces)
        elif ref.face_index >= len(faces):
            raise SpecError(
                f"selection.references[{i}].face_index: {ref.face_index} but {what} has {len(faces)} face(s)"
            )
        else:
            face = faces[ref.face_index]
        emb = analyser.embed(image, face, to_display=display)
        out.append(replace(ref, embedding=emb, embedding_kind=analyser.embedding_kind))
    return replace(selection, references=tuple(out))


def main_face(faces: list[Face], size_tolerance: float = 0.1) -> Face:
    """The largest face; among faces within ``size_tolerance`` of the largest size, the most
    confident detection (a portrait's subject beats a same-sized false hit, e.g. a badge)."""
    biggest = max(f.size for f in faces)
    near = [f for f in faces if f.size >= (1.0 - size_tolerance) * biggest]
    return max(near, key=lambda f: (f.score, f.size))


@dataclass
class Decision:
    actor: str | None
    distance: float | None  # to the chosen actor's nearest reference (reference mode)
    reason: str

    def to_json(self) -> dict[str, Any]:
        d = self.distance
        return {"actor": self.actor, "distance": None if d is None else round(float(d), 4), "reason": self.reason}


def decide(faces: list[Face], selection: Selection, threshold: float) -> list[Decision]:
    """One decision per face, same order (the per-frame selection result)."""
    if not faces:
        return []
    if selection.mode == "all":
        return [Decision(selection.actor, None, "all") for _ in faces]
    if selection.mode == "largest":
        big = max(range(len(faces)), key=lambda i: faces[i].size)
        return [
            Decision(selection.actor, None, "largest") if i == big else Decision(None, None, "not largest")
            for i in range(len(faces))
        ]
    thr = float(selection.threshold) if selection.threshold is not None else threshold
    best: list[tuple[str | None, float | None]] = []
    for f in faces:
        if f.embedding is None:
            best.append((None, None))
            continue
        dists: dict[str, float] = {}
        for ref in selection.references:
            if ref.embedding is None or (ref.embedding_kind and f.embedding_kind and ref.embedding_kind != f.embedding_kind):
                continue
            dists[ref.actor] = min(face_distance(f.embedding, ref.embedding), dists.get(ref.actor, 2.0))
        if not dists:
            best.append((None, None))
            continue
        nearest = min(dists, key=lambda a: dists[a])
        best.append((nearest, dists[nearest]))
    decisions: list[Decision] = []
    for actor, d in best:
        if actor is None or d is None:
            decisions.append(Decision(None, None, "no embedding"))
        elif d > thr:
            decisions.append(Decision(None, d, f"distance {d:.3f} > {thr:.3f}"))
        else:
            decisions.append(Decision(actor, d, "reference"))
    if selection.one_face_per_actor:
        for actor in {d.actor for d in decisions if d.actor}:
            idx = [i for i, d in enumerate(decisions) if d.actor == actor]
            keep = min(idx, key=lambda i: decisions[i].distance or 0.0)
            for i in idx:
                if i != keep:
                    decisions[i] = Decision(None, decisions[i].distance, f"{actor} taken by a closer face")
    return decisions


def _threshold(faces: list[Face], selection: Selection, threshold: float | None) -> float:
    """``threshold``, else the same-person threshold of the faces' embedding kind."""
    from recast.pipeline.faces.identity import SAME_PERSON_THRESHOLDS

    if selection.mode != "reference" and not selection.actor:
        raise SpecError(f"selection.actor: mode {selection.mode!r} needs an actor name")
    if threshold is not None:
        return float(threshold)
    kind = next((f.embedding_kind for f in faces if f.embedding_kind), None)
    return SAME_PERSON_THRESHOLDS.get(kind or "", 0.0)


def select_faces(faces: list[Face], selection: Selection, threshold: float | None = None) -> list[tuple[Face, str]]:
    """Faces to swap in one frame with their actor names.

    ``threshold`` defaults to ``selection.threshold``, else the same-person
    threshold of the faces' embedding kind.
    """
    thr = _threshold(faces, selection, threshold)
    return [(f, d.actor) for f, d in zip(faces, decide(faces, selection, thr), strict=True) if d.actor]


@dataclass
class TrackRecord:
    """What the selector knows about one track: its actor, votes and last decision."""

    frames: int = 0
    selected: int = 0  # frames in which the track was given an actor
    votes: dict[str, int] = field(default_factory=dict)  # reference mode: actor ("" = none) -> frames
    last: Decision | None = None

    def to_json(self) -> dict[str, Any]:
        last = (self.last or Decision(None, None, "not seen")).to_json()
        return {**last, "frames": self.frames, "selected_frames": self.selected, "votes": dict(self.votes)}


@dataclass
class TrackSelector:
    """Per-track selection: a track's actor is decided by a running vote over its frames,
    so one noisy frame cannot swap a different actor in (or drop the swap)."""

    selection: Selection
    threshold: float | None = None
    tracks: dict[int, TrackRecord] = field(default_factory=dict)  # the votes live here, per track

    def decisions(self, faces: list[Face]) -> list[Decision]:
        """One decision per face, same order: the frame's own decision, overruled by the
        track's vote in reference mode (the reason then says so)."""
        frame = decide(faces, self.selection, _threshold(faces, self.selection, self.threshold))
        out: list[Decision] = []
        for f, d in zip(faces, frame, strict=True):
            if f.track_id is None:
                out.append(d)
                continue
            track = self.tracks.setdefault(f.track_id, TrackRecord())
            track.frames += 1
            if self.selection.mode == "reference":
                tally = track.votes
                tally[d.actor or ""] = tally.get(d.actor or "", 0) + 1
                winner = max(tally, key=lambda a: tally[a])
                f.extra["selection_votes"] = dict(tally)
                if (winner or None) != d.actor:
                    d = Decision(
                        winner or None,
                        d.distance,
                        f"track vote {winner or 'none'} {tally[winner]}/{sum(tally.values())} (this frame: {d.reason})",
                    )
            track.selected += d.actor is not None
            track.last = d
            out.append(d)
        return out

    def select(self, faces: list[Face]) -> list[tuple[Face, str]]:
        return [(f, d.actor) for f, d in zip(faces, self.decisions(faces), strict=True) if d.actor]

    def forget(self, live_track_ids: set[int]) -> None:
        """Drop votes of tracks that ended (keeps memory flat over long sequences)."""
        self.tracks = {k: v for k, v in self.tracks.items() if k in live_track_ids}

    def per_track(self) -> dict[int, str | None]:
        """Track id -> the actor its votes give (None: no actor); reference mode only."""
        return {k: (max(t.votes, key=lambda a: t.votes[a]) or None) for k, t in self.tracks.items() if t.votes}

    def summary(self) -> dict[str, dict[str, Any]]:
        """Per live track (id as text, for JSON): actor, frames seen/selected, votes, last distance and reason."""
        return {str(k): t.to_json() for k, t in sorted(self.tracks.items())}
