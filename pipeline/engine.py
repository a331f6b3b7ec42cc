"""The per-frame engine: plate frame in, comp + face element + record out.

Per frame, in this order (see ``Engine.process_frame``):

    read plate -> sanitised copy for analysis -> detect + track -> select
    -> per selected face: loose crop -> working space -> swap (+ enhancer)
       -> colour match / matte / blend / highlights / grain (pipeline.composite)
       -> paste inside the matte's box only
    -> write comp (plate format + recast/* attributes), element, record

Outside the matte the comp equals the plate bit for bit, every channel; alpha
and AOV channels are never touched. A frame that fails is recorded as failed
with its one-line error and the run goes on. No face: the comp is the plate,
the record says ``passthrough``.
"""

from __future__ import annotations

import contextlib
import copy
import pickle
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from recast.models.base import ENHANCERS, SWAPPERS, ActorModel, Enhancer, Swapper, SwapperContext, SwapResult
from recast.pipeline import __version__
from recast.pipeline.composite.colormatch import ColourStats
from recast.pipeline.composite.compose import ComposeOptions, SpaceConverter, compose_face, replay_face, sanitise
from recast.pipeline.composite.crop import crop_box_for, shift_face
from recast.pipeline.composite.holdout import HoldoutReader, parse_holdout
from recast.pipeline.composite.matte import matte_box
from recast.pipeline.composite.paste import ElementBuilder, PlateChannels, paste_face
from recast.pipeline.schema.settings import SwapSettings
from recast.pipeline.errors import (
    ActorError,
    ConsentError,
    OutputError,
    PlateError,
    RecastError,
    SequenceError,
    SpecError,
    SwapError,
    os_cause,
)
from recast.pipeline.outputs import OutputLayout, base_record, jsonable, offset_face_json, write_black, write_element, write_record
from recast.pipeline.frameview import FrameView
from recast.pipeline.faces.imageprep import Shrunk, shrink
from recast.pipeline.types import Face

if TYPE_CHECKING:
    from recast.pipeline.color import ColorContext
    from recast.pipeline.faces.base import FaceAnalyser
    from recast.pipeline.faces.selection import Decision, FrameScan, Selection, TrackSelector
    from recast.pipeline.faces.stream import FaceStream
    from recast.pipeline.plateio import Plate
    from recast.pipeline.sequence import PlateSequence

__all__ = ["ComputedFrame", "Engine", "LoadedFrame", "OutputLayout", "SequenceShape", "SwapSettings", "analysis_pixels", "analysis_view", "one_line_error"]

FrameCallback = Callable[[dict[str, Any]], None]


class StreamHistory(Protocol):
    """Where tracking results of earlier runs are kept (``pipeline.jobs.history.TrackingHistory``):
    per history window start and frame, the pickled tracked faces and tracker after them."""

    def get(self, start: int, frame: int, plate: Path) -> bytes | None: ...

    def put(self, start: int, frame: int, plate: Path, blob: bytes) -> None: ...

    def get_named(self, name: str, files: list[Path]) -> bytes | None: ...

    def put_named(self, name: str, files: list[Path], blob: bytes) -> None: ...

    def get_states(self, key: str, start: int, frame: int) -> list[bytes]:
        """The temporal states stored after ``frame`` under ``key`` (this take's first, then
        earlier takes'); the engine checks each one's plate digest and reference context."""
        ...

    def put_state(self, key: str, start: int, frame: int, blob: bytes) -> None: ...


def _array_bytes(a: np.ndarray) -> bytes:
    """An array's dtype, shape and bytes (what a digest of its value hashes)."""
    arr = np.ascontiguousarray(a)
    return f"{arr.dtype.str}{arr.shape}".encode() + arr.tobytes()


def one_line_error(exc: BaseException) -> str:
    """A single-line description: the RecastError message, else ``Type: message``."""
    if isinstance(exc, RecastError):
        return str(exc)
    if isinstance(exc, OSError) and exc.errno:
        return f"{type(exc).__name__}: {os_cause(exc)}"  # names the cause: No space left on device (ENOSPC)
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@dataclass
class _Reference:
    """What a reference frame pins: identity, colour statistics and a fallback face."""

    frame: int
    face: Face | None = None
    colour: ColourStats | None = None


@dataclass
class _FrameState:
    frame: int
    record: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class _SequenceState:
    """What a frame's compute changes in the engine (see ``Engine._snapshot``)."""

    stream: Any
    votes: dict[int, Any]
    colour: dict[int, ColourStats]
    swappers: dict[str, Any] = field(default_factory=dict)  # actor label -> the swapper's per-track state


@dataclass
class _PathFlags:
    """What the frames of the history window so far did that ties the temporal state to the
    reference context (``Engine._context``: fallback face, locked colour) beyond ``state_key``.
    ``empty``: a frame had no tracked face (a reference fallback face would have been fitted
    there); ``multi``: a frame selected several faces (each later one is swapped on the pastes
    of the earlier ones, which the locked colour grades); ``failed``: a frame's replay raised
    and left the state as it was."""

    empty: bool = False
    multi: bool = False
    failed: bool = False


@dataclass
class LoadedFrame:
    """A plate frame read ahead (``plate`` None and ``error`` set when the read failed)."""

    frame: int
    plate: Plate | None
    error: str | None
    seconds: float
    missing: bool = False  # the frame's file is not on disk (``missing: black`` writes a black frame)
    ahead: ReadAhead | None = None  # what the reader worked out from the pixels (see load_frame)


@dataclass(frozen=True)
class ReadAhead:
    """Pure functions of a frame's pixels worked out where it was read (a reader's thread in a
    pipelined run), off the compute thread: its NaN/Inf counts and, when it is all finite, the
    whole-frame detection resample (before colour mapping). Compute makes them itself when absent."""

    stats: dict[str, int]
    shrunk: Shrunk | None


@dataclass
class ComputedFrame:
    """A frame swapped in memory, waiting to be written."""

    state: _FrameState
    plate: Plate | None
    pixels: np.ndarray | None = None  # the comp's pixels (the plate's own for a passthrough)
    element: ElementBuilder | None = None
    status: str = "failed"  # what compute decided: done | passthrough | failed
    # the tracked plate faces' identity embeddings (index into record["faces"]), written to the
    # take's embeddings sidecar for QC, never into the record (see outputs.embeddings_sidecar)
    embeddings: list[dict[str, Any]] = field(default_factory=list)
    # QC's features of the swapped comp faces (embedding, refit landmarks; qc.comp_features),
    # written to the same sidecar
    comp_features: list[dict[str, Any]] = field(default_factory=list)
    ahead: ReadAhead | None = None  # the reader's stats and detection resample of the plate
    # read ahead (Engine._look_ahead): faces tracked and selected, each swapper shown them
    # (``observe``), nothing swapped
    observe: bool = False
    features_due: bool = False  # comp_features still to compute (by write_frame, from these pixels)
    # per-frame QC's crops of the swapped faces, plate and comp as the files hold them
    # (qc.comp_features.FaceCrops by face index): the writer's QC scores them from memory
    qc_crops: dict[int, Any] = field(default_factory=dict)
    # where faces were pasted and what the plate held there (y0, y1, x0, x1, pixels), in
    # paste order: kept only for qc_crops
    pasted: list[tuple[int, int, int, int, np.ndarray]] = field(default_factory=list)
    replay: bool = False  # computed only to advance the temporal state (``Engine._replay``): nothing is composited

    @property
    def record(self) -> dict[str, Any]:
        return self.state.record


def _mark_failed(rec: dict[str, Any], error: str) -> None:
    rec["status"] = "failed"
    rec["error"] = error
    rec["comp"] = None  # nothing was written for this frame
    rec["element"] = None
    rec["comp_write"] = None


class Engine:
    """Swaps the selected faces of ``plate`` frames with ``actors`` and writes outputs."""

    def __init__(
        self,
        plate: PlateSequence,
        actors: dict[str, ActorModel],
        settings: SwapSettings,
        layout: OutputLayout,
        job_id: str | None = None,
        take: int = 1,
        reference_frame: int | None = None,
        *,
        analyser: FaceAnalyser | None = None,
        color: ColorContext | None = None,
        reference_record: Path | None = None,
        swapper_factory: Callable[[str, SwapperContext], Swapper] | None = None,
        splice: bool = True,
        history: StreamHistory | None = None,
        embeddings_sidecar: bool = True,
        plate_reader: Callable[[Path], Plate] | None = None,
    ) -> None:
        if not actors:
            raise ActorError("engine: no actor given")
        for name, actor in actors.items():
            consent = actor.manifest.get("consent") if isinstance(actor.manifest, dict) else None
            if not isinstance(consent, dict) or not consent.get("id"):
                raise ConsentError(
                    f"actor {name}: no consent record, no swap; add one with `recast actor consent {name} --consent FILE`"
                )
        self.plate = plate
        self.actors = dict(actors)
        self.settings = settings
        self.layout = layout
        self.job_id = job_id
        self.take = int(take)
        self.reference_frame = reference_frame
        self.splice = splice  # comps copy the plate file's untouched chunks (False: encode every row)
        self._reference_record = reference_record
        self._swapper_factory = swapper_factory or _create_swapper  # a warm service passes its cache
        self._analyser = analyser
        self._color = color
        self._stream: FaceStream | None = None
        self._selector: TrackSelector | None = None
        self._swappers: dict[str, Swapper] = {}
        self._enhancer: Enhancer | None = None
        self._reference: _Reference | None = None
        self._colour_history: dict[int, ColourStats] = {}  # per track, smoothed
        self._notices: list[str] = []  # the notices this engine raised (printed once per process)
        self._licences: list[dict[str, Any]] = []  # the analyser's models and their licences
        self._ready = False
        self._compose = ComposeOptions.from_settings(settings)
        self._holdout: HoldoutReader | None = None
        if settings.holdout:
            self._holdout = HoldoutReader(parse_holdout(settings.holdout))
        self._shape: SequenceShape | None = None  # what every frame must look like (the first frame on disk)
        self._initial: _SequenceState | None = None  # the temporal state before any frame
        self._next_frame: int | None = None  # the frame the temporal state is ready for
        # the look-ahead's tracking of the frames it read (pickled like the job store's entries),
        # each used once by the window's own pass over the frame (Engine._look_ahead)
        self._ahead_tracks: dict[int, bytes] = {}
        # tracking results kept per (window start, frame) so a later take seeds its frames from
        # them instead of detecting again (pipeline.jobs.history); None: always detect
        self._history = history
        # the plate faces' embeddings beside each record, for QC (a preview has no QC: False)
        self._embeddings_sidecar = embeddings_sidecar
        # reads a plate frame (plateio.read_plate; a warm service passes its cache of decoded
        # frames): a Plate of the engine's own, which it pastes faces into
        self._plate_reader = plate_reader
        self._window: int | None = None  # the first frame of the current history window
        # the whole temporal state after each frame is stored too (``StreamHistory.put_state``)
        # under ``state_key``; ``_chain`` digests the plate frames the window went through
        self.state_key: str | None = None
        self._chain: str = ""
        # what a stored state may depend on besides ``state_key``: digests of the reference
        # fallback face and of the locked colour (None: none); and what the window's frames so
        # far did that makes it depend on them (``_PathFlags``)
        self._context: tuple[str | None, str | None] = (None, None)
        self._path = _PathFlags()
        self._setup_files: list[Path] = []  # files the selection was resolved from (set-up)
        self._pending: bytes | None = None  # this frame's tracking result, stored once the frame succeeds
        # set by a job's processor: QC's comp-face features of a computed frame (record, comp
        # pixels, plate) -> sidecar entries (qc.comp_features.CompFeatures); None: not computed
        self.comp_features: Callable[[dict[str, Any], np.ndarray, Plate], list[dict[str, Any]]] | None = None
        # (record, comp pixels, plate, pasted) -> per-frame QC's crops (qc.comp_features.face_crops); None: not kept
        self.qc_crops: Callable[[dict[str, Any], np.ndarray, Plate, list[Any]], dict[int, Any]] | None = None
        self._scanned: dict[int, list[Face]] = {}  # reference frames' full scans (set-up), by frame
        # the last frame set-up read (frame, plate, read seconds): that frame's load takes it
        # instead of reading the file again; any other load drops it (one plate held at most)
        self._handover: tuple[int, Plate, float] | None = None
        # set-up's first plate read, started before the models load (``_start_setup_read``)
        self._setup_read: tuple[int, Future[tuple[Plate, float]]] | None = None

    # ------------------------------------------------------------------ set-up
    def prepare(self) -> None:
        """Load analyser, swappers, enhancer and resolve the selection now (idempotent).

        Configuration errors (unknown backend, a reference frame without a face,
        a bad enhancer model) raise here as RecastError instead of failing every frame.
        """
        self._setup()

    def close(self) -> None:
        """Drop models and per-sequence state; a later frame sets them up again."""
        self._stream = None
        self._selector = None
        self._swappers.clear()
        self._enhancer = None
        self._colour_history.clear()
        self._ahead_tracks.clear()
        self._handover = None
        self._setup_read = None
        self._ready = False

    def _setup(self) -> None:
        """Create analyser, face stream, swappers, selection and colour context once (lazily)."""
        if self._ready:
            return
        if self._shape is None:
            self._shape = SequenceShape.of(self.plate)
            _refuse_writing_over_plates(self.plate, self.layout)
        from recast.pipeline.color import ColorContext
        from recast.pipeline.faces import AnalyserOptions, create_analyser
        from recast.pipeline.faces.selection import TrackSelector
        from recast.pipeline.faces.stream import FaceStream, StreamOptions

        s = self.settings
        self._start_setup_read()  # overlaps the model loads below
        if self._analyser is None:
            opts = AnalyserOptions(
                models_dir=Path(s.analyser_models) if s.analyser_models else None,
                allow_noncommercial_models=s.allow_noncommercial_models,
                detect_size=s.detect_size,
                min_face=s.min_face,
            )
            self._analyser = create_analyser(s.analyser, opts, self._notify)
        licences = getattr(self._analyser, "licences", None)
        self._licences = [{**lic, "used_by": "analyser"} for lic in jsonable(licences())] if callable(licences) else []
        if self._color is None:
            self._color = ColorContext()
        context = SwapperContext(s.allow_noncommercial_models, self._notify)
        for name, actor in self.actors.items():
            backend = s.backend or actor.backend
            swapper = self._swapper_factory(backend, context)
            accepts = tuple(getattr(swapper, "actor_backends", None) or (backend,))
            if actor.backend not in accepts:  # would fail every frame: refuse once, here
                raise SpecError(
                    f"settings.backend: {backend!r} cannot swap actor {name!r}, which was built for the "
                    f"{actor.backend!r} backend; leave backend unset to use the actor's own"
                )
            self._swappers[name] = swapper
            adopt = getattr(getattr(swapper, "landmarker", None), "adopt", None)
            if callable(adopt):  # e.g. warp's 68-point landmarker: the analyser's models, loaded once
                adopt(self._analyser)
            used = getattr(swapper, "licences", None)  # the models the swap itself runs (e.g. warp's landmarks)
            if callable(used):
                have = {(lic.get("model"), lic.get("file")) for lic in self._licences}
                self._licences += [
                    {**lic, "used_by": f"swapper:{backend}"}
                    for lic in jsonable(used())
                    if (lic.get("model"), lic.get("file")) not in have
                ]
        if s.enhancer:
            self._enhancer = _create_enhancer(s)
        self._scanned.clear()
        self._selector = TrackSelector(self._make_selection())
        self._stream = FaceStream(self._analyser, StreamOptions(embed_every=s.embed_every, full_scan_every=s.full_scan_every, tile_scan_every=s.tile_scan_every))
        for frame, faces in self._scanned.items():  # reference frames scanned above: not scanned twice
            self._stream.seed(frame, faces)
        self._setup_read = None  # not scanned after all (e.g. a stored set-up): not kept
        self._initial = self._snapshot()  # what each history block restarts from
        self._next_frame = None
        self._context = self._reference_context()
        self.state_key = self._state_key() if self._history is not None else None
        self._ready = True

    # ------------------------------------------------------------------ running
    def run(
        self,
        frames: Iterable[int],
        on_frame: FrameCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> list[dict[str, Any]]:
        """Process ``frames`` in order (tracking across them); one record per frame.

        Configuration errors raise before the first frame (see ``prepare``); a
        frame's own failure is recorded and the run goes on.
        """
        self.prepare()
        records: list[dict[str, Any]] = []
        for frame in frames:
            if cancel is not None and cancel.is_set():
                break
            record = self.process_frame(int(frame))
            records.append(record)
            if on_frame is not None:
                on_frame(record)
        return records

    def process_frame(self, frame: int) -> dict[str, Any]:
        """Swap one frame and write its outputs; never raises for a frame's own failure."""
        return self.write_frame(self.compute_frame(self.load_frame(frame)))

    # The three stages of a frame, so a runner can read ahead and write behind on other
    # threads (OIIO releases the GIL): ``load_frame`` touches only the plate file,
    # ``compute_frame`` must see frames in order (tracking) and writes nothing,
    # ``write_frame`` writes comp, element and record. None of them raises for a
    # frame's own failure: it travels in the record.
    def load_frame(self, frame: int) -> LoadedFrame:
        """Read the plate frame (thread-safe; the only engine state touched is set-up's
        hand-over of the reference frame it read, taken once, by one swap of a field)."""
        held, self._handover = self._handover, None
        if held is not None and held[0] == frame:
            return LoadedFrame(frame, held[1], None, held[2])
        t = time.perf_counter()
        path = self.plate.path(frame)
        if frame not in self.plate.frames and not path.exists():
            why = f"frame {frame}: missing on disk ({path}); --missing skip|black or --frames leave it out"
            return LoadedFrame(frame, None, why, time.perf_counter() - t, missing=True)
        try:
            plate = self._read_plate(path)
        except Exception as exc:  # noqa: BLE001 - recorded as the frame's failure by compute_frame
            return LoadedFrame(frame, None, one_line_error(exc), time.perf_counter() - t)
        return LoadedFrame(frame, plate, None, time.perf_counter() - t, ahead=self._read_ahead(plate))

    def _read_ahead(self, plate: Plate) -> ReadAhead | None:
        """See :class:`ReadAhead`; None when the plate's channels are not usable (compute says why)."""
        from recast.pipeline.plateio import count_nonfinite

        try:
            stats = count_nonfinite(plate.pixels)
            finite = not (stats["nan"] or stats["inf"])
            shrunk = None
            if finite:
                clean = analysis_pixels(PlateChannels.of(plate), plate.pixels, True)
                shrunk = shrink(clean, int(self.settings.detect_size))
            return ReadAhead(stats, shrunk)
        except Exception:  # noqa: BLE001 - compute works them out again and reports its own failure
            return None

    def _read_plate(self, path: Path) -> Plate:
        if self._plate_reader is not None:
            return self._plate_reader(path)
        from recast.pipeline.plateio import read_plate

        return read_plate(path)

    def compute_frame(self, loaded: LoadedFrame) -> ComputedFrame:
        """Detect, track, select and swap one loaded frame, in memory."""
        frame = loaded.frame
        record = base_record(frame, self.take, self.job_id, self.plate.path(frame), self.layout.comp_path(frame))
        state = _FrameState(frame, record)
        state.timings["read"] = loaded.seconds
        state.record["settings"] = self.settings.to_dict()
        computed = ComputedFrame(state, loaded.plate, ahead=loaded.ahead)
        t0 = time.perf_counter()
        aligned = False
        try:
            self._setup()
            t_hist = time.perf_counter()
            brought = self._bring_history_to(frame)
            if brought is not None:  # where this frame's temporal state came from (chunk/resume starts, block edges)
                state.record["history"] = brought
                state.timings["history"] = time.perf_counter() - t_hist
            aligned = True
            if loaded.plate is None:
                raise PlateError(loaded.error or f"frame {frame}: plate not read")
            if self._shape is None:
                self._shape = SequenceShape.of(self.plate)
            self._shape.check(frame, loaded.plate)
            state.record["licences"] = list(self._licences)
            self._advance(computed)
            self._passed(frame)  # the state is now the next frame's
        except Exception as exc:  # noqa: BLE001 - a frame's failure never kills the run
            _mark_failed(state.record, one_line_error(exc))
            computed.pixels = computed.element = None
            if aligned:  # a failed frame left the state as it was: ready for a retry of it
                self._next_frame = frame
                self._path.failed = True
        state.timings["compute"] = time.perf_counter() - t0
        self._fill_actor_fields(state.record)
        computed.status = str(state.record["status"])
        # QC's comp-face features are computed by write_frame (the writer's thread in a pipelined
        # run: QC's own embedding of the comp face, off the compute thread); the pixels stay as they are
        computed.features_due = self.comp_features is not None and computed.status == "done" and computed.pixels is not None and loaded.plate is not None
        if self.qc_crops is not None and computed.status == "done" and computed.pixels is not None and loaded.plate is not None:
            try:
                computed.qc_crops = self.qc_crops(state.record, computed.pixels, loaded.plate, computed.pasted)
            except Exception:  # noqa: BLE001 - QC reads the plate and comp files instead
                computed.qc_crops = {}
        computed.pasted = []
        return computed

    def write_frame(self, computed: ComputedFrame) -> dict[str, Any]:
        """Write comp, element and record of a computed frame; returns the record.

        Safe to call again for the same frame after a failed write (nothing in
        ``computed`` is changed by a write but the record's output fields).
        """
        state, rec = computed.state, computed.state.record
        t = time.perf_counter()
        if computed.features_due and self.comp_features is not None and computed.pixels is not None and computed.plate is not None:
            computed.features_due = False  # once, also when the write below is retried
            try:
                computed.comp_features = self.comp_features(rec, computed.pixels, computed.plate)
            except Exception:  # noqa: BLE001 - QC computes them itself from the comp file
                computed.comp_features = []
            state.timings["comp_features"] = time.perf_counter() - t
            t = time.perf_counter()
        if computed.status != "failed" and computed.plate is not None:
            rec.update(status=computed.status, error=None, comp=str(self.layout.comp_path(state.frame).resolve()))
            try:
                self._write_outputs(computed)
            except Exception as exc:  # noqa: BLE001 - a frame's failure never kills the run
                _mark_failed(rec, one_line_error(exc))
                self._drop_outputs(state.frame)
        state.timings["write"] = time.perf_counter() - t
        state.timings["total"] = sum(state.timings.get(k, 0.0) for k in ("read", "compute", "write"))
        rec["timings"].update({k: round(v, 4) for k, v in state.timings.items()})
        self._write_embeddings(computed)
        try:
            write_record(self.layout.record_path(state.frame), rec)
        except OutputError as exc:  # names the record and the OS cause
            _mark_failed(rec, f"{rec['error']}; {exc}" if rec.get("error") else str(exc))
            self._drop_outputs(state.frame)
        return rec

    def _drop_outputs(self, frame: int) -> None:
        """A frame that failed to write leaves no comp, element or embeddings of its own (a Read
        of the sequence never picks up a frame whose record says failed or is absent)."""
        for path in (self.layout.comp_path(frame), self.layout.element_path(frame), self.layout.embeddings_path(frame)):
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)

    def black_frame(self, frame: int) -> dict[str, Any]:
        """A frame missing on disk, filled with black (``--missing black``, like Nuke's Read):
        a comp of zeros in the format of the sequence's first frame; the record says so."""
        rec = base_record(frame, self.take, self.job_id, self.plate.path(frame), self.layout.comp_path(frame))
        rec["settings"] = self.settings.to_dict()
        rec["missing"] = "black"
        self._fill_actor_fields(rec)
        try:
            attrs = {"recast/synthetic": 0, "recast/version": __version__, "recast/job": self.job_id or "",
                     "recast/take": self.take, "recast/frame": frame, "recast/status": "black"}
            report = write_black(self.layout.comp_path(frame), self.plate.path(self.plate.first), attrs)
            self.layout.element_path(frame).unlink(missing_ok=True)
            self.layout.embeddings_path(frame).unlink(missing_ok=True)
            rec.update(status="passthrough", error=None, comp=str(self.layout.comp_path(frame).resolve()),
                       comp_write=report.to_json())
        except Exception as exc:  # noqa: BLE001 - recorded as the frame's failure
            _mark_failed(rec, one_line_error(exc))
        try:
            write_record(self.layout.record_path(frame), rec)
        except OutputError as exc:
            _mark_failed(rec, str(exc))
        return rec

    def _write_embeddings(self, computed: ComputedFrame) -> None:
        """The frame's plate-face embeddings beside its record (QC reuses them); a stale one goes."""
        from recast.pipeline.atomic import atomic_write_json

        path = self.layout.embeddings_path(computed.state.frame)
        try:
            wanted = self._embeddings_sidecar and computed.state.record["status"] != "failed"
            if wanted and (computed.embeddings or computed.comp_features):
                doc: dict[str, Any] = {"schema": 1, "frame": computed.state.frame, "faces": computed.embeddings}
                if computed.comp_features:
                    doc["comp"] = computed.comp_features
                atomic_write_json(path, doc)
            else:
                path.unlink(missing_ok=True)
        except OSError:
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)  # QC then embeds the plate faces itself

    # ------------------------------------------------------------------ stages
    def _process(self, computed: ComputedFrame) -> None:
        from recast.pipeline.plateio import count_nonfinite

        state, plate = computed.state, computed.plate
        assert plate is not None
        frame, rec = state.frame, state.record
        channels = PlateChannels.of(plate)
        ahead = computed.ahead
        rec["stats"] = dict(ahead.stats) if ahead is not None else count_nonfinite(plate.pixels)

        t = time.perf_counter()
        assert self._color is not None
        # the plate's colour is decided once, here, and written down for every later reader
        colour = self._color.plate_colour(plate.spec, plate.path, self.settings.colorspace)
        rec["colorspace"] = colour.to_json()
        space = colour.plate
        finite = not (rec["stats"]["nan"] or rec["stats"]["inf"])
        clean = analysis_pixels(channels, plate.pixels, finite)
        # the frame's crops are converted to the working space once: detection's landmark and
        # embedding crops and the swapped faces' compositing crops share the conversion
        view = FrameView(clean, lambda a: self._color.to_working(a, space))  # type: ignore[union-attr]
        tracked, decisions = self._faces_for(
            frame, clean, view, ahead.shrunk if ahead is not None and finite else None, keep=computed.observe
        )
        selected = [(f, d.actor) for f, d in zip(tracked, decisions, strict=True) if d.actor]
        if len(selected) > 1:
            self._path.multi = True
        state.timings["detect"] = time.perf_counter() - t
        # a view of the plate's pixels serves compositing (each paste below forgets its box);
        # a sanitised copy does not: the crops compositing converts are the plate's own
        shared = view if np.may_share_memory(clean, plate.pixels) else None
        del clean, view

        # faces are pasted into the plate's own buffer (no full-frame copy): outside the
        # mattes it stays the plate bit for bit, and nothing reads the plate after compute
        out = plate.pixels
        conv = SpaceConverter(
            to_working=shared.working if shared is not None else lambda a: self._color.to_working(a, space),  # type: ignore[union-attr]
            from_working=lambda a: self._color.from_working(a, space),  # type: ignore[union-attr]
        )
        if computed.observe:  # read ahead: what each swapper keeps of the faces, nothing more
            for face, actor_name in selected:
                self._observe_one(out, channels, face, str(actor_name), conv)
            return
        if computed.replay and len(selected) <= 1 and self._holdout is None:
            # a replayed frame: only what later frames see (the swapper's per-track state, the
            # colour smoothing); with several faces each is swapped on the pastes of the ones
            # before, and a holdout can fail the frame: those replay in full
            for face, actor_name in selected:
                self._replay_one(out, channels, face, str(actor_name), conv)
            return
        element = ElementBuilder(out.shape[:2])
        hold: np.ndarray | None = None
        if self._holdout is not None and selected:
            hold, hold_path = self._holdout.read(frame, plate)
            if hold.shape != out.shape[:2]:
                raise PlateError(f"holdout {hold_path}: {hold.shape[1]}x{hold.shape[0]} does not match the plate")
            rec["holdout"] = {**self._holdout.spec.to_json(), "file": str(hold_path.resolve())}
        faces_json: list[dict[str, Any]] = []
        swap_time = 0.0
        t = time.perf_counter()
        decided = {id(f): d for f, d in zip(tracked, decisions, strict=True)}
        for index, (face, actor_name) in enumerate(selected):
            entry, dt = self._swap_one(out, channels, face, actor_name, conv, element, frame, index, hold, shared,
                                       computed.pasted if self.qc_crops is not None else None)
            entry["selection"] = decided[id(face)].to_json()
            faces_json.append(entry)
            swap_time += dt
        chosen = {id(f) for f, _ in selected}
        for face in tracked:  # faces seen but not selected are recorded too, unswapped
            if id(face) not in chosen:
                entry = face.to_json()
                entry.update(swapped=False, label=None, actor=None, matte_box=None, color_match=None, swap_info={"skipped": "not selected"})
                entry.update(backend=None, model_sha256=None, consent_id=None)
                entry["selection"] = decided[id(face)].to_json()
                faces_json.append(entry)
        state.timings["swap"] = swap_time
        state.timings["composite"] = max(time.perf_counter() - t - swap_time, 0.0)
        rec["faces"] = faces_json
        order = [f for f, _ in selected] + [f for f in tracked if id(f) not in chosen]  # faces_json's order
        computed.embeddings = [
            {"index": i, "track_id": f.track_id, "kind": f.embedding_kind, "embedding": np.round(f.embedding.astype(np.float64), 7).tolist()}
            for i, f in enumerate(order)
            if f.embedding is not None and f.embedding_kind
        ]
        rec["detection"] = self._stream.last_scan if self._stream else None  # "full" frame scan or "windows" around the tracks
        rec["detection_tiles"] = self._stream.last_tiles if self._stream else 0  # small-face pyramid tiles run
        assert self._selector is not None
        rec["tracks"] = self._selector.summary()
        swapped = any(f["swapped"] for f in faces_json)
        rec["status"] = "done" if swapped else "passthrough"
        computed.pixels = out if swapped else plate.pixels
        computed.element = element if swapped else None
        dx, dy = plate.data_window[:2]
        if dx or dy:  # the record speaks image coordinates
            for f in rec["faces"]:
                offset_face_json(f, dx, dy)

    def _faces_for(
        self, frame: int, clean: np.ndarray, view: FrameView, shrunk: Shrunk | None = None, keep: bool = False
    ) -> tuple[list[Face], list[Decision]]:
        """All tracked faces of the frame and the selection decision of each (same order);
        ``view`` is the frame's analysis view (``analysis_view``'s pixels), ``shrunk`` the
        reader's detection resample of ``clean`` (None: made here); ``keep``: a frame read ahead,
        whose tracking the window's own pass over it reuses (``_look_ahead``)."""
        assert self._stream is not None and self._color is not None and self._selector is not None
        tracked = self._stored_tracking(frame)
        if tracked is None:
            tracked = self._stream.process(frame, clean, to_display=view, shrunk=shrunk)
            store = self._history is not None and self._window is not None
            if store or keep:
                # pickled now, before selection marks the faces: stored once the frame succeeds,
                # and kept for the window's own pass over a frame read ahead
                st = self._stream
                blob = pickle.dumps(
                    (tracked, st.tracker, st._count, st._last_embed, st.last_scan, st.last_tiles), protocol=pickle.HIGHEST_PROTOCOL
                )
                if store:
                    self._pending = blob
                if keep:
                    self._ahead_tracks[frame] = blob
        if not tracked:
            self._path.empty = True
        if not tracked and self._reference is not None and self._reference.face is not None:
            tracked = self._reference_fallback(clean, view)
        live = {t.track_id for t in self._stream.tracker.active_tracks}
        self._selector.forget(live)
        self._colour_history = {k: v for k, v in self._colour_history.items() if k in live}
        return tracked, self._selector.decisions(tracked)

    def _reference_fallback(self, clean: np.ndarray, view: Callable[[np.ndarray], np.ndarray]) -> list[Face]:
        """Detection found nothing: fit landmarks where the reference face was, and keep
        them only when the identity there still matches the reference face."""
        from recast.pipeline.faces.identity import face_distance, same_person_threshold

        assert self._analyser is not None and self._reference is not None and self._reference.face is not None
        ref = self._reference.face
        if ref.embedding is None:
            return []
        try:
            face = self._analyser.fit_landmarks(clean, ref.box, to_display=view)
            emb = self._analyser.embed(clean, face, to_display=view)
        except RecastError:
            return []
        if face_distance(emb, ref.embedding) > same_person_threshold(ref.embedding_kind):
            return []
        face.embedding, face.embedding_kind = emb, ref.embedding_kind
        face.source = "propagated"
        face.extra["from_reference"] = self._reference.frame
        return [face]

    def _swap_one(
        self,
        out: np.ndarray,
        channels: PlateChannels,
        face: Face,
        actor_name: str,
        conv: SpaceConverter,
        element: ElementBuilder,
        frame: int,
        index: int,
        hold: np.ndarray | None = None,
        view: FrameView | None = None,
        pasted: list[tuple[int, int, int, int, np.ndarray]] | None = None,
    ) -> tuple[dict[str, Any], float]:
        entry: dict[str, Any] = face.to_json()
        # "label": the job's actor-map key that selected this face; "actor" (provenance, below): the model's name
        entry.update({"swapped": False, "label": actor_name, "matte_box": None, "color_match": None, "swap_info": {}})
        actor = self.actors.get(actor_name)
        if actor is None:
            raise SwapError(f"selection asked for actor {actor_name!r}, not among {', '.join(self.actors)}")
        entry.update(self._provenance(actor))
        h, w = out.shape[:2]
        box = crop_box_for(face, (h, w), self.settings.crop_scale)
        if box.empty or box.width < 8 or box.height < 8:
            entry["swap_info"] = {"skipped": "face crop outside the data window"}
            return entry, 0.0
        ys, xs = box.slices()
        plate_crop = analysis_pixels(channels, out[ys, xs], True)  # a view when it can be: compose_face copies it once
        face_c = shift_face(face, -box.x0, -box.y0)
        swap_seconds = [0.0]

        def swap_fn(crop: np.ndarray, f: Face) -> SwapResult:
            t = time.perf_counter()
            result = self._swappers[actor_name].swap(crop, f, actor)
            if self._enhancer is not None:
                result = _enhanced(self._enhancer, result, f)
            swap_seconds[0] += time.perf_counter() - t
            return result

        locked = self._reference.colour if self._reference is not None else None
        smooth = self._colour_smoother(face.track_id)
        comp = compose_face(plate_crop, face_c, swap_fn, conv, self._compose, locked, self._seed(frame, index), smooth)
        entry["swap_info"] = jsonable(comp.info.get("swap_info", {}))
        entry["color_match"] = None if comp.colour is None else comp.colour.to_json()
        for key in ("grain", "highlights_restored", "auto_holdout"):
            if key in comp.info:
                entry[key] = comp.info[key]
        if hold is not None and comp.box is not None:
            # the holdout keeps the plate where it is 1: in the comp and in the element's alpha
            keep = 1.0 - hold[ys, xs]
            held = int(((comp.alpha > 0) & (keep < 1.0)).sum())
            comp.alpha = (comp.alpha * keep).astype(np.float32)
            comp.box = matte_box(comp.alpha)
            entry["holdout"] = {"held_pixels": held}
        if comp.box is None:
            outside = entry["swap_info"].get("pose_coverage") == 0
            entry["swap_info"]["skipped"] = (
                "outside the actor's pose coverage" if outside else "empty matte" if hold is None else "held out"
            )
            return entry, swap_seconds[0]
        if pasted is not None:  # what the plate held under the paste (per-frame QC's plate crop)
            at = comp.box.shifted(box.x0, box.y0)
            pasted.append((at.y0, at.y1, at.x0, at.x1, out[at.slices()].copy()))
        paste_face(out, channels, comp, box)
        if view is not None:  # the frame's pixels under the crop changed: not the converted ones any more
            view.forget(box.y0, box.y1, box.x0, box.x1)
        fg = comp.foreground(comp.box, clean=not self.settings.element_grain)
        element.add(box, comp.box, fg, comp.alpha[comp.box.slices()].copy())
        entry["matte_box"] = comp.box.shifted(box.x0, box.y0).as_list()
        entry["swapped"] = True
        return entry, swap_seconds[0]

    def _observe_one(self, out: np.ndarray, channels: PlateChannels, face: Face, actor_name: str, conv: SpaceConverter) -> None:
        """Show ``face`` (its crop as ``_swap_one`` makes it) to its swapper's ``observe``, when
        the swapper has one (a frame read ahead: nothing is swapped)."""
        actor = self.actors.get(actor_name)
        swapper = self._swappers.get(actor_name)
        observe = getattr(swapper, "observe", None)
        if actor is None or not callable(observe):
            return
        h, w = out.shape[:2]
        box = crop_box_for(face, (h, w), self.settings.crop_scale)
        if box.empty or box.width < 8 or box.height < 8:
            return
        ys, xs = box.slices()
        crop = conv.to_working(analysis_pixels(channels, out[ys, xs], True))
        observe(crop, shift_face(face, -box.x0, -box.y0), actor)

    def _replay_one(self, out: np.ndarray, channels: PlateChannels, face: Face, actor_name: str, conv: SpaceConverter) -> None:
        """``_swap_one`` up to the colour statistics (``replay_face``): the same crop, swap
        and smoothing, nothing graded, blended or pasted."""
        actor = self.actors.get(actor_name)
        if actor is None:
            raise SwapError(f"selection asked for actor {actor_name!r}, not among {', '.join(self.actors)}")
        h, w = out.shape[:2]
        box = crop_box_for(face, (h, w), self.settings.crop_scale)
        if box.empty or box.width < 8 or box.height < 8:
            return
        ys, xs = box.slices()
        plate_crop = analysis_pixels(channels, out[ys, xs], True)

        def swap_fn(crop: np.ndarray, f: Face) -> SwapResult:
            result = self._swappers[actor_name].swap(crop, f, actor)
            return _enhanced(self._enhancer, result, f) if self._enhancer is not None else result

        locked = self._reference.colour if self._reference is not None else None
        replay_face(plate_crop, shift_face(face, -box.x0, -box.y0), swap_fn, conv, self._compose, locked,
                    self._colour_smoother(face.track_id))

    def _write_outputs(self, computed: ComputedFrame) -> None:
        from recast.pipeline.plateio import write_plate

        plate, rec, frame, element = computed.plate, computed.state.record, computed.state.frame, computed.element
        assert plate is not None and computed.pixels is not None
        # every actor swapped into this frame (else the job's), comma-joined in the same order
        prov = [self._provenance(a) for a in self._frame_actors(rec)]
        attrs: dict[str, Any] = {
            "recast/synthetic": 1 if element is not None else 0,
            "recast/actor": ",".join(p["actor"] for p in prov),
            "recast/backend": ",".join(p["backend"] for p in prov),
            "recast/model_sha256": ",".join(p["model_sha256"] or "" for p in prov),
            "recast/consent_id": ",".join(p["consent_id"] for p in prov),
            "recast/version": __version__,
            "recast/job": self.job_id or "",
            "recast/take": self.take,
            "recast/frame": frame,
            "recast/status": rec["status"],
        }
        if isinstance(rec.get("colorspace"), dict):  # the plate's resolved colourspace travels with the comp
            attrs["recast/colorspace"] = rec["colorspace"]["plate"]
        comp_path = self.layout.comp_path(frame)
        # faces are pasted inside their matte boxes only (paste_face; the element holds the same
        # boxes), so the comp's other rows are the plate file's: their chunks are copied (exrsplice)
        rows = [(b.y0, b.y1) for b, _, _ in element.parts] if element is not None else []
        report = write_plate(comp_path, plate, computed.pixels, attrs=attrs, keep_parts=True,
                             changed_rows=rows if self.splice else None)
        rec["comp_write"] = report.to_json()
        el_path = self.layout.element_path(frame)
        if element is not None and element.box is not None:
            dx, dy = plate.data_window[:2]
            rgb, alpha, box = element.result()
            write_element(el_path, rgb, alpha, box.shifted(dx, dy), plate.display_window, attrs)
            rec["element"] = str(el_path.resolve())
        else:
            el_path.unlink(missing_ok=True)  # a stale element from an earlier run would lie
            rec["element"] = None

    # ------------------------------------------------------------------ helpers
    def _advance(self, computed: ComputedFrame) -> None:
        """Process a loaded frame; a failure leaves no trace in the per-sequence state (a
        retry is seen by the tracker, the selector and colour smoothing as the first time)."""
        before = self._snapshot()
        self._pending = None
        try:
            self._process(computed)
        except Exception:
            self._restore(before)
            self._pending = None
            raise
        if self._pending is not None and self._history is not None and self._window is not None:
            frame = computed.state.frame
            self._history.put(self._window, frame, self.plate.path(frame), self._pending)
        self._pending = None

    def _block_start(self, frame: int) -> int:
        first, n = self.plate.first, max(1, int(self.settings.history_block))
        return first + ((frame - first) // n) * n

    def _bring_history_to(self, frame: int) -> dict[str, Any] | None:
        """Make the temporal state the one ``frame`` has in every run: restarted at its
        history block's first frame ``b`` after replaying ``history_frames`` before ``b``,
        then advanced through ``b .. frame-1``. Frames replayed are computed (not written)
        from the plate, so an uninterrupted run, a resume and a farm chunk starting
        anywhere give ``frame`` the same state, hence the same pixels. Where an earlier
        chunk, run or take stored the state after a frame of the window (``_passed``), it is
        restored instead of replaying up to it, also on a step forward inside the block (a
        reprocess of scattered frames). Returns what was done (None: nothing)."""
        b = self._block_start(frame)
        nxt = self._next_frame
        if nxt == frame and frame != b:
            return None  # the usual case: the previous frame of the block was just computed
        ahead = range(0)
        if nxt is not None and b < nxt < frame:
            start = nxt  # a step forward inside the block: catch up on the frames between
        else:
            assert self._initial is not None
            self._restore(self._initial)
            self._reset_swappers()  # their per-track state restarts with the tracker's track ids
            start = max(self.plate.first, b - max(0, int(self.settings.history_frames)))
            self._window = start
            self._chain = f"window:{start}"
            self._path = _PathFlags()
            self._ahead_tracks.clear()
            ahead = self._ahead_frames(start)
            if ahead:  # the state then depends on the frames read ahead too
                for g in ahead:
                    self._chain = self._chain_step(self._chain, g)
        seeded = self._seed_from_stored(start, frame, primed=bool(ahead))
        read_ahead = 0
        if seeded is None and ahead:
            self._look_ahead(ahead)
            read_ahead = len(ahead)
            # the primed state, before the window's first frame: a later preview, chunk or take
            # of that frame restores it instead of reading ahead again
            self._store_state(start - 1)
        if seeded is not None:
            self._next_frame = seeded + 1
        first = start if seeded is None else seeded + 1
        for g in range(first, frame):
            self._replay(g)
            self._passed(g)
        brought: dict[str, Any] = {"window": self._window, "seeded": seeded, "replayed": frame - first}
        if read_ahead:  # (frames read ahead before the window: Engine._look_ahead)
            brought["ahead"] = read_ahead
        return brought

    def _ahead_frames(self, start: int) -> range:
        """The frames read ahead before a window that starts at the plate's first frame (none
        before it to replay): the first ``history_frames`` of the plate, when a swapper keeps
        something of them (``prime_sequence``)."""
        if start != self.plate.first:
            return range(0)
        if not any(callable(getattr(s, "prime_sequence", None)) for s in self._swappers.values()):
            return range(0)  # no swapper keeps anything of frames ahead (insightface, dfm)
        n = max(0, int(self.settings.history_frames))
        ahead = range(start, min(start + n, self.plate.last + 1))
        return ahead if len(ahead) > 1 else range(0)  # (a still has nothing ahead of it)

    def _look_ahead(self, frames: range) -> None:
        """Read ``frames`` ahead (tracked and shown to the swappers, nothing swapped or written)
        and start the window from its initial state again, but with each swapper primed by what
        it kept of them (``prime_sequence``; warp: each track's widest eye opening). A shot has no
        frames before its first to replay, so a track's first frames had only a fixed guess of
        an open eye: narrow or downcast eyes read part shut there, and a shot opening on a
        squint or blink could not tell it from a person's own narrow eyes. Track ids are the
        same in the window that follows (the same frames tracked from the same state)."""
        path, chain, nxt = self._path, self._chain, self._next_frame
        for g in frames:
            self._replay(g, observe=True)
        seen = self._swapper_states()
        assert self._initial is not None
        self._restore(self._initial)
        self._reset_swappers()
        self._path, self._chain, self._next_frame = path, chain, nxt
        for name, swapper in self._swappers.items():
            prime = getattr(swapper, "prime_sequence", None)
            if callable(prime) and name in seen:
                prime(seen[name])

    def _reset_swappers(self) -> None:
        """Forget what the swappers keep per track (warp: view hysteresis, open-eye references):
        after a restart of the temporal state, track ids name other faces' tracks."""
        for swapper in {id(s): s for s in self._swappers.values()}.values():
            reset = getattr(swapper, "reset_sequence", None)
            if callable(reset):
                reset()

    def _stored_tracking(self, frame: int) -> list[Face] | None:
        """This window's stored tracking result of ``frame`` (see ``StreamHistory``): the
        stream is set to the state after it and its tracked faces are returned; None when
        nothing usable is stored (the frame is then detected)."""
        if self._window is None or self._stream is None:
            return None
        # what the look-ahead tracked of this window's frames (same state, same frames: the
        # same result), used once; else the job's store
        blob = self._ahead_tracks.pop(frame, None)
        if blob is None and self._history is not None:
            blob = self._history.get(self._window, frame, self.plate.path(frame))
        if blob is None:
            return None
        try:
            tracked, tracker, count, last_embed, last_scan, last_tiles = pickle.loads(blob)  # noqa: S301 - the job's own files
        except Exception:  # noqa: BLE001 - an unreadable entry is detected again
            return None
        st = self._stream
        st.tracker, st._count, st._last_embed, st.last_scan, st.last_tiles = tracker, count, last_embed, last_scan, last_tiles
        return list(tracked)

    def _stored_setup(self, name: str, files: list[Path], compute: Callable[[], Any]) -> Any:
        """A set-up result (the references' embeddings, the reference frame's faces) an earlier
        take stored with the same detection settings and unchanged files, else computed and
        stored: a reprocess does not analyse the reference frame again."""
        if self._history is None:
            return compute()
        blob = self._history.get_named(name, files)
        if blob is not None:
            try:
                return pickle.loads(blob)  # noqa: S301 - the job's own files
            except Exception:  # noqa: BLE001, S110 - computed again below
                pass
        value = compute()
        with contextlib.suppress(Exception):
            self._history.put_named(name, files, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
        return value

    def _colour_unused(self) -> bool:
        """True when no frame's colour match reads the smoothed colour history: matching off,
        smoothing off, or locked to the reference's statistics (``colour_match``'s rule)."""
        s = self.settings
        if s.color == "none" or s.color_strength <= 0.0 or s.color_smoothing <= 0.0:
            return True
        locked = self._reference.colour if self._reference is not None else None
        return locked is not None and locked.method == s.color and (s.color == "rct" or locked.src_cov is not None)

    def _replay_stored(self, frame: int) -> bool:
        """Advance the temporal state by ``frame`` from its stored tracking when tracking,
        selection and the swappers' own per-track state are all the state there is (colour
        history unused, no holdout or enhancer, at most one face swapped). The swapper still
        sees the frame (warp's view hysteresis and eye reference follow each track) but
        nothing is matted, graded or composited. False: replay it in full (detection still
        comes from the stored tracking)."""
        if self._history is None or self._window is None or not self._colour_unused():
            return False
        if self._holdout is not None or self._enhancer is not None:
            return False
        assert self._stream is not None and self._selector is not None
        before = self._snapshot()
        tracked = self._stored_tracking(frame)
        if tracked is None:
            return False
        if not tracked:
            self._path.empty = True
        if not tracked and self._reference is not None and self._reference.face is not None:
            self._restore(before)
            return False  # the reference fallback needs the frame's pixels
        live = {t.track_id for t in self._stream.tracker.active_tracks}  # as _faces_for does
        self._selector.forget(live)
        self._colour_history = {k: v for k, v in self._colour_history.items() if k in live}
        decisions = self._selector.decisions(tracked)
        selected = [(f, d.actor) for f, d in zip(tracked, decisions, strict=True) if d.actor]
        stateful = [a for _, a in selected if hasattr(self._swappers.get(a or ""), "reset_sequence")]
        if not stateful:
            return True
        if len(selected) > 1:  # faces are swapped on the pastes of the earlier ones: only a full replay sees that
            self._restore(before)
            return False
        loaded = self.load_frame(frame)
        try:
            if loaded.plate is None:
                raise PlateError(loaded.error or f"frame {frame}: plate not read")
            assert self._shape is not None
            self._shape.check(frame, loaded.plate)
            self._swap_only(loaded.plate, selected[0][0], str(selected[0][1]))
        except Exception:  # noqa: BLE001 - as in a run: a frame that fails changes no engine state
            self._restore(before)
            self._path.failed = True
        return True

    def _swap_only(self, plate: Plate, face: Face, actor_name: str) -> None:
        """What ``_swap_one`` hands the swapper for ``face`` (and compose's check of its result),
        without anything after the swap."""
        from recast.pipeline.composite.compose import _check_swap
        from recast.pipeline.composite.highlights import clip_working

        assert self._color is not None
        actor = self.actors.get(actor_name)
        if actor is None:
            raise SwapError(f"selection asked for actor {actor_name!r}, not among {', '.join(self.actors)}")
        space = self._color.plate_colour(plate.spec, plate.path, self.settings.colorspace).plate
        h, w = plate.pixels.shape[:2]
        box = crop_box_for(face, (h, w), self.settings.crop_scale)
        if box.empty or box.width < 8 or box.height < 8:
            return
        ys, xs = box.slices()
        crop = analysis_pixels(PlateChannels.of(plate), plate.pixels[ys, xs], True)
        working = clip_working(self._color.to_working(sanitise(crop), space))
        result = self._swappers[actor_name].swap(working, shift_face(face, -box.x0, -box.y0), actor)
        _check_swap(result, working.shape[:2])

    def _replay(self, frame: int, observe: bool = False) -> None:
        """Advance the temporal state by ``frame`` without writing anything (a frame that
        cannot be read or computed changes nothing, as in a run). ``observe``: a frame read
        ahead (tracked and shown to the swappers' ``observe``, nothing swapped)."""
        if not observe and self._replay_stored(frame):
            return
        loaded = self.load_frame(frame)
        if loaded.plate is None:
            return
        rec = base_record(frame, self.take, self.job_id, self.plate.path(frame), self.layout.comp_path(frame))
        try:
            assert self._shape is not None
            self._shape.check(frame, loaded.plate)
            self._advance(ComputedFrame(_FrameState(frame, rec), loaded.plate, replay=True, observe=observe))
        except Exception:  # noqa: BLE001 - the frame's own run reports it
            self._path.failed = True

    def _snapshot(self) -> _SequenceState:
        """The state a frame's compute advances (tracker + its smoothing, track votes,
        colour smoothing), copied before the frame."""
        assert self._stream is not None and self._selector is not None
        return _SequenceState(self._stream.snapshot(), copy.deepcopy(self._selector.tracks), dict(self._colour_history),
                              self._swapper_states())

    def _restore(self, snap: _SequenceState) -> None:
        assert self._stream is not None and self._selector is not None
        self._stream.restore(snap.stream)
        self._selector.tracks = copy.deepcopy(snap.votes)
        self._colour_history = dict(snap.colour)
        self._restore_swappers(snap.swappers)

    def _swapper_states(self) -> dict[str, Any]:
        """Each swapper's own per-track state (warp: view picked last, open-eye reference), for
        swappers that keep one (``sequence_state``): part of the temporal state, so a history
        block restarts it and a failed frame leaves it as it was."""
        out: dict[str, Any] = {}
        for name, swapper in self._swappers.items():
            get = getattr(swapper, "sequence_state", None)
            if callable(get):
                out[name] = copy.deepcopy(get())
        return out

    def _restore_swappers(self, states: dict[str, Any]) -> None:
        for name, swapper in self._swappers.items():
            put = getattr(swapper, "restore_sequence", None)
            if callable(put) and name in states:
                put(copy.deepcopy(states[name]))

    def _state_key(self) -> str:
        """A hash of everything the temporal state after a frame depends on besides the plate
        frames of its window and the reference context: the code, every setting, the actors
        (model hash and folder), the selection as the selector sees it (mode, threshold, each
        reference's actor and embedding: a take pinned to a reference frame whose face is the
        one the settings' reference resolved to selects exactly as the take without it), the
        OCIO config. Stored states of another key are never read. The reference frame's
        fallback face and the locked colour (``_context``) are checked per stored state
        (``_state_fits``): a reprocess locked to take 1's colour restores take 1's states."""
        import hashlib
        import json
        import os

        from recast.pipeline.jobs.history import engine_code_digest

        doc = {
            "schema": 2,
            "version": __version__,
            "code": engine_code_digest(),
            "settings": self.settings.to_dict(),
            "actors": {k: [a.name, a.model_sha256, str(a.root), self.settings.backend or a.backend] for k, a in sorted(self.actors.items())},
            "selection": self._selection_digest(),
            "first": self.plate.first,
            "ocio": os.environ.get("OCIO") or None,
        }
        return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def _selection_digest(self) -> str:
        """What the track selector decides with: mode, actor, thresholds, one face per actor,
        and per reference its actor and embedding (bytes); not where a reference came from."""
        import hashlib
        import json

        assert self._selector is not None
        sel = self._selector.selection
        h = hashlib.sha256(json.dumps([sel.mode, sel.actor, sel.threshold, sel.one_face_per_actor, self._selector.threshold]).encode())
        for ref in sel.references:
            h.update(json.dumps([ref.actor, ref.embedding_kind]).encode())
            h.update(b"-" if ref.embedding is None else _array_bytes(ref.embedding))
        return h.hexdigest()[:32]

    def _reference_context(self) -> tuple[str | None, str | None]:
        """Digests of what a reference frame adds to the temporal state beyond the selection:
        the fallback face fitted where detection finds nothing (None: no fallback) and the
        locked colour statistics (None: not locked)."""
        import hashlib
        import json

        ref = self._reference
        if ref is None:
            return None, None
        fallback = None
        if ref.face is not None and ref.face.embedding is not None:
            h = hashlib.sha256(json.dumps([ref.frame, ref.face.to_json(), ref.face.embedding_kind], sort_keys=True, default=str).encode())
            h.update(_array_bytes(ref.face.embedding))
            fallback = h.hexdigest()[:32]
        lock = None
        if ref.colour is not None:
            lock = hashlib.sha256(json.dumps(ref.colour.to_json(), sort_keys=True).encode()).hexdigest()[:32]
        return fallback, lock

    def _state_fits(self, meta: dict[str, Any]) -> bool | None:
        """Whether a state stored with ``meta`` (its reference context and window flags) is the
        one this engine reaches: None: it is not; True: as stored; False: all but the colour
        history, which this engine never reads nor writes (colour locked or smoothing off: it
        stays empty, as in a replay). The stored state differs from this engine's only where
        a frame used what differs: a frame without tracked faces (the fallback face), several
        faces in a frame (swapped on the pastes the locked colour graded), a replay that failed."""
        fallback, lock = meta["context"]
        mine_fallback, mine_lock = self._context
        if (fallback, lock) == (mine_fallback, mine_lock):
            return True
        if meta["failed"] or (meta["empty"] and fallback != mine_fallback) or (meta["multi"] and lock != mine_lock):
            return None
        if lock == mine_lock:
            return True
        return False if self._colour_unused() else None

    def _frame_stamp(self, frame: int) -> str:
        try:
            st = self.plate.path(frame).stat()
        except OSError:
            return f"{frame}:-"
        return f"{frame}:{st.st_size}:{st.st_mtime_ns}"

    def _chain_step(self, chain: str, frame: int) -> str:
        import hashlib

        return hashlib.sha256(f"{chain}|{self._frame_stamp(frame)}".encode()).hexdigest()[:32]

    def _passed(self, frame: int) -> None:
        """The temporal state is now the one after ``frame`` (computed or replayed): the next
        frame's; it is stored for chunks, resumes and later takes that start after it."""
        self._next_frame = frame + 1
        self._chain = self._chain_step(self._chain, frame)
        self._store_state(frame)

    def _store_state(self, frame: int) -> None:
        """Store the temporal state as the one after ``frame`` in the current window (for
        chunks, resumes, previews and later takes); ``frame`` is the window's first frame - 1
        for the state the look-ahead primed before it."""
        if self._history is None or self.state_key is None or self._window is None:
            return
        assert self._stream is not None and self._selector is not None
        st = self._stream
        meta = {"context": list(self._context), "empty": self._path.empty, "multi": self._path.multi, "failed": self._path.failed}
        with contextlib.suppress(Exception):  # not stored: a later chunk replays instead
            blob = pickle.dumps(
                (self._chain, (st.tracker, st._count, st._last_embed, st.last_scan), self._selector.tracks,
                 self._colour_history, self._swapper_states(), meta),
                protocol=pickle.HIGHEST_PROTOCOL,
            )
            self._history.put_state(self.state_key, self._window, frame, blob)

    def _seed_from_stored(self, start: int, frame: int, primed: bool = False) -> int | None:
        """The state is the one after ``start - 1`` in the current window (its initial one when
        ``start`` is the window's first frame): restore the newest stored state after a frame
        ``h`` in ``start .. frame-1`` (``start - 1`` too when ``primed``: the state the
        look-ahead primed before the window) whose plate digest matches the files now on disk
        and that fits this engine's reference context (``_state_fits``; this take's, else an
        earlier take's); returns ``h`` (None: nothing usable stored; the state is left as it was)."""
        lowest = start - 1 if primed else start
        if self._history is None or self.state_key is None or self._window is None or frame <= lowest:
            return None
        chains: dict[int, str] = {start - 1: self._chain}
        chain = self._chain
        for g in range(start, frame):
            chain = self._chain_step(chain, g)
            chains[g] = chain
        for h in range(frame - 1, lowest - 1, -1):
            for blob in self._history.get_states(self.state_key, self._window, h):
                try:
                    stored, stream, votes, colour, swappers, meta = pickle.loads(blob)  # noqa: S301 - the job's own files
                    if stored != chains[h]:
                        continue  # a plate frame of the window changed since
                    fits = self._state_fits(meta)
                except Exception:  # noqa: BLE001 - an unreadable entry: look further
                    continue
                if fits is None:
                    continue
                assert self._stream is not None and self._selector is not None
                st = self._stream
                st.tracker, st._count, st._last_embed, st.last_scan = stream
                self._selector.tracks = votes
                self._colour_history = dict(colour) if fits else {}
                self._restore_swappers(swappers)
                self._chain = stored
                self._path = _PathFlags(bool(meta["empty"]), bool(meta["multi"]), bool(meta["failed"]))
                return h
        return None

    def _notify(self, text: str) -> None:
        """A notice for the user (e.g. a non-commercial model in use): printed once per process
        (``pipeline.notices``); the engine keeps the ones it raised."""
        from recast.pipeline.notices import notice

        if text not in self._notices:
            self._notices.append(text)
        notice(text)

    def _colour_smoother(self, track_id: int | None) -> Callable[[ColourStats], ColourStats] | None:
        """Running average of a track's colour statistics (steadier grade across frames)."""
        keep = self.settings.color_smoothing
        if track_id is None or keep <= 0.0:
            return None

        def smooth(stats: ColourStats) -> ColourStats:
            prev = self._colour_history.get(track_id)
            out = stats if prev is None else stats.mixed(prev, keep)
            self._colour_history[track_id] = out
            return out

        return smooth

    def _seed(self, frame: int, index: int) -> int:
        return (self.settings.seed * 1_000_003 + frame * 131 + index) & 0xFFFFFFFF

    def _provenance(self, actor: ActorModel) -> dict[str, Any]:
        """Who and what made a swapped face: actor, backend, model hash, consent id."""
        return {
            "actor": actor.name,
            "backend": self.settings.backend or actor.backend,
            "model_sha256": actor.model_sha256,
            "consent_id": actor.consent_id,
        }

    def _frame_actors(self, rec: dict[str, Any]) -> list[ActorModel]:
        """The actors swapped into this frame in face order (each once), else all of the job's."""
        names = [f["label"] for f in rec.get("faces", []) if f.get("swapped") and f.get("label") in self.actors]
        unique = list(dict.fromkeys(names)) or list(self.actors)
        return [self.actors[n] for n in unique]

    def _fill_actor_fields(self, rec: dict[str, Any]) -> None:
        actors = self._frame_actors(rec)
        actor = actors[0]  # the first swapped face's actor, else the job's first
        rec["actors"] = [a.name for a in actors]
        rec["actor"] = actor.name
        rec["backend"] = self.settings.backend or actor.backend
        rec["model_sha256"] = actor.model_sha256
        rec["consent_id"] = actor.consent_id

    def _make_selection(self) -> Selection:
        """The job's selection with reference embeddings resolved; pinned to ``reference_frame``."""
        from recast.pipeline.composite.settings import parse_reference_items
        from recast.pipeline.faces.selection import Reference, Selection, resolve_references

        s = self.settings
        first = next(iter(self.actors))
        if s.selection == "reference":
            refs = []
            for item in parse_reference_items(str(s.reference)):
                if item.actor is not None and item.actor not in self.actors:
                    raise SwapError(f"settings.reference: actor {item.actor!r} is not among {', '.join(self.actors)}")
                image = None if item.image is None else Path(item.image)
                refs.append(Reference(item.actor or first, frame=item.frame, face_index=item.index, image=image))
            selection = Selection("reference", references=tuple(refs))
        else:
            if len(self.actors) > 1:
                raise SpecError(
                    f"settings.selection: {len(self.actors)} actors need selection 'reference' "
                    "with reference ACTOR=FRAME:INDEX,... (which face gets which actor)"
                )
            selection = Selection(s.selection, actor=first)
        assert self._analyser is not None
        name, files = self._references_key(selection)
        self._setup_files = list(files) + ([self.plate.path(self.reference_frame)] if self.reference_frame is not None else [])
        selection = self._stored_setup(
            name, files,
            lambda: resolve_references(selection, self._analyser, load_image=_reference_image, scan_frame=self._scan_frame),  # type: ignore[arg-type]
        )
        if self.reference_frame is not None:
            selection = self._pin_to_reference(selection)
        return selection

    def _references_key(self, selection: Selection) -> tuple[str, list[Path]]:
        """The name and files a selection's resolved references are stored under (``_stored_setup``)."""
        files = [self.plate.path(r.frame) if r.frame is not None else Path(r.image) for r in selection.references if r.frame is not None or r.image is not None]
        return f"references-{selection.mode}-{self.settings.reference}-{sorted(self.actors)}", files

    def _start_setup_read(self) -> None:
        """Read the plate frame set-up scans first (the first reference frame, else the pinned
        ``reference_frame``) on a thread of its own while the models load (OIIO decodes without
        the GIL); :meth:`_scan_frame` takes it. Not when an earlier take stored what set-up
        would compute from it (nothing is scanned then), nor for a bad reference (set-up
        raises its own error about it)."""
        self._setup_read = None
        try:
            frame = self._setup_scan_frame()
        except Exception:  # noqa: BLE001 - set-up reports a bad reference itself
            return
        if frame is None:
            return
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="recast-setup-read")
        path = self.plate.path(frame)

        def read() -> tuple[Plate, float]:
            t = time.perf_counter()
            return self._read_plate(path), time.perf_counter() - t

        self._setup_read = (frame, pool.submit(read))
        pool.shutdown(wait=False)  # the thread ends with its one read

    def _setup_scan_frame(self) -> int | None:
        """The frame set-up's first :meth:`_scan_frame` reads, when it will run (see above)."""
        from recast.pipeline.composite.settings import parse_reference_items
        from recast.pipeline.faces.selection import Reference, Selection

        s = self.settings
        if s.selection == "reference" and s.reference:
            items = parse_reference_items(str(s.reference))
            first = next((it for it in items if it.frame is not None), None)
            if first is not None and first.frame in self.plate.frames:
                if self._history is not None:
                    refs = [Reference(it.actor or next(iter(self.actors)), frame=it.frame, face_index=it.index,
                                      image=None if it.image is None else Path(it.image)) for it in items]
                    if self._history.get_named(*self._references_key(Selection("reference", references=tuple(refs)))) is not None:
                        return None  # resolved by an earlier take: the first scan, if any, is the pinned frame's
                return first.frame
        frame = self.reference_frame
        if frame is None or frame not in self.plate.frames:
            return None
        if self._history is not None and self._history.get_named(f"reference-frame-{frame}", [self.plate.path(frame)]) is not None:
            return None
        return frame

    def _scan_frame(self, frame: int) -> FrameScan:
        """Frame ``frame`` scanned as its own run scans it (analysis pixels, the analysis view,
        a full tiled scan without embeddings); the faces are kept so the frame's run reuses
        them (``FaceStream.seed``: the same computation on the same pixels, done once)."""
        from recast.pipeline.faces.selection import FrameScan
        from recast.pipeline.plateio import count_nonfinite

        assert self._color is not None and self._analyser is not None
        held, self._handover = self._handover, None
        early, self._setup_read = self._setup_read, None
        if held is not None and held[0] == frame:
            plate, seconds = held[1], held[2]
        elif early is not None and early[0] == frame:
            plate, seconds = early[1].result()  # the read's own error, as a read here would raise it
        else:
            t = time.perf_counter()
            plate = self._read_plate(self.plate.path(frame))
            seconds = time.perf_counter() - t
        self._handover = (frame, plate, seconds)  # the frame's own load takes it (no second read)
        channels = PlateChannels.of(plate)
        stats = count_nonfinite(plate.pixels)
        space = self._color.plate_colour(plate.spec, plate.path, self.settings.colorspace).plate
        view = analysis_view(self._color, space)
        pixels = analysis_pixels(channels, plate.pixels, not (stats["nan"] or stats["inf"]))
        small = self._analyser.detection_image(pixels, to_display=view)
        faces = self._analyser.analyse(pixels, to_display=view, embed=False, downscaled=small)
        self._scanned[frame] = copy.deepcopy(faces)
        return FrameScan(pixels, view, faces)

    def _embedded_scan(self, frame: int) -> list[Face]:
        """The faces of frame ``frame``'s scan (:meth:`_scan_frame`), each with its embedding."""
        assert self._analyser is not None
        scan = self._scan_frame(frame)
        faces = copy.deepcopy(scan.faces)
        for face in faces:
            face.embedding = self._analyser.embed(scan.pixels, face, to_display=scan.to_display)
            face.embedding_kind = self._analyser.embedding_kind
        return faces

    def _pin_to_reference(self, selection: Selection) -> Selection:
        """Identity, colour and fallback landmarks from the reference frame's selected faces."""
        from recast.pipeline.faces.selection import Reference, Selection, select_faces

        assert self._analyser is not None and self.reference_frame is not None
        frame = self.reference_frame
        faces = self._stored_setup(f"reference-frame-{frame}", [self.plate.path(frame)], lambda: self._embedded_scan(frame))
        chosen = select_faces(faces, selection)
        if not chosen:
            raise SwapError(f"reference frame {frame}: no selected face to take the identity from")
        refs = tuple(Reference(a, frame=frame, embedding=f.embedding, embedding_kind=f.embedding_kind) for f, a in chosen)
        self._reference = _Reference(frame, chosen[0][0], self._reference_colour(frame))
        return Selection("reference", references=refs, threshold=selection.threshold, one_face_per_actor=len(chosen) == 1)

    def _reference_colour(self, frame: int) -> ColourStats | None:
        """Colour-match statistics of the reference frame's record (first swapped face).

        Only an earlier take's record counts: this take's own record of the frame exists or
        not depending on where a run started, and a frame's result must not."""
        import json

        for path in (self._reference_record,):
            if path is None:
                continue
            try:
                data = json.loads(Path(path).read_text())
            except (OSError, ValueError):
                continue
            for f in data.get("faces", []) if isinstance(data, dict) else []:
                if f.get("swapped") and f.get("color_match"):
                    try:
                        return ColourStats.from_json(f["color_match"])
                    except (KeyError, ValueError, TypeError):
                        return None
        return None


@dataclass(frozen=True)
class SequenceShape:
    """Display size and channels every frame of a sequence must have: those of its first
    frame on disk. A frame that differs fails (a 256x256 comp inside a 512x512 sequence is
    never written); a sequence without colour channels is refused before any frame."""

    frame: int
    width: int
    height: int
    channels: tuple[str, ...]

    @classmethod
    def of(cls, seq: PlateSequence) -> SequenceShape:
        """The first frame on disk whose header reads; a damaged frame before it fails by
        itself when it is processed (or is left out with --frames), not the whole run."""
        from recast.pipeline.plateio import alpha_channel_of, colour_channel_indices, no_colour_reason, read_header

        first_error: RecastError | None = None
        hdr = None
        for first in seq.frames:
            try:
                hdr = read_header(seq.path(first))
                break
            except RecastError as exc:
                first_error = first_error or exc
        if hdr is None:
            raise first_error or SequenceError(f"{seq.pattern}: no frames")
        names = [str(c) for c in hdr.spec.channelnames]
        alpha = alpha_channel_of(names, int(hdr.spec.alpha_channel))
        if colour_channel_indices(names, alpha) is None:
            raise PlateError(f"{seq.pattern}: {no_colour_reason(names)}")
        return cls(first, int(hdr.spec.full_width), int(hdr.spec.full_height), tuple(names))

    def check(self, frame: int, plate: Plate) -> None:
        problems = []
        if (plate.width, plate.height) != (self.width, self.height):
            problems.append(f"size {plate.width}x{plate.height} differs from the sequence's {self.width}x{self.height}")
        if tuple(plate.channel_names) != self.channels:
            problems.append(f"channels {','.join(plate.channel_names)} differ from the sequence's {','.join(self.channels)}")
        if problems:
            raise PlateError(
                f"frame {frame}: {'; '.join(problems)} (frame {self.frame}); fix the plate or leave the frame out with --frames"
            )


def _refuse_writing_over_plates(seq: PlateSequence, layout: OutputLayout) -> None:
    """Refuse (one line) an output folder whose comp or face element would be written over
    one of the plate's own frames (``--out`` pointing at the plate's parent, say)."""
    plates = {seq.path(f).resolve(): f for f in seq.frames}
    for frame in seq.frames:
        for kind, path in (("comp", layout.comp_path(frame)), ("face element", layout.element_path(frame))):
            hit = plates.get(path.resolve())
            if hit is not None:
                raise OutputError(
                    f"{layout.root}: the {kind} of frame {frame} would be written over plate frame {hit} "
                    f"({path}); choose another output folder"
                )


def _reference_image(path: Path) -> np.ndarray:
    """A reference image as display-referred RGB [0, 1] (what the analyser sees of a plate)."""
    from recast.models.images import load_rgb

    if not path.is_file():
        raise SpecError(f"settings.reference: reference image {path} not found")
    try:
        return load_rgb(path)
    except ActorError as exc:
        raise SpecError(f"settings.reference: {exc}") from None


def _enhanced(enhancer: Enhancer, result: SwapResult, face: Face) -> SwapResult:
    """Run the enhancer on the swapped crop (it blends by its own ``enhancer_blend``)."""
    better = np.asarray(enhancer.enhance(result.rgb, face), dtype=np.float32)
    if better.shape != result.rgb.shape:
        raise SwapError(f"enhancer returned shape {better.shape}, expected {result.rgb.shape}")
    info = dict(result.info)
    info["enhancer"] = jsonable(getattr(enhancer, "info", {"enhancer": getattr(enhancer, "name", "?")}))
    return SwapResult(rgb=better, matte=result.matte, info=info)


def _create_swapper(backend: str, context: SwapperContext) -> Swapper:
    return SWAPPERS.create(backend, context=context)


def _create_enhancer(s: SwapSettings) -> Enhancer:
    kwargs: dict[str, Any] = {"blend": s.enhancer_blend}
    if s.enhancer_model:
        kwargs.update(model=Path(s.enhancer_model), licence=s.enhancer_licence)
    return ENHANCERS.create(str(s.enhancer), **kwargs)


def analysis_pixels(channels: PlateChannels, pixels: np.ndarray, finite: bool) -> np.ndarray:
    """The plate's colour channels for face analysis, finite: a view of ``pixels`` when the
    frame is all finite and its RGB channels are adjacent (no full-frame copy), else a
    sanitised float32 copy (pipeline.finite: NaN -> 0, Inf -> the finite range)."""
    idx = channels.indices
    adjacent = len(idx) == 3 and idx[1] == idx[0] + 1 and idx[2] == idx[0] + 2
    if finite and adjacent and pixels.dtype == np.float32:
        return pixels[..., idx[0] : idx[0] + 3]
    if finite:
        return channels.rgb(pixels).astype(np.float32, copy=False)
    return sanitise(channels.rgb(pixels))


def analysis_view(color: ColorContext, space: str) -> Callable[[np.ndarray], np.ndarray]:
    """What face analysis sees: the working-space encode of the plate, clipped to [0, 1].

    The same pixels the swapper gets, and several times cheaper than a full
    display/view transform (ACES output transforms cost ~2 s on an HD frame).
    """

    def view(rgb: np.ndarray) -> np.ndarray:
        out = color.to_working(rgb, space)
        # NaN -> 0, +Inf -> 1, -Inf -> 0 and the clip, in place: fmax/fmin pass NaN over
        # (the same values as nan_to_num + clip, without nan_to_num's masks and copies)
        np.fmax(out, np.float32(0.0), out=out)
        return np.fmin(out, np.float32(1.0), out=out)

    return view
