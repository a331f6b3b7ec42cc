"""Frames through three stages on three threads: read ahead, compute in order, write behind.

The scheme the job runner uses for its chunks (:meth:`pipeline.jobs.runner.Runner._run_chunk`),
without a job store, for ``recast swap``:

- ``load(frame)`` runs on a reader thread, up to ``read_ahead`` frames ahead of compute;
- ``compute(loaded)`` runs on the calling thread, strictly in frame order (tracking needs it);
- ``write(computed)`` runs on a writer thread; at most ``write_behind`` computed frames wait
  for it, so memory stays bounded (``read_ahead + write_behind + 1`` frames at most).

OpenImageIO releases the GIL while it decodes and encodes, so reading and writing overlap
the next frame's compute. None of the stages may raise for a frame's own failure (the
engine's stages record it in the frame's record); anything that does raise stops the run
and is raised here once the threads are drained.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

L = TypeVar("L")
C = TypeVar("C")
R = TypeVar("R")


@dataclass(frozen=True)
class StageOptions:
    read_ahead: int = 2  # frames loaded ahead of compute
    write_behind: int = 2  # computed frames waiting to be written
    pipelined: bool = True  # False: load, compute and write each frame in turn on this thread


@dataclass(frozen=True)
class Stages(Generic[L, C, R]):
    load: Callable[[int], L]
    compute: Callable[[L], C]
    write: Callable[[C], R]


def run_stages(
    frames: Iterable[int],
    stages: Stages[L, C, R],
    options: StageOptions = StageOptions(),
    cancel: threading.Event | None = None,
) -> Iterator[R]:
    """Yield each frame's ``write`` result in frame order, as soon as it is written."""
    todo = [int(f) for f in frames]
    if not options.pipelined:
        for frame in todo:
            if cancel is not None and cancel.is_set():
                return
            yield stages.write(stages.compute(stages.load(frame)))
        return
    reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="recast-read")
    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="recast-write")
    slots = threading.BoundedSemaphore(max(1, options.write_behind))
    ahead = max(1, options.read_ahead)
    loads: dict[int, Future[L]] = {}
    # writes not yet handed back, oldest first; a handed-back future is dropped (it holds its
    # frame's record: keeping them all made memory grow with the shot's length)
    writes: deque[Future[R]] = deque()

    def prefetch(idx: int) -> None:
        if idx < len(todo) and idx not in loads:
            loads[idx] = reader.submit(stages.load, todo[idx])

    def write_task(computed: C) -> R:
        try:
            return stages.write(computed)
        finally:
            slots.release()

    try:
        for i in range(min(len(todo), ahead)):
            prefetch(i)
        for i in range(len(todo)):
            if cancel is not None and cancel.is_set():
                break
            prefetch(i + ahead)
            computed = stages.compute(loads.pop(i).result())
            slots.acquire()
            writes.append(writer.submit(write_task, computed))
            del computed
            while writes and writes[0].done():  # hand back what is written, in order
                yield writes.popleft().result()
        while writes:
            yield writes.popleft().result()
    finally:
        for fut in loads.values():
            fut.cancel()
        reader.shutdown(wait=True)
        writer.shutdown(wait=True)
