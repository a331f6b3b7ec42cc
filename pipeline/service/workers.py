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
import os
import threading
from pathlib import Path
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
    def __init__(self, store: Store, workers: int = 2, options: RunOptions | None = None, *, processes: bool = True) -> None:
        self.store = store
        self.options = options or RunOptions()
        self.processes = processes  # each task in its own process: the service's event loop never waits on the GIL
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

    def busy(self, job_id: str, settle: float = 0.0) -> bool:
        """Whether a task of the job is queued or running; with ``settle`` > 0, first wait up
        to that many seconds for it to end (a task whose job the store already shows ended is
        still "busy" while its worker process exits)."""
        with self._cond:
            if settle > 0:
                self._cond.wait_for(lambda: job_id not in self._pending, settle)
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
        if self.processes:
            self._work_in_process(task)
        else:
            run_task(self.store, self.options, task, self._stop)

    def _work_in_process(self, task: Task) -> None:
        """Run the task in a child process (spawned: no fork of a threaded server); the pool's
        stop is passed on as SIGTERM, on which the child stops after its current frame."""
        import multiprocessing as mp
        import signal

        proc = mp.get_context("spawn").Process(
            target=_child_main, args=(str(self.store.path), self.options, task), name=f"recast-job-{task.job_id}", daemon=True
        )
        proc.start()
        signalled = False
        while proc.is_alive():
            proc.join(0.2)
            if self._stop.is_set() and not signalled and proc.pid is not None:
                try:
                    os.kill(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                signalled = True
        if proc.exitcode not in (0, None):
            log.error("job %s: its worker process ended with exit code %s", task.job_id, proc.exitcode)

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


def run_task(store: Store, options: RunOptions, task: Task, stop: threading.Event) -> None:
    """One task through the Runner (in this process); errors are logged, never raised."""
    runner = Runner(store, options, stop=stop)
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


def _child_main(store_path: str, options: RunOptions, task: Task) -> None:
    """Entry point of a task's process: its own store connection, its own worker id."""
    import dataclasses
    import signal

    from recast.pipeline.jobs.runner import default_worker

    _die_with_parent()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    run_task(Store(Path(store_path)), dataclasses.replace(options, worker=default_worker()), task, stop)


def _die_with_parent() -> None:
    """A killed service takes its job processes with it (Linux PR_SET_PDEATHSIG): their
    frames stay ``running`` by a dead worker, the job shows ``interrupted`` and the next
    ``recast serve`` resumes it, instead of an orphan racing the new service."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the orphan finishes its job, a resume skips what it did
        return
    if os.getppid() == 1:  # the parent died before the call
        os._exit(1)
