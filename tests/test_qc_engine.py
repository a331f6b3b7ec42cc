"""QC on the real engine's output: Megamind plates swapped with a warp actor (Tom Hanks,
insightface's package sample), then scored, reported and turned into a movie."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import av
import numpy as np
import OpenImageIO as oiio
import pytest
from _engine_fixtures import build_tom_hanks_actor

from recast.pipeline.engine import Engine, OutputLayout, SwapSettings
from recast.pipeline.plateio import write_image
from recast.pipeline.sequence import PlateSequence
from recast.qc.run import run_job_qc
from recast.qc.sample_job import decode_frames, srgb_to_linear
from recast.qc.scoring import QCOptions, score_job


@pytest.fixture(scope="module")
def engine_out(test_media: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    root = tmp_path_factory.mktemp("qc_engine")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RECAST_MODELS", str(root / "models"))
        return _swap(root, test_media)


def _swap(root: Path, test_media: Path) -> tuple[Path, Any]:
    actor = build_tom_hanks_actor(root / "models", root)
    plates = root / "plate"
    for i, rgb8 in enumerate(decode_frames(test_media / "Megamind.avi", 150, 6)):
        spec = oiio.ImageSpec(rgb8.shape[1], rgb8.shape[0], 3, oiio.HALF)
        spec.channelnames = ("R", "G", "B")
        write_image(plates / f"shot.{1001 + i:04d}.exr", srgb_to_linear(rgb8.astype(np.float32) / 255.0), spec)
    seq = PlateSequence.open(str(plates / "shot.####.exr"))
    eng = Engine(seq, {actor.name: actor}, SwapSettings(), OutputLayout(root / "out", seq.name, seq.padding), job_id="qc1")
    records = eng.run(seq.frames)
    assert sum(r["status"] == "done" for r in records) >= 4, [(r["status"], r["error"]) for r in records]
    return root / "out", actor


def test_engine_output_is_scored_on_every_frame(engine_out: tuple[Path, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out, actor = engine_out
    monkeypatch.setenv("RECAST_MODELS", str(actor.root.parent))
    doc = score_job(out, QCOptions())
    assert [f["frame"] for f in doc["frames"]] == list(range(1001, 1007))
    done = [json.loads(p.read_text())["frame"] for p in sorted((out / "records").glob("*.json"))
            if json.loads(p.read_text())["status"] == "done"]
    for f in doc["frames"]:
        m = f["metrics"]
        if f["frame"] not in done:
            continue
        # the engine never touches pixels outside the matte
        assert m["ssim_outside"]["value"] == pytest.approx(1.0, abs=1e-6), f["frame"]
        assert 0.0 < m["ssim_face"]["value"] < 1.0
        # identity with the job's own backend: the comp moved away from the plate face
        assert m["id_plate"]["value"] is not None and m["id_plate"]["value"] > 0.0
        assert m["id_actor"]["value"] is not None, m["id_actor"]["reason"]
        # distances are in same-person-threshold units: the comp reads as the actor, not as the plate
        # (on every frame: the plate's own brows and lashes left outside the actor's matte are
        # painted over, so a yawed frame no longer carries the plate's features beside the actor's)
        assert m["id_actor"]["value"] < m["id_plate"]["value"], (f["frame"], m["id_actor"], m["id_plate"])
        assert m["nonfinite"]["value"] == 0
    assert doc["job_info"]["actor"] == actor.name and doc["job_info"]["consent_id"] == actor.consent_id

    res = run_job_qc(out)  # what `recast demo` / a runner calls when a job ends
    page, pdf = (Path(p) for p in res["report"])
    assert page == out / "qc" / "report" / "index.html" and pdf.name == "report.pdf"
    assert actor.consent_id in page.read_text() and pdf.stat().st_size > 10_000
    with av.open(res["movie"]) as c:
        assert sum(1 for _ in c.decode(video=0)) == 6


def test_qc_reuses_the_engines_plate_embeddings(engine_out: tuple[Path, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine keeps its plate-face embeddings in <out>/embeddings/ (never in records);
    QC embeds only the comp faces then, and embeds the plate faces itself without them."""
    import shutil

    from recast.qc.identity import FaceProbe

    out, actor = engine_out
    monkeypatch.setenv("RECAST_MODELS", str(actor.root.parent))
    recs = [json.loads(p.read_text()) for p in sorted((out / "records").glob("*.json"))]
    swapped = sum(1 for r in recs for f in r["faces"] if f.get("swapped"))
    assert swapped >= 4
    for r in recs:
        assert all("embedding" not in f for f in r["faces"])  # records stay free of biometric data
        if r["status"] == "done":
            side = json.loads((out / "embeddings" / f"{r['frame']}.json").read_text())
            assert side["frame"] == r["frame"] and side["faces"]
            assert all(len(e["embedding"]) == 128 and e["kind"] == "dlib128" for e in side["faces"])
    calls = {"n": 0}
    real_embed = FaceProbe.embed

    def counting(self: FaceProbe, crop: np.ndarray, face: Any) -> np.ndarray:
        calls["n"] += 1
        return real_embed(self, crop, face)

    monkeypatch.setattr(FaceProbe, "embed", counting)
    with_side = score_job(out, QCOptions(cache=False))
    assert calls["n"] == swapped  # the comp faces only
    bare = tmp_path / "bare"
    shutil.copytree(out, bare, ignore=shutil.ignore_patterns("qc"))
    shutil.rmtree(bare / "embeddings")
    for p in (bare / "records").glob("*.json"):  # the copy's records point at the copy's files
        p.write_text(p.read_text().replace(str(out), str(bare)))
    calls["n"] = 0
    without = score_job(bare, QCOptions(cache=False))
    assert calls["n"] == 2 * swapped  # comp and plate faces
    a = {f["frame"]: f["metrics"]["id_plate"]["value"] for f in with_side["frames"] if f["metrics"].get("id_plate", {}).get("value") is not None}
    b = {f["frame"]: f["metrics"]["id_plate"]["value"] for f in without["frames"] if f["metrics"].get("id_plate", {}).get("value") is not None}
    assert a and a.keys() == b.keys()
    for k in a:  # the track's embedding and QC's own one read the same plate face
        assert abs(a[k] - b[k]) < 0.5, (k, a[k], b[k])
