"""Composite maths on a real face (skimage astronaut, dlib landmarks): matte, colour
match, blends, grain match and highlight preservation."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from recast.models.base import SwapResult
from recast.pipeline.color import ColorContext
from recast.pipeline.composite.blend import blend
from recast.pipeline.composite.colormatch import ColourStats, colour_match
from recast.pipeline.composite.compose import ComposeOptions, SpaceConverter, compose_face
from recast.pipeline.composite.crop import crop_box_for, shift_face
from recast.pipeline.composite.matte import MatteOptions, build_matte, matte_box
from recast.pipeline.errors import SwapError
from recast.pipeline.faces import create_analyser
from recast.pipeline.types import Face


@pytest.fixture(scope="module")
def colour() -> ColorContext:
    return ColorContext()


@pytest.fixture(scope="module")
def astro(colour: ColorContext) -> tuple[np.ndarray, Face]:
    """Scene-linear astronaut crop and its dlib face in crop coordinates."""
    srgb = data.astronaut().astype(np.float32) / 255.0
    face = create_analyser("dlib").analyse(srgb)[0]
    box = crop_box_for(face, srgb.shape[:2], 2.0)
    lin = colour.from_working(srgb, colour.scene_linear)
    ys, xs = box.slices()
    return np.ascontiguousarray(lin[ys, xs]), shift_face(face, -box.x0, -box.y0)


def _conv(colour: ColorContext) -> SpaceConverter:
    lin = colour.scene_linear
    return SpaceConverter(lambda a: colour.to_working(a, lin), lambda a: colour.from_working(a, lin))


def _blurred_swap(sigma: float = 2.0):
    """A clean stand-in swapper: the crop itself, blurred (no grain, in range)."""

    def swap(crop: np.ndarray, face: Face) -> SwapResult:
        return SwapResult(cv2.GaussianBlur(crop, (0, 0), sigma), None, {"stand_in": "blur"})

    return swap


def test_matte_follows_face_and_scales(astro: tuple[np.ndarray, Face]) -> None:
    crop, face = astro
    matte = build_matte(crop.shape[:2], face, None, MatteOptions(erode=4, blur=12))
    box = matte_box(matte)
    assert box is not None
    # covers the eyes/nose/mouth, stays inside the crop, zero at the crop corners
    for x, y in face.kps5:
        assert matte[int(y), int(x)] == pytest.approx(1.0)
    assert matte[0, 0] == 0.0 and matte[-1, -1] == 0.0
    soft = ((matte > 0) & (matte < 1)).sum()
    assert soft > 0  # feathered edge
    # twice the face size: the same settings give a matte twice as wide (relative sizing)
    big_face = shift_face(face, 0, 0)
    big_face.box, big_face.kps5, big_face.landmarks = face.box * 2, face.kps5 * 2, face.landmarks * 2
    big = build_matte((crop.shape[0] * 2, crop.shape[1] * 2), big_face, None, MatteOptions(erode=4, blur=12))
    bb = matte_box(big)
    assert bb is not None and abs(bb.width / box.width - 2.0) < 0.06
    # erode shrinks, negative erode (dilate) grows
    small = matte_box(build_matte(crop.shape[:2], face, None, MatteOptions(erode=20, blur=12)))
    grown = matte_box(build_matte(crop.shape[:2], face, None, MatteOptions(erode=-10, blur=12)))
    assert small is not None and grown is not None and small.width < box.width < grown.width


def test_matte_sources_hull_and_model_mask(astro: tuple[np.ndarray, Face]) -> None:
    crop, face = astro
    hw = crop.shape[:2]
    hull = build_matte(hw, face, None, MatteOptions(erode=0, blur=0))
    model = np.zeros(hw, np.float32)
    model[:10, :10] = 1.0  # the model claims a corner ...
    cy, cx = (int(v) for v in face.kps5[2][::-1])
    model[cy - 15 : cy + 15, cx - 15 : cx + 15] = 1.0  # ... and the middle of the face
    union = build_matte(hw, face, model, MatteOptions(erode=0, blur=0, source="union"))
    assert union[:10, :10].min() == 1.0 and hull[:10, :10].max() == 0.0
    assert (union >= hull).all()
    inter = build_matte(hw, face, model, MatteOptions(erode=0, blur=0, source="intersect"))
    assert inter[:10, :10].max() == 0.0 and inter[cy, cx] == 1.0 and inter.sum() < 40 * 40
    assert np.array_equal(build_matte(hw, face, model, MatteOptions(erode=0, blur=0)), union)  # the default
    auto = build_matte(hw, face, model, MatteOptions(erode=0, blur=0, source="auto"))  # the model's matte when given
    assert np.array_equal(auto > 0, model > 0)
    only_hull = build_matte(hw, face, model, MatteOptions(erode=0, blur=0, source="hull"))
    assert np.array_equal(only_hull, hull)
    assert np.array_equal(build_matte(hw, face, None, MatteOptions(erode=0, blur=0, source="auto")), hull)


@pytest.mark.parametrize("method", ["rct", "lct"])
def test_colour_match_moves_stats_to_plate(method: str, astro: tuple[np.ndarray, Face], colour: ColorContext) -> None:
    crop, face = astro
    dst = np.clip(colour.to_working(crop, colour.scene_linear), 0, 1)
    src = np.clip(dst * np.array([0.6, 0.9, 1.2], np.float32) + 0.05, 0, 1)  # a tinted face
    w = build_matte(crop.shape[:2], face, None, MatteOptions())
    sel = w >= 0.5
    out, stats = colour_match(src, dst, w, method, 1.0)
    assert stats is not None and stats.method == method
    before = np.abs(src[sel].mean(0) - dst[sel].mean(0)).max()
    after = np.abs(out[sel].mean(0) - dst[sel].mean(0)).max()
    assert after < before * 0.25
    half, _ = colour_match(src, dst, w, method, 0.5)
    mid = np.abs(half[sel].mean(0) - dst[sel].mean(0)).max()
    assert after < mid < before
    # locked stats reproduce the same transform on the same input
    locked = ColourStats.from_json(stats.to_json())
    again, used = colour_match(src, dst * 0.5, w, method, 1.0, locked)
    assert used is locked and np.allclose(again, out, atol=2e-3)
    none, nstats = colour_match(src, dst, w, "none", 1.0)
    assert nstats is None and np.array_equal(none, src)


@pytest.mark.parametrize("method", ["alpha", "laplacian", "poisson"])
def test_blends_follow_the_face_inside_and_the_plate_at_the_edge(method: str, astro: tuple[np.ndarray, Face]) -> None:
    crop, face = astro
    bg = np.clip(crop, 0, 1)
    fg = np.clip(bg * 0.5 + 0.3, 0, 1)  # a visibly different "face"
    a = build_matte(crop.shape[:2], face, None, MatteOptions())
    f = blend(fg, bg, a, method)
    assert f.shape == fg.shape and np.isfinite(f).all()
    core = a >= 0.999
    ring = (a > 0) & (a < 0.2)
    comp = f * a[..., None] + bg * (1 - a[..., None])
    # inside: the new face's structure (correlates with fg, differs from bg)
    assert np.abs(comp[core] - bg[core]).mean() > 0.05
    # the edge: comp is close to the plate (seamless)
    assert np.abs(comp[ring] - bg[ring]).mean() < np.abs(fg[ring] - bg[ring]).mean()
    if method == "poisson":
        # seamless: the membrane pulls the face's border onto the plate's
        edge = (a > 0.45) & (a < 0.55)
        assert np.abs(f[edge] - bg[edge]).mean() < 0.5 * np.abs(fg[edge] - bg[edge]).mean()


def estimate_sigma(img: np.ndarray) -> float:
    """Immerkaer's noise estimate (mean over channels): independent of the grain code."""
    k = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float64)
    sig = []
    for c in range(img.shape[2]):
        r = cv2.filter2D(img[..., c].astype(np.float64), -1, k)[1:-1, 1:-1]
        sig.append(np.sqrt(np.pi / 2.0) * np.abs(r).mean() / 6.0)
    return float(np.mean(sig))


def _core(alpha: np.ndarray) -> tuple[slice, slice]:
    """A rectangle well inside the matte (alpha == 1)."""
    ys, xs = np.nonzero(cv2.erode((alpha >= 1.0).astype(np.uint8), np.ones((9, 9), np.uint8)))
    cy, cx = int(np.median(ys)), int(np.median(xs))
    r = max(8, int(0.18 * min(np.ptp(ys), np.ptp(xs))))
    return slice(cy - r, cy + r), slice(cx - r, cx + r)


def test_grain_match_within_25_percent(astro: tuple[np.ndarray, Face], colour: ColorContext) -> None:
    crop, face = astro
    rng = np.random.default_rng(7)
    noisy = (crop + rng.normal(0.0, 0.02, crop.shape)).astype(np.float32)
    opts = ComposeOptions(grain=True, color="none")
    res = compose_face(noisy, face, _blurred_swap(), _conv(colour), opts, seed=3)
    ys, xs = _core(res.alpha)
    plate_sigma = estimate_sigma(noisy[ys, xs])
    out_sigma = estimate_sigma(res.fg[ys, xs])
    clean_sigma = estimate_sigma(res.fg_clean[ys, xs])
    assert clean_sigma < 0.5 * plate_sigma  # the swap really was clean: the test can fail
    print(f"grain sigma plate {plate_sigma:.5f} regrained {out_sigma:.5f} clean {clean_sigma:.5f}")
    assert abs(out_sigma / plate_sigma - 1.0) < 0.25, (plate_sigma, out_sigma)
    # and no grain is added when off
    off = compose_face(noisy, face, _blurred_swap(), _conv(colour), ComposeOptions(grain=False, color="none"), seed=3)
    assert np.array_equal(off.fg, off.fg_clean)


def test_highlights_above_one_survive(astro: tuple[np.ndarray, Face], colour: ColorContext) -> None:
    crop, face = astro
    hot = crop.copy()
    x, y = face.kps5[2]  # nose tip: a specular of 6.0 in scene-linear
    yy, xx = np.mgrid[: hot.shape[0], : hot.shape[1]]
    spot = np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * (0.04 * face.size) ** 2))
    hot = (hot + 6.0 * spot[..., None]).astype(np.float32)
    assert hot.max() > 5.0
    keep = compose_face(hot, face, _blurred_swap(), _conv(colour), ComposeOptions(grain=False), seed=1)
    lose = compose_face(hot, face, _blurred_swap(), _conv(colour), ComposeOptions(grain=False, highlights=False), seed=1)
    iy, ix = int(round(y)), int(round(x))
    assert keep.alpha[iy, ix] == pytest.approx(1.0)
    assert keep.fg[iy, ix].min() > 4.0  # not clipped: the specular is back at linear strength
    assert lose.fg[iy, ix].max() <= 1.0 + 1e-3  # what a clipping composite would give
    assert keep.info["highlights_restored"] > 0


def test_swap_output_of_another_size_is_resampled(astro: tuple[np.ndarray, Face], colour: ColorContext) -> None:
    crop, face = astro

    def half_size(c: np.ndarray, f: Face) -> SwapResult:
        small = cv2.resize(c, (c.shape[1] // 2, c.shape[0] // 2), interpolation=cv2.INTER_AREA)
        return SwapResult(small, np.ones(small.shape[:2], np.float32))

    res = compose_face(crop, face, half_size, _conv(colour), ComposeOptions(grain=False, color="none"))
    assert res.fg.shape == crop.shape and res.alpha.shape == crop.shape[:2]
    core = res.alpha >= 1.0
    # the resampled face matches the plate where nothing else changed (same image, half-res round trip)
    assert np.abs(res.fg[core] - crop[core]).mean() < 0.02
    with pytest.raises(SwapError, match="NaN/Inf"):
        compose_face(crop, face, lambda c, f: SwapResult(np.full_like(c, np.nan)), _conv(colour), ComposeOptions())


def test_matte_follows_a_rolled_head(astro: tuple[np.ndarray, Face]) -> None:
    """The forehead extension follows the face's own up direction: a head rolled by 90
    degrees gets the same matte, rotated (not one grown towards the image top)."""
    crop, face = astro
    h, w = crop.shape[:2]
    upright = build_matte((h, w), face, None, MatteOptions(erode=0, blur=0))

    def rot(p: np.ndarray) -> np.ndarray:  # 90 deg clockwise: (x, y) -> (h - 1 - y, x)
        p = np.asarray(p, np.float64)
        return np.stack([h - 1 - p[..., 1], p[..., 0]], axis=-1)

    rolled = shift_face(face, 0, 0)
    rolled.kps5, rolled.landmarks = rot(face.kps5), rot(face.landmarks)
    rolled.box = np.array([*rot(face.box[:2]), *rot(face.box[2:])])[[2, 1, 0, 3]]
    got = build_matte((w, h), rolled, None, MatteOptions(erode=0, blur=0)) > 0.5
    want = np.rot90(upright, k=-1) > 0.5
    iou = (got & want).sum() / (got | want).sum()
    assert iou > 0.95, iou
    # and the forehead really is there: the matte reaches above the brows
    brow_top = face.landmarks[17:27, 1].min()
    assert (upright[: int(brow_top) - 5] > 0).any()


@pytest.mark.parametrize("method", ["rct", "lct"])
def test_replay_face_advances_the_colour_smoothing_as_compose_does(method: str, astro: tuple[np.ndarray, Face], colour: ColorContext) -> None:
    """A replayed frame (computed, not written) leaves the smoothing where the full compose
    leaves it: the same statistics reach ``smooth_colour``, the swapper sees the same crop."""
    from recast.pipeline.composite.compose import replay_face

    crop, face = astro
    warm = (crop * np.array([1.3, 1.0, 0.7], np.float32)).astype(np.float32)  # a grade for the match to undo

    def run(replay: bool) -> tuple[list[ColourStats], list[np.ndarray]]:
        seen: list[ColourStats] = []
        crops: list[np.ndarray] = []
        blurred = _blurred_swap()

        def swap(c: np.ndarray, f: Face) -> SwapResult:
            crops.append(c.copy())
            return blurred(c, f)

        def smooth(stats: ColourStats) -> ColourStats:
            out = stats if not seen else stats.mixed(seen[-1], 0.6)
            seen.append(out)
            return out

        opts = ComposeOptions(color=method, grain=False)
        for plate in (crop, warm):
            if replay:
                replay_face(plate, face, swap, _conv(colour), opts, None, smooth)
            else:
                compose_face(plate, face, swap, _conv(colour), opts, None, 0, smooth)
        return seen, crops

    full, replayed = run(False), run(True)
    assert len(full[0]) == 2 and [s.to_json() for s in full[0]] == [s.to_json() for s in replayed[0]]
    assert full[0][0].to_json() != full[0][1].to_json()  # the second frame moved the smoothing
    assert all(np.array_equal(a, b) for a, b in zip(full[1], replayed[1], strict=True))


def test_a_box_sized_ungraded_layer_equals_its_crop_sized_form() -> None:
    """A swapper may give its ungraded colour over a box of the crop only (SwapResult
    ungraded_origin; the warp's feature fill does, so an 8K face's crop is not copied whole):
    compose reads it as the crop-size layer that is the swap's own colour outside the box,
    over any region, the box partly outside it included; a box past the crop is refused."""
    import numpy as np

    from recast.pipeline.composite.compose import _ungraded_layer
    from recast.pipeline.outputs import Box

    rng = np.random.default_rng(3)
    hw = (60, 80)
    own = rng.random((*hw, 3), dtype=np.float32)
    layer = rng.random((20, 30, 3), dtype=np.float32) * 1.4 - 0.2  # out of range: clipped like the crop-size form
    whole = own.copy()
    whole[10:30, 40:70] = layer
    for region in (Box(0, 0, 80, 60), Box(50, 5, 80, 25), Box(0, 0, 45, 15), Box(0, 40, 30, 60)):
        ys, xs = region.slices()
        got = _ungraded_layer(layer, hw, region, (10, 40), own[ys, xs])
        want = _ungraded_layer(whole, hw, region)
        assert got is not None and want is not None and np.array_equal(got, want), region
    assert _ungraded_layer(layer, hw, Box(0, 0, 80, 60), (45, 40), own) is None


def test_rct_keeps_the_face_detail_legible_when_it_cuts_a_harder_light(astro: tuple[np.ndarray, Face]) -> None:
    """An actor lit harder than the plate: rct cuts the lightness spread to the plate's (here by
    0.4, as a studio portrait's harsh light into a soft plate measured). With a detail scale
    (compose passes 0.04 of the face size) the broad shading takes the whole cut while the fine
    detail (eyes, lids, lips) keeps 0.6 of its contrast; with one scale it kept 0.4, and small
    faces' eyes went pale (the judge read their blinks 0.70 -> 0.82-0.88 with it)."""
    from recast.pipeline.composite.colormatch import DETAIL_KEEP, apply_stats

    crop, face = astro
    actor = np.clip(crop, 0, 1).astype(np.float32)
    h, w = actor.shape[:2]
    lm = face.landmarks
    sigma = 0.04 * face.size
    lab = cv2.cvtColor(actor, cv2.COLOR_RGB2Lab).reshape(-1, 3)
    mean, std = tuple(float(v) for v in lab.mean(0)), tuple(float(v) for v in lab.std(0))
    cut = ColourStats("rct", 1.0, mean, std, mean, (0.4 * std[0], std[1], std[2]))

    def lightness(rgb: np.ndarray) -> np.ndarray:
        return cv2.cvtColor(np.clip(rgb, 0, 1).astype(np.float32), cv2.COLOR_RGB2Lab)[..., 0]

    def detail(rgb: np.ndarray) -> np.ndarray:
        lum = lightness(rgb)
        return lum - cv2.GaussianBlur(lum, (0, 0), sigma)

    eyes = np.zeros((h, w), bool)
    for part in (lm[36:42], lm[42:48]):
        c, r = part.mean(axis=0), 0.6 * float(np.ptp(part[:, 0]))
        eyes[int(c[1] - r) : int(c[1] + r), int(c[0] - r) : int(c[0] + r)] = True
    plain, kept = apply_stats(actor, cut), apply_stats(actor, cut, sigma)
    src_c = float(detail(actor)[eyes].std())
    assert float(detail(plain)[eyes].std()) < 0.45 * src_c  # one scale: the eyes keep 0.4 of their contrast
    assert float(detail(kept)[eyes].std()) > (DETAIL_KEEP - 0.05) * src_c  # the detail keeps 0.6
    # the broad shading takes the same cut either way
    broad = [float(cv2.GaussianBlur(lightness(x), (0, 0), 3 * sigma).std()) for x in (plain, kept)]
    assert abs(broad[1] - broad[0]) < 0.1 * broad[0]
    # a cut no deeper than DETAIL_KEEP is applied as one scale, as before
    mild = ColourStats("rct", 1.0, mean, std, mean, (0.8 * std[0], std[1], std[2]))
    np.testing.assert_array_equal(apply_stats(actor, mild), apply_stats(actor, mild, sigma))
    # and colour_match passes the scale through
    weight = np.ones((h, w), np.float32)
    a, _ = colour_match(actor, actor, weight, "rct", locked=cut)
    b, _ = colour_match(actor, actor, weight, "rct", locked=cut, detail_sigma=sigma)
    assert float(detail(b)[eyes].std()) > 1.3 * float(detail(a)[eyes].std())


def test_rct_gives_a_colourless_actor_the_plate_skins_chroma_by_shade(astro: tuple[np.ndarray, Face]) -> None:
    """A black-and-white actor photograph (a and b flat) on a colour plate: rct alone paints one
    skin colour over the whole face, so its shaded side reads grey beside the plate's warmer
    shade. The plate skin's a and b are fitted as a line in L, and the actor's matched lightness
    drives them: the comp's chroma follows its shading as the plate's does. An actor with
    colour of its own keeps plain rct (the slope is recorded but not applied)."""
    from recast.pipeline.composite.colormatch import chroma_slope, measure_stats

    crop, face = astro
    plate = np.clip(crop, 0, 1).astype(np.float32)
    h, w = plate.shape[:2]
    skin = np.zeros((h, w), np.uint8)
    cv2.fillConvexPoly(skin, cv2.convexHull(face.landmarks[:27].astype(np.int32)), 1)
    for part in (face.landmarks[36:42], face.landmarks[42:48], face.landmarks[48:60], face.landmarks[17:27]):
        cv2.fillConvexPoly(skin, cv2.convexHull(part.astype(np.int32)), 0)
    weight = skin.astype(np.float32)
    grey = np.repeat(plate.mean(axis=2, keepdims=True), 3, axis=2)
    grey = np.ascontiguousarray(np.roll(grey, (7, -5), axis=(0, 1)))  # the actor's shading is not the plate's

    def slopes(rgb: np.ndarray) -> np.ndarray:
        lab = cv2.cvtColor(np.clip(rgb, 0, 1).astype(np.float32), cv2.COLOR_RGB2Lab)[weight > 0.5]
        fit = chroma_slope(lab)
        assert fit is not None
        return np.array(fit)

    want = slopes(plate)
    print("plate skin slopes a, b per L:", want)
    assert abs(want[1]) > 0.1  # the plate skin's yellow moves with its shading
    stats = measure_stats(grey, plate, weight, "rct", 1.0)
    assert stats is not None and stats.src_chroma_flat and stats.dst_chroma_slope is not None
    np.testing.assert_allclose(stats.dst_chroma_slope, want, atol=0.02)
    out, used = colour_match(grey, plate, weight, "rct")
    assert used is not None and used.to_json()["dst_chroma_slope"] == [round(v, 6) for v in used.dst_chroma_slope]
    assert ColourStats.from_json(used.to_json()).dst_chroma_slope == pytest.approx(used.dst_chroma_slope, abs=1e-5)
    np.testing.assert_allclose(slopes(out), want, atol=0.05)
    # without the fit (a record from before it) the chroma is one colour: no slope at all
    flat, _ = colour_match(grey, plate, weight, "rct", locked=ColourStats.from_json({**used.to_json(), "dst_chroma_slope": None}))
    assert np.all(np.abs(slopes(flat)) < 0.35 * np.abs(want).max())
    # the mean colour is the plate's either way
    lab_out = cv2.cvtColor(out, cv2.COLOR_RGB2Lab)[weight > 0.5].mean(0)
    lab_flat = cv2.cvtColor(flat, cv2.COLOR_RGB2Lab)[weight > 0.5].mean(0)
    np.testing.assert_allclose(lab_out, lab_flat, atol=1.0)
    # an actor with colour of its own: plain rct, the slope not applied
    coloured = np.ascontiguousarray(np.roll(plate, (7, -5), axis=(0, 1)))
    cs = measure_stats(coloured, plate, weight, "rct", 1.0)
    assert cs is not None and not cs.src_chroma_flat and cs.dst_chroma_slope is not None
    a, _ = colour_match(coloured, plate, weight, "rct", locked=cs)
    b, _ = colour_match(coloured, plate, weight, "rct", locked=ColourStats.from_json({**cs.to_json(), "dst_chroma_slope": None}))
    np.testing.assert_array_equal(a, b)
    # the running average carries the slope
    mixed = used.mixed(ColourStats.from_json({**used.to_json(), "dst_chroma_slope": [0.0, 0.0]}), 0.5)
    assert mixed.dst_chroma_slope == pytest.approx(tuple(0.5 * v for v in used.dst_chroma_slope))
