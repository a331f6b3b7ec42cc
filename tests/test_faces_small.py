"""Small faces at any plate size: the min_face pyramid finds real faces of 72 px in HD and
108 px in UHD by default, on every frame of a short sequence, and faces cut by the frame edge.

Real faces only: skimage's astronaut and insightface's t1.jpg, shrunk and pasted into a dim
plate-sized canvas (the face box height is measured by the detector on the source first).
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np
import pytest

from recast.pipeline.composite.settings import SwapSettings
from recast.pipeline.errors import SpecError
from recast.pipeline.faces import AnalyserOptions, create_analyser
from recast.pipeline.faces.pyramid import DetectorRange, level_scales, pyramid_tiles
from recast.pipeline.faces.stream import FaceStream, StreamOptions
from tests._faces_fixtures import astronaut, t1


@pytest.fixture(scope="module")
def dlib5():
    return create_analyser("dlib", AnalyserOptions(allow_noncommercial_models=False), notify=lambda _t: None)


def _source_box(analyser, image: np.ndarray) -> np.ndarray:
    faces = analyser.analyse(image, embed=False)
    assert faces, "the source image's own face must be found at full size"
    return max(faces, key=lambda f: f.size).box


def paste(source: np.ndarray, box: np.ndarray, face_px: float, shape: tuple[int, int], at: tuple[int, int]) -> np.ndarray:
    """``source`` scaled so its face box is ``face_px`` tall, placed with the face's top-left at ``at``."""
    h, w = shape
    s = face_px / float(box[3] - box[1])
    small = cv2.resize(source, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    ox, oy = round(at[0] - box[0] * s), round(at[1] - box[1] * s)
    canvas = np.full((h, w, 3), 0.18, np.float32)
    sh, sw = small.shape[:2]
    x0, y0, x1, y1 = max(0, ox), max(0, oy), min(w, ox + sw), min(h, oy + sh)
    canvas[y0:y1, x0:x1] = small[y0 - oy : y1 - oy, x0 - ox : x1 - ox]
    return canvas


@pytest.mark.parametrize(("shape", "face_px", "source"), [((1080, 1920), 72, "astronaut"), ((2160, 3840), 108, "t1")])
def test_small_face_found_on_every_frame_by_default(dlib5, shape, face_px, source) -> None:
    image = astronaut() if source == "astronaut" else t1()
    box = _source_box(dlib5, image)
    h, w = shape
    stream = FaceStream(dlib5, StreamOptions())  # the defaults: min_face 48, tiles every 8 frames
    found = []
    for i in range(4):  # the face drifts a little, as on a plate
        plate = paste(image, box, face_px, shape, (w // 3 + 7 * i, h // 2 - 3 * i))
        faces = stream.process(1001 + i, plate)
        sizes = [f.size for f in faces if f.source == "detected"]
        found.append(any(0.7 * face_px < s < 1.4 * face_px for s in sizes))
    assert all(found), f"{face_px} px face in {w}x{h}: found on frames {found}"


def test_without_the_pyramid_the_hd_face_is_missed(dlib5) -> None:
    """The pyramid is what finds it: the 1024 px downscale alone does not (so the test above can fail)."""
    image = astronaut()
    box = _source_box(dlib5, image)
    plate = paste(image, box, 72, (1080, 1920), (640, 500))
    off = create_analyser("dlib", AnalyserOptions(allow_noncommercial_models=False, min_face=0), notify=lambda _t: None)
    assert off.analyse(plate, embed=False) == []
    assert len(dlib5.analyse(plate, embed=False)) == 1


def test_face_cut_by_the_frame_edge_is_found(dlib5) -> None:
    image = t1()
    box = _source_box(dlib5, image)
    face_px = 90
    plate = paste(image, box, face_px, (1080, 1920), (-int(0.3 * face_px), 400))  # 30 % of the face off the left edge
    faces = dlib5.analyse(plate, embed=False)
    assert faces, "a face cut by the frame edge must be found"
    assert min(f.box[0] for f in faces) < 10


def test_pyramid_levels_and_tiles_cover_the_frame() -> None:
    rng = DetectorRange(min_px=64.0, tile=2048, level_ratio=100.0)
    assert level_scales((1080, 1920), 1024, 0, rng) == [1024 / 1920]
    scales = level_scales((1080, 1920), 1024, 48, rng)
    assert scales[0] == pytest.approx(1024 / 1920) and scales[-1] == pytest.approx(64 / 48)
    for shape in ((720, 1280), (1080, 1920), (2160, 3840), (4320, 7680)):
        tiles = pyramid_tiles(shape, 1024, 48, rng)
        h, w = shape
        cover = np.zeros((h // 8, w // 8), bool)
        for t in tiles:
            x0, y0, x1, y1 = (max(0, int(v // 8)) for v in t.box)
            cover[y0:y1, x0:x1] = True
        assert cover.all(), f"{shape}: tiles leave a gap"
        assert len(tiles) <= 64, f"{shape}: {len(tiles)} tiles"
    # a fixed-input detector (192 px tiles, 24 px faces): several levels, bounded count at 8K
    blaze = DetectorRange(min_px=24.0, tile=192, level_ratio=2.5, fixed_input=True)
    assert len(level_scales((4320, 7680), 1024, 48, blaze)) >= 4
    assert len(pyramid_tiles((4320, 7680), 1024, 48, blaze)) < 1000


def test_min_face_settings_and_flags() -> None:
    s = SwapSettings()
    assert (s.min_face, s.detect_size, s.tile_scan_every) == (48, 1024, 8)
    s2 = SwapSettings.from_dict({"min_face": 32, "detect_size": 2048, "tile_scan_every": 4})
    assert SwapSettings.from_dict(s2.to_dict()) == s2
    with pytest.raises(SpecError, match=r"settings.min_face"):
        SwapSettings.from_dict({"min_face": 3})
    with pytest.raises(SpecError, match=r"settings.detect_size"):
        SwapSettings.from_dict({"detect_size": 10})
    with pytest.raises(SpecError, match=r"analyser.min_face"):
        AnalyserOptions.from_dict({"min_face": 2})
    from recast.pipeline.cli.swap import add_settings_flags, settings_overrides

    p = argparse.ArgumentParser()
    add_settings_flags(p)
    over = settings_overrides(p.parse_args(["--min-face", "40", "--detect-size", "1536"]))
    assert over == {"min_face": 40, "detect_size": 1536}
