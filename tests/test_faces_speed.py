"""Detection's cheap paths give the same answers as the plain ones: no-copy resampling of
plate views, tiles converted at plate resolution, one set of dlib models shared, a reference
frame's scan reused by the frame's own run, near-floor tile hits looked at again."""

from __future__ import annotations

import copy

import cv2
import numpy as np
import pytest

from recast.pipeline.faces import AnalyserOptions, create_analyser
from recast.pipeline.faces.imageprep import _pixel_layout, all_finite, resize, to_uint8
from recast.pipeline.faces.pyramid import Tile, render_tile
from recast.pipeline.faces.stream import FaceStream, StreamOptions
from tests._faces_fixtures import t1
from tests.test_faces_small import paste


@pytest.fixture(scope="module")
def dlib5():
    return create_analyser("dlib", AnalyserOptions(allow_noncommercial_models=False), notify=lambda _t: None)


def test_resize_of_plate_views_equals_resize_of_a_copy() -> None:
    rgba = np.random.default_rng(1).random((300, 500, 4), dtype=np.float32) * 3.0
    views = {
        "rgb of rgba": rgba[..., :3],
        "gba of rgba": rgba[..., 1:4],
        "window of rgba": rgba[40:260, 70:410, :3],
        "every other row": rgba[::2, :, :3],
    }
    for name, view in views.items():
        for size, interp in (((125, 70), cv2.INTER_AREA), ((900, 700), cv2.INTER_LINEAR)):
            want = cv2.resize(np.ascontiguousarray(view), size, interpolation=interp)
            got = resize(view, size, interp)
            assert got.shape == want.shape and np.array_equal(got, want), name
    # the plate's own pixel layout is resampled in place (no copy of the view first)
    full, first = _pixel_layout(rgba[40:260, 70:410, 1:4])
    assert first == 1 and full.shape == (220, 340, 4) and np.shares_memory(full, rgba)
    assert _pixel_layout(rgba[::2, :, :3]) is None


def test_to_uint8_of_a_view_matches_the_sanitised_copy() -> None:
    rgba = np.random.default_rng(2).random((64, 80, 4), dtype=np.float32) * 2.0 - 0.2
    view = rgba[..., :3]
    before = view.copy()
    got = to_uint8(view, lambda x: x * 0.5)
    want = np.clip(np.ascontiguousarray(view) * 0.5 * 255.0 + 0.5, 0, 255).astype(np.uint8)
    assert np.array_equal(got, want) and got.flags.c_contiguous
    assert np.array_equal(view, before)  # the plate is never written
    rgba[5, 6, 3] = np.nan  # a NaN in alpha is not in the colour channels
    assert all_finite(view) and all_finite(rgba[2:40, 3:50, :3])
    view[3, 4, 1] = np.inf  # a non-finite pixel: sanitised first (Inf -> the finite maximum)
    assert not all_finite(view) and not all_finite(rgba[1::2, :, :3])
    assert to_uint8(view, None)[3, 4, 1] == 255


def test_a_tile_finer_than_the_plate_is_converted_at_plate_resolution() -> None:
    rgb = np.random.default_rng(3).random((400, 600, 3), dtype=np.float32)
    seen: list[tuple[int, ...]] = []

    def display(x: np.ndarray) -> np.ndarray:
        seen.append(x.shape)
        return x

    tile = Tile((100.0, 50.0, 400.0, 350.0), 4.0 / 3.0, 1)
    out = render_tile(rgb, tile, display)
    assert out.shape == (400, 400, 3) and out.dtype == np.uint8
    assert seen == [(300, 300, 3)]  # the plate's 300 px, not the tile's 400
    m = np.array([[0.75, 0.0, 0.0], [0.0, 0.75, 0.0]])  # tile px -> plate px, upscaled as floats
    up = cv2.warpAffine(np.ascontiguousarray(rgb[50:350, 100:400]), m, (400, 400), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
    plain = np.clip(up * 255 + 0.5, 0, 255).astype(np.uint8)
    assert np.abs(out.astype(np.int16) - plain).max() <= 1  # the same picture, to rounding


def test_derived_analysers_share_the_loaded_models() -> None:
    from recast.models.swappers.warp_landmarks import Landmarker

    engine = create_analyser("dlib", AnalyserOptions(), notify=lambda _t: None)
    warp = engine.derive(AnalyserOptions(landmarks="68", upsample=1))
    assert warp is not None and warp.options.upsample == 1
    assert warp._sp68 is engine._sp68 and warp._sp5 is engine._sp5 and warp._hog is engine._hog
    five = create_analyser("dlib", AnalyserOptions(allow_noncommercial_models=False), notify=lambda _t: None)
    assert five._sp68 is None and engine.derive(five.options)._sp68 is None
    lmk = Landmarker()
    assert lmk.adopt(engine) and lmk.analyser()._sp68 is engine._sp68
    assert lmk.analyser().options.upsample == 1  # the landmarker's own settings
    assert not Landmarker(kind="mesh68").adopt(engine)  # the face mesh is another backend: its own load


def test_a_seeded_frame_is_not_scanned_again(dlib5) -> None:
    plate = paste(t1(), np.array([0.0, 0.0, 400.0, 400.0]), 400.0, (720, 1280), (300, 100))
    calls: list[bool] = []

    class Counting(type(dlib5)):  # type: ignore[misc]
        def analyse(self, *a, **k):
            calls.append(bool(k.get("tiles", True)) and k.get("regions") is None)
            return super().analyse(*a, **k)

    counting = Counting(dlib5.options, notify=lambda _t: None)
    small = counting.detection_image(plate)
    scanned = counting.analyse(plate, embed=False, downscaled=small)
    assert scanned and calls == [True]
    plain = FaceStream(counting, StreamOptions()).process(1001, plate)
    seeded_stream = FaceStream(counting, StreamOptions())
    seeded_stream.seed(1001, scanned)
    calls.clear()
    seeded = seeded_stream.process(1001, plate)
    assert calls == []  # the scan was not run again
    assert [f.to_json() for f in seeded] == [f.to_json() for f in plain]
    assert seeded_stream.process(1002, plate) and calls  # another frame is scanned as usual
    assert scanned[0].track_id is None  # the seed was copied, not tracked in place


def test_a_near_floor_small_face_gets_a_second_look(dlib5) -> None:
    """t1's second face at 108 px in UHD scores just under the tile floor where the tile's
    cell grid falls; the second look (a window at ~110 px) finds it."""
    image = t1()
    judge = create_analyser("dlib", AnalyserOptions(allow_noncommercial_models=False, min_face=0), notify=lambda _t: None)
    box = judge.analyse(image, embed=False)[1].box  # left to right
    at = (2373, 669)
    plate = paste(image, box, 108, (2160, 3840), at)
    faces = dlib5.analyse(plate, embed=False)
    assert any(0.6 * 108 < f.size < 2.0 * 108 and abs(f.box[0] - at[0]) < 108 for f in faces)
    rng = dlib5.detector_range()
    no_second = copy.copy(dlib5)
    no_second.detector_range = lambda: type(rng)(rng.min_px, rng.tile, rng.level_ratio, rng.fixed_input, rng.tile_min_score)
    missed = no_second.analyse(plate, embed=False)
    assert not any(abs(f.box[0] - at[0]) < 108 and f.size < 2.0 * 108 for f in missed)


def test_frontal_detector_is_read_back_from_its_cache(tmp_path, monkeypatch) -> None:
    """dlib's built-in HOG detector is decoded once and saved under $RECAST_HOME/cache; a later
    process reads the file back and finds the same faces with the same scores."""
    import dlib

    from recast.pipeline.faces.dlib_backend import DlibModels, default_models_dir

    monkeypatch.setenv("RECAST_HOME", str(tmp_path / "home"))
    built = DlibModels(dlib, default_models_dir()).hog()
    cached = tmp_path / "home" / "cache" / "dlib" / f"frontal_face_detector-{dlib.__version__}.svm"
    assert cached.is_file()
    read = DlibModels(dlib, default_models_dir()).hog()
    assert type(read) is dlib.fhog_object_detector and read is not built
    img = to_uint8(t1(), None)
    a, b = built.run(img, 1, -0.5), read.run(img, 1, -0.5)
    assert [r for r in a[0]] and [(r.left(), r.top(), r.right(), r.bottom()) for r in a[0]] == [(r.left(), r.top(), r.right(), r.bottom()) for r in b[0]]
    assert list(a[1]) == list(b[1]) and list(a[2]) == list(b[2])
    cached.write_bytes(b"not a detector")  # a damaged cache is rebuilt, not trusted
    again = DlibModels(dlib, default_models_dir()).hog()
    assert [(r.left(), r.top()) for r in again.run(img, 1, -0.5)[0]] == [(r.left(), r.top()) for r in a[0]]
    assert cached.stat().st_size > 1000
