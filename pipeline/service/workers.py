"""A small pool of worker threads running jobs through the same Runner as the CLI.

One task per job at a time; a job being run refuses another task (409). On
start-up the pool resumes jobs left ``running`` by a previous service process
(the files say where they stopped) and queues the ``queued`` ones.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

from pipeline.errors import JobError, RecastError
from pipeline.jobs.runner import Runner, RunOptions
from pipeline.jobs.store import Store

TaskKind = Literal["run", "resume", "take"]
log = logging.getLogger("recast.service")


@dataclass(frozen=True)
class Task:
    job_id: str
    kind: TaskKind
    take: int = 1


class WorkerPool:
    def __init__(self, store: Store, workers: int = 2, options: RunOptions | None = None) -> None:
        self.store = store
        self.options = options or RunOptions()
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="recast-worker")
        self._lock = threading.Lock()
        self._active: dict[str, Future[None]] = {}
        self._stop = threading.Event()

    def busy(self, job_id: str) -> bool:
        with self._lock:
            fut = self._active.get(job_id)
            return fut is not None and not fut.done()

    def submit(self, task: Task) -> None:
        with self._lock:
            fut = self._active.get(task.job_id)
            if fut is not None and not fut.done():
                raise JobError(f"job {task.job_id} already has a task in progress")
            self._active[task.job_id] = self._pool.submit(self._work, task)

    def _work(self, task: Task) -> None:
        if self._stop.is_set():
            return
        runner = Runner(self.store, self.options, stop=self._stop)
        try:
            if task.kind == "run":
                s = runner.run(task.job_id)
            elif task.kind == "resume":
                s = runner.resume(task.job_id)
            else:
                s = runner.run_take(task.job_id, task.take)
            log.info("job %s take %s: %s (%d done, %d failed)", s.job, s.take, s.status, len(s.done), len(s.failed))
        except RecastError as exc:
            log.warning("job %s: %s", task.job_id, exc)
        except Exception as exc:  # noqa: BLE001 - a worker thread never dies silently
            log.error("job %s: internal error %s: %s", task.job_id, type(exc).__name__, " ".join(str(exc).split()))
            try:
                self.store.set_job_status(task.job_id, "failed", f"internal error: {type(exc).__name__}")
            except RecastError:
                pass

    def recover(self) -> list[str]:
        """Queue the jobs a previous process left queued or running; returns their ids."""
        picked: list[str] = []
        for job in sorted(self.store.list_jobs(), key=lambda j: (-int(j["priority"] or 0), j["created"])):
            if job["status"] in ("queued", "running"):
                try:
                    self.submit(Task(job["id"], "resume"))
                    picked.append(job["id"])
                except JobError:
                    pass
        return picked

    def wait(self, job_id: str, timeout: float | None = None) -> None:
        with self._lock:
            fut = self._active.get(job_id)
        if fut is not None:
            fut.result(timeout=timeout)

    def shutdown(self) -> None:
        """Stop after each worker's current frame; unfinished frames stay pending for a resume."""
        self._stop.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
