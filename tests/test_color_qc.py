"""Colour decided once: the engine's plate colour is what every QC product shows.

Four plates of the same scene (skimage's astronaut): a bare half EXR (scene-linear
Rec.709 by the format default), an EXR in ACEScg that says so only through its
``chromaticities``, an 8-bit PNG and a 10-bit DPX (sRGB-encoded). The real engine
swaps each; its record names the resolved colour. Then the same pixels are looked
at through the engine's view (its ColorContext's display transform of the record's
plate space) and through every QC product: thumbnails, the crops SSIM/LPIPS score,
preview-movie frames and review proxies. They must agree (QC's baked LUT is within
~0.01 of the exact transform; a wrong colourspace is off by 0.1-0.5).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import OpenImageIO as oiio
import pytest

from _engine_fixtures import astronaut_linear
from recast.pipeline.color import ColorContext, PlateColour
from recast.pipeline.plateio import read_plate, write_image

TOL = 0.02  # QC's 65³ LUT vs the exact transform, plus 8-bit proxy rounding
AP1 = (0.713, 0.293, 0.165, 0.830, 0.128, 0.044, 0.32168, 0.33767)

# name -> (extension, expected plate space, expected source)
FORMATS = {
    "exr_bare": ("exr", "Linear Rec.709 (sRGB)", "default"),
    "exr_chromaticities": ("exr", "ACEScg", "chromaticities"),
    "png": ("png", "sRGB Encoded Rec.709 (sRGB)", "metadata"),  # OIIO reports PNG as srgb_rec709_scene
    "dpx": ("dpx", "sRGB Encoded Rec.709 (sRGB)", "default"),
}


def _write_plate(path: Path, kind: str) -> None:
    cc = ColorContext()
    lin = astronaut_linear()
    if kind == "exr_bare":
        px, fmt = lin, oiio.HALF
    elif kind == "exr_chromaticities":
        px, fmt = cc.convert(lin, cc.scene_linear, "ACEScg"), oiio.HALF
    else:
        px, fmt = np.clip(cc.convert(lin, cc.scene_linear, cc.working_space), 0.0, 1.0), (oiio.UINT8 if kind == "png" else oiio.UINT16)
    spec = oiio.ImageSpec(px.shape[1], px.shape[0], 3, fmt)
    if kind == "exr_chromaticities":
        spec.attribute("chromaticities", oiio.TypeDesc("float[8]"), AP1)
    if kind == "dpx":
        spec.attribute("oiio:BitsPerSample", 10)
    write_image(path, px, spec)


@pytest.fixture(scope="module", params=list(FORMATS))
def swapped(request: pytest.FixtureRequest, actor: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from recast.pipeline.engine import Engine, OutputLayout, SwapSettings
    from recast.pipeline.sequence import PlateSequence

    kind = request.param
    ext = FORMATS[kind][0]
    root = tmp_path_factory.mktemp(kind)
    (root / "plate").mkdir()
    _write_plate(root / "plate" / f"shot.1001.{ext}", kind)
    seq = PlateSequence.open(str(root / "plate" / f"shot.####.{ext}"))
    out = root / "out"
    eng = Engine(seq, {actor.name: actor}, SwapSettings(selection="largest"), OutputLayout(out, seq.name, seq.padding), job_id="colour")
    (rec,) = eng.run(seq.frames)
    assert rec["status"] == "done" and rec["faces"][0]["swapped"], rec.get("error")
    return {"kind": kind, "rec": rec, "out": out}


_CAPTURED: dict[str, Any] = {}


class CaptureInputs:
    """A crop metric that keeps what it was given: the inputs SSIM and LPIPS score."""

    name, direction, label = "capture_inputs", "higher", "test: what crop metrics see"

    def score(self, plate_crop: np.ndarray, out_crop: np.ndarray, ctx: Any) -> float:
        _CAPTURED.update(plate=plate_crop, comp=out_crop, origin=ctx.crop_origin, scale=ctx.scale)
        return 1.0


def _engine_view(path: str, colour: PlateColour) -> np.ndarray:
    """What the engine's colour decision shows for a file: its ColorContext's display transform."""
    img = read_plate(path)
    rgb = np.nan_to_num(img.pixels[..., list(img.rgb_indices or (0, 0, 0))])
    return ColorContext(colour.config).to_display(rgb, colour.plate)


def _points(rec: dict[str, Any]) -> list[tuple[int, int]]:
    """A 5x5 grid of (x, y) pixels over the swapped face box."""
    x0, y0, x1, y1 = rec["faces"][0]["box"]
    return [(int(x), int(y)) for y in np.linspace(y0 + 2, y1 - 2, 5) for x in np.linspace(x0 + 2, x1 - 2, 5)]


def _assert_same(qc: np.ndarray, engine: np.ndarray, pts: list[tuple[int, int]], what: str, origin: tuple[int, int] = (0, 0)) -> None:
    ox, oy = origin
    diffs = [float(np.abs(qc[y - oy, x - ox, :3] - engine[y, x]).max()) for x, y in pts]
    assert max(diffs) < TOL, f"{what}: QC differs from the engine's view by up to {max(diffs):.3f}"


def test_record_and_comp_carry_the_engines_colour_decision(swapped: dict[str, Any]) -> None:
    _, space, source = FORMATS[swapped["kind"]]
    rec = swapped["rec"]
    colour = PlateColour.from_json(rec["colorspace"])
    cc = ColorContext()
    assert colour == PlateColour(space, source, cc.config_name, cc.working_space)
    assert read_plate(rec["comp"]).attributes["recast/colorspace"] == space
    assert read_plate(rec["element"]).attributes["recast/colorspace"] == space


@pytest.mark.parametrize("old_record", [False, True], ids=["record", "old-record-without-colorspace"])
def test_every_qc_product_shows_the_engines_colour(swapped: dict[str, Any], old_record: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    from recast.qc import movie as qc_movie
    from recast.qc.frame_scoring import FrameScorer, QCOptions
    from recast.qc.metrics import METRICS
    from recast.qc.thumbs import Thumbnailer
    from recast.pipeline.service.proxy import proxy_png

    rec = dict(swapped["rec"])
    colour = PlateColour.from_json(rec["colorspace"])
    assert colour is not None
    if old_record:  # a schema-1 record: QC decides with the engine's own resolver
        rec.pop("colorspace")
        path = swapped["out"] / "records" / f"{rec['frame']}.json"
        path.write_text(json.dumps(rec))
    pts = _points(rec)
    plate_view, comp_view = _engine_view(rec["plate"], colour), _engine_view(rec["comp"], colour)
    width = plate_view.shape[1]

    # thumbnails (reports, contact sheets), full size so pixels line up
    th = Thumbnailer(width=width)
    _assert_same(th.display_of(rec["plate"]), plate_view, pts, "plate thumbnail")
    _assert_same(th.display_of(rec["comp"]), comp_view, pts, "comp thumbnail")

    # the crops SSIM/LPIPS (every crop metric) score
    seen = _CAPTURED
    seen.clear()
    METRICS.register("capture_inputs")(CaptureInputs)  # a metric registered in code (the same one again: no-op)
    scorer = FrameScorer(swapped["out"], QCOptions(metrics=("capture_inputs",), identity=False, face_px=100000, cache=False))
    score = scorer.score(rec)
    assert not score.errors and seen["scale"] == 1.0, score.errors
    _assert_same(seen["plate"], plate_view, pts, "SSIM/LPIPS plate crop", seen["origin"])
    _assert_same(seen["comp"], comp_view, pts, "SSIM/LPIPS comp crop", seen["origin"])

    # preview movie frames: both halves as they go into the encoder
    halves: list[tuple[np.ndarray, np.ndarray | None]] = []
    real = qc_movie.compose_frame
    monkeypatch.setattr(qc_movie, "compose_frame", lambda plate, comp, *a: (halves.append((plate, comp)), real(plate, comp, *a))[1])
    qc_movie.write_movie(swapped["out"], swapped["out"] / "qc" / "preview.mp4", qc_movie.MovieOptions(proxy_width=width))
    (plate_half, comp_half), = halves
    _assert_same(plate_half, plate_view, pts, "movie plate half")
    assert comp_half is not None
    _assert_same(comp_half, comp_view, pts, "movie comp half")

    # review proxies (the service's PNG): exact transform, 8-bit
    png = cv2.cvtColor(cv2.imdecode(np.frombuffer(proxy_png(Path(rec["comp"]), 100000, record=rec), np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    _assert_same(png.astype(np.float32) / 255.0, comp_view, pts, "review proxy")
