"""The review app's one door to the core: :class:`ReviewClient`, with two implementations.

- :class:`LocalClient` opens the job store (``$RECAST_HOME/recast.db``) and the job's
  folder through the core's Python API (store, takes, reprocess, publish, QC).
- :class:`HttpClient` talks to a running ``recast serve``.

The UI calls nothing else: it never opens SQLite or a job file itself. Every
method may block (disk, network, a reprocess), so the UI calls them from
worker threads; both clients are safe to share between threads.
"""

from __future__ import annotations

import getpass
import os
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recast.pipeline.errors import JobError, RecastError, SpecError
from recast.pipeline.service.proxy import ReviewProxy

DEFAULT_PROXY_SIDE = 2048


def default_reviewer() -> str:
    """The OS user (``$USER`` or the login name)."""
    try:
        return os.environ.get("RECAST_REVIEWER") or getpass.getuser()
    except (KeyError, OSError):
        return "reviewer"


@dataclass
class TakeProgress:
    take: int
    done: int
    failed: int
    total: int
    finished: bool
    error: str | None = None


@dataclass
class JobRow:
    """One line of the job list."""

    id: str
    shot: str
    actor: str
    status: str
    counts: dict[str, int] = field(default_factory=dict)  # pass / warn / fail of take 1
    updated: str = ""


class ReviewClient(ABC):
    """What the review app may ask of the core. ``reviewer`` signs every action."""

    reviewer: str
    where: str  # shown in the title bar

    # -- reading ------------------------------------------------------------------
    @abstractmethod
    def jobs(self) -> list[JobRow]: ...

    @abstractmethod
    def job(self, job_id: str) -> dict[str, Any]:
        """The job: id, shot, status, out, spec, takes (with frame counts), versions."""

    @abstractmethod
    def state(self, job_id: str) -> dict[str, Any]:
        """frames, flags, references, approvals, takes (frame -> done takes), versions."""

    @abstractmethod
    def qc(self, job_id: str, take: int = 1) -> dict[str, Any]:
        """The take's QC overview (see ``pipeline.jobs.review.qc_overview``)."""

    @abstractmethod
    def record(self, job_id: str, frame: int, take: int = 1) -> dict[str, Any] | None: ...

    @abstractmethod
    def proxy(self, job_id: str, frame: int, take: int, kind: str, max_side: int = DEFAULT_PROXY_SIDE) -> ReviewProxy:
        """kind: plate | comp | matte (the face element's alpha)."""

    @abstractmethod
    def audit(self, job_id: str) -> list[dict[str, Any]]: ...

    # -- decisions ----------------------------------------------------------------
    @abstractmethod
    def flag(self, job_id: str, frames: list[int], note: str | None, strokes: list[dict[str, Any]] | None = None,
             take: int | None = None) -> list[int]: ...

    @abstractmethod
    def unflag(self, job_id: str, flag_ids: list[int]) -> None: ...

    @abstractmethod
    def set_reference(self, job_id: str, frame: int) -> None: ...

    @abstractmethod
    def approve(self, job_id: str, frames: list[int], take: int | None, state: str = "approved") -> dict[int, int]: ...

    @abstractmethod
    def reprocess(self, job_id: str, frames: list[int], reference: int | None, overrides: dict[str, Any] | None = None) -> int:
        """Start a new take of ``frames`` against ``reference`` (with settings ``overrides``: a variant); returns its number at once."""

    @abstractmethod
    def progress(self, job_id: str, take: int) -> TakeProgress: ...

    @abstractmethod
    def publish(self, job_id: str) -> dict[str, Any]:
        """The next version of the approved frames: ``{"version", "path", "approved", "filled"}``."""


def _actor_of(spec: dict[str, Any]) -> str:
    if spec.get("actor"):
        return str(spec["actor"])
    actors = spec.get("actors") or {}
    return ", ".join(sorted({str(v) for v in actors.values()})) if isinstance(actors, dict) else ""


# ---------------------------------------------------------------------------------- local


class LocalClient(ReviewClient):
    """The job store and folders on this machine, through the core's Python API."""

    def __init__(self, store_path: Path | None = None, reviewer: str | None = None, proxy_cache: Path | None = None) -> None:
        from recast.pipeline.jobs.store import Store, default_db_path

        self.store = Store(store_path or default_db_path())
        self.reviewer = reviewer or default_reviewer()
        self.where = str(self.store.path)
        self.proxy_cache = proxy_cache
        self._runs: dict[tuple[str, int], threading.Thread] = {}
        self._errors: dict[tuple[str, int], str] = {}
        self._lock = threading.Lock()

    def open_folder(self, out: Path) -> str:
        """A job output folder -> its job id, indexing it into the store first if the store lacks it."""
        from recast.pipeline.jobs.reindex import reindex
        from recast.pipeline.jobs.takes import read_json

        meta = read_json(Path(out) / "job.json")
        if meta is None or not isinstance(meta.get("id"), str):
            raise JobError(f"{out}: no readable job.json; not a job output folder")
        if not self.store.has_job(meta["id"]):
            reindex(self.store, Path(out))
        return str(meta["id"])

    def _layout(self, job_id: str) -> Any:
        from recast.pipeline.jobs.runner import load_job

        return load_job(self.store, job_id)

    def jobs(self) -> list[JobRow]:
        from recast.pipeline.jobs.review import qc_overview

        rows = []
        for j in self.store.list_jobs():
            summary = qc_overview(Path(j["out"]), 1).get("summary") or {}
            rows.append(JobRow(j["id"], j["shot"], _actor_of(j["spec"]), j["status"],
                               {k: int(summary.get(k, 0)) for k in ("pass", "warn", "fail")}, j["updated"]))
        return rows

    def job(self, job_id: str) -> dict[str, Any]:
        job = self.store.get_job(job_id)
        return job | {"versions": self.store.versions(job_id)}

    def state(self, job_id: str) -> dict[str, Any]:
        from recast.pipeline.jobs.review import review_state

        return review_state(self.store, job_id) | {"busy": self._busy(job_id)}

    def qc(self, job_id: str, take: int = 1) -> dict[str, Any]:
        from recast.pipeline.jobs.review import qc_overview

        return qc_overview(Path(self.store.get_job(job_id)["out"]), take)

    def record(self, job_id: str, frame: int, take: int = 1) -> dict[str, Any] | None:
        from recast.pipeline.jobs.takes import read_json

        _job, _spec, layout = self._layout(job_id)
        return read_json(layout.record_path(take, frame))

    def proxy(self, job_id: str, frame: int, take: int, kind: str, max_side: int = DEFAULT_PROXY_SIDE) -> ReviewProxy:
        from recast.pipeline.jobs.review import plate_colorspace
        from recast.pipeline.jobs.takes import read_json
        from recast.pipeline.sequence import PlateSequence
        from recast.pipeline.service.proxy import cached_review_proxy

        _job, spec, layout = self._layout(job_id)
        rec = read_json(layout.record_path(1 if kind == "plate" else take, frame))
        if kind == "plate":
            path = PlateSequence.open(spec.plate).path(frame)
        elif kind == "comp":
            path = layout.comp_path(take, frame)
        else:
            path = layout.element_path(take, frame)
        if not Path(path).is_file():
            raise JobError(f"job {job_id}: no {kind} for frame {frame} take {take}")
        return cached_review_proxy(Path(path), kind, max_side, plate_colorspace(rec, spec.settings), self.proxy_cache)

    def audit(self, job_id: str) -> list[dict[str, Any]]:
        return self.store.audit_log(job_id)

    def flag(self, job_id: str, frames: list[int], note: str | None, strokes: list[dict[str, Any]] | None = None,
             take: int | None = None) -> list[int]:
        from recast.pipeline.jobs.review import add_reviewer_flags

        return add_reviewer_flags(self.store, job_id, frames, self.reviewer, note, strokes, take)

    def unflag(self, job_id: str, flag_ids: list[int]) -> None:
        from recast.pipeline.jobs.review import remove_reviewer_flags

        remove_reviewer_flags(self.store, job_id, flag_ids, self.reviewer)

    def set_reference(self, job_id: str, frame: int) -> None:
        if frame not in {r["frame"] for r in self.store.frames(job_id, 1)}:
            raise JobError(f"frame {frame}: not a frame of job {job_id}")
        self.store.set_reference(job_id, frame, self.reviewer)

    def approve(self, job_id: str, frames: list[int], take: int | None, state: str = "approved") -> dict[int, int]:
        from recast.pipeline.jobs.publish import set_approval

        return set_approval(self.store, job_id, frames, self.reviewer, state, take)

    def _busy(self, job_id: str) -> bool:
        with self._lock:
            return any(k[0] == job_id and t.is_alive() for k, t in self._runs.items())

    def reprocess(self, job_id: str, frames: list[int], reference: int | None, overrides: dict[str, Any] | None = None) -> int:
        from recast.pipeline.jobs.reprocess import create_take
        from recast.pipeline.jobs.runner import Runner

        if self._busy(job_id):
            raise JobError(f"job {job_id} already has a reprocess in progress")
        take = create_take(self.store, job_id, sorted(set(frames)), reference, dict(overrides or {}), self.reviewer)
        key = (job_id, take)

        def run() -> None:
            try:
                Runner(self.store).run_take(job_id, take)
            except RecastError as exc:
                self._errors[key] = str(exc)
            except Exception as exc:  # noqa: BLE001 - the UI shows it; the thread never dies silently
                self._errors[key] = f"internal error {type(exc).__name__}: {' '.join(str(exc).split())}"

        t = threading.Thread(target=run, name=f"recast-review-take-{take}", daemon=True)
        with self._lock:
            self._runs[key] = t
        t.start()
        return take

    def progress(self, job_id: str, take: int) -> TakeProgress:
        rows = self.store.frames(job_id, take)
        with self._lock:
            t = self._runs.get((job_id, take))
        finished = t is None or not t.is_alive()
        done = sum(r["status"] == "done" for r in rows)
        failed = sum(r["status"] == "failed" for r in rows)
        return TakeProgress(take, done, failed, len(rows), finished, self._errors.get((job_id, take)))

    def publish(self, job_id: str) -> dict[str, Any]:
        from recast.pipeline.jobs.publish import publish

        if self._busy(job_id):
            raise JobError(f"job {job_id} has a reprocess in progress; publish when it ends")
        m = publish(self.store, job_id, "plate", self.reviewer)
        return {k: m[k] for k in ("version", "path", "approved", "filled")}


# ---------------------------------------------------------------------------------- HTTP


class HttpClient(ReviewClient):
    """A running ``recast serve`` (token from ``$RECAST_TOKEN`` when set)."""

    def __init__(self, url: str, reviewer: str | None = None, token: str | None = None, timeout: float = 60.0) -> None:
        import requests

        self.url = url.rstrip("/")
        if not self.url.startswith(("http://", "https://")):
            raise SpecError(f"--server {url!r}: expected an http:// or https:// URL")
        self.reviewer = reviewer or default_reviewer()
        self.where = self.url
        self.timeout = timeout
        self._session = requests.Session()
        tok = token if token is not None else os.environ.get("RECAST_TOKEN")
        if tok:
            self._session.headers["Authorization"] = f"Bearer {tok}"
        self._lock = threading.Lock()

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        import requests

        try:
            with self._lock:  # requests.Session is not documented thread-safe
                resp = self._session.request(method, self.url + path, timeout=self.timeout, **kw)
        except requests.RequestException as exc:
            raise JobError(f"{self.url}: cannot reach the service ({type(exc).__name__})") from None
        if resp.status_code >= 400:
            try:
                detail = resp.json().get("detail")
            except ValueError:
                detail = resp.text[:200]
            if isinstance(detail, list):  # FastAPI validation errors
                detail = "; ".join(str(d.get("msg", d)) for d in detail[:3])
            raise JobError(f"{self.url}{path}: {resp.status_code} {detail}")
        return resp

    def _json(self, method: str, path: str, **kw: Any) -> Any:
        return self._call(method, path, **kw).json()

    def jobs(self) -> list[JobRow]:
        rows = []
        for j in self._json("GET", "/jobs")["jobs"]:
            full = self._json("GET", f"/jobs/{j['id']}")
            try:
                summary = self.qc(j["id"], 1).get("summary") or {}
            except JobError:
                summary = {}
            rows.append(JobRow(j["id"], j["shot"], _actor_of(full.get("spec") or {}), j["status"],
                               {k: int(summary.get(k, 0)) for k in ("pass", "warn", "fail")}, j["updated"]))
        return rows

    def job(self, job_id: str) -> dict[str, Any]:
        return dict(self._json("GET", f"/jobs/{job_id}"))

    def state(self, job_id: str) -> dict[str, Any]:
        return dict(self._json("GET", f"/jobs/{job_id}/review"))

    def qc(self, job_id: str, take: int = 1) -> dict[str, Any]:
        return dict(self._json("GET", f"/jobs/{job_id}/qc", params={"take": take}))

    def record(self, job_id: str, frame: int, take: int = 1) -> dict[str, Any] | None:
        try:
            return dict(self._json("GET", f"/jobs/{job_id}/frames/{frame}/record", params={"take": take}))
        except JobError as exc:
            if " 404 " in str(exc):
                return None
            raise

    def proxy(self, job_id: str, frame: int, take: int, kind: str, max_side: int = DEFAULT_PROXY_SIDE) -> ReviewProxy:
        resp = self._call("GET", f"/jobs/{job_id}/frames/{frame}/linear", params={"take": take, "kind": kind, "max_side": max_side})
        return ReviewProxy.from_bytes(resp.content, f"{self.url} frame {frame} {kind}")

    def audit(self, job_id: str) -> list[dict[str, Any]]:
        return list(self._json("GET", f"/jobs/{job_id}/audit")["audit"])

    def flag(self, job_id: str, frames: list[int], note: str | None, strokes: list[dict[str, Any]] | None = None,
             take: int | None = None) -> list[int]:
        body: dict[str, Any] = {"frames": sorted(set(frames)), "by": self.reviewer, "note": note}
        if strokes:
            body["strokes"] = strokes
        if take is not None:
            body["take"] = take
        return list(self._json("POST", f"/jobs/{job_id}/review/flags", json=body)["ids"])

    def unflag(self, job_id: str, flag_ids: list[int]) -> None:
        for fid in flag_ids:
            self._call("DELETE", f"/jobs/{job_id}/flags/{int(fid)}", params={"by": self.reviewer})

    def set_reference(self, job_id: str, frame: int) -> None:
        self._call("POST", f"/jobs/{job_id}/reference", json={"frame": frame, "by": self.reviewer})

    def approve(self, job_id: str, frames: list[int], take: int | None, state: str = "approved") -> dict[int, int]:
        body: dict[str, Any] = {"frames": sorted(set(frames)), "by": self.reviewer}
        if take is not None:
            body["take"] = take
        res = self._json("POST", f"/jobs/{job_id}/{'approve' if state == 'approved' else 'reject'}", json=body)
        return {int(f): int(t) for f, t in res["frames"].items()}

    def reprocess(self, job_id: str, frames: list[int], reference: int | None, overrides: dict[str, Any] | None = None) -> int:
        body = {"frames": sorted(set(frames)), "reference": reference, "by": self.reviewer, "set": dict(overrides or {})}
        return int(self._json("POST", f"/jobs/{job_id}/reprocess", json=body)["take"])

    def progress(self, job_id: str, take: int) -> TakeProgress:
        job = self.job(job_id)
        t = next((t for t in job["takes"] if t["take"] == take), None)
        if t is None:
            raise JobError(f"job {job_id}: no take {take}")
        c = t["frames"]
        finished = not job.get("busy")  # the service's worker holds the job until the take (and its QC) ends
        return TakeProgress(take, c.get("done", 0), c.get("failed", 0), sum(c.values()), bool(finished), None)

    def publish(self, job_id: str) -> dict[str, Any]:
        return dict(self._json("POST", f"/jobs/{job_id}/publish", json={"fill": "plate", "by": self.reviewer}))


def open_client(target: str | None, server: str | None, reviewer: str | None) -> tuple[ReviewClient, str | None]:
    """(client, job id or None) for ``recast review [JOB_ID|JOB_DIR] [--server URL]``."""
    if server:
        return HttpClient(server, reviewer), target
    client = LocalClient(reviewer=reviewer)
    if target and (Path(target) / "job.json").is_file():
        return client, client.open_folder(Path(target))
    if target and not client.store.has_job(target):
        if Path(target).exists():
            raise JobError(f"{target}: not a job output folder (no job.json)")
        raise JobError(f"job {target!r}: no such job in {client.store.path} (give a job id or a job folder)")
    return client, target
