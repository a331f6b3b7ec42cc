"""The per-frame engine on real faces (astronaut plate, Tom Hanks warp actor):
bit-exactness outside the matte, the face element, records, passthrough, failures,
greyscale plates, reference-frame colour lock and cancel."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from _engine_fixtures import (
    astronaut_linear,
    no_face_rgb,
    write_aov_plate,
    write_grey_plate,
)
from recast.pipeline.engine import Engine, OutputLayout, SwapSettings
from recast.pipeline.outputs import RECORD_SCHEMA, TIMING_KEYS
from recast.pipeline.plateio import read_plate, same_pixels
from recast.pipeline.sequence import PlateSequence

ORIGIN = (24, 16)


def _run(actor: Any, plate_dir: Path, out: Path, settings: SwapSettings | None = None, **kw: Any) -> tuple[Engine, list[dict]]:
    seq = PlateSequence.open(str(plate_dir / "shot.####.exr"))
    eng = Engine(seq, {actor.name: actor}, settings or SwapSettings(), OutputLayout(out, seq.name, seq.padding), job_id="t1", **kw)
    return eng, eng.run(seq.frames)


@pytest.fixture(scope="module")
def swapped(actor: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("aov")
    plates = root / "plate"
    plates.mkdir()
    written = {}
    for i, shift in enumerate((0, 9)):
        written[1001 + i] = write_aov_plate(plates / f"shot.{1001 + i:04d}.exr", astronaut_linear(shift), ORIGIN)
    _, records = _run(actor, plates, root / "out")
    return {"root": root, "plates": plates, "out": root / "out", "records": records, "written": written}


def _element_alpha_on_plate(element_path: str, plate_shape: tuple[int, int]) -> np.ndarray:
    """Element alpha placed into the plate's data window (array coordinates)."""
    el = read_plate(element_path)
    ex, ey, ew, eh = el.data_window
    alpha = np.zeros(plate_shape, np.float32)
    x0, y0 = ex - ORIGIN[0], ey - ORIGIN[1]
    alpha[y0 : y0 + eh, x0 : x0 + ew] = el.pixels[..., 3]
    return alpha


def test_bit_exact_outside_the_matte(swapped: dict[str, Any]) -> None:
    for rec in swapped["records"]:
        assert rec["status"] == "done", rec["error"]
        plate = read_plate(rec["plate"])
        comp = read_plate(rec["comp"])
        assert comp.pixels.shape == plate.pixels.shape
        alpha = _element_alpha_on_plate(rec["element"], plate.pixels.shape[:2])
        outside = alpha == 0
        assert outside.mean() > 0.8
        for c in range(plate.pixels.shape[2]):
            a, b = plate.pixels[..., c], comp.pixels[..., c]
            if plate.channel_names[c] in ("A", "depth.Z"):
                assert same_pixels(a, b), f"channel {plate.channel_names[c]} changed"
            else:
                assert same_pixels(a[outside], b[outside]), f"channel {plate.channel_names[c]} changed outside the matte"
        # NaN / Inf survive exactly where they were
        assert np.array_equal(np.isnan(plate.pixels), np.isnan(comp.pixels))
        assert np.array_equal(np.isinf(plate.pixels), np.isinf(comp.pixels))
        assert rec["stats"]["nan"] == int(np.isnan(plate.pixels).sum()) > 0
        # and the face really changed inside
        inside = alpha >= 0.99
        diff = np.abs(comp.pixels[..., :3][inside] - plate.pixels[..., :3][inside]).mean()
        assert diff > 0.02


def test_comp_keeps_plate_format_and_records_provenance(swapped: dict[str, Any], actor: Any) -> None:
    rec = swapped["records"][0]
    plate, comp = read_plate(rec["plate"]), read_plate(rec["comp"])
    assert comp.channel_names == plate.channel_names == ["R", "G", "B", "A", "depth.Z"]
    assert comp.pixel_type == plate.pixel_type == "half"
    assert comp.data_window == plate.data_window != comp.display_window
    assert comp.display_window == plate.display_window
    assert comp.compression == plate.compression == "piz"
    attrs = comp.attributes
    assert attrs["Copyright"] == "test plate"
    assert attrs["recast/synthetic"] == 1
    assert attrs["recast/actor"] == actor.name
    assert attrs["recast/backend"] == "warp"
    assert attrs["recast/consent_id"] == actor.consent_id
    assert attrs["recast/model_sha256"] == actor.model_sha256 and len(actor.model_sha256) == 64  # the warp bank
    assert attrs["recast/job"] == "t1"
    from recast.pipeline import __version__

    assert attrs["recast/version"] == __version__ and __version__
    assert Path(rec["comp"]) == swapped["out"] / "comp" / "shot.1001.exr"


def test_element_tight_premultiplied_rgba(swapped: dict[str, Any]) -> None:
    for rec in swapped["records"]:
        el = read_plate(rec["element"])
        plate, comp = read_plate(rec["plate"]), read_plate(rec["comp"])
        assert Path(rec["element"]).name == f"shot_face.{rec['frame']}.exr"
        assert el.channel_names == ["R", "G", "B", "A"] and el.pixel_type == "half"
        assert el.display_window == plate.display_window
        boxes = [f["matte_box"] for f in rec["faces"] if f["swapped"]]
        union = [min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)]
        x, y, w, h = el.data_window
        assert [x, y, x + w, y + h] == union
        a = el.pixels[..., 3]
        rgb = el.pixels[..., :3]
        assert a.max() == 1.0 and a.min() == 0.0
        assert np.all(rgb[a == 0] == 0)  # premultiplied: no colour without coverage
        # element over plate reproduces the comp (up to half precision)
        sl = (slice(y - ORIGIN[1], y - ORIGIN[1] + h), slice(x - ORIGIN[0], x - ORIGIN[0] + w))
        under = np.nan_to_num(plate.pixels[sl][..., :3])
        over = rgb + under * (1 - a[..., None])
        assert np.allclose(over, np.nan_to_num(comp.pixels[sl][..., :3]), atol=2e-2)


def test_record_schema(swapped: dict[str, Any], actor: Any) -> None:
    path = swapped["out"] / "records" / "1002.json"
    rec = json.loads(path.read_text())
    for key in ("schema", "frame", "take", "status", "error", "job", "plate", "comp", "element", "actor", "backend",
                "model_sha256", "consent_id", "settings", "faces", "stats", "timings", "created"):
        assert key in rec, key
    assert rec["schema"] == RECORD_SCHEMA and rec["frame"] == 1002 and rec["take"] == 1
    assert rec["actor"] == actor.name and rec["consent_id"] == actor.consent_id
    assert set(TIMING_KEYS) <= set(rec["timings"]) and rec["timings"]["total"] > 0
    assert SwapSettings.from_dict(rec["settings"]) == SwapSettings()
    face = rec["faces"][0]
    for key in ("track_id", "box", "kps5", "landmarks_source", "swapped", "actor", "matte_box", "color_match", "swap_info"):
        assert key in face, key
    # per-face provenance
    assert (face["actor"], face["backend"], face["consent_id"]) == (actor.name, "warp", actor.consent_id)
    assert face["model_sha256"] == actor.model_sha256
    assert rec["actors"] == [actor.name]
    assert face["color_match"]["method"] == "rct" and len(face["color_match"]["dst_mean"]) == 3
    # the selection decision per face and per track (second frame of the track)
    assert face["selection"] == {"actor": actor.name, "distance": None, "reason": "all"}
    track = rec["tracks"][str(face["track_id"])]
    assert track["actor"] == actor.name and track["frames"] == 2 and track["selected_frames"] == 2
    # boxes are in the EXR's pixel space: the data window origin is included
    assert face["box"][0] > ORIGIN[0] + 150


def test_no_face_passes_through_bit_exact(actor: Any, tmp_path: Path) -> None:
    plates = tmp_path / "plate"
    plates.mkdir()
    write_aov_plate(plates / "shot.0001.exr", no_face_rgb(), ORIGIN)
    _, (rec,) = _run(actor, plates, tmp_path / "out")
    assert rec["status"] == "passthrough" and rec["faces"] == [] and rec["element"] is None
    assert same_pixels(read_plate(rec["comp"]).pixels, read_plate(rec["plate"]).pixels)
    assert not (tmp_path / "out" / "element" / "shot_face.0001.exr").exists()
    assert read_plate(rec["comp"]).attributes["recast/synthetic"] == 0


def test_failed_frame_is_recorded_and_the_run_goes_on(actor: Any, tmp_path: Path) -> None:
    plates = tmp_path / "plate"
    plates.mkdir()
    for f in (1, 2, 3):
        write_aov_plate(plates / f"shot.{f:04d}.exr", astronaut_linear(3 * f), ORIGIN)
    bad = plates / "shot.0002.exr"
    bad.write_bytes(bad.read_bytes()[:600])  # truncated file
    seen: list[int] = []
    eng, recs = _run(actor, plates, tmp_path / "out")
    assert [r["status"] for r in recs] == ["done", "failed", "done"]
    err = recs[1]["error"]
    assert "shot.0002.exr" in err and "\n" not in err
    on_disk = json.loads((tmp_path / "out" / "records" / "0002.json").read_text())
    assert on_disk["status"] == "failed" and on_disk["error"] == err
    # a later call still works and on_frame sees every record
    eng.run([3], on_frame=lambda r: seen.append(r["frame"]))
    assert seen == [3]


def test_greyscale_plate_is_swapped_in_its_one_channel(actor: Any, tmp_path: Path) -> None:
    plates = tmp_path / "plate"
    plates.mkdir()
    write_grey_plate(plates / "shot.0001.exr", astronaut_linear())
    _, (rec,) = _run(actor, plates, tmp_path / "out")
    assert rec["status"] == "done", rec["error"]
    comp, plate = read_plate(rec["comp"]), read_plate(rec["plate"])
    assert comp.channel_names == ["Y"]
    assert not same_pixels(comp.pixels, plate.pixels)


def test_reference_frame_locks_colour_stats(actor: Any, swapped: dict[str, Any], tmp_path: Path) -> None:
    ref = json.loads((swapped["out"] / "records" / "1001.json").read_text())
    seq = PlateSequence.open(str(swapped["plates"] / "shot.####.exr"))
    layout = OutputLayout(tmp_path / "take2", seq.name)
    eng = Engine(seq, {actor.name: actor}, SwapSettings(), layout, take=2, reference_frame=1001,
                 reference_record=swapped["out"] / "records" / "1001.json")
    (rec,) = eng.run([1002])
    assert rec["status"] == "done" and rec["take"] == 2
    locked = ref["faces"][0]["color_match"]
    used = rec["faces"][0]["color_match"]
    assert used["src_mean"] == locked["src_mean"] and used["dst_std"] == locked["dst_std"]
    # without the reference the statistics are measured on the frame itself (and differ)
    assert swapped["records"][1]["faces"][0]["color_match"]["src_mean"] != locked["src_mean"]


def test_cancel_stops_before_the_next_frame(actor: Any, swapped: dict[str, Any], tmp_path: Path) -> None:
    seq = PlateSequence.open(str(swapped["plates"] / "shot.####.exr"))
    eng = Engine(seq, {actor.name: actor}, SwapSettings(), OutputLayout(tmp_path, seq.name))
    cancel = threading.Event()
    recs = eng.run(seq.frames, on_frame=lambda r: cancel.set(), cancel=cancel)
    assert [r["frame"] for r in recs] == [1001]
    assert not (tmp_path / "records" / "1002.json").exists()


class _FlakySwapper:
    """The real warp swapper that crashes on its second call (a model blowing up mid-run)."""

    name = "test-flaky"
    actor_backends = ("warp",)  # swaps warp actors (its inner swapper does)

    def __init__(self, **kwargs: Any) -> None:
        from recast.models.base import SWAPPERS

        self.inner = SWAPPERS.create("warp", **kwargs)
        self.calls = 0

    def swap(self, crop: np.ndarray, face: Any, actor: Any) -> Any:
        self.calls += 1
        if self.calls == 2:
            raise RuntimeError("CUDA out of memory\n(simulated)")
        return self.inner.swap(crop, face, actor)


def test_swapper_crash_fails_only_that_frame(actor: Any, swapped: dict[str, Any], tmp_path: Path) -> None:
    from recast.models.base import SWAPPERS

    SWAPPERS.register("test-flaky")(_FlakySwapper)
    plates = tmp_path / "plate"
    plates.mkdir()
    for f in (1, 2, 3):
        write_aov_plate(plates / f"shot.{f:04d}.exr", astronaut_linear(3 * f), ORIGIN)
    _, recs = _run(actor, plates, tmp_path / "out", SwapSettings(backend="test-flaky", selection="largest"))
    assert [r["status"] for r in recs] == ["done", "failed", "done"], [(r["error"], len(r["faces"])) for r in recs]
    assert recs[1]["error"] == "RuntimeError: CUDA out of memory (simulated)"
    assert recs[1]["comp"] is None and not (tmp_path / "out" / "comp" / "shot.0002.exr").exists()


def test_unknown_backend_raises_before_any_frame(actor: Any, swapped: dict[str, Any], tmp_path: Path) -> None:
    from recast.pipeline.registry import UnknownBackend

    with pytest.raises(UnknownBackend, match="no-such-backend"):
        _run(actor, swapped["plates"], tmp_path / "out", SwapSettings(backend="no-such-backend"))
    assert not (tmp_path / "out" / "records").exists()


def test_backend_that_does_not_match_the_actor_is_refused_once(actor: Any, swapped: dict[str, Any], tmp_path: Path) -> None:
    from recast.pipeline.errors import SpecError

    seq = PlateSequence.open(str(swapped["plates"] / "shot.####.exr"))
    eng = Engine(seq, {actor.name: actor}, SwapSettings(backend="dfm"), OutputLayout(tmp_path / "out", seq.name))
    with pytest.raises(SpecError, match=r"settings.backend: 'dfm' cannot swap actor 'hanks', which was built for the 'warp'"):
        eng.prepare()
    with pytest.raises(SpecError, match="settings.backend"):
        eng.run(seq.frames)  # not a failed record per frame
    assert not (tmp_path / "out" / "records").exists()


def test_two_channel_plate_luma_alpha(actor: Any, tmp_path: Path) -> None:
    import OpenImageIO as oiio

    from recast.pipeline.plateio import write_image

    plates = tmp_path / "plate"
    plates.mkdir()
    lin = astronaut_linear()
    ya = np.concatenate([(lin @ np.array([0.2126, 0.7152, 0.0722], np.float32))[..., None], np.full(lin.shape[:2] + (1,), 0.5, np.float32)], 2)
    spec = oiio.ImageSpec(lin.shape[1], lin.shape[0], 2, oiio.HALF)
    spec.channelnames = ("Y", "A")
    spec.alpha_channel = 1
    write_image(plates / "shot.0001.exr", ya, spec)
    _, (rec,) = _run(actor, plates, tmp_path / "out")
    assert rec["status"] == "done", rec["error"]
    comp, plate = read_plate(rec["comp"]), read_plate(rec["plate"])
    assert comp.channel_names == ["Y", "A"]
    assert same_pixels(comp.pixels[..., 1], plate.pixels[..., 1])  # alpha untouched
    assert not same_pixels(comp.pixels[..., 0], plate.pixels[..., 0])


class _BlindAfterFirst:
    """dlib analyser whose detector 'misses' every face after its first call (the
    reference frame): fit_landmarks/embed still work, as they do on a missed face."""

    def __init__(self) -> None:
        from recast.pipeline.faces import create_analyser

        self.inner = create_analyser("dlib")
        self.embedding_kind = self.inner.embedding_kind
        self.calls = 0

    def analyse(self, image: np.ndarray, **kw: Any) -> list:
        self.calls += 1
        return self.inner.analyse(image, **kw) if self.calls == 1 else []

    def __getattr__(self, name: str) -> Any:  # fit_landmarks, embed, detection_image, ...
        return getattr(self.inner, name)


def test_reference_face_propagates_when_detection_fails(actor: Any, tmp_path: Path) -> None:
    plates = tmp_path / "plate"
    plates.mkdir()
    write_aov_plate(plates / "shot.0001.exr", astronaut_linear(0), ORIGIN)
    write_aov_plate(plates / "shot.0002.exr", astronaut_linear(5), ORIGIN)  # same person, moved
    write_aov_plate(plates / "shot.0003.exr", no_face_rgb(), ORIGIN)  # nobody there
    seq = PlateSequence.open(str(plates / "shot.####.exr"))
    eng = Engine(seq, {actor.name: actor}, SwapSettings(selection="largest"), OutputLayout(tmp_path / "out", seq.name),
                 reference_frame=1, analyser=_BlindAfterFirst())  # type: ignore[arg-type]
    moved, empty = eng.run([2, 3])
    assert moved["status"] == "done", moved["error"]
    assert moved["faces"][0]["landmarks_source"] == "propagated"
    # where the reference person is not, nothing is pasted (identity check refuses the fit)
    assert empty["status"] == "passthrough"
    assert same_pixels(read_plate(empty["comp"]).pixels, read_plate(empty["plate"]).pixels)


def test_multipart_plate_keeps_its_other_parts(actor: Any, tmp_path: Path) -> None:
    import OpenImageIO as oiio

    from recast.pipeline.plateio import write_parts

    plates = tmp_path / "plate"
    plates.mkdir()
    lin = astronaut_linear()
    h, w = lin.shape[:2]
    beauty = oiio.ImageSpec(w, h, 3, oiio.HALF)
    beauty.channelnames = ("R", "G", "B")
    beauty.attribute("name", "beauty")
    aux = oiio.ImageSpec(w, h, 1, oiio.FLOAT)
    aux.channelnames = ("Z",)
    aux.attribute("name", "depth")
    z = np.linspace(0, 9, h * w, dtype=np.float32).reshape(h, w, 1)
    write_parts(plates / "shot.0001.exr", [(lin, beauty), (z, aux)])
    _, (rec,) = _run(actor, plates, tmp_path / "out", SwapSettings(selection="largest"))
    assert rec["status"] == "done", rec["error"]
    comp_depth = read_plate(rec["comp"], part=1)
    assert comp_depth.part_name == "depth" and comp_depth.parts == 2
    assert same_pixels(comp_depth.pixels, z)
    assert not same_pixels(read_plate(rec["comp"]).pixels, read_plate(rec["plate"]).pixels)


def test_enhancer_stage_runs_on_the_swapped_crop(actor: Any, swapped: dict[str, Any], tmp_path: Path) -> None:
    from _onnx_standins import enhancer_standin

    # stand-in GFPGAN-class ONNX (exact signature, paints green): proves the stage is wired
    model = enhancer_standin(tmp_path / "gfpgan_standin.onnx")
    base = SwapSettings(selection="largest", color="none", grain=False)
    _, (plain, _second) = _run(actor, swapped["plates"], tmp_path / "plain", base)
    on = base.replace(enhancer="gfpgan", enhancer_model=str(model), enhancer_licence="stand-in", enhancer_blend=0.5)
    _, recs = _run(actor, swapped["plates"], tmp_path / "enh", on)
    rec = recs[0]
    assert rec["status"] == "done", rec["error"]
    assert rec["faces"][0]["swap_info"]["enhancer"]["enhancer"] == "gfpgan"
    x0, y0, x1, y1 = rec["faces"][0]["matte_box"]
    cy, cx = (y0 + y1) // 2 - ORIGIN[1], (x0 + x1) // 2 - ORIGIN[0]
    core = (slice(cy - 10, cy + 10), slice(cx - 10, cx + 10))

    def green_excess(path: str) -> float:
        px = read_plate(path).pixels[core]
        return float((px[..., 1] - px[..., 0]).mean())

    assert green_excess(rec["comp"]) > green_excess(plain["comp"]) + 0.05


def test_largest_selection_records_every_face_and_swaps_one(actor: Any, tmp_path: Path) -> None:
    import cv2

    from _engine_fixtures import insightface_image, srgb_to_linear

    bgr = cv2.imread(str(insightface_image("t1.jpg")))
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0  # six people
    plates = tmp_path / "plate"
    plates.mkdir()
    write_aov_plate(plates / "shot.0001.exr", srgb_to_linear(rgb), (0, 0), (rgb.shape[1], rgb.shape[0]))
    _, (rec,) = _run(actor, plates, tmp_path / "out", SwapSettings(selection="largest"))
    assert rec["status"] == "done", rec["error"]
    assert len(rec["faces"]) >= 5
    swapped = [f for f in rec["faces"] if f["swapped"]]
    others = [f for f in rec["faces"] if not f["swapped"]]
    assert len(swapped) == 1 and all(f["actor"] is None and f["swap_info"]["skipped"] == "not selected" for f in others)
    size = lambda f: max(f["box"][2] - f["box"][0], f["box"][3] - f["box"][1])  # noqa: E731
    assert size(swapped[0]) >= max(size(f) for f in others)
    comp, plate = read_plate(rec["comp"]), read_plate(rec["plate"])
    for f in others:  # the people not selected are untouched
        x0, y0, x1, y1 = (int(v) for v in f["box"])
        assert same_pixels(comp.pixels[y0:y1, x0:x1], plate.pixels[y0:y1, x0:x1])


def test_two_actors_by_reference(actor: Any, tmp_path: Path) -> None:
    import json as _json

    from _engine_fixtures import srgb_to_linear
    from _faces_fixtures import t1
    from recast.models.actor import build_actor
    from recast.pipeline.errors import SpecError

    work = tmp_path / "astro"
    work.mkdir()
    src = work / "astronaut.png"
    import cv2
    from skimage import data

    cv2.imwrite(str(src), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    consent = work / "consent.json"
    consent.write_text(_json.dumps({"who": "test fixture (skimage sample)", "scope": "unit tests only"}))
    astro = build_actor("astro", [src], consent, backend="warp", options={"force": True})
    plates = tmp_path / "plate"
    plates.mkdir()
    rgb = t1()
    write_aov_plate(plates / "shot.0001.exr", srgb_to_linear(rgb), (0, 0), (rgb.shape[1], rgb.shape[0]))
    # the actor map's labels (what selection speaks) differ from the models' names (what records carry)
    actors = {"hero": actor, "double": astro}
    seq = PlateSequence.open(str(plates / "shot.####.exr"))
    with pytest.raises(SpecError, match="settings.selection: 2 actors need selection 'reference'"):
        Engine(seq, actors, SwapSettings(), OutputLayout(tmp_path / "o1", seq.name)).run([1])
    settings = SwapSettings(selection="reference", reference="hero=1:0,double=1:2")
    (rec,) = Engine(seq, actors, settings, OutputLayout(tmp_path / "o2", seq.name)).run([1])
    assert rec["status"] == "done", rec["error"]
    got = sorted((round(f["box"][0]), f["label"], f["actor"]) for f in rec["faces"] if f["swapped"])
    lefts = sorted(round(f["box"][0]) for f in rec["faces"])
    assert got == [(lefts[0], "hero", actor.name), (lefts[2], "double", "astro")]
    # each swapped face names its own actor's provenance; the comp lists both actors
    by_name = {a.name: a for a in actors.values()}
    for f in rec["faces"]:
        if f["swapped"]:
            a = by_name[f["actor"]]
            assert (f["backend"], f["model_sha256"], f["consent_id"]) == ("warp", a.model_sha256, a.consent_id)
        else:
            assert f["actor"] is None and f["consent_id"] is None and f["backend"] is None
    order = [f["actor"] for f in rec["faces"] if f["swapped"]]
    assert sorted(order) == sorted([actor.name, "astro"]) and rec["actors"] == order
    attrs = read_plate(rec["comp"]).attributes
    assert attrs["recast/actor"] == ",".join(order)
    assert attrs["recast/consent_id"] == ",".join(by_name[n].consent_id for n in order)
    assert attrs["recast/backend"] == "warp,warp"
    assert astro.consent_id != actor.consent_id
    # each face says why it was (not) chosen; the tracks carry the same decision
    from recast.pipeline.faces.identity import SAME_PERSON_THRESHOLDS

    thr = SAME_PERSON_THRESHOLDS["dlib128"]
    for f in rec["faces"]:
        sel = f["selection"]
        assert sel["actor"] == f.get("label")
        if f["swapped"]:
            assert sel["reason"] == "reference" and 0.0 <= sel["distance"] < thr
        else:
            assert sel["actor"] is None and sel["reason"] != "reference" and sel["distance"] is not None
        track = rec["tracks"][str(f["track_id"])]
        assert track["actor"] == sel["actor"] and track["reason"] == sel["reason"]
        assert track["votes"] == {sel["actor"] or "": 1}


def test_colour_statistics_are_smoothed_along_a_track(actor: Any, swapped: dict[str, Any], tmp_path: Path) -> None:
    _, raw = _run(actor, swapped["plates"], tmp_path / "raw", SwapSettings(selection="largest", color_smoothing=0.0))
    _, smooth = _run(actor, swapped["plates"], tmp_path / "smooth", SwapSettings(selection="largest", color_smoothing=0.6))
    f1, f2_raw, f2 = raw[0]["faces"][0], raw[1]["faces"][0], smooth[1]["faces"][0]
    assert smooth[0]["faces"][0]["color_match"] == f1["color_match"]  # first frame: nothing to average yet
    assert f2["track_id"] == smooth[0]["faces"][0]["track_id"]
    for key in ("src_mean", "dst_mean", "dst_std"):
        want = [0.6 * a + 0.4 * b for a, b in zip(f1["color_match"][key], f2_raw["color_match"][key], strict=True)]
        assert np.allclose(f2["color_match"][key], want, atol=1e-4), key
        assert not np.allclose(f2_raw["color_match"][key], want, atol=1e-4)


def test_actor_without_consent_is_refused(actor: Any, swapped: dict[str, Any], tmp_path: Path) -> None:
    from recast.models.base import ActorModel
    from recast.pipeline.errors import ConsentError

    manifest = {k: v for k, v in actor.manifest.items() if k != "consent"}
    bare = ActorModel(actor.name, actor.root, manifest)
    seq = PlateSequence.open(str(swapped["plates"] / "shot.####.exr"))
    with pytest.raises(ConsentError, match="no consent record, no swap"):
        Engine(seq, {bare.name: bare}, SwapSettings(), OutputLayout(tmp_path, seq.name))
    assert not any(tmp_path.iterdir())


def _dfm_actor(tmp_path: Path) -> Any:
    from _onnx_standins import astronaut_png, consent_json, dfm_standin
    from recast.models.actor import build_actor

    # stand-in DeepFaceLab export (exact signature, paints red): a backend that needs no 68 points
    model = dfm_standin(tmp_path / "standin.dfm")
    return build_actor("dfmstand", [astronaut_png(tmp_path / "a.png")], consent_json(tmp_path / "c.json"),
                       backend="dfm", model_file=model, options={"licence": "stand-in (test)"})


def test_noncommercial_models_setting(actor: Any, swapped: dict[str, Any], tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:

    # default: the 68-point model is used, listed with its licence in the record, printed once per process
    lic = {d["model"]: d for d in swapped["records"][0]["licences"]}
    assert lic["shape_predictor_68_face_landmarks.dat"]["commercial_use"] is False
    dfm = _dfm_actor(tmp_path)
    capfd.readouterr()
    _, recs = _run(dfm, swapped["plates"], tmp_path / "nc", SwapSettings(selection="largest"))
    assert [r["status"] for r in recs] == ["done", "done"], [r["error"] for r in recs]
    # printed once per process (pipeline.notices): here at most once, and the board has it
    from recast.pipeline.notices import process_notices

    assert capfd.readouterr().err.count("non-commercial use only") <= 1
    assert any("non-commercial use only" in n for n in process_notices().seen)
    assert recs[0]["faces"][0]["landmarks"] is not None
    # false: 5-point landmarks only, no non-commercial model loaded, nothing printed
    strict = SwapSettings(selection="largest", allow_noncommercial_models=False)
    _, recs = _run(dfm, swapped["plates"], tmp_path / "c", strict)
    assert [r["status"] for r in recs] == ["done", "done"], [r["error"] for r in recs]
    assert "non-commercial" not in capfd.readouterr().err
    assert recs[0]["settings"]["allow_noncommercial_models"] is False
    assert SwapSettings.from_dict(recs[0]["settings"]) == strict
    assert recs[0]["licences"] and all(d["commercial_use"] for d in recs[0]["licences"])
    face = recs[0]["faces"][0]
    assert face["swapped"] and face["landmarks"] is None and len(face["kps5"]) == 5
    # the warp backend swaps too: its 68-point layout comes from the Apache-2.0 face mesh
    # (MediaPipe's models, fetched at set-up), and every model the frame used is commercial
    _, recs = _run(actor, swapped["plates"], tmp_path / "w", strict)
    assert [r["status"] for r in recs] == ["done", "done"], [r["error"] for r in recs]
    assert "non-commercial" not in capfd.readouterr().err
    models = {d["model"] for d in recs[0]["licences"]}
    assert "face_landmark" in models and "shape_predictor_68_face_landmarks.dat" not in models
    assert all(d["commercial_use"] for d in recs[0]["licences"])
    assert recs[0]["faces"][0]["swap_info"]["landmarks"] == "fitted_mesh68"


def test_reference_image_selects_the_person_in_it(actor: Any, tmp_path: Path) -> None:
    import cv2
    from skimage import data

    from _engine_fixtures import insightface_image, srgb_to_linear
    from recast.pipeline.composite.settings import ReferenceItem, parse_reference_items
    from recast.pipeline.errors import SpecError

    # the three spellings of a reference; a relative image path stays relative until the CLI fixes it
    assert parse_reference_items("hanks=refs/a.png:1,astro=1001:2,b.jpg") == [
        ReferenceItem("hanks", index=1, image="refs/a.png"), ReferenceItem("astro", frame=1001, index=2),
        ReferenceItem(None, index=None, image="b.jpg")]  # no index: the image's largest face
    with pytest.raises(SpecError, match="settings.reference: 'a.txt' is neither FRAME:INDEX"):
        SwapSettings(selection="reference", reference="a.txt")._validated()
    # plate: the astronaut (left) and Tom Hanks (right); reference: another cut of the astronaut photo
    astro = data.astronaut().astype(np.float32) / 255.0
    hanks = cv2.cvtColor(cv2.imread(str(insightface_image("Tom_Hanks_54745.png"))), cv2.COLOR_BGR2RGB)
    hanks = cv2.resize(hanks.astype(np.float32) / 255.0, (512, 512), interpolation=cv2.INTER_CUBIC)
    rgb = np.ascontiguousarray(np.hstack([astro, np.clip(hanks, 0, 1)]))
    plates = tmp_path / "plate"
    plates.mkdir()
    write_aov_plate(plates / "shot.0001.exr", srgb_to_linear(rgb), (0, 0), (rgb.shape[1], rgb.shape[0]))
    ref = tmp_path / "eileen.png"
    moved = cv2.resize(astro[10:, 15:], (560, 550))
    cv2.imwrite(str(ref), cv2.cvtColor((moved * 255 + 0.5).astype(np.uint8), cv2.COLOR_RGB2BGR))
    _, (rec,) = _run(actor, plates, tmp_path / "out", SwapSettings(selection="reference", reference=str(ref)))
    assert rec["status"] == "done", rec["error"]
    by_side = {("left" if f["box"][0] < 512 else "right"): f for f in rec["faces"]}
    assert set(by_side) == {"left", "right"}
    swapped = [f for f in rec["faces"] if f["swapped"]]
    assert len(swapped) == 1 and swapped[0]["selection"]["reason"] == "reference"
    x0, y0, x1, y1 = swapped[0]["box"]
    assert x1 < 512 and y1 < 300  # the astronaut's face, not Tom Hanks, not the patch on her suit
    assert not by_side["right"]["swapped"] and by_side["right"]["selection"]["reason"].startswith("distance")
    # a reference image that is not there: one clear error before any frame
    with pytest.raises(SpecError, match=r"settings.reference: reference image .*nobody\.png not found"):
        _run(actor, plates, tmp_path / "o2", SwapSettings(selection="reference", reference=f"{actor.name}={tmp_path}/nobody.png"))


def test_windowed_detection_between_full_scans_keeps_swapping(actor: Any, tmp_path: Path) -> None:
    """full_scan_every=3: frames 2 and 3 search only around the track, the face is still
    swapped on every frame, under one track id."""
    plates = tmp_path / "plate"
    plates.mkdir()
    for i in range(4):
        write_aov_plate(plates / f"shot.{1001 + i:04d}.exr", astronaut_linear(3 * i), ORIGIN)
    _, records = _run(actor, plates, tmp_path / "out", SwapSettings(full_scan_every=3))
    assert [r["detection"] for r in records] == ["full", "windows", "windows", "full"]
    assert all(r["status"] == "done" for r in records), [r["error"] for r in records]
    # (look at the face: the most confident hit)
    tracks = {max(r["faces"], key=lambda f: f["score"])["track_id"] for r in records}
    assert len(tracks) == 1
    from recast.pipeline.errors import SpecError

    with pytest.raises(SpecError, match="settings.full_scan_every"):
        SwapSettings.from_dict({"full_scan_every": 0})


def test_reference_frame_read_beside_the_model_loads(actor: Any, swapped: dict[str, Any], tmp_path: Path) -> None:
    """Set-up reads the reference frame on a thread of its own, started before the models
    load, once; the run takes that plate; a read that fails fails set-up with its own error."""
    from recast.pipeline.errors import PlateError

    seq = PlateSequence.open(str(swapped["plates"] / "shot.####.exr"))
    settings = SwapSettings(selection="reference", reference="1001:0")
    reads: list[tuple[str, str]] = []

    def reader(path: Path) -> Any:
        reads.append((Path(path).name, threading.current_thread().name))
        return read_plate(path)

    eng = Engine(seq, {actor.name: actor}, settings, OutputLayout(tmp_path / "o", seq.name, seq.padding), job_id="t1",
                 plate_reader=reader)
    eng.prepare()
    assert reads == [("shot.1001.exr", reads[0][1])] and reads[0][1].startswith("recast-setup-read"), reads
    assert eng._setup_read is None and eng._handover is not None and eng._handover[0] == 1001
    assert eng.load_frame(1001).plate is not None and len(reads) == 1  # the run's load of 1001 is set-up's

    def broken(path: Path) -> Any:
        raise PlateError(f"{path}: cannot decode pixels (test)")

    bad = Engine(seq, {actor.name: actor}, settings, OutputLayout(tmp_path / "b", seq.name, seq.padding), plate_reader=broken)
    with pytest.raises(PlateError, match=r"shot\.1001\.exr: cannot decode pixels \(test\)"):
        bad.prepare()


def test_reference_frame_is_read_and_scanned_once(actor: Any, swapped: dict[str, Any], tmp_path: Path) -> None:
    """Set-up's scan of the reference frame is that frame's detection in the run, and its
    plate is that frame's load: the comp and record equal a run that reads and scans again."""
    seq = PlateSequence.open(str(swapped["plates"] / "shot.####.exr"))
    settings = SwapSettings(selection="reference", reference="1001:0")
    runs = {}
    for name in ("reused", "fresh"):
        eng = Engine(seq, {actor.name: actor}, settings, OutputLayout(tmp_path / name, seq.name, seq.padding), job_id="t1")
        eng.prepare()
        held = eng._handover
        assert held is not None and held[0] == 1001 and eng._stream is not None and 1001 in eng._stream._seeds
        if name == "fresh":
            eng._handover = None
            eng._stream._seeds.clear()
        else:
            assert eng.load_frame(1001).plate is held[1] and eng._handover is None
            eng._handover = held
        runs[name] = eng.run(seq.frames)
    for a, b in zip(runs["reused"], runs["fresh"], strict=True):
        assert a["status"] == b["status"] == "done", (a["error"], b["error"])
        assert a["faces"] == b["faces"] and a["detection_tiles"] == b["detection_tiles"]
        assert same_pixels(read_plate(a["comp"]).pixels, read_plate(b["comp"]).pixels)
