"""The local HTTP service (FastAPI): jobs, frames, flags, reference, reprocess, approve, publish, actors.

Everything goes through the same store and runner as the CLI. User mistakes
come back as 4xx with ``{"detail": "<one line>"}`` and nothing written; every
plate and output path, and every path-valued setting (submit ``settings``,
reprocess ``set``), must resolve inside the configured roots. Logs carry ids,
frame numbers and statuses only, never embeddings or pixels.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from recast.pipeline import __version__
from recast.pipeline.errors import ActorError, JobError, RecastError, SpecError, describe
from recast.pipeline.schema.job import JOB_ID_RE, JobSpec
from recast.pipeline.jobs.store import Store
from recast.pipeline.service.security import (
    AccessError,
    bearer,
    check_files_inside,
    check_setting_paths,
    inside_roots,
    token_ok,
)
from recast.pipeline.service.guard import RequestGuard
from recast.pipeline.service.workers import Task, WorkerPool

log = logging.getLogger("recast.service")
JobId = Annotated[str, PathParam(pattern=JOB_ID_RE.pattern, max_length=80)]
Frame = Annotated[int, PathParam(ge=-(10**9), le=10**9)]


@dataclass
class ServiceConfig:
    roots: list[Path]
    store_path: Path
    token: str | None = None
    workers: int = 2
    proxy_max: int = 1024  # longest side of review proxies
    recover: bool = True  # resume interrupted jobs at start-up
    max_body: int = 1_000_000  # bytes a request body may have (counted while it streams in)
    worker_processes: bool = True  # run each job in its own process (False: threads of this one; the API then shares its GIL)
    extra: dict[str, Any] = field(default_factory=dict)


# -- request bodies (OpenAPI) ------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# The job body is the schema's JobSpec itself (one definition: recast.pipeline.schema.job).
JobSpecBody = JobSpec


class FramesBody(_Body):
    frames: str | list[int] = Field(description="'all', a frame list ('1001-1010,1020') or a list of frames")
    by: str = Field(min_length=1, max_length=200)
    take: int | None = Field(default=None, ge=1, le=100000)


class ReprocessBody(_Body):
    frames: str | list[int]
    reference: int | None = None
    set: dict[str, Any] = Field(default_factory=dict)
    by: str | None = Field(default=None, max_length=200)


class StrokeBody(_Body):
    points: list[tuple[float, float]] = Field(min_length=1, max_length=5000, description="[x, y] in plate image pixels")
    color: str = Field(default="#ff3b30", pattern=r"^#[0-9a-fA-F]{6}$")
    width: float = Field(default=3.0, ge=0.5, le=200)


class FlagBody(_Body):
    frame: int = Field(ge=-(10**9), le=10**9)
    reason: str = Field(min_length=1, max_length=2000)
    note: str | None = Field(default=None, max_length=10000)
    author: str = Field(min_length=1, max_length=200)
    take: int | None = Field(default=None, ge=1, le=100000, description="the take the flag is about (default: none named)")
    strokes: list[StrokeBody] | None = Field(default=None, max_length=200, description="freehand marks on the frame")


class ReviewFlagBody(_Body):
    frames: str | list[int] = Field(description="a frame list ('1001-1010,1020') or a list of frames")
    by: str = Field(min_length=1, max_length=200)
    note: str | None = Field(default=None, max_length=10000)
    take: int | None = Field(default=None, ge=1, le=100000)
    strokes: list[StrokeBody] | None = Field(default=None, max_length=200)


class ReferenceBody(_Body):
    frame: int = Field(ge=-(10**9), le=10**9)
    by: str | None = Field(default=None, max_length=200)


class PublishBody(_Body):
    fill: Literal["plate", "none"] = "plate"
    by: str | None = Field(default=None, max_length=200)


# -- helpers -----------------------------------------------------------------------


def _status_for(exc: RecastError) -> int:
    if isinstance(exc, AccessError):
        return 403
    if isinstance(exc, JobError):
        return 404 if "no such job" in str(exc) else 409
    if isinstance(exc, ActorError):
        return 422
    return 400


def _frames_of(value: str | list[int]) -> list[int] | None:
    from recast.pipeline.sequence import parse_frames

    if isinstance(value, str):
        if value.strip().lower() == "all":
            return None
        try:
            frames = parse_frames(value)
        except RecastError as exc:
            raise SpecError(f"frames: {exc}") from None
    else:
        frames = sorted(set(value))
    if not frames:
        raise SpecError("frames: selects no frames")
    return frames


def create_app(config: ServiceConfig) -> FastAPI:
    """The app; its store and worker pool live on ``app.state`` (no module globals)."""
    store = Store(config.store_path)
    pool = WorkerPool(store, config.workers, processes=config.worker_processes)
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if config.recover:
            picked = pool.recover()
            if picked:
                log.info("resuming %d job(s): %s", len(picked), ", ".join(picked))
        yield
        pool.shutdown()

    app = FastAPI(
        title="Recast", version=__version__, description="Face replacement jobs for VFX plates.", lifespan=lifespan
    )
    app.state.config = config
    app.state.store = store
    app.state.pool = pool

    app.add_middleware(RequestGuard, token=config.token, max_body=config.max_body)

    @app.exception_handler(RecastError)
    async def _recast_error(_request: Request, exc: RecastError) -> JSONResponse:
        return JSONResponse(status_code=_status_for(exc), content={"detail": str(exc)})

    @app.exception_handler(OSError)
    async def _os_error(_request: Request, exc: OSError) -> JSONResponse:
        # a path the OS refuses (a symlink loop, permissions, a vanished folder): the request's
        # problem, named with its cause, never a 500
        return JSONResponse(status_code=400, content={"detail": describe(exc)})

    async def auth(authorization: str | None = Header(default=None), x_recast_token: str | None = Header(default=None)) -> None:
        # async: no thread-pool hop for a header compare (RequestGuard already checked it)
        presented = bearer(authorization) or x_recast_token
        if not token_ok(config.token, presented):
            raise HTTPException(status_code=401, detail="missing or wrong token (Authorization: Bearer <RECAST_TOKEN>)")

    def job_or_404(job_id: str) -> dict[str, Any]:
        if not store.has_job(job_id):
            raise HTTPException(status_code=404, detail=f"job {job_id!r}: no such job")
        return store.get_job(job_id)

    def job_files(job_id: str) -> dict[str, Any]:
        """A job whose files or index this service may read or write: its ``out`` and plate must
        lie inside the roots (every route for a job, reads included; else 403)."""
        return job_paths_inside(job_or_404(job_id))

    def job_paths_inside(job: dict[str, Any]) -> dict[str, Any]:
        """``job`` when its ``out`` and plate resolve inside the roots, else AccessError (403)."""
        job_id = job["id"]
        inside_roots(str(job["out"]), config.roots, f"job {job_id} out")
        plate = job["spec"].get("plate") if isinstance(job.get("spec"), dict) else None
        if isinstance(plate, str):
            inside_roots(plate, config.roots, f"job {job_id} plate")
        return job

    deps = [Depends(auth)]

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"ok": True, "version": __version__}

    @app.get("/schema/{name}", dependencies=deps)
    def schema(name: Literal["settings", "job", "record", "scores"]) -> dict[str, Any]:
        """The JSON Schema of settings, job specs, frame records or QC scores (as `recast schema NAME --json`)."""
        from recast.pipeline.schema.export import json_schema

        return json_schema(name)

    @app.post("/jobs", status_code=201, dependencies=deps)
    def submit_job(body: JobSpec) -> dict[str, str]:
        from recast.pipeline.jobs.runner import submit
        from recast.pipeline.sequence import PlateSequence

        inside_roots(body.plate, config.roots, "spec.plate")
        out = inside_roots(str(body.out), config.roots, "spec.out")
        check_setting_paths(body.settings, config.roots, "spec.settings")
        spec = body.replace(out=out)
        try:
            seq = PlateSequence.open(spec.plate)
            if spec.missing == "black" and spec.frames is not None:  # frames not on disk are written black
                frames = [f for f in spec.frames if f in set(seq.frames)]
            else:
                frames = seq.select(spec.frames)
        except RecastError as exc:
            raise SpecError(f"spec.plate: {exc}") from None
        check_files_inside([seq.path(f) for f in frames], config.roots, "spec.plate")
        job_id = submit(store, spec)
        pool.submit(Task(job_id, "run", priority=spec.priority))
        log.info("job %s submitted (%d frames)", job_id, len(frames))
        return {"job": job_id}

    def served(job: dict[str, Any]) -> bool:
        """Whether ``job``'s files lie inside the roots (the listing omits the others)."""
        try:
            job_paths_inside(job)
        except (RecastError, OSError):
            return False
        return True

    @app.get("/jobs", dependencies=deps)
    async def list_jobs() -> dict[str, Any]:
        # on the event loop: one short read of the WAL store (~1 ms), no thread-pool hop; the
        # jobs themselves run in other processes, so nothing here waits on their GIL.
        # Jobs whose files lie outside the roots (submitted by the CLI) are not this service's.
        return {"jobs": [_brief(j) for j in store.list_jobs() if served(j)]}

    @app.get("/jobs/{job_id}", dependencies=deps)
    def get_job(job_id: JobId) -> dict[str, Any]:
        job = job_files(job_id)
        return _brief(job) | {"spec": job["spec"], "versions": store.versions(job_id), "busy": pool.busy(job_id)}

    @app.post("/jobs/{job_id}/cancel", dependencies=deps)
    def cancel_job(job_id: JobId) -> dict[str, str]:
        job_files(job_id)
        return {"job": job_id, "status": store.cancel_job(job_id)}

    @app.post("/jobs/{job_id}/resume", status_code=202, dependencies=deps)
    def resume_job(job_id: JobId) -> dict[str, str]:
        job = job_files(job_id)
        if job["status"] == "done":
            return {"job": job_id, "status": "done"}
        pool.submit(Task(job_id, "resume", priority=int(job["priority"])))
        return {"job": job_id, "status": "resuming"}

    @app.get("/jobs/{job_id}/frames", dependencies=deps)
    def frames(job_id: JobId, take: int | None = Query(default=None, ge=1, le=100000)) -> dict[str, Any]:
        job_files(job_id)
        return {"frames": store.frames(job_id, take)}

    @app.get("/jobs/{job_id}/frames/{frame}/record", dependencies=deps)
    def record(job_id: JobId, frame: Frame, take: int = Query(default=1, ge=1, le=100000)) -> dict[str, Any]:
        from recast.pipeline.jobs.runner import load_job
        from recast.pipeline.jobs.takes import read_json

        job_files(job_id)
        _job, _spec, layout = load_job(store, job_id)
        rec = read_json(layout.record_path(take, frame))
        if rec is None:
            raise HTTPException(status_code=404, detail=f"job {job_id}: no record for frame {frame} take {take}")
        from recast.pipeline.schema.record import upgrade_record

        return upgrade_record(rec)  # every key of the current schema, whichever schema wrote it

    @app.get(
        "/jobs/{job_id}/frames/{frame}/proxy",
        dependencies=deps,
        responses={200: {"content": {"image/png": {}}}},
        response_class=Response,
    )
    def proxy(
        job_id: JobId,
        frame: Frame,
        take: int = Query(default=1, ge=1, le=100000),
        kind: Literal["comp", "element", "plate"] = Query(default="comp"),
    ) -> Response:
        from recast.pipeline.jobs.runner import load_job
        from recast.pipeline.jobs.takes import read_json
        from recast.pipeline.sequence import PlateSequence
        from recast.pipeline.service.proxy import proxy_png

        job_files(job_id)
        _job, spec, layout = load_job(store, job_id)
        if kind == "plate":
            if frame not in _job_frames(store, job_id):
                raise HTTPException(status_code=404, detail=f"job {job_id}: no frame {frame}")
            path = inside_roots(str(PlateSequence.open(spec.plate).path(frame)), config.roots, "plate")
        else:
            path = layout.comp_path(take, frame) if kind == "comp" else layout.element_path(take, frame)
        if not path.is_file():
            raise HTTPException(status_code=404, detail=f"job {job_id}: no {kind} for frame {frame} take {take}")
        colorspace = spec.settings.get("colorspace") if isinstance(spec.settings.get("colorspace"), str) else None
        record = read_json(layout.record_path(take, frame))  # the engine's colour decision for this frame
        return Response(content=proxy_png(path, config.proxy_max, colorspace, record), media_type="image/png")

    @app.get("/jobs/{job_id}/scores", dependencies=deps)
    def scores(job_id: JobId, take: int | None = Query(default=None, ge=1, le=100000)) -> dict[str, Any]:
        job_files(job_id)
        rows = store.scores(job_id, take)
        return {"scores": [{"frame": f, "take": t, "scores": v} for (f, t), v in sorted(rows.items())]}

    @app.get("/jobs/{job_id}/flags", dependencies=deps)
    def flags(job_id: JobId) -> dict[str, Any]:
        job_files(job_id)
        return {"flags": store.flags(job_id)}

    @app.post("/jobs/{job_id}/flags", status_code=201, dependencies=deps)
    def add_flag(job_id: JobId, body: FlagBody) -> dict[str, int]:
        from recast.pipeline.jobs.review import mirror_flags, validate_strokes

        job = job_files(job_id)
        if body.frame not in _job_frames(store, job_id):
            raise HTTPException(status_code=422, detail=f"frame {body.frame}: not a frame of job {job['id']}")
        strokes = validate_strokes([s.model_dump() for s in body.strokes]) if body.strokes else None
        fid = store.add_flag(job_id, body.frame, "reviewer", body.reason, body.note, body.author, take=body.take, strokes=strokes)
        _mirror(job_id, mirror_flags)
        return {"id": fid}

    def _mirror(job_id: str, fn: Any) -> None:
        try:
            inside_roots(str(store.get_job(job_id)["out"]), config.roots, f"job {job_id} out")
        except AccessError:
            return  # the store row stands; files outside the roots are not this service's to write
        fn(store, job_id)

    @app.post("/jobs/{job_id}/review/flags", status_code=201, dependencies=deps)
    def review_flags(job_id: JobId, body: ReviewFlagBody) -> dict[str, Any]:
        from recast.pipeline.jobs.review import add_reviewer_flags

        job_files(job_id)
        frames = _frames_of(body.frames) or _job_frames(store, job_id)
        strokes = [s.model_dump() for s in body.strokes] if body.strokes else None
        return {"ids": add_reviewer_flags(store, job_id, frames, body.by, body.note, strokes, body.take)}

    @app.delete("/jobs/{job_id}/flags/{flag_id}", dependencies=deps)
    def remove_flag(job_id: JobId, flag_id: int = PathParam(ge=1, le=2**62), by: str = Query(min_length=1, max_length=200)) -> dict[str, Any]:
        from recast.pipeline.jobs.review import remove_reviewer_flags

        job_files(job_id)
        return {"removed": remove_reviewer_flags(store, job_id, [flag_id], by)}

    @app.get("/jobs/{job_id}/review", dependencies=deps)
    def review(job_id: JobId) -> dict[str, Any]:
        from recast.pipeline.jobs.review import review_state

        job_files(job_id)
        return review_state(store, job_id) | {"busy": pool.busy(job_id)}

    @app.get("/jobs/{job_id}/qc", dependencies=deps)
    def qc(job_id: JobId, take: int = Query(default=1, ge=1, le=100000)) -> dict[str, Any]:
        from recast.pipeline.jobs.review import qc_overview

        job = job_files(job_id)
        return qc_overview(Path(job["out"]), take)

    @app.get("/jobs/{job_id}/audit", dependencies=deps)
    def audit(job_id: JobId) -> dict[str, Any]:
        job_files(job_id)
        return {"audit": store.audit_log(job_id)}

    @app.get(
        "/jobs/{job_id}/frames/{frame}/linear",
        dependencies=deps,
        responses={200: {"content": {"application/octet-stream": {}}}},
        response_class=Response,
    )
    def linear_proxy(
        job_id: JobId,
        frame: Frame,
        take: int = Query(default=1, ge=1, le=100000),
        kind: Literal["plate", "comp", "matte"] = Query(default="comp"),
        max_side: int = Query(default=2048, ge=16, le=8192),
    ) -> Response:
        """A review proxy: scene-linear float16 pixels (NumPy .npz with ``pixels`` and ``meta``)."""
        from recast.pipeline.jobs.runner import load_job
        from recast.pipeline.sequence import PlateSequence
        from recast.pipeline.service.proxy import cached_review_proxy

        job_files(job_id)
        _job, spec, layout = load_job(store, job_id)
        if kind == "plate":
            if frame not in _job_frames(store, job_id):
                raise HTTPException(status_code=404, detail=f"job {job_id}: no frame {frame}")
            path = inside_roots(str(PlateSequence.open(spec.plate).path(frame)), config.roots, "plate")
        else:
            path = layout.comp_path(take, frame) if kind == "comp" else layout.element_path(take, frame)
        if not path.is_file():
            raise HTTPException(status_code=404, detail=f"job {job_id}: no {kind} for frame {frame} take {take}")
        from recast.pipeline.jobs.review import plate_colorspace
        from recast.pipeline.jobs.takes import read_json

        colorspace = plate_colorspace(read_json(layout.record_path(take if kind != "plate" else 1, frame)), spec.settings)
        proxy = cached_review_proxy(path, kind, max_side, colorspace)
        return Response(content=proxy.to_bytes(), media_type="application/octet-stream")

    @app.post("/jobs/{job_id}/reference", dependencies=deps)
    def set_reference(job_id: JobId, body: ReferenceBody) -> dict[str, Any]:
        job_files(job_id)
        if body.frame not in _job_frames(store, job_id):
            raise HTTPException(status_code=422, detail=f"frame {body.frame}: not a frame of job {job_id}")
        store.set_reference(job_id, body.frame, body.by)
        return {"job": job_id, "references": store.references(job_id)}

    @app.post("/jobs/{job_id}/reprocess", status_code=202, dependencies=deps)
    def reprocess(job_id: JobId, body: ReprocessBody) -> dict[str, Any]:
        from recast.pipeline.jobs.reprocess import create_take

        job = job_files(job_id)
        check_setting_paths(body.set, config.roots, "set")
        if pool.busy(job_id, _settle(job)):
            raise HTTPException(status_code=409, detail=f"job {job_id} already has a task in progress")
        wanted = _frames_of(body.frames)
        take = create_take(store, job_id, wanted if wanted is not None else _job_frames(store, job_id), body.reference, body.set, body.by)
        pool.submit(Task(job_id, "take", take, priority=int(job["priority"])))
        return {"job": job_id, "take": take}

    def _approve(job_id: str, body: FramesBody, state: str) -> dict[str, Any]:
        from recast.pipeline.jobs.publish import set_approval

        job_files(job_id)
        picks = set_approval(store, job_id, _frames_of(body.frames), body.by, state, body.take)
        return {"job": job_id, "state": state, "frames": {str(f): t for f, t in picks.items()}}

    @app.post("/jobs/{job_id}/approve", dependencies=deps)
    def approve(job_id: JobId, body: FramesBody) -> dict[str, Any]:
        return _approve(job_id, body, "approved")

    @app.post("/jobs/{job_id}/reject", dependencies=deps)
    def reject(job_id: JobId, body: FramesBody) -> dict[str, Any]:
        return _approve(job_id, body, "rejected")

    @app.post("/jobs/{job_id}/publish", status_code=201, dependencies=deps)
    def publish(job_id: JobId, body: PublishBody) -> dict[str, Any]:
        from recast.pipeline.jobs.publish import publish as do_publish

        job = job_files(job_id)
        if pool.busy(job_id, _settle(job)):
            raise HTTPException(status_code=409, detail=f"job {job_id} has a task in progress; publish when it ends")
        m = do_publish(store, job_id, body.fill, body.by)
        return {"version": m["version"], "path": m["path"], "approved": m["approved"], "filled": m["filled"]}

    @app.get("/actors", dependencies=deps)
    def actors() -> dict[str, Any]:
        from recast.models.actor import list_actors

        return {
            "actors": [
                {"name": a.name, "backend": a.backend, "consent_id": a.consent_id, "model_sha256": a.model_sha256}
                for a in list_actors()
            ]
        }

    from recast.pipeline.service.bridge_api import add_bridge_routes

    add_bridge_routes(app, config, store, auth)  # host bridge: /bridge/info, versions/{v}, /preview
    return app


# how long a publish/reprocess waits for a job's task whose job the store shows ended: its
# worker process is still exiting (the store's status is written before the process ends)
ENDED_TASK_SETTLE_S = 3.0


def _settle(job: dict[str, Any]) -> float:
    """Seconds to wait for the job's task to leave the pool: only when the job shows ended."""
    return ENDED_TASK_SETTLE_S if job.get("status") in ("done", "failed", "cancelled") else 0.0


def _job_frames(store: Store, job_id: str) -> list[int]:
    return [r["frame"] for r in store.frames(job_id, 1)]


def _brief(job: dict[str, Any]) -> dict[str, Any]:
    return {k: job[k] for k in ("id", "status", "shot", "owner", "priority", "out", "created", "updated", "error", "frames")} | {
        "takes": [{"take": t["take"], "reference_frame": t["reference_frame"], "frames": t["frames"]} for t in job["takes"]]
    }
