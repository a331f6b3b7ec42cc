"""Tracking history kept beside a take, so a reprocess seeds its frames instead of re-detecting.

A frame's temporal state depends only on the spec, the plate and its history window
(``history_block`` / ``history_frames``, see ``Engine._bring_history_to``): it is reached
by starting from the initial state at the window's first frame ``s`` and stepping through
``s .. frame-1``. So what face detection and tracking produced for frame ``g`` in the window
starting at ``s`` (the tracked faces and the tracker after them) is the same in every run
with the same detection settings and the same plate files. A run stores it per ``(s, g)``;
a later take (``recast reprocess``) with the same detection settings reads it back instead
of scanning the plate again (tile pyramid, landmarks, embeddings), and replays only what
its own settings change (selection votes, colour smoothing).

Where: ``<take>/embeddings/history/<key>/<s>/<frame>.pkl``. The entries hold tracked faces
with their identity embeddings, i.e. biometric data: they live only in the take's
embeddings folder, are deleted with it by ``recast job purge JOB`` and with the job's
output folder, and publishing never copies them. ``<key>`` is a hash of everything that
changes detection (recast version, the face analysis code, analyser settings, detection
cadence, colourspace, history window); each entry also carries the size and mtime of its plate frame, so a
replaced plate frame is detected again. Entries are written only by the job's own engine
into its own output folder; one that cannot be read is ignored (the frame is detected).

Beside them, per take, the whole temporal state after each frame a run or chunk went
through (tracker, track votes, colour smoothing, the swappers' per-track state):
``<take>/embeddings/state/<key>/<s>/<frame>.pkl``, where ``<key>`` is the engine's hash of
everything that state depends on (code, every setting, actors, the selection's reference
embeddings; see ``Engine._state_key``) and each entry carries a digest of the plate frames
``s .. frame`` (size and mtime of each) and the reference context it was made with (fallback
face, locked colour) with what its window's frames did that depends on it. A chunk or
resume starting at ``a`` inside a window restores the state after ``a - 1`` (else the newest
stored before it) and replays only what follows, so a farm chunk that runs after the one
before it replays nothing; a reprocess take restores an earlier take's states where they
fit its reference context (``Engine._state_fits``), so it replays nothing either.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recast.pipeline.atomic import write_cache_bytes

from recast.pipeline import __version__

HISTORY_SCHEMA = 2

# the settings that change what detection and tracking produce for a frame
DETECTION_SETTINGS = (
    "analyser", "analyser_models", "allow_noncommercial_models", "detect_size", "min_face",
    "full_scan_every", "tile_scan_every", "embed_every", "colorspace", "history_block", "history_frames",
)


def code_digest() -> str:
    """A hash of the code whose objects the entries pickle and whose results they hold (face
    analysis and tracking, the face type): entries of other code are never read back."""
    import recast.pipeline.faces as faces
    import recast.pipeline.types as types

    h = hashlib.sha256()
    for path in sorted(Path(faces.__file__).parent.glob("*.py")) + [Path(types.__file__)]:
        try:
            h.update(path.name.encode() + path.read_bytes())
        except OSError:
            h.update(path.name.encode())
    return h.hexdigest()[:16]


def engine_code_digest() -> str:
    """A hash of every module of the pipeline and the models (engine, compositing, swappers):
    the whole temporal state of other code is never read back."""
    import recast.models as models
    import recast.pipeline as pipeline

    h = hashlib.sha256()
    for base in (Path(pipeline.__file__).parent, Path(models.__file__).parent):
        for path in sorted(base.rglob("*.py")):
            try:
                h.update(str(path.relative_to(base)).encode() + b"\0" + path.read_bytes())
            except OSError:
                h.update(path.name.encode())
    return h.hexdigest()[:16]


def history_key(settings: dict[str, Any], code: str | None = None) -> str:
    """A short hash of the detection-relevant settings (and the code's version); ``code``: a
    :func:`code_digest` the caller already took (a long-running service takes it once)."""
    doc = {"schema": HISTORY_SCHEMA, "version": __version__, "code": code or code_digest(),
           **{k: settings.get(k) for k in DETECTION_SETTINGS}, "ocio": os.environ.get("OCIO") or None}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _plate_stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = Path(path).stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


@dataclass
class TrackingHistory:
    """Per-frame tracking results of a job's takes (see the module doc).

    ``write_root``: this take's history folder for ``key``; ``read_roots``: where to look,
    this take's first, then earlier takes', newest first.
    """

    write_root: Path
    read_roots: tuple[Path, ...]
    state_root: Path | None = None  # this take's whole-state entries (``state/``), None: not kept
    state_reads: tuple[Path, ...] = ()  # where whole states are read: this take's, then earlier takes' (empty: state_root)

    @classmethod
    def for_take(cls, embeddings_dirs: list[Path], settings: dict[str, Any]) -> TrackingHistory:
        """``embeddings_dirs``: this take's embeddings folder first, then earlier takes'."""
        key = history_key(settings)
        roots = tuple(Path(d) / "history" / key for d in embeddings_dirs)
        states = tuple(Path(d) / "state" for d in embeddings_dirs)
        return cls(roots[0], roots, states[0], states)

    def get_states(self, key: str, start: int, frame: int) -> list[bytes]:
        """The stored temporal states after ``frame`` in the window starting at ``start``, this
        take's first, then earlier takes' (the engine checks the plate digest and reference
        context inside each); unreadable entries are left out."""
        if self.state_root is None:
            return []
        out: list[bytes] = []
        for root in self.state_reads or (self.state_root,):
            try:
                out.append((root / key / str(start) / f"{frame}.pkl").read_bytes())
            except OSError:
                continue
        return out

    def put_state(self, key: str, start: int, frame: int, blob: bytes) -> None:
        """Store the temporal state after ``frame`` (temp file + rename; a failed write is ignored)."""
        if self.state_root is None:
            return
        write_cache_bytes(self.state_root / key / str(start) / f"{frame}.pkl", blob)

    def get(self, start: int, frame: int, plate: Path) -> bytes | None:
        """The stored state of ``frame`` in the window starting at ``start`` (None: not stored,
        unreadable, or its plate frame changed since)."""
        return self._get(f"{start}/{frame}.pkl", [plate])

    def put(self, start: int, frame: int, plate: Path, blob: bytes) -> None:
        """Store a frame's state (atomically: temp file + rename; a failed write is ignored)."""
        self._put(f"{start}/{frame}.pkl", [plate], blob)

    def get_named(self, name: str, files: list[Path]) -> bytes | None:
        """A stored set-up result that depends on ``files`` (plate frames, reference images)."""
        return self._get(f"setup/{hashlib.sha256(name.encode()).hexdigest()[:24]}.pkl", files)

    def put_named(self, name: str, files: list[Path], blob: bytes) -> None:
        self._put(f"setup/{hashlib.sha256(name.encode()).hexdigest()[:24]}.pkl", files, blob)

    def _get(self, rel: str, files: list[Path]) -> bytes | None:
        stamps = [_plate_stamp(p) for p in files]
        if any(s is None for s in stamps):
            return None
        want = [list(s) for s in stamps if s is not None]
        for root in self.read_roots:
            try:
                data = (root / rel).read_bytes()
            except OSError:
                continue
            head, sep, blob = data.partition(b"\n")
            try:
                meta = json.loads(head)
            except ValueError:
                continue
            if sep and meta.get("schema") == HISTORY_SCHEMA and meta.get("files") == want:
                return blob
        return None

    def _put(self, rel: str, files: list[Path], blob: bytes) -> None:
        stamps = [_plate_stamp(p) for p in files]
        if any(s is None for s in stamps):
            return
        head = json.dumps({"schema": HISTORY_SCHEMA, "files": [list(s) for s in stamps if s is not None]}).encode() + b"\n"
        write_cache_bytes(self.write_root / rel, [head, blob])

