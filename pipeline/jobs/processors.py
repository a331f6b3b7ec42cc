"""Frame processors: the per-frame work the runner drives, in three stages.

``load`` (I/O, runs on the read-ahead thread), ``compute`` (in frame order on
the runner's thread: tracking needs order), ``write`` (outputs then the record,
atomically, on the write-behind thread). ``fail`` writes the record of a frame
that could not be done. Processors are found by name in :data:`PROCESSORS`
(entry points, group ``recast.processors``):

- ``engine`` (default): :class:`pipeline.engine.Engine` swapping faces;
- ``passthrough``: writes the untouched plate as the comp with a
  ``passthrough`` record, to check a shot's plumbing (plates readable, outputs
  writable, farm set-up) without any face work.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from recast.pipeline.errors import OutputError, SwapError
from recast.pipeline.schema.job import JobSpec
from recast.pipeline.jobs.history import TrackingHistory
from recast.pipeline.jobs.takes import JobLayout, frame_state, read_json
from recast.pipeline.outputs import write_black, write_record
from recast.pipeline.registry import Registry
from recast.pipeline.schema.record import new_record


@dataclass(frozen=True)
class FrameJob:
    """Everything a processor needs to know about the job and take it works on."""

    job_id: str
    spec: JobSpec
    layout: JobLayout
    take: int = 1
    reference_frame: int | None = None
    overrides: dict[str, Any] = field(default_factory=dict)


class FrameProcessor(Protocol):
    def load(self, frame: int) -> Any: ...

    def compute(self, frame: int, loaded: Any) -> Any: ...

    def write(self, frame: int, result: Any) -> dict[str, Any]: ...

    def fail(self, frame: int, error: str) -> dict[str, Any]: ...

    def close(self) -> None: ...


PROCESSORS: Registry[FrameProcessor] = Registry("frame processor", "recast.processors")


def base_record(job: FrameJob, frame: int, plate_path: Path) -> dict[str, Any]:
    """The schema's blank record (every key), for this job's take and frame."""
    return new_record(frame, job.take, job.job_id, plate_path, job.layout.comp_path(job.take, frame),
                      actor=job.spec.actor, actors=list(dict.fromkeys(job.spec.actors.values())),
                      settings={**job.spec.settings, **job.overrides}, timings={})


def reference_record(job: FrameJob) -> Path | None:
    """The record of the reference frame's liked result: its approved take, else the newest earlier done take."""
    ref = job.reference_frame
    if ref is None:
        return None
    approvals = (read_json(job.layout.approvals_file) or {}).get("frames") or {}
    ap = approvals.get(str(ref))
    candidates = ([int(ap["take"])] if ap and ap.get("state") == "approved" else []) + list(range(job.take - 1, 0, -1))
    for take in candidates:
        path = job.layout.record_path(take, ref)
        if frame_state(job.layout, take, ref)[0] == "done":
            return path
    return None


class PassthroughProcessor:
    """Comp = plate, bit for bit (all channels, windows and metadata kept)."""

    name = "passthrough"

    def __init__(self, job: FrameJob) -> None:
        from recast.pipeline.sequence import PlateSequence

        self.job = job
        self.plate = PlateSequence.open(job.spec.plate)

    def load(self, frame: int) -> Any:
        from recast.pipeline.plateio import read_plate

        t0 = time.perf_counter()
        if self.job.spec.missing == "black" and _missing_on_disk(self.plate, frame):
            return None, 0.0  # write() makes it a black frame
        plate = read_plate(self.plate.path(frame))
        return plate, time.perf_counter() - t0

    def compute(self, frame: int, loaded: Any) -> Any:
        return loaded

    def write(self, frame: int, result: Any) -> dict[str, Any]:
        from recast.pipeline.plateio import count_nonfinite, write_plate

        plate, t_read = result
        t0 = time.perf_counter()
        comp = self.job.layout.comp_path(self.job.take, frame)
        if plate is None:  # missing on disk, spec "missing": "black"
            attrs = {"recast/job": self.job.job_id, "recast/take": self.job.take, "recast/frame": frame, "recast/status": "black"}
            report = write_black(comp, self.plate.path(self.plate.first), attrs)
            rec = base_record(self.job, frame, self.plate.path(frame))
            rec["missing"] = "black"
        else:
            report = write_plate(comp, plate, changed_rows=[])  # every chunk copied from the plate file when it can be
            rec = base_record(self.job, frame, plate.path)
            rec["stats"] = count_nonfinite(plate.pixels)
        rec.update(
            comp_write=report.to_json(),
            status="passthrough",
            backend="passthrough",
            timings={"read": round(t_read, 4), "write": round(time.perf_counter() - t0, 4)},
        )
        try:
            write_record(self.job.layout.record_path(self.job.take, frame), rec)
        except OutputError:
            comp.unlink(missing_ok=True)  # no comp for a frame without its record
            raise
        return rec

    def fail(self, frame: int, error: str) -> dict[str, Any]:
        rec = base_record(self.job, frame, self.plate.path(frame))
        rec.update(status="failed", error=error, comp=None)
        write_record(self.job.layout.record_path(self.job.take, frame), rec)
        return rec

    def close(self) -> None:
        return None


class EngineProcessor:
    """Drives :class:`pipeline.engine.Engine` in its three stages: the runner's read-ahead
    thread reads plates (``load``), compute swaps in frame order, the write-behind thread
    writes comp, element and record (``write``)."""

    name = "engine"

    def __init__(self, job: FrameJob) -> None:
        from recast.models.actor import load_actor
        from recast.pipeline.engine import Engine, OutputLayout, SwapSettings
        from recast.pipeline.sequence import PlateSequence

        self.job = job
        plate = PlateSequence.open(job.spec.plate)
        settings = SwapSettings.from_dict(dict(job.spec.settings))
        if job.spec.selection is not None:
            settings = settings.replace(selection=job.spec.selection)
        if job.overrides:
            settings = settings.replace(**job.overrides)
        actors = {label: load_actor(name) for label, name in job.spec.actors.items()}
        root = job.layout.take_root(job.take)
        layout = OutputLayout(root, job.layout.plate_name, job.layout.padding)
        # tracking results are kept beside this take's embeddings; a later take with the same
        # detection settings seeds its frames from them (pipeline.jobs.history)
        history = TrackingHistory.for_take(
            [Path(job.layout.take(t).embeddings_dir) for t in range(job.take, 0, -1)], settings.to_dict()
        )
        self.plate = plate
        self.engine = Engine(
            plate,
            actors,
            settings,
            layout,
            job_id=job.job_id,
            take=job.take,
            reference_frame=job.reference_frame,
            reference_record=reference_record(job),
            history=history,
        )
        # configuration errors (backend, reference, enhancer) fail the job once, here
        self.engine.prepare()
        features = _comp_features(self.engine, settings, [Path(job.layout.take(t).embeddings_dir) for t in range(job.take, 0, -1)])
        self.engine.comp_features = features
        # per-frame QC (the runner's write-behind scorer) scores these crops from memory
        self.engine.qc_crops = features.crops if features is not None and job.spec.qc else None
        self._failed: dict[int, Any] = {}  # frame -> the engine's failed ComputedFrame (its record)

    def load(self, frame: int) -> Any:
        """Read-ahead: the plate frame, read on the runner's reader thread."""
        return self.engine.load_frame(frame)

    def compute(self, frame: int, loaded: Any) -> Any:
        if loaded.missing and self.job.spec.missing == "black":
            return _Black(frame)  # the temporal state skips it, as a replay does
        computed = self.engine.compute_frame(loaded)
        if computed.status == "failed":
            self._failed[frame] = computed  # fail() writes the engine's own record of it
            raise SwapError(str(computed.record.get("error") or f"frame {frame} failed"))
        self._failed.pop(frame, None)
        return computed

    def write(self, frame: int, result: Any) -> dict[str, Any]:
        rec = self.engine.black_frame(frame) if isinstance(result, _Black) else self.engine.write_frame(result)
        if rec.get("status") == "failed":  # the runner retries the write, then calls fail()
            raise SwapError(str(rec.get("error") or f"frame {frame}: write failed"))
        return rec

    def fail(self, frame: int, error: str) -> dict[str, Any]:
        computed = self._failed.pop(frame, None)
        if computed is not None:
            rec = self.engine.write_frame(computed)  # a failed compute writes only its record
            if rec.get("status") == "failed" and self.job.layout.record_path(self.job.take, frame).is_file():
                return rec
        path = self.job.layout.record_path(self.job.take, frame)
        rec = read_json(path)
        if rec is not None and rec.get("status") == "failed":
            return rec  # the engine recorded the failure with its details
        rec = base_record(self.job, frame, self.plate.path(frame))
        rec.update(status="failed", error=error, comp=None)
        write_record(path, rec)
        return rec

    def close(self) -> None:
        close = getattr(self.engine, "close", None)
        if callable(close):
            close()


@dataclass(frozen=True)
class _Black:
    """A frame missing on disk that the spec asks to write black (``"missing": "black"``)."""

    frame: int


def _missing_on_disk(plate: Any, frame: int) -> bool:
    return frame not in plate.frames and not plate.path(frame).exists()


def _comp_features(engine: Any, settings: Any, embeddings_dirs: list[Path]) -> Any:
    """QC's comp-face features computed by the engine (qc.comp_features), through the engine's
    own analyser when QC's probe would build the same one (default analyser options), else a
    probe of its own; None when QC is not importable."""
    try:
        from recast.pipeline.faces import AnalyserOptions
        from recast.qc.comp_features import CompFeatures
        from recast.qc.identity import FaceProbe
    except ImportError:
        return None
    used = AnalyserOptions(
        models_dir=Path(settings.analyser_models) if settings.analyser_models else None,
        allow_noncommercial_models=settings.allow_noncommercial_models,
        detect_size=settings.detect_size,
        min_face=settings.min_face,
    )
    analyser = getattr(engine, "_analyser", None)
    # the same backend and options as QC's probe: no second copy of its models
    probe = FaceProbe.sharing(settings.analyser, analyser) if analyser is not None and used == AnalyserOptions() else FaceProbe(settings.analyser)
    # this take's embeddings folder first, then earlier takes' (their actor embeddings are reused)
    return CompFeatures(probe, embeddings_dirs[0] / "actors.json", tuple(d / "actors.json" for d in embeddings_dirs[1:]))


def create_processor(job: FrameJob) -> FrameProcessor:
    return PROCESSORS.create(job.spec.processor, job)
