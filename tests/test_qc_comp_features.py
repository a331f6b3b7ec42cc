"""QC reuses the comp-face features the engine computed (embedding, refit landmarks, actor
embedding): same scores as computing them itself, no biometric data in records or scores."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import numpy as np
import pytest

from _engine_fixtures import astronaut_linear, build_tom_hanks_actor
from recast.pipeline.jobs.purge import purge_embeddings
from recast.pipeline.jobs.runner import Runner, RunOptions, submit
from recast.pipeline.jobs.spec import JobSpec
from recast.pipeline.jobs.store import Store
from recast.pipeline.plateio import new_spec, write_image
from recast.qc.identity import FaceProbe
from recast.qc.scoring import QCOptions, score_job

FRAMES = range(1001, 1005)
SEQUENCE = ("landmark_jitter", "flicker", "missing_faces")  # neighbours' values change with one frame's


class _Calls:
    """Counts what QC's face probe computes itself."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.n = {"embed": 0, "fit_landmarks": 0, "analyse": 0}
        for name in self.n:
            real = getattr(FaceProbe, name)

            def counted(probe: FaceProbe, *a: object, _real=real, _name=name) -> object:
                self.n[_name] += 1
                return _real(probe, *a)

            monkeypatch.setattr(FaceProbe, name, counted)


def _values(doc: dict) -> dict[int, dict[str, object]]:
    return {f["frame"]: {k: (m["value"], m["reason"]) for k, m in f["metrics"].items()} for f in doc["frames"]}


def test_scores_are_identical_with_and_without_the_engines_features(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    build_tom_hanks_actor(Path(os.environ["RECAST_MODELS"]), tmp_path)
    plates = tmp_path / "plate"
    plates.mkdir()
    spec = new_spec(384, 320, ["R", "G", "B"], "half", "zip")
    for i, f in enumerate(FRAMES):
        write_image(plates / f"sh.{f:04d}.exr", astronaut_linear(6 * i)[40:360, 40:424], spec)
    store = Store(tmp_path / "home" / "recast.db")
    out = tmp_path / "out"
    job = submit(store, JobSpec.from_dict({"plate": str(plates / "sh.####.exr"), "actor": "hanks", "out": str(out), "qc": False}))
    from recast.qc.comp_features import CompFeatures

    threads: list[str] = []
    real_call = CompFeatures.__call__

    def on_thread(self: CompFeatures, *a: object) -> object:
        threads.append(threading.current_thread().name)
        return real_call(self, *a)

    monkeypatch.setattr(CompFeatures, "__call__", on_thread)
    assert Runner(store, RunOptions(qc=False)).run(job).status == "done"
    monkeypatch.setattr(CompFeatures, "__call__", real_call)
    # computed beside the writes (the writer's thread), not on the compute thread that tracks and swaps
    assert len(threads) == len(FRAMES) and all(t.startswith("recast-write") for t in threads), threads

    sidecars = [json.loads((out / "embeddings" / f"{f}.json").read_text()) for f in FRAMES]
    assert all(d.get("comp") and len(d["comp"][0]["embedding"]) == 128 for d in sidecars)
    assert "hanks" in json.loads((out / "embeddings" / "actors.json").read_text())["actors"]
    calls = _Calls(monkeypatch)
    seeded = score_job(out, QCOptions(cache=False))
    assert calls.n == {"embed": 0, "fit_landmarks": 0, "analyse": 0}  # everything came from the engine
    ids = [v["id_actor"][0] for v in _values(seeded).values()]
    assert all(isinstance(x, float) for x in ids)

    # a comp changed after the engine wrote it: its features no longer describe it, QC recomputes
    comp = out / "comp" / "sh.1002.exr"
    from recast.pipeline.plateio import read_plate, write_plate

    p = read_plate(comp)
    px = p.pixels.copy()
    px[100:200, 150:250] *= 0.5
    write_plate(comp, p, px)
    stale = score_job(out, QCOptions(cache=False))
    assert calls.n["embed"] == 1 and calls.n["fit_landmarks"] == 1
    assert _values(stale)[1002]["id_actor"] != _values(seeded)[1002]["id_actor"]
    crop = {f: {k: x for k, x in v.items() if k not in SEQUENCE} for f, v in _values(seeded).items() if f != 1002}
    assert {f: {k: x for k, x in v.items() if k not in SEQUENCE} for f, v in _values(stale).items() if f != 1002} == crop

    # without the engine's comp features (plate-face embeddings kept): QC computes the same numbers
    for f in FRAMES:
        side = out / "embeddings" / f"{f}.json"
        doc = json.loads(side.read_text())
        side.write_text(json.dumps({k: v for k, v in doc.items() if k != "comp"}))
    (out / "embeddings" / "actors.json").unlink()
    calls.n = dict.fromkeys(calls.n, 0)
    computed = score_job(out, QCOptions(cache=False))
    assert calls.n["embed"] == len(FRAMES) and calls.n["fit_landmarks"] == len(FRAMES) and calls.n["analyse"] >= 1
    assert _values(computed) == _values(stale)  # bit for bit the same scores, jitter included

    # purged (biometric data gone): QC still scores, embedding the plate faces itself
    assert purge_embeddings(store, job)["files"] >= len(FRAMES)
    purged = score_job(out, QCOptions(cache=False))
    same = ("id_actor", "landmark_jitter", "ssim_face")
    assert {f: {k: v[k] for k in same} for f, v in _values(purged).items()} == {f: {k: v[k] for k in same} for f, v in _values(stale).items()}

    # records and scores never hold embeddings
    for text in [p.read_text() for p in (out / "records").glob("*.json")] + [p.read_text() for p in (out / "qc").glob("*.json")]:
        assert '"embedding"' not in text
    assert not np.isnan([v["landmark_jitter"][0] or 0.0 for v in _values(computed).values()]).any()
