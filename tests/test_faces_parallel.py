"""Detection searches run side by side (the whole-frame downscale, the pyramid's tiles, the
windows around tracks): the faces are those of one search after the other, and every thread
runs a HOG detector of its own (dlib's keeps its last scan inside itself).

Real faces: skimage's astronaut and insightface's t1.jpg pasted into a UHD canvas, one of them
small enough that only the tiles find it.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from recast.pipeline.faces import AnalyserOptions, create_analyser
from recast.pipeline.faces.stream import FaceStream, StreamOptions
from tests._faces_fixtures import astronaut, t1
from tests.test_faces_small import _source_box, paste


@pytest.fixture(scope="module")
def dlib5():
    return create_analyser("dlib", AnalyserOptions(allow_noncommercial_models=False), notify=lambda _t: None)


def _plate(dlib5) -> np.ndarray:
    """UHD: t1's group with a 108 px face (tiles only) and a ~500 px astronaut face (the downscale finds it)."""
    small = t1()
    plate = paste(small, _source_box(dlib5, small), 108, (2160, 3840), (2900, 1500))
    big = astronaut()
    face = paste(big, _source_box(dlib5, big), 500, (2160, 3840), (900, 500))
    keep = np.abs(face - 0.18).sum(axis=2) > 0  # the pasted astronaut's pixels
    plate[keep] = face[keep]
    return plate


def _faces_json(faces) -> list[dict]:
    return [f.to_json() for f in faces]


def test_parallel_searches_find_what_serial_ones_find(dlib5, monkeypatch) -> None:
    plate = _plate(dlib5)
    assert dlib5._detection_pool() is not None, "a 2-core machine or more runs the searches side by side"
    ran_on: set[str] = set()
    tile = type(dlib5)._detect_tile

    def record_tile(self, *args, **kwargs):
        ran_on.add(threading.current_thread().name)
        return tile(self, *args, **kwargs)

    monkeypatch.setattr(type(dlib5), "_detect_tile", record_tile)
    together = dlib5.analyse(plate, embed=False)  # whole frame + tiles
    assert any(name.startswith("recast-detect") for name in ran_on), ran_on
    sizes = sorted(round(f.size) for f in together)
    assert sizes[0] < 160 and sizes[-1] > 350, sizes  # tiles' small faces (t1 is a group) and the downscale's
    regions = [f.box + np.array([9.0, -6.0, 9.0, -6.0]) for f in together]
    windows = dlib5.analyse(plate, embed=False, regions=regions, whole=True)
    monkeypatch.setattr(type(dlib5), "_detection_pool", lambda self: None)
    assert _faces_json(dlib5.analyse(plate, embed=False)) == _faces_json(together)
    assert _faces_json(dlib5.analyse(plate, embed=False, regions=regions, whole=True)) == _faces_json(windows)
    assert all(d.trusted for d in dlib5._detect_trusted_region(plate, regions[0], None))


def test_stream_over_frames_same_with_and_without_threads(dlib5, monkeypatch) -> None:
    """Tracked faces over frames that run tiles, the downscale and windows, threads or not."""
    base = _plate(dlib5)

    def run() -> list[list[dict]]:
        stream = FaceStream(dlib5, StreamOptions(tile_scan_every=2))
        out = []
        for i in range(3):
            plate = np.roll(base, (4 * i, -6 * i), axis=(0, 1))
            out.append(_faces_json(stream.process(1001 + i, plate)))
        return out

    threaded = run()
    monkeypatch.setattr(type(dlib5), "_detection_pool", lambda self: None)
    assert run() == threaded
    assert all(len(frame) >= 2 for frame in threaded)


def test_each_thread_runs_its_own_detector(dlib5) -> None:
    models = dlib5.models
    mine = models.hog_here()
    assert mine is models.hog(), "the thread that loaded the models keeps their detector"
    seen: list[object] = []
    worker = threading.Thread(target=lambda: seen.extend([models.hog_here(), models.hog_here()]))
    worker.start()
    worker.join()
    assert seen[0] is seen[1] and seen[0] is not mine
    rng = np.random.default_rng(3)
    image = (rng.random((300, 400, 3)) * 255).astype(np.uint8)
    image[60:240, 120:280] = (astronaut()[40:220, 180:340] * 255).astype(np.uint8)
    a = mine.run(image, 0, -0.5)
    b = seen[0].run(image, 0, -0.5)
    assert [(r.left(), r.top(), r.right(), r.bottom()) for r in a[0]] == [(r.left(), r.top(), r.right(), r.bottom()) for r in b[0]]
    assert list(a[1]) == list(b[1])
