"""A small pool of worker threads running jobs through the same Runner as the CLI.

Tasks wait in a priority queue (the job's ``priority``, higher first, then
first come first served). One task per job at a time: a job with a task waiting
or running refuses another (409). On start-up the pool resumes jobs left
``queued`` or ``running`` by a previous service process (the files say where
they stopped). The Runner scores each take as its frames finish, so a job
a worker ran has its scores and auto flags in the store when it is done.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
from dataclasses import dataclass
from typing import Literal

from recast.pipeline.errors import JobError, RecastError
from recast.pipeline.jobs.runner import Runner, RunOptions
from recast.pipeline.jobs.store import Store

TaskKind = Literal["run", "resume", "take"]
log = logging.getLogger("recast.service")


@dataclass(frozen=True)
class Task:
    job_id: str
    kind: TaskKind
    take: int = 1
    priority: int = 50


class WorkerPool:
    def __init__(self, store: Store, workers: int = 2, options: RunOptions | None = None) -> None:
        self.store = store
        self.options = options or RunOptions()
        self._cond = threading.Condition()
        self._queue: list[tuple[int, int, Task]] = []
        self._seq = itertools.count()
        self._pending: set[str] = set()  # jobs with a task queued or running
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._loop, name=f"recast-worker-{i}", daemon=True) for i in range(max(1, workers))
        ]
        for t in self._threads:
            t.start()

    def busy(self, job_id: str) -> bool:
        with self._cond:
            return job_id in self._pending

    def submit(self, task: Task) -> None:
        with self._cond:
            if self._stop.is_set():
                raise JobError("the service is shutting down; try again when it is back")
            if task.job_id in self._pending:
                raise JobError(f"job {task.job_id} already has a task in progress")
            self._pending.add(task.job_id)
            heapq.heappush(self._queue, (-task.priority, next(self._seq), task))
            self._cond.notify()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stop.is_set():
                    self._cond.wait()
                if self._stop.is_set():
                    return
                _, _, task = heapq.heappop(self._queue)
            try:
                self._work(task)
            finally:
                with self._cond:
                    self._pending.discard(task.job_id)
                    self._cond.notify_all()

    def _work(self, task: Task) -> None:
        runner = Runner(self.store, self.options, stop=self._stop)
        try:
            if task.kind == "run":
                s = runner.run(task.job_id)
            elif task.kind == "resume":
                s = runner.resume(task.job_id)
            else:
                s = runner.run_take(task.job_id, task.take)
            log.info("job %s take %s: %s (%d done, %d failed)", s.job, s.take, s.status, len(s.done), len(s.failed))
            for take, qc in sorted(s.qc.items()):
                log.info("job %s take %s: QC %d pass, %d warn, %d fail", s.job, take, qc["pass"], qc["warn"], qc["fail"])
            for msg in s.qc_errors.values():
                log.warning("job %s: %s", s.job, msg)
        except RecastError as exc:
            log.warning("job %s: %s", task.job_id, exc)
        except Exception as exc:  # noqa: BLE001 - a worker thread never dies silently
            log.error("job %s: internal error %s: %s", task.job_id, type(exc).__name__, " ".join(str(exc).split()))

    def recover(self) -> list[str]:
        """Queue the jobs a previous process left queued or running; returns their ids."""
        picked: list[str] = []
        for job in self.store.list_jobs():
            if job["status"] in ("queued", "running", "interrupted"):
                try:
                    self.submit(Task(job["id"], "resume", priority=int(job["priority"] or 0)))
                    picked.append(job["id"])
                except JobError:
                    pass
        return picked

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no task is queued or running; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._pending, timeout)

    def shutdown(self) -> None:
        """Stop after each worker's current frame; unfinished frames stay pending for a resume."""
        with self._cond:
            self._stop.set()
            self._queue.clear()
            self._cond.notify_all()
        for t in self._threads:
            t.join()
