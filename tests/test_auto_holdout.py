"""Auto holdout: objects in front of the face stay the plate's (``auto_holdout``,
``pipeline/composite/occlude.py``).

A hand-held microphone below the lips, a blue cup at the cheek: the swap used to paint the
actor's skin over them (a pale ghost across the object's top). The objects are drawn on a
real face (skimage's astronaut, neutral and dim warm light) with the judge's own mask of where
they are; the real faces of t1.jpg and the Megamind clip, which have nothing in front of them,
check that skin, shade, make-up and beards are left alone. The cue is off by default
(``auto_holdout`` turns it on for a job)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from _faces_fixtures import (
    astronaut,
    megamind_frames,
    srgb_to_linear,
    t1,
    write_exr_sequence,
)
from recast.models.base import SwapResult
from recast.models.swappers import warp_shape as ws
from recast.models.swappers.warp import WarpSwapper
from recast.pipeline.composite.compose import (
    ComposeOptions,
    SpaceConverter,
    compose_face,
)
from recast.pipeline.composite.crop import crop_box_for, shift_face
from recast.pipeline.composite.settings import SwapSettings
from recast.pipeline.faces import AnalyserOptions, create_analyser

WARM_DIM = np.array([0.55, 0.36, 0.22], np.float32)


@pytest.fixture(scope="module")
def analyser() -> Any:
    return create_analyser("dlib", AnalyserOptions(), notify=lambda _t: None)


def _big_astronaut(light: np.ndarray) -> np.ndarray:
    """The astronaut at twice her size (her face about 200 px: a medium close-up in HD), in
    linear light as the engine's working space has it, lit by ``light``."""
    img = cv2.resize(astronaut(), None, fx=2.0, fy=2.0, interpolation=cv2.INTER_CUBIC)
    return np.clip(srgb_to_linear(img) * light, 0, 1).astype(np.float32)


def _crop(img: np.ndarray, analyser: Any) -> tuple[np.ndarray, Any]:
    face = max(analyser.analyse(img, embed=False), key=lambda f: f.size)
    box = crop_box_for(face, img.shape[:2], 2.0)
    ys, xs = box.slices()
    f2 = shift_face(face, -box.x0, -box.y0)
    f2.track_id = None
    return img[ys, xs].copy(), f2


def _compose(crop: np.ndarray, face: Any, actor: Any, keep: bool, swap: Any = None) -> tuple[np.ndarray, dict[str, Any]]:
    """The face composed with the warp actor (or ``swap``); (alpha, the record's auto_holdout)."""
    sw = WarpSwapper()
    fn = swap or (lambda c, f: sw.swap(c, f, actor))
    opts = ComposeOptions.from_settings(SwapSettings(grain=False, auto_holdout=keep))
    comp = compose_face(crop, face, fn, SpaceConverter(lambda a: a, lambda a: a), opts)
    assert ("auto_holdout" in comp.info) == keep
    return comp.alpha, comp.info.get("auto_holdout", {"kept_px": 0})


def _microphone(img: np.ndarray, lm: np.ndarray, light: np.ndarray, black: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """A hand-held microphone over the chin: a dark wire-mesh ball with a specular highlight,
    its handle going down out of the frame. Returns (plate, the ball's and handle's mask).
    ``black``: a black foam windscreen instead (linear 0.004-0.012, under 4 % of the skin: too
    dark to read its colour; matte, no highlight)."""
    _, _, length = ws.face_frame(lm)
    h, w = img.shape[:2]
    cx, cy, r = lm[8][0] + 0.15 * length, lm[8][1] - 0.1 * length, 0.2 * length
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ball = (xx - cx) ** 2 + (yy - cy) ** 2 < r * r
    handle = (np.abs(xx - (cx + 0.3 * (yy - cy))) < 0.35 * r) & (yy > cy)
    wires = (np.sin(xx * 1.3) * np.sin(yy * 1.3)) > 0
    grille = 0.004 + 0.008 * wires if black else 0.07 + 0.05 * wires
    spec = (0.0 if black else 0.5) * np.exp(-((xx - cx + 0.45 * r) ** 2 + (yy - cy + 0.45 * r) ** 2) / (2 * (0.12 * r) ** 2))
    out = img.copy()
    out[ball] = ((grille + spec)[ball][:, None] * np.array([1.0, 1.0, 1.04], np.float32)) * light
    out[handle & ~ball] = np.array([0.006, 0.006, 0.007] if black else [0.035, 0.035, 0.04], np.float32) * light
    return np.clip(out, 0, 1).astype(np.float32), ball | handle


def _cup(img: np.ndarray, lm: np.ndarray, light: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A blue cup raised to the side of the mouth, over the cheek, from beyond the face's edge."""
    _, _, length = ws.face_frame(lm)
    h, w = img.shape[:2]
    x0, x1 = lm[3][0] - 0.35 * length, lm[48][0] - 0.1 * length
    y0, y1 = lm[33][1], lm[8][1] + 0.3 * length
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cup = (xx > x0) & (xx < x1) & (yy > y0) & (yy < y1)
    shade = 0.75 + 0.25 * np.cos((xx - 0.5 * (x0 + x1)) / max(1.0, x1 - x0) * np.pi)
    out = img.copy()
    out[cup] = (shade[cup][:, None] * np.array([0.10, 0.28, 0.75], np.float32)) * light
    return np.clip(out, 0, 1).astype(np.float32), cup


@pytest.mark.parametrize("warm", [False, True])
@pytest.mark.parametrize("thing", ["microphone", "black_microphone", "cup"])
def test_an_object_in_front_of_the_face_stays_the_plates(actor: Any, analyser: Any, warm: bool, thing: str) -> None:
    """Without the cue the swap paints over the object (alpha over it 0.4-0.9); with it the
    object keeps the plate's pixels and the rest of the face is swapped as before. A black
    microphone is too dark to read its colour: it counts for reaching into the lower face."""
    light = WARM_DIM if warm else np.ones(3, np.float32)
    crop, face = _crop(_big_astronaut(light), analyser)
    lm = face.landmarks
    if thing == "cup":
        crop, mask = _cup(crop, lm, light)
    else:
        crop, mask = _microphone(crop, lm, light, black=thing == "black_microphone")
    alpha = {}
    for keep in (False, True):
        alpha[keep], info = _compose(crop, face, actor, keep)
        assert (info["kept_px"] > 0) == keep, info
    inner = cv2.erode(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)  # the object, not its edge
    painted = inner & (alpha[False] > 0.3)
    assert painted.sum() > 150, painted.sum()  # the swap did reach over it
    off, on = float(alpha[False][painted].mean()), float(alpha[True][painted].mean())
    assert on < 0.1 and on < 0.2 * off, (off, on)
    # the face away from the object (between the eyes' outer corners, brows to chin): as before
    assert float(np.abs(alpha[True][_mid_face(lm, mask)] - alpha[False][_mid_face(lm, mask)]).max()) < 1e-3


def _mid_face(lm: np.ndarray, mask: np.ndarray) -> np.ndarray:
    _, _, length = ws.face_frame(lm)
    h, w = mask.shape
    yy, xx = np.mgrid[0:h, 0:w]
    box = (xx > lm[36][0]) & (xx < lm[45][0]) & (yy > lm[19][1]) & (yy < lm[8][1] - 0.05 * length)
    away = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 3) > 0.1 * length
    assert (box & away).sum() > 2000
    return box & away


def _beard(img: np.ndarray, lm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A dark, short beard along the jaw from ear to ear and round the chin."""
    _, _, length = ws.face_frame(lm)
    inward = lm[30] - lm[2:15]
    inward /= np.linalg.norm(inward, axis=1, keepdims=True)
    line = lm[2:15] + 0.05 * length * inward
    mask = np.zeros(img.shape[:2], np.uint8)
    cv2.polylines(mask, [np.round(line).astype(np.int32)], False, 255, max(3, round(0.12 * length)))
    soft = cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (0, 0), 2.0)[..., None]
    beard = np.array([0.012, 0.008, 0.005], np.float32)
    return np.clip(soft * beard + (1 - soft) * img, 0, 1).astype(np.float32), mask > 0


def _mark(img: np.ndarray, lm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A dark mark on the cheek (a mole, a tattoo) well inside the face."""
    _, _, length = ws.face_frame(lm)
    c = 0.5 * (lm[31] + lm[2])  # mid cheek
    out = img.copy()
    mask = np.zeros(img.shape[:2], np.uint8)
    cv2.circle(mask, (int(c[0]), int(c[1])), max(3, round(0.05 * length)), 1, -1)
    out[mask > 0] = (0.008, 0.006, 0.005)
    return out, mask > 0


@pytest.mark.parametrize("paint", ["beard", "mark"])
def test_a_beard_or_a_mark_on_the_face_is_not_an_object(actor: Any, analyser: Any, paint: str) -> None:
    """A beard runs along the jaw on both sides of the chin; a mark lies inside the face: neither
    comes from beyond the face, and the swap covers them as it covers the bare face."""
    crop, face = _crop(_big_astronaut(np.ones(3, np.float32)), analyser)
    crop, mask = (_beard if paint == "beard" else _mark)(crop, face.landmarks)
    off, _ = _compose(crop, face, actor, False)
    on, _ = _compose(crop, face, actor, True)
    covered = mask & (off > 0.3)
    assert covered.sum() > 150, covered.sum()  # the swap covers it ...
    assert float(np.abs(on[covered] - off[covered]).max()) < 1e-3  # ... with the cue on too


def test_a_side_lit_faces_dark_half_is_not_an_object(actor: Any, analyser: Any) -> None:
    """Film-noir light: the far side of the face at 2 % of the lit side, too dark to read its
    colour, entering from the face's edge like a black object. It runs up the face past the
    nose (an eye in it), so it is shade: the swap covers it as before."""
    crop, face = _crop(_big_astronaut(np.ones(3, np.float32)), analyser)
    lm = face.landmarks
    h, w = crop.shape[:2]
    xx = np.mgrid[0:h, 0:w][1].astype(np.float32)
    _, _, length = ws.face_frame(lm)
    edge = lm[30][0] + 0.12 * length  # beside the nose: the nose and most skin patches stay lit
    light = 0.02 + 0.98 * np.clip((edge + 4.0 - xx) / 8.0, 0.0, 1.0)
    lit = (crop * light[..., None]).astype(np.float32)
    off, _ = _compose(lit, face, actor, False)
    on, info = _compose(lit, face, actor, True)
    dark = (light < 0.05) & (off > 0.3)
    assert dark.sum() > 2000, dark.sum()
    assert float(np.abs(on[dark] - off[dark]).max()) < 1e-3, info


def test_real_faces_with_nothing_in_front_keep_their_swap(actor: Any, analyser: Any, test_media: Path) -> None:
    """t1.jpg's six faces (daylight, highlights, make-up) and the Megamind clip (dim warm light,
    CGI shading, hair and earrings at the face's edge): the cue takes at most slivers at the
    face's edge: under 2.5 % of the swapped area (2 % before the matte was bounded by the
    plate's own outline, which made that area smaller), every pixel it takes within 0.08 of
    the face's size of the matte's edge."""
    img = srgb_to_linear(t1())
    faces = analyser.analyse(img, embed=False)
    assert len(faces) >= 5

    def sliver(crop: np.ndarray, face: Any) -> None:
        alpha, info = _compose(crop, face, actor, True)
        assert info["kept_px"] <= 0.025 * float((alpha > 0.5).sum()), (face.box, info)
        if info["kept_px"]:
            off, _ = _compose(crop, face, actor, False)
            taken = (off - alpha) > 0.25
            edge = cv2.distanceTransform((off > 0.05).astype(np.uint8), cv2.DIST_L2, 5)
            assert float(edge[taken].max()) < 0.08 * face.size, (face.box, float(edge[taken].max()))

    for face in faces:
        box = crop_box_for(face, img.shape[:2], 2.0)
        ys, xs = box.slices()
        f2 = shift_face(face, -box.x0, -box.y0)
        f2.track_id = None
        sliver(img[ys, xs].copy(), f2)
    for frame in megamind_frames(test_media, 6, scale=1.0, start=30) + megamind_frames(test_media, 3, scale=1.0, start=166):
        crop, face = _crop(srgb_to_linear(frame), analyser)
        sliver(crop, face)


def test_auto_holdout_setting_reaches_the_swap_from_cli_job_and_engine(actor: Any, analyser: Any, tmp_path: Path) -> None:
    """``auto_holdout`` is a swap setting (``--auto-holdout``, a job's ``settings``): the engine
    hands it to compose, the face's record counts the kept pixels, and the comp over the
    microphone is the plate's own pixels with it on; off (the default) the swap paints over it."""
    import argparse

    from recast.pipeline.cli.swap import add_settings_flags, settings_overrides
    from recast.pipeline.engine import Engine, OutputLayout
    from recast.pipeline.engine import SwapSettings as EngineSettings
    from recast.pipeline.plateio import read_plate
    from recast.pipeline.schema.job import JobSpec
    from recast.pipeline.sequence import PlateSequence

    p = argparse.ArgumentParser()
    add_settings_flags(p)
    assert settings_overrides(p.parse_args(["--auto-holdout"])) == {"auto_holdout": True}
    assert settings_overrides(p.parse_args([])).get("auto_holdout") is None
    job = JobSpec.from_dict({"plate": str(tmp_path / "p.####.exr"), "out": str(tmp_path / "o"), "actor": "a", "settings": {"auto_holdout": True}})
    assert EngineSettings.from_dict(dict(job.settings)).auto_holdout is True
    assert EngineSettings().auto_holdout is False

    # an sRGB plate with the microphone (written as scene-linear EXR by the fixture)
    img = cv2.resize(astronaut(), None, fx=2.0, fy=2.0, interpolation=cv2.INTER_CUBIC).astype(np.float32)
    face = max(analyser.analyse(img, embed=False), key=lambda f: f.size)
    plate, mask = _microphone(img, face.landmarks, np.ones(3, np.float32))
    pattern = write_exr_sequence([plate], tmp_path / "plate", name="mic")
    seq = PlateSequence.open(pattern)
    comps = {}
    for on in (False, True):
        eng = Engine(seq, {actor.name: actor}, EngineSettings(selection="largest", auto_holdout=on, grain=False),
                     OutputLayout(tmp_path / f"out{on}", seq.name, seq.padding))
        (rec,) = eng.run(seq.frames)
        assert rec["status"] == "done", rec["error"]
        assert rec["settings"]["auto_holdout"] is on
        (face_rec,) = [f for f in rec["faces"] if f["swapped"]]
        assert ("auto_holdout" in face_rec) is on and (not on or face_rec["auto_holdout"]["kept_px"] > 0), face_rec
        comps[on] = read_plate(rec["comp"]).pixels[..., :3]
    linear = read_plate(seq.path(seq.first)).pixels[..., :3]
    inner = cv2.erode(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    changed_off = np.abs(comps[False] - linear).max(axis=2) > 0.02
    assert (inner & changed_off).sum() > 150  # painted over without the setting
    assert (inner & (np.abs(comps[True] - linear).max(axis=2) > 0.02)).sum() < 0.05 * (inner & changed_off).sum()


def test_auto_holdout_works_on_any_backends_matte_and_says_when_it_cannot(analyser: Any) -> None:
    """The cue runs in compose, on whatever matte the backend's result gives (here a stand-in
    swapper that returns the crop blurred and no matte of its own: the landmark hull's matte, as
    for inswapper or a dfm model). A face with only five key points has no layout to read: the
    record says it was skipped and the matte is untouched."""
    from recast.pipeline.types import Face

    light = np.ones(3, np.float32)
    crop, face = _crop(_big_astronaut(light), analyser)
    crop, mask = _microphone(crop, face.landmarks, light)

    def blurred(c: np.ndarray, f: Any) -> SwapResult:
        return SwapResult(cv2.GaussianBlur(c, (0, 0), 3.0), None, {"stand_in": "blur"})

    off, _ = _compose(crop, face, None, False, blurred)
    on, info = _compose(crop, face, None, True, blurred)
    inner = cv2.erode(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool) & (off > 0.3)
    assert inner.sum() > 150 and info["kept_px"] > 0, (inner.sum(), info)
    assert float(on[inner].mean()) < 0.2 * float(off[inner].mean())
    five = Face(box=face.box, score=face.score, kps5=face.kps5, landmarks=None, track_id=None)
    plain, _ = _compose(crop, five, None, False, blurred)
    held, info5 = _compose(crop, five, None, True, blurred)
    assert info5 == {"kept_px": 0, "skipped": "needs 68-point landmarks or the face mesh"}
    np.testing.assert_array_equal(plain, held)


def test_auto_holdout_reads_the_points_the_warp_fitted_itself(actor: Any, analyser: Any) -> None:
    """A face that comes with five key points and a box (``--commercial-only`` with the HOG
    detector): the warp fits the 68 points itself and hands them on with its result
    (``SwapResult.landmarks68``), and the cue reads them: the microphone stays the plate's."""
    from recast.pipeline.types import Face

    light = np.ones(3, np.float32)
    crop, face = _crop(_big_astronaut(light), analyser)
    crop, mask = _microphone(crop, face.landmarks, light, black=True)
    five = Face(box=face.box, score=face.score, kps5=face.kps5, landmarks=None, track_id=None)
    res = WarpSwapper().swap(crop, five, actor)
    assert res.landmarks68 is not None and res.landmarks68.shape == (68, 2)
    assert float(np.abs(res.landmarks68 - face.landmarks).mean()) < 0.03 * face.size  # the plate's points
    off, _ = _compose(crop, five, actor, False)
    on, info = _compose(crop, five, actor, True)
    inner = cv2.erode(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool) & (off > 0.3)
    assert inner.sum() > 150 and info["kept_px"] > 0, (inner.sum(), info)
    assert float(on[inner].mean()) < 0.2 * float(off[inner].mean())
