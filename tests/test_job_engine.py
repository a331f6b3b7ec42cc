"""The default processor end to end through the CLI: the real Engine swapping a real face.

Actor: a warp actor built from insightface's Tom Hanks sample image (package
data, with a test consent file). Plate: skimage's astronaut photograph as a
scene-linear half EXR, three frames shifted a little each.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
from _engine_fixtures import astronaut_linear, build_tom_hanks_actor

from recast.pipeline.plateio import read_plate, write_image
from tests.test_job_support import recast, write_spec


def test_engine_job_run_reprocess_publish(tmp_path: Path, monkeypatch) -> None:
    models = tmp_path / "models"
    monkeypatch.setenv("RECAST_MODELS", str(models))
    actor = build_tom_hanks_actor(models, tmp_path)
    home = tmp_path / "home"
    plates = tmp_path / "plates"
    plates.mkdir()
    for i, f in enumerate((1001, 1002, 1003)):
        rgb = astronaut_linear(shift=2 * i)[:320, 64:384]
        px = np.concatenate([rgb, np.ones(rgb.shape[:2] + (1,), np.float32)], axis=2)
        spec = oiio.ImageSpec(px.shape[1], px.shape[0], 4, oiio.HALF)
        spec.channelnames = ("R", "G", "B", "A")
        spec.alpha_channel = 3
        write_image(plates / f"astro.{f:04d}.exr", px, spec)
    out = tmp_path / "out"
    spec_file = write_spec(tmp_path / "job.json", plate=str(plates / "astro.####.exr"), actor=actor.name, out=str(out), shot="sh010")
    job = json.loads(recast("submit", str(spec_file), "--json", home=home, check=True).stdout)["job"]
    run = json.loads(recast("job", "run", job, "--json", home=home, check=True, timeout=600).stdout)
    assert run["done"] == 3 and run["status"] == "done"
    for f in (1001, 1002, 1003):
        rec = json.loads((out / "records" / f"{f}.json").read_text())
        assert rec["status"] == "done" and rec["job"] == job and rec["consent_id"] == actor.consent_id
        assert any(face["swapped"] for face in rec["faces"])
        comp = read_plate(out / "comp" / f"astro.{f}.exr")
        plate = read_plate(plates / f"astro.{f}.exr")
        assert not np.array_equal(comp.pixels, plate.pixels)  # the face changed
        assert Path(rec["element"]).is_file()
    # redo frame 1003 anchored to 1001 with a softer mask: a new take, take 1 kept
    before = (out / "comp" / "astro.1003.exr").read_bytes()
    rep = json.loads(
        recast("reprocess", job, "--frames", "1003", "--reference", "1001", "--set", "mask_blur=9", "--json", home=home, check=True, timeout=600).stdout
    )
    assert rep["take"] == 2 and rep["done"] == 1
    rec2 = json.loads((out / "takes" / "t002" / "records" / "1003.json").read_text())
    assert rec2["status"] == "done" and rec2["take"] == 2 and rec2["settings"]["mask_blur"] == 9
    assert (out / "comp" / "astro.1003.exr").read_bytes() == before
    # approve everything (1003 at its newest take) and publish
    recast("approve", job, "--frames", "all", "--by", "kim", home=home, check=True)
    pub = json.loads(recast("publish", job, "--json", home=home, check=True).stdout)
    manifest = json.loads((Path(pub["path"]) / "manifest.json").read_text())
    assert [(e["frame"], e["take"]) for e in manifest["frames"]] == [(1001, 1), (1002, 1), (1003, 2)]
    assert manifest["consent_ids"] == [actor.consent_id]
    assert (Path(pub["path"]) / "element" / "astro_face.1003.exr").is_file()


def _astro_plates(plates: Path, frames: tuple[int, ...]) -> str:
    plates.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(frames):
        rgb = astronaut_linear(shift=2 * i)[:320, 64:384]
        spec = oiio.ImageSpec(rgb.shape[1], rgb.shape[0], 3, oiio.HALF)
        spec.channelnames = ("R", "G", "B")
        write_image(plates / f"astro.{f:04d}.exr", rgb, spec)
    return str(plates / "astro.####.exr")


def test_engine_stages_run_on_reader_compute_and_writer_threads(tmp_path: Path, monkeypatch) -> None:
    """The runner reads plates ahead on its reader thread, swaps in frame order on the
    calling thread and writes comp/element/record on its writer thread."""
    import threading

    from recast.pipeline.jobs.processors import EngineProcessor
    from recast.pipeline.jobs.runner import Runner, submit
    from recast.pipeline.jobs.spec import JobSpec
    from recast.pipeline.jobs.store import Store

    models = tmp_path / "models"
    monkeypatch.setenv("RECAST_MODELS", str(models))
    actor = build_tom_hanks_actor(models, tmp_path)
    pattern = _astro_plates(tmp_path / "plates", (1001, 1002, 1003))
    seen: dict[str, list[tuple[int, str]]] = {"load": [], "compute": [], "write": []}

    class Spy(EngineProcessor):
        def load(self, frame: int):
            seen["load"].append((frame, threading.current_thread().name))
            return super().load(frame)

        def compute(self, frame: int, loaded):
            seen["compute"].append((frame, threading.current_thread().name))
            return super().compute(frame, loaded)

        def write(self, frame: int, result):
            seen["write"].append((frame, threading.current_thread().name))
            return super().write(frame, result)

    store = Store(tmp_path / "home" / "recast.db")
    job = submit(store, JobSpec.from_dict({"plate": pattern, "actor": actor.name, "out": str(tmp_path / "out"), "qc": False}))
    summary = Runner(store, processor_factory=Spy).run(job)
    assert summary.status == "done" and sorted(summary.done) == [1001, 1002, 1003]
    assert all(name.startswith("recast-read") for _, name in seen["load"])
    assert all(name.startswith("recast-write") for _, name in seen["write"])
    main = threading.current_thread().name
    assert seen["compute"] == [(f, main) for f in (1001, 1002, 1003)]  # in order: tracking needs it
    for f in (1001, 1002, 1003):
        rec = json.loads((tmp_path / "out" / "records" / f"{f}.json").read_text())
        assert rec["status"] == "done" and {"read", "compute", "write", "total"} <= set(rec["timings"])
        assert Path(rec["comp"]).is_file() and Path(rec["element"]).is_file()


def test_engine_write_failure_is_the_frames_failure_with_a_record(tmp_path: Path, monkeypatch) -> None:
    """comp/ is taken by a file: every write fails, each frame is recorded as failed with
    the path named, and the job ends failed instead of crashing."""
    from recast.pipeline.jobs.runner import Runner, RunOptions, submit
    from recast.pipeline.jobs.spec import JobSpec
    from recast.pipeline.jobs.store import Store

    models = tmp_path / "models"
    monkeypatch.setenv("RECAST_MODELS", str(models))
    actor = build_tom_hanks_actor(models, tmp_path)
    pattern = _astro_plates(tmp_path / "plates", (1001, 1002))
    out = tmp_path / "out"
    store = Store(tmp_path / "home" / "recast.db")
    job = submit(store, JobSpec.from_dict({"plate": pattern, "actor": actor.name, "out": str(out), "qc": False}))
    (out / "comp").write_text("not a folder")
    summary = Runner(store, RunOptions(retries=1, backoff_s=0.0)).run(job)
    assert summary.status == "failed" and sorted(summary.failed) == [1001, 1002]
    for f in (1001, 1002):
        rec = json.loads((out / "records" / f"{f}.json").read_text())
        assert rec["status"] == "failed" and rec["comp"] is None and "comp" in rec["error"]
        assert rec["settings"] and rec["faces"]  # the engine's own record: what it found and used
    assert (out / "comp").read_text() == "not a folder"
    assert store.get_job(job)["status"] == "failed"


def _comparable(rec: dict) -> dict:
    """What a frame decided (faces, tracks, colour match, detection), without paths and times."""
    faces = [{k: v for k, v in f.items() if k != "swap_info"} for f in rec["faces"]]
    return {"status": rec["status"], "faces": faces, "tracks": rec["tracks"], "detection": rec["detection"]}


def test_compute_retry_restarts_from_the_frames_snapshot(tmp_path: Path, monkeypatch) -> None:
    """Frame 1002's first compute fails after tracking ran (the swapper raises once); the
    runner retries it. The tracker, the track votes and colour smoothing must see 1002 once:
    every record equals a clean run's (no cut at 1002, same track ids, same colour match)."""
    from recast.pipeline.jobs.processors import EngineProcessor
    from recast.pipeline.jobs.runner import Runner, RunOptions, submit
    from recast.pipeline.jobs.spec import JobSpec
    from recast.pipeline.jobs.store import Store

    models = tmp_path / "models"
    monkeypatch.setenv("RECAST_MODELS", str(models))
    actor = build_tom_hanks_actor(models, tmp_path)
    pattern = _astro_plates(tmp_path / "plates", (1001, 1002, 1003))
    settings = {"color_smoothing": 0.6}
    calls = {"swap": 0, "failed": 0}

    class FlakyOnce(EngineProcessor):
        def __init__(self, job) -> None:
            super().__init__(job)
            for name, inner in list(self.engine._swappers.items()):
                self.engine._swappers[name] = _FailSecondCall(inner, calls)

    def run(name: str, factory) -> dict[int, dict]:
        store = Store(tmp_path / name / "recast.db")
        spec = {"plate": pattern, "actor": actor.name, "out": str(tmp_path / name / "out"), "qc": False, "settings": settings}
        job = submit(store, JobSpec.from_dict(spec))
        summary = Runner(store, RunOptions(retries=2, backoff_s=0.0), processor_factory=factory).run(job)
        assert summary.status == "done" and sorted(summary.done) == [1001, 1002, 1003], summary.failed
        attempts = {r["frame"]: r["attempts"] for r in store.frames(job)}
        return {f: {**json.loads((tmp_path / name / "out" / "records" / f"{f}.json").read_text()), "_attempts": attempts[f]} for f in (1001, 1002, 1003)}

    clean = run("clean", EngineProcessor)
    flaky = run("flaky", FlakyOnce)
    assert calls["failed"] == 1 and flaky[1002]["_attempts"] == 2 and clean[1002]["_attempts"] == 1
    for f in (1001, 1002, 1003):
        assert _comparable(flaky[f]) == _comparable(clean[f]), f
    ids = [[face["track_id"] for face in flaky[f]["faces"] if face["swapped"]] for f in (1001, 1002, 1003)]
    assert ids[0] == ids[1] == ids[2] and ids[0], ids  # one track through the retry, no cut
    assert next(iter(flaky[1003]["tracks"].values()))["frames"] == 3  # the track saw each frame once


class _FailSecondCall:
    """A swapper that raises on the second swap call only (frame 1002's first attempt)."""

    def __init__(self, inner, calls: dict) -> None:
        self.inner, self.calls = inner, calls
        self.name = getattr(inner, "name", "warp")
        self.actor_backends = getattr(inner, "actor_backends", None)

    def swap(self, crop, face, actor):
        self.calls["swap"] += 1
        if self.calls["swap"] == 2:
            self.calls["failed"] += 1
            raise RuntimeError("CUDA out of memory (simulated, once)")
        return self.inner.swap(crop, face, actor)
