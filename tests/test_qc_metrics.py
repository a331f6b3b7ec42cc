"""QC metrics and rules on real images (skimage's astronaut, LFW faces)."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data
from skimage.metrics import structural_similarity

from recast.pipeline.errors import QCError
from recast.qc.metrics import METRICS, MetricContext, run_metric
from recast.qc.rules import Rules, evaluate
from recast.qc.ssim import ssim, ssim_outside
from recast.qc.temporal import FaceFeatures, FrameFeatures, temporal_scores


def _astronaut_face() -> np.ndarray:
    return data.astronaut()[20:220, 140:320].astype(np.float32) / 255.0  # her face and hair


def test_ssim_matches_scikit_image_on_real_faces() -> None:
    a = _astronaut_face()
    pairs = [
        (a, np.clip(a * np.array([1.1, 0.95, 0.9], np.float32), 0, 1)),  # colour grade
        (a, np.roll(a, 3, axis=1)),  # a small shift
        (a, np.clip(a + np.random.default_rng(0).normal(0, 0.05, a.shape).astype(np.float32), 0, 1)),  # noise
    ]
    lfw = data.lfw_subset().astype(np.float32)  # 25x25 grey faces of different people
    pairs += [(lfw[0], lfw[1]), (lfw[2], lfw[50])]
    for x, y in pairs:
        ref = structural_similarity(x, y, data_range=1.0, channel_axis=-1 if x.ndim == 3 else None)
        assert abs(ssim(x, y) - ref) <= 1e-4
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-9)


def test_ssim_outside_matte_is_one_only_when_untouched() -> None:
    a = _astronaut_face()
    matte = np.zeros(a.shape[:2], np.float32)
    matte[60:140, 50:130] = 1.0
    comp = a.copy()
    comp[60:140, 50:130] = comp[60:140, 50:130][:, ::-1]  # change the face inside the matte only
    assert ssim_outside(a, comp, matte) == pytest.approx(1.0, abs=1e-9)
    comp[5:15, 5:60] += 0.2  # now touch pixels outside the matte
    assert ssim_outside(a, np.clip(comp, 0, 1), matte) < 0.999
    assert ssim_outside(a, comp, np.ones_like(matte)) is None


def _ctx(a: np.ndarray, matte: np.ndarray, **kw: object) -> MetricContext:
    h, w = a.shape[:2]
    return MetricContext(matte=matte, face_box=(20, 20, w - 20, h - 20), face={"score": 0.9, "landmarks_source": "propagated"},
                         crop_origin=(0, 0), plate_range=(0.0, 1.0), **kw)  # type: ignore[arg-type]


def test_sanity_metrics_count_bad_pixels_and_report_unavailable() -> None:
    a = _astronaut_face()
    matte = np.zeros(a.shape[:2], np.float32)
    matte[40:160, 40:140] = 1.0
    raw = a.copy()
    raw[50:52, 50:60] = np.nan  # 20 NaN pixels x 3 channels
    raw[100:110, 100:110] = 4.0  # 100 pixels far beyond the plate range
    ctx = _ctx(a, matte, out_raw=raw)
    assert run_metric(METRICS.create("nonfinite"), a, a, ctx).value == 60
    oor = run_metric(METRICS.create("out_of_range"), a, a, ctx).value
    assert oor == pytest.approx(100 / (120 * 100))
    assert run_metric(METRICS.create("propagated"), a, a, ctx).value == 1.0
    missing = run_metric(METRICS.create("nonfinite"), a, a, _ctx(a, matte))
    assert missing.value is None and "not read" in (missing.reason or "")


def test_rules_absolute_and_relative() -> None:
    rules = Rules.from_dict({"metrics": {
        "ssim_face": {"fail": 0.2, "relative": {"window": 3, "k": 5.0, "min_dev": 0.02}},
        "flicker": {"warn": 0.05, "fail": 0.1},
    }})
    rng = np.random.default_rng(1)
    vals = {1000 + i: {"ssim_face": 0.9 + float(rng.normal(0, 0.005)), "flicker": 0.01} for i in range(20)}
    vals[1005]["ssim_face"] = 0.6  # high in absolute terms, a glitch against its neighbours
    vals[1012]["flicker"] = 0.07
    vals[1013]["flicker"] = 0.2
    vals[1016]["ssim_face"] = None
    v = evaluate(rules, {"ssim_face": "higher", "flicker": "lower"}, vals)
    bad = {(f, m): vd.status for f, mv in v.items() for m, vd in mv.items() if vd.status != "pass"}
    assert bad == {(1005, "ssim_face"): "fail", (1012, "flicker"): "warn", (1013, "flicker"): "fail", (1016, "ssim_face"): "na"}
    assert "robust deviations" in (v[1005]["ssim_face"].reason or "")
    # a better-than-neighbours value never fails a relative rule
    vals[1005]["ssim_face"] = 0.99
    assert evaluate(rules, {"ssim_face": "higher"}, vals)[1005]["ssim_face"].status == "pass"


def test_default_thresholds_load_and_bad_files_name_the_field(tmp_path) -> None:
    rules = Rules.load()
    assert {"ssim_outside", "ssim_face", "lpips", "flicker", "landmark_jitter", "missing_faces"} <= set(rules.metrics)
    bad = tmp_path / "t.toml"
    bad.write_text("[metrics.ssim_face]\nfail = 'low'\n")
    with pytest.raises(QCError, match=r"t.toml: metrics.ssim_face.fail: expected a number"):
        Rules.load(bad)
    bad.write_text("[metrics.ssim_face]\nrelative = { k = -1 }\n")
    with pytest.raises(QCError, match=r"metrics.ssim_face.relative.k: must be > 0"):
        Rules.load(bad)
    bad.write_text("[metrics\n")
    with pytest.raises(QCError, match="not valid TOML"):
        Rules.load(bad)
    with pytest.raises(QCError, match="thresholds file not found"):
        Rules.load(tmp_path / "nope.toml")


def test_temporal_spikes_stay_on_their_frame() -> None:
    rng = np.random.default_rng(2)
    feats = []
    for k in range(15):
        res = rng.normal(0, 0.002, (68, 2))
        col = np.array([0.02, 0.0, -0.02]) + rng.normal(0, 0.001, 3)
        if k == 6:
            res = res + np.array([0.15, 0.05])  # shifted swap
        if k == 10:
            col = col + np.array([0.2, -0.1, -0.1])  # colour jump
        faces = [] if k == 12 else [FaceFeatures("1", res, col)]
        feats.append(FrameFeatures(1000 + k, swapped=len(faces), faces=faces))
    out = temporal_scores(feats)
    jit = {f: v["landmark_jitter"][0] for f, v in out.items()}
    fl = {f: v["flicker"][0] for f, v in out.items()}
    miss = {f: v["missing_faces"][0] for f, v in out.items()}
    assert max(jit, key=lambda f: jit[f] or 0) == 1006 and jit[1006] > 0.15
    assert all(v < 0.02 for f, v in jit.items() if f not in (1006, 1012))
    assert max(fl, key=lambda f: fl[f] or 0) == 1010 and all(v < 0.01 for f, v in fl.items() if f not in (1010, 1012))
    assert [f for f, v in miss.items() if v] == [1012]
    assert out[1012]["flicker"] == (None, "no face on this frame and its neighbours")


def test_a_face_leaving_the_shot_is_not_missing() -> None:
    res = np.zeros((68, 2))
    col = np.zeros(3)
    counts = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1]  # leaves at 1004, comes back at 1011
    feats = [FrameFeatures(1000 + k, swapped=n, faces=[FaceFeatures("1", res, col)] * n) for k, n in enumerate(counts)]
    miss = {f: v["missing_faces"][0] for f, v in temporal_scores(feats).items()}
    assert [f for f, v in miss.items() if v] == []
    counts = [1, 1, 0, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1]  # dropouts of one and two frames
    feats = [FrameFeatures(1000 + k, swapped=n, faces=[FaceFeatures("1", res, col)] * n) for k, n in enumerate(counts)]
    miss = {f: v["missing_faces"][0] for f, v in temporal_scores(feats).items()}
    assert [f for f, v in miss.items() if v] == [1002, 1009, 1010]


def test_identity_on_a_real_face_and_the_records_stored_embedding() -> None:
    from recast.qc.identity import FaceProbe

    probe = FaceProbe("dlib")
    img = data.astronaut().astype(np.float32) / 255.0
    (face,) = probe.analyse(img)
    entry = face.to_json() | {"embedding_kind": probe.kind}
    other = np.clip(np.roll(img, 40, axis=1) * 0.6, 0, 1)  # the face moved off its landmarks
    ctx = _ctx(img, np.ones(img.shape[:2], np.float32))
    ctx.face, ctx.probe = entry, probe
    ctx.face_box = tuple(int(v) for v in face.box)  # type: ignore[assignment]
    metric = METRICS.create("id_plate")
    same = run_metric(metric, img, img, ctx).value
    assert same is not None and same < 0.05  # identical crops: ~0 in same-person-threshold units
    ctx.cache.clear()
    moved = run_metric(metric, img, other, ctx).value
    assert moved is not None and moved > 0.5 and moved > 10 * same
    # a record that keeps the engine's plate embedding gives the same distance without re-embedding the plate
    ctx.cache.clear()
    ctx.face = entry | {"embedding": face.embedding.tolist()}
    assert run_metric(metric, img, other, ctx).value == pytest.approx(moved, abs=0.05)
    ctx.probe = None
    assert run_metric(metric, img, other, ctx).reason == "identity not scored (disabled for this run)"
