"""Submit and run jobs: chunks, read-ahead / write-behind threads, retries, cancel, resume.

The protocol, identical for local runs, resumes and farm chunks:

1. claim a chunk of pending frames in the store (``BEGIN IMMEDIATE``);
2. per frame: load (read-ahead thread) -> compute (this thread, frame order)
   -> write outputs, then the record, atomically (write-behind thread);
3. index the record's outcome in the store.

A SIGKILL at any point leaves at most temp files (swept on resume) and frames
marked ``running`` by a dead worker; ``resume`` re-derives every frame's state
from its record file and runs whatever is not done. A frame whose record
exists is never redone.

When a take has no frame left to run, the runner scores it
(:func:`qc.scoring.score_job` with the store: scores and auto flags indexed)
before setting the job's final status, unless the spec says ``"qc": false``
or :attr:`RunOptions.qc` is off. A QC failure never fails the job: it goes to
the audit log (``qc:failed``) and the job's error field. A take whose frames
all finished earlier is scored again only when its scores file is missing
(a process killed during QC), so a resume finishes that too.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recast.pipeline.errors import JobError, RecastError, SpecError, describe, os_cause
from recast.pipeline.jobs.processors import FrameJob, FrameProcessor, create_processor
from recast.pipeline.progress import NoProgress, Progress
from recast.pipeline.schema.job import JobSpec, check_job_id, new_job_id
from recast.pipeline.jobs.store import Store, now_iso
from recast.pipeline.jobs.takes import (
    JobLayout,
    frame_state,
    layout_for,
    read_json,
    sweep_temp_dirs,
    sweep_temp_files,
    worker_alive,
    write_job_file,
)

if TYPE_CHECKING:
    from recast.qc.frame_scoring import QCOptions

ProcessorFactory = Callable[[FrameJob], FrameProcessor]


def default_worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class RunOptions:
    chunk: int | None = None  # frames claimed at a time (None: the spec's chunk)
    retries: int = 2  # extra attempts per frame after the first
    backoff_s: float = 0.5  # wait before the first retry; doubles each time
    read_ahead: int = 2  # frames loaded ahead of compute
    write_behind: int = 2  # computed frames waiting to be written
    pipelined: bool = True  # False: load, compute and write each frame in turn on one thread
    worker: str = field(default_factory=default_worker)
    qc: bool = True  # score each take when its frames finish (a spec's "qc": false also turns it off)
    qc_options: QCOptions | None = None  # QC knobs; ``take`` is set per take (None: QCOptions() defaults)
    score_frames: bool = True  # with qc: score each frame as it is written (False: all at the take's end)


@dataclass
class RunSummary:
    job: str
    take: int
    done: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    skipped: list[int] = field(default_factory=list)  # already done per the files
    cancelled: bool = False
    status: str = "running"
    qc: dict[int, dict[str, Any]] = field(default_factory=dict)  # take -> QC summary (frames, pass, warn, fail, flagged)
    qc_errors: dict[int, str] = field(default_factory=dict)  # take -> why its QC failed

    def to_dict(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "take": self.take,
            "status": self.status,
            "done": len(self.done),
            "failed": {str(k): v for k, v in sorted(self.failed.items())},
            "skipped": len(self.skipped),
            "cancelled": self.cancelled,
            "qc": {str(k): v for k, v in sorted(self.qc.items())},
            "qc_errors": {str(k): v for k, v in sorted(self.qc_errors.items())},
        }


# -- submit ---------------------------------------------------------------------


def check_settings(spec: JobSpec) -> None:
    """The engine's settings must validate now, not at the first frame (SpecError names the setting)."""
    if spec.processor != "engine":
        return
    from recast.pipeline.engine import SwapSettings

    merged = dict(spec.settings)
    if spec.selection is not None:
        merged["selection"] = spec.selection
    settings = SwapSettings.from_dict(merged)
    # what the engine would refuse at its first frame, refused now (the CLI and the service alike)
    if len(spec.actors) > 1 and settings.selection != "reference":
        raise SpecError(
            f"spec.selection: {len(spec.actors)} actors need selection 'reference' with settings.reference "
            "ACTOR=FRAME:INDEX,... (which face gets which actor)"
        )
    if settings.colorspace:
        from recast.pipeline.color import ColorContext

        cc = ColorContext()
        if not cc.has(settings.colorspace):
            raise SpecError(f"settings.colorspace: {settings.colorspace!r} is not a colourspace of the OCIO config {cc.config_name}")


def check_actors(spec: JobSpec) -> None:
    """The engine needs every named actor installed (ActorError names the missing one)."""
    if spec.processor != "engine":
        return
    from recast.models.actor import load_actor

    for name in spec.actors.values():
        load_actor(name, verify=False)


def submit(store: Store, spec: JobSpec, job_id: str | None = None) -> str:
    """Validate ``spec`` against the disk, write ``<out>/job.json`` and queue the job."""
    from recast.pipeline.sequence import PlateSequence

    try:
        plate = PlateSequence.open(spec.plate)
        # no frame list: first to last on disk, gaps included (they fail, named, instead of vanishing)
        if spec.frames is not None and spec.missing == "black":
            frames = sorted(set(spec.frames))  # those not on disk become black frames
        elif spec.frames is not None or spec.missing == "skip":
            frames = plate.select(spec.frames)
        else:
            frames = list(range(plate.first, plate.last + 1))
        if spec.processor == "engine":
            from recast.pipeline.engine import SequenceShape

            SequenceShape.of(plate)  # a plate without colour channels is refused now
    except RecastError as exc:
        raise SpecError(f"spec.plate: {exc}") from None
    check_settings(spec)
    check_actors(spec)
    job_id = check_job_id(job_id) if job_id else new_job_id(spec.shot)
    out = spec.out.absolute()
    if out.exists() and not out.is_dir():
        raise SpecError(f"spec.out: {out} exists and is not a folder")
    # both paths absolute: the job is resumed, reprocessed and farmed from other folders
    spec_d = {**spec.to_dict(), "out": str(out), "plate": str(Path(spec.plate).expanduser().absolute())}
    layout = JobLayout(out=out, plate_name=spec.name or plate.name, padding=plate.padding)
    try:
        write_job_file(layout, job_id, spec_d, frames, now_iso())
    except OSError as exc:
        raise SpecError(f"spec.out: cannot write {layout.job_file} ({os_cause(exc)})") from None
    store.create_job(job_id, spec_d, frames)
    return job_id


def load_job(store: Store, job_id: str) -> tuple[dict[str, Any], JobSpec, JobLayout]:
    job = store.get_job(job_id)
    spec = JobSpec.from_dict(job["spec"])
    meta = read_json(Path(job["out"]) / "job.json")
    if meta is None:
        raise JobError(f"job {job_id}: {Path(job['out']) / 'job.json'} is missing; the output folder moved or was deleted")
    return job, spec, layout_for(meta)


# -- run ------------------------------------------------------------------------


class Runner:
    """Runs jobs against a store; ``processor_factory`` picks the per-frame work."""

    def __init__(
        self,
        store: Store,
        options: RunOptions | None = None,
        *,
        processor_factory: ProcessorFactory = create_processor,
        cancel: threading.Event | None = None,
        stop: threading.Event | None = None,
        on_frame: Callable[[dict[str, Any]], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        progress: Progress | None = None,
    ) -> None:
        self.store = store
        self.options = options or RunOptions()
        self.processor_factory = processor_factory
        self.cancel_event = cancel or threading.Event()  # user cancel: the job ends "cancelled"
        self.stop_event = stop or threading.Event()  # shutdown: the job stays resumable ("queued")
        self.on_frame = on_frame
        self.sleep = sleep
        self.progress: Progress = progress or NoProgress()  # frames finished per take (the CLI's bar)

    # public entry points ------------------------------------------------------

    def run(self, job_id: str) -> RunSummary:
        """Run a queued job (take 1) in the foreground."""
        status = self.store.job_status(job_id)
        if status != "queued":
            raise JobError(f"job {job_id} is {status}, not queued; use `recast job resume {job_id}` to continue it")
        return self._run_take(job_id, 1, None, retry_failed=False)

    def resume(self, job_id: str) -> RunSummary:
        """Continue an interrupted, failed or cancelled job: every take, from what the files say."""
        job = self.store.get_job(job_id)
        if job["status"] == "done":
            return RunSummary(job=job_id, take=job["takes"][-1]["take"] if job["takes"] else 1, status="done")
        summary: RunSummary | None = None
        for t in job["takes"]:
            s = self._run_take(job_id, int(t["take"]), None, retry_failed=True, reconcile=True)
            summary = s if summary is None else _merge(summary, s)
            if s.cancelled:
                break
        assert summary is not None
        return summary

    def run_take(self, job_id: str, take: int, frames: list[int] | None = None, *, within: bool = False) -> RunSummary:
        """Run (part of) one take: reprocess takes and farm chunks.

        ``within``: ``frames`` is a range to intersect with the take's frames (a farm chunk
        spanning a gap), instead of a list whose every frame must belong to it.
        """
        if within and frames is not None:
            have = {r["frame"] for r in self.store.frames(job_id, take)}
            frames = [f for f in frames if f in have]
            if not frames:
                raise JobError(f"job {job_id} take {take}: none of the requested frames are part of it")
        return self._run_take(job_id, take, frames, retry_failed=True, reconcile=True)

    # the work -------------------------------------------------------------------

    def _take_info(self, job: dict[str, Any], take: int) -> dict[str, Any]:
        for t in job["takes"]:
            if int(t["take"]) == take:
                return t
        raise JobError(f"job {job['id']}: no take {take} (takes: {', '.join(str(t['take']) for t in job['takes'])})")

    def reconcile(self, job_id: str, take: int, layout: JobLayout, frames: list[int] | None = None) -> None:
        """Make the store agree with the record files for one take (or some of its frames).

        Refuses when a live process holds any of those frames; temp files of dead writers are swept.
        """
        rows = [r for r in self.store.frames(job_id, take) if frames is None or r["frame"] in set(frames)]
        live = sorted(
            {r["worker"] for r in rows if r["status"] == "running" and r["worker"] and r["worker"] != self.options.worker}
        )
        live = [w for w in live if worker_alive(w)]
        if live:
            raise JobError(f"job {job_id} is being run by {live[0]}; cancel it or wait before resuming")
        sweep_temp_files(layout.take_root(take) / "comp")
        sweep_temp_files(layout.take_root(take) / "element")
        sweep_temp_files(layout.take_root(take) / "records")
        sweep_temp_files(layout.out / "qc")  # a process killed while scoring
        sweep_temp_dirs(layout.publish_root)  # a publish killed before its rename
        for row in rows:
            state, error = frame_state(layout, take, row["frame"])
            if state != row["status"] or row["status"] == "running":
                self.store.finish_frame(
                    job_id,
                    row["frame"],
                    take,
                    state,  # type: ignore[arg-type]
                    error=error,
                    attempts=0,
                    record=str(layout.record_path(take, row["frame"])) if state != "pending" else None,
                )

    def _run_take(
        self, job_id: str, take: int, frames: list[int] | None, *, retry_failed: bool, reconcile: bool = False
    ) -> RunSummary:
        job, spec, layout = load_job(self.store, job_id)
        info = self._take_info(job, take)
        if reconcile:
            self.reconcile(job_id, take, layout, frames)
        rows = self.store.frames(job_id, take)
        known = {r["frame"]: r["status"] for r in rows}
        if frames is not None:
            unknown = [f for f in frames if f not in known]
            if unknown:
                raise JobError(f"job {job_id} take {take}: frame {unknown[0]} is not part of it")
            wanted = sorted(frames)
        else:
            wanted = sorted(known)
        summary = RunSummary(job=job_id, take=take)
        summary.skipped = [f for f in wanted if known[f] == "done"]
        todo = [f for f in wanted if known[f] != "done"]
        self.store.set_job_status(job_id, "running", who=self.options.worker)
        fjob = FrameJob(
            job_id=job_id,
            spec=spec,
            layout=layout,
            take=take,
            reference_frame=info.get("reference_frame") if info.get("reference_frame") is not None else (spec.reference if take == 1 else None),
            overrides=dict(info.get("overrides") or {}),
        )
        processor: FrameProcessor | None = None
        scorer: Any | None = None  # per-frame QC on the write-behind thread (see _frame_scorer)
        try:
            if todo:
                processor = self.processor_factory(fjob)
                self.progress.start(len(todo), f"job {job_id} take {take}")
            chunk = max(1, self.options.chunk or spec.chunk)
            for i in range(0, len(todo), chunk):
                if self._cancelled(job_id):
                    summary.cancelled = True
                    break
                claimed = self.store.claim_frames(job_id, take, todo[i : i + chunk], self.options.worker, retry_failed=retry_failed)
                assert processor is not None
                if scorer is None:
                    scorer = self._frame_scorer(fjob)
                self._run_chunk(processor, fjob, claimed, summary, scorer)
                if summary.cancelled:
                    break
        except RecastError as exc:
            self.store.set_job_status(job_id, "failed", str(exc), who=self.options.worker)
            raise
        except Exception as exc:  # the job must not stay "running" with nobody running it
            msg = f"internal error: {describe(exc)}"
            self.store.set_job_status(job_id, "failed", msg, who=self.options.worker)
            raise
        finally:
            self.progress.close()
            if processor is not None:
                processor.close()
        qc_error = self._auto_qc(fjob, summary)
        summary.status = self._final_status(job_id, summary, qc_error)
        return summary

    def _qc_wanted(self, fjob: FrameJob) -> bool:
        return self.options.qc and fjob.spec.qc

    def _qc_options(self, take: int) -> QCOptions:
        from dataclasses import replace

        from recast.qc.frame_scoring import QCOptions

        return replace(self.options.qc_options or QCOptions(), take=take)

    def _frame_scorer(self, fjob: FrameJob) -> Any | None:
        """A per-frame scorer for the write-behind thread: each frame is scored (and cached)
        as soon as it is written, overlapping the next frame's compute, so the take's QC at
        the end mostly reads the cache. None when QC is off or cannot start (the take-end
        QC then scores everything and reports why)."""
        if not self._qc_wanted(fjob) or not self.options.score_frames:
            return None
        try:
            from recast.qc.frame_scoring import FrameScorer

            return FrameScorer(fjob.layout.out, self._qc_options(fjob.take), str(fjob.spec.settings.get("analyser") or "dlib"))
        except Exception:  # noqa: BLE001 - QC never fails the job
            return None

    @staticmethod
    def _score_frame(scorer: Any | None, fjob: FrameJob, frame: int, rec: dict[str, Any] | None, crops: Any = None) -> None:
        if scorer is None or rec is None:
            return
        try:
            scorer.score_cached(rec, fjob.layout.record_path(fjob.take, frame), crops=crops or None)
        except Exception:  # noqa: BLE001, S110 - the take-end QC scores this frame again and reports its error
            pass

    def _auto_qc(self, fjob: FrameJob, summary: RunSummary) -> str | None:
        """Score the take when none of its frames is left to run; returns the QC error, if any."""
        job_id, take = fjob.job_id, fjob.take
        if not self._qc_wanted(fjob) or summary.cancelled or self._cancelled(job_id):
            return None
        rows = self.store.frames(job_id, take)
        if not rows or any(r["status"] in ("pending", "running") for r in rows):
            return None
        try:
            from recast.qc.scoring import score_job, scores_path

            if not (summary.done or summary.failed) and scores_path(fjob.layout.out, take).is_file():
                return None  # nothing changed since this take was scored
            doc = score_job(fjob.layout.out, self._qc_options(take), job_id=job_id, store=self.store)
        except Exception as exc:  # noqa: BLE001 - QC never fails the job
            msg = " ".join(f"QC of take {take} failed: {exc if isinstance(exc, RecastError) else f'{type(exc).__name__}: {exc}'}".split())
            summary.qc_errors[take] = msg
            self.store.log(job_id, "qc:failed", self.options.worker, {"take": take, "error": msg})
            return msg
        s = doc["summary"]
        summary.qc[take] = {k: s[k] for k in ("frames", "pass", "warn", "fail", "flagged")}
        self.store.log(job_id, "qc", self.options.worker, {"take": take, **{k: s[k] for k in ("frames", "pass", "warn", "fail")}})
        return None

    def _final_status(self, job_id: str, summary: RunSummary, qc_error: str | None = None) -> str:
        user_cancel = self.cancel_event.is_set() or self.store.job_status(job_id) == "cancelled"
        if user_cancel:
            summary.cancelled = True
            self.store.set_job_status(job_id, "cancelled", who=self.options.worker)
            return "cancelled"
        job = self.store.get_job(job_id)
        counts = {"pending": 0, "running": 0, "failed": 0}
        for t in job["takes"]:
            for k in counts:
                counts[k] += t["frames"][k]
        if counts["pending"] or counts["running"]:
            status = "running" if counts["running"] else "queued"
        elif counts["failed"]:
            status = "failed"
        else:
            status = "done"
        err = f"{counts['failed']} frame(s) failed" if status == "failed" else None
        if qc_error is not None:
            err = f"{err}; {qc_error}" if err else qc_error
        self.store.set_job_status(job_id, status, err, who=self.options.worker)  # type: ignore[arg-type]
        return status

    def _cancelled(self, job_id: str) -> bool:
        if self.cancel_event.is_set() or self.stop_event.is_set():
            return True
        return self.store.job_status(job_id) == "cancelled"

    def _run_chunk(
        self, proc: FrameProcessor, fjob: FrameJob, frames: list[int], summary: RunSummary, scorer: Any | None = None
    ) -> None:
        if not frames:
            return
        opts = self.options
        reader: ThreadPoolExecutor | _Inline = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="recast-read") if opts.pipelined else _Inline()
        )
        writer: ThreadPoolExecutor | _Inline = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="recast-write") if opts.pipelined else _Inline()
        )
        slots = threading.BoundedSemaphore(max(1, opts.write_behind))
        loads: dict[int, Future[Any]] = {}
        writes: list[Future[None]] = []
        lock = threading.Lock()

        def prefetch(idx: int) -> None:
            if idx < len(frames) and frames[idx] not in loads:
                loads[frames[idx]] = reader.submit(proc.load, frames[idx])

        def finish(frame: int, status: str, error: str | None, attempts: int, rec: dict[str, Any] | None) -> None:
            self.store.finish_frame(
                fjob.job_id,
                frame,
                fjob.take,
                "done" if status == "done" else "failed",
                error=error,
                attempts=attempts,
                record=str(fjob.layout.record_path(fjob.take, frame)),
            )
            with lock:
                if status == "done":
                    summary.done.append(frame)
                else:
                    summary.failed[frame] = error or "failed"
            self.progress.advance()
            if self.on_frame is not None and rec is not None:
                self.on_frame(rec)

        def write_task(frame: int, result: Any, attempts: int) -> None:
            try:
                for k in range(opts.retries + 1):
                    try:
                        rec = proc.write(frame, result)
                        self._score_frame(scorer, fjob, frame, rec, getattr(result, "qc_crops", None))
                        finish(frame, "done", None, attempts, rec)
                        return
                    except RecastError as exc:
                        err = str(exc)
                    except Exception as exc:  # noqa: BLE001 - one frame never stops the others
                        err = describe(exc)
                    if k < opts.retries:
                        self.sleep(opts.backoff_s * (2**k))
                finish(frame, "failed", err, attempts, self._fail(proc, frame, err))
            finally:
                slots.release()

        try:
            for i in range(min(len(frames), max(1, opts.read_ahead))):
                prefetch(i)
            for i, frame in enumerate(frames):
                if self._cancelled(fjob.job_id):
                    summary.cancelled = True
                    self.store.release_frames(fjob.job_id, fjob.take, frames[i:], opts.worker)
                    break
                prefetch(i + max(1, opts.read_ahead))
                result, attempts, err = self._compute_with_retries(proc, frame, loads.pop(frame))
                if err is not None:
                    rec = self._fail(proc, frame, err)
                    finish(frame, "failed", err, attempts, rec)
                    continue
                slots.acquire()
                writes.append(writer.submit(write_task, frame, result, attempts))
        finally:
            for fut in loads.values():
                fut.cancel()
            reader.shutdown(wait=True)
            writer.shutdown(wait=True)
        for w in writes:
            w.result()

    def _compute_with_retries(self, proc: FrameProcessor, frame: int, first: Future[Any]) -> tuple[Any, int, str | None]:
        opts = self.options
        err: str | None = None
        for k in range(opts.retries + 1):
            try:
                loaded = first.result() if k == 0 else proc.load(frame)
                return proc.compute(frame, loaded), k + 1, None
            except RecastError as exc:
                err = str(exc)
            except Exception as exc:  # noqa: BLE001 - one frame never stops the others
                err = describe(exc)
            if k < opts.retries:
                self.sleep(opts.backoff_s * (2**k))
        return None, opts.retries + 1, err

    @staticmethod
    def _fail(proc: FrameProcessor, frame: int, error: str) -> dict[str, Any] | None:
        try:
            return proc.fail(frame, error)
        except Exception:  # noqa: BLE001 - the store still records the failure
            return None


class _Inline:
    """An executor that runs each task at once on the calling thread (``pipelined=False``)."""

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        fut: Future[Any] = Future()
        try:
            fut.set_result(fn(*args))
        except BaseException as exc:  # noqa: BLE001 - handed back through the future, like a pool
            fut.set_exception(exc)
        return fut

    def shutdown(self, wait: bool = True) -> None:
        return None


def _merge(a: RunSummary, b: RunSummary) -> RunSummary:
    a.done += b.done
    a.failed.update(b.failed)
    a.skipped += b.skipped
    a.cancelled = a.cancelled or b.cancelled
    a.qc.update(b.qc)
    a.qc_errors.update(b.qc_errors)
    a.status = b.status
    a.take = b.take
    return a
