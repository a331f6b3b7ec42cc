"""Frames for the viewer, made off the UI thread: proxies -> display images, cached, neighbours prefetched.

Two caches in memory (LRU): the scene-linear proxies the client returns (already
cached on disk by the core), and the finished display bundles (8-bit A, B and
difference images plus what the overlays and the pixel readout need) per
frame, sources and display settings. Work runs on a small pool of Python
threads fed from a priority queue (the frame on screen first, then its
neighbours); a finished bundle is announced with a queued Qt signal, so the UI
thread only ever paints.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PyQt5.QtCore import QObject, pyqtSignal

from recast.pipeline.errors import RecastError
from recast.pipeline.service.proxy import ReviewProxy
from recast.review_ui.client import DEFAULT_PROXY_SIDE, ReviewClient
from recast.review_ui.display import DisplayPipeline, DisplaySettings, channel_view, difference


@dataclass(frozen=True)
class Source:
    """What a side of the comparison shows: the plate, or a take's comp."""

    kind: str  # plate | comp
    take: int = 1

    @property
    def label(self) -> str:
        return "plate" if self.kind == "plate" else f"take {self.take}"


@dataclass(frozen=True)
class FrameKey:
    frame: int
    a: Source
    b: Source
    settings: DisplaySettings


@dataclass
class Bundle:
    key: FrameKey
    a8: np.ndarray
    b8: np.ndarray
    diff8: np.ndarray
    a_lin: ReviewProxy
    b_lin: ReviewProxy
    records: dict[str, dict[str, Any] | None] = field(default_factory=dict)  # "a"/"b" -> frame record
    space: str = ""


class _LRU:
    def __init__(self, size: int) -> None:
        self.size = size
        self._d: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            v = self._d.get(key)
            if v is not None:
                self._d.move_to_end(key)
            return v

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            self._d[key] = value
            self._d.move_to_end(key)
            while len(self._d) > self.size:
                self._d.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._d.clear()


class FrameLoader(QObject):
    ready = pyqtSignal(object)  # FrameKey
    failed = pyqtSignal(object, str)  # FrameKey, one-line reason

    def __init__(self, client: ReviewClient, job_id: str, pipe: DisplayPipeline, workers: int = 2,
                 max_side: int = DEFAULT_PROXY_SIDE, bundles: int = 24) -> None:
        super().__init__()
        self.client, self.job_id, self.pipe, self.max_side = client, job_id, pipe, max_side
        self._proxies = _LRU(bundles * 3)
        self._bundles = _LRU(bundles)
        self._records = _LRU(bundles * 3)
        self._cond = threading.Condition()
        self._queue: list[tuple[int, int, FrameKey]] = []
        self._pending: set[FrameKey] = set()
        self._seq = itertools.count()
        self._stop = False
        self._threads = [threading.Thread(target=self._loop, name=f"recast-review-load-{i}", daemon=True) for i in range(workers)]
        for t in self._threads:
            t.start()

    # -- API for the UI thread ----------------------------------------------------------
    def cached(self, key: FrameKey) -> Bundle | None:
        return self._bundles.get(key)  # type: ignore[no-any-return]

    def request(self, key: FrameKey, priority: int = 0) -> None:
        if self._bundles.get(key) is not None:
            return
        with self._cond:
            if key in self._pending or self._stop:
                return
            self._pending.add(key)
            heapq.heappush(self._queue, (priority, next(self._seq), key))
            self._cond.notify()

    def idle(self) -> bool:
        with self._cond:
            return not self._pending

    def forget_take(self, take: int | None = None) -> None:
        """Drop cached bundles (new take, new decisions): they are rebuilt on demand."""
        self._bundles.clear()

    def shutdown(self, timeout: float = 30.0) -> None:
        """Stop the workers after the frame each is on (joined, so nothing outlives the window)."""
        with self._cond:
            self._stop = True
            self._queue.clear()
            self._cond.notify_all()
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(timeout)

    # -- workers ------------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                _, _, key = heapq.heappop(self._queue)
            try:
                self._bundles.put(key, self.build(key))
                self.ready.emit(key)
            except RecastError as exc:
                self.failed.emit(key, str(exc))
            except Exception as exc:  # noqa: BLE001 - shown in the status bar, the worker lives on
                self.failed.emit(key, f"internal error {type(exc).__name__}: {' '.join(str(exc).split())}")
            finally:
                with self._cond:
                    self._pending.discard(key)

    def _proxy(self, frame: int, kind: str, take: int) -> ReviewProxy:
        k = (frame, kind, take)
        p = self._proxies.get(k)
        if p is None:
            p = self.client.proxy(self.job_id, frame, take, kind, self.max_side)
            self._proxies.put(k, p)
        return p  # type: ignore[no-any-return]

    def _record(self, frame: int, take: int) -> dict[str, Any] | None:
        k = (frame, take)
        hit = self._records.get(k)
        if hit is None:
            hit = {"rec": self.client.record(self.job_id, frame, take)}
            self._records.put(k, hit)
        return hit["rec"]  # type: ignore[no-any-return]

    def build(self, key: FrameKey) -> Bundle:
        """The display bundle of ``key`` (blocking; the workers call it, so can a benchmark)."""
        a = self._proxy(key.frame, key.a.kind, key.a.take)
        b = self._proxy(key.frame, key.b.kind, key.b.take)
        s = key.settings
        matte_a = matte_b = None
        if s.channel == "matte":
            matte_a = self._matte(key.frame, key.a)
            matte_b = self._matte(key.frame, key.b)
        space = b.colorspace if b.colorspace != "n/a" else a.colorspace
        a8 = channel_view(self.pipe, a.pixels, a.colorspace, s, matte_a)
        b8 = channel_view(self.pipe, b.pixels, b.colorspace, s, matte_b)
        recs = {"a": self._record(key.frame, key.a.take if key.a.kind == "comp" else 1),
                "b": self._record(key.frame, key.b.take if key.b.kind == "comp" else 1)}
        return Bundle(key, a8, b8, difference(a8, b8, s.gain), a, b, recs, space)

    def _matte(self, frame: int, src: Source) -> np.ndarray | None:
        if src.kind != "comp":
            return None
        try:
            return self._proxy(frame, "matte", src.take).pixels
        except RecastError:
            return None  # a frame without a swapped face has no element
