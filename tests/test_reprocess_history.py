"""Reprocess seeds its frames from the tracking history of earlier takes, bit-identically.

A full run keeps each frame's tracking result (per history window) in its embeddings
folder. A reprocess of scattered frames with the same detection settings reads them
instead of detecting the replayed frames again; its comps must be bit-identical to what
the same take renders with no history at all (after ``recast job purge``), and with no
overrides and no reference frame, to take 1's comps.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from _engine_fixtures import astronaut_linear, build_tom_hanks_actor
from recast.pipeline.engine import Engine
from recast.pipeline.faces.stream import FaceStream
from recast.pipeline.jobs.purge import purge_embeddings
from recast.pipeline.jobs.reprocess import reprocess
from recast.pipeline.jobs.runner import Runner, RunOptions, submit
from recast.pipeline.jobs.spec import JobSpec
from recast.pipeline.jobs.store import Store
from recast.pipeline.plateio import new_spec, read_plate, write_image

FRAMES = range(1001, 1011)
SETTINGS = {"history_block": 4, "history_frames": 2, "color_smoothing": 0.8}
PICK = [1003, 1006, 1009]  # scattered: a block start (1009), mid-block frames, warm-up windows


def _plate(root: Path) -> str:
    root.mkdir()
    spec = new_spec(384, 320, ["R", "G", "B"], "half", "zip")
    for i, f in enumerate(FRAMES):
        write_image(root / f"sh.{f:04d}.exr", astronaut_linear(6 * i)[40:360, 40:424], spec)
    return str(root / "sh.####.exr")


def _comp(out: Path, take: int, frame: int) -> np.ndarray:
    root = out if take == 1 else out / "takes" / f"t{take:03d}"
    return read_plate(root / "comp" / f"sh.{frame:04d}.exr").pixels


class _Detections:
    """Counts the frames face detection really ran on (FaceStream.process calls)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.frames: list[int] = []
        real = FaceStream.process

        def counted(stream: FaceStream, frame: int, image: np.ndarray, **kw: object) -> object:
            self.frames.append(frame)
            return real(stream, frame, image, **kw)

        monkeypatch.setattr(FaceStream, "process", counted)


@pytest.fixture()
def job(tmp_path: Path) -> tuple[Store, str, Path]:
    build_tom_hanks_actor(Path(os.environ["RECAST_MODELS"]), tmp_path)
    pattern = _plate(tmp_path / "plate")
    store = Store(tmp_path / "home" / "recast.db")
    out = tmp_path / "out"
    job_id = submit(store, JobSpec.from_dict({"plate": pattern, "actor": "hanks", "out": str(out), "qc": False,
                                              "settings": {**SETTINGS, "selection": "reference", "reference": "1001:0"}}))
    assert Runner(store, RunOptions(qc=False)).run(job_id).status == "done"
    assert (out / "embeddings" / "history").is_dir()
    return store, job_id, out


def test_reprocess_without_changes_renders_take_1_from_the_stored_tracking(job: tuple[Store, str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    store, job_id, out = job
    swapped = [f for f in PICK if not np.array_equal(_comp(out, 1, f), read_plate(Path(str(out.parent / "plate" / f"sh.{f:04d}.exr"))).pixels)]
    assert swapped == PICK
    seen = _Detections(monkeypatch)
    s = reprocess(store, Runner(store, RunOptions(qc=False)), job_id, PICK, None, {})
    assert sorted(s.done) == PICK
    assert seen.frames == []  # replays and the frames themselves came from take 1's tracking
    assert "hanks" in json.loads((out / "takes" / f"t{s.take:03d}" / "embeddings" / "actors.json").read_text())["actors"]
    for f in PICK:
        assert np.array_equal(_comp(out, s.take, f), _comp(out, 1, f)), f"frame {f} differs from take 1"


@pytest.mark.parametrize("reference", [None, 1001])
def test_seeded_reprocess_equals_an_unseeded_one(job: tuple[Store, str, Path], monkeypatch: pytest.MonkeyPatch,
                                                reference: int | None) -> None:
    store, job_id, out = job
    overrides = {"mask_blur": 6.0}  # a compositing change: the detection history still applies
    seen = _Detections(monkeypatch)
    swaps_only: list[int] = []
    real = Engine._swap_only
    monkeypatch.setattr(Engine, "_swap_only", lambda eng, plate, *a: (swaps_only.append(1), real(eng, plate, *a))[1])
    seeded = reprocess(store, Runner(store, RunOptions(qc=False)), job_id, PICK, reference, overrides)
    assert sorted(seeded.done) == PICK and seen.frames == []
    # another setting: take 1's stored temporal states are never read, the windows replay
    assert all((_history(out, seeded.take, f) or {}).get("replayed", 0) > 0 for f in PICK)
    # with the reference's colour locked the replayed frames only go through the swapper (its
    # per-track state); with colour smoothing on they are composited in full
    assert (len(swaps_only) > 0) == (reference is not None)
    kept = out.parent / "seeded"
    shutil.copytree(out / "takes" / f"t{seeded.take:03d}" / "comp", kept)
    assert purge_embeddings(store, job_id)["removed"]  # tracking history is biometric: purged with the embeddings
    assert not (out / "embeddings").exists()
    plain = reprocess(store, Runner(store, RunOptions(qc=False)), job_id, PICK, reference, overrides)
    assert sorted(plain.done) == PICK
    assert set(seen.frames) >= set(PICK)  # no history left: detection ran again
    for f in PICK:
        a = read_plate(kept / f"sh.{f:04d}.exr").pixels
        assert np.array_equal(a, _comp(out, plain.take, f)), f"frame {f}: seeded and unseeded reprocess differ"


def test_changed_plate_frame_is_detected_again(job: tuple[Store, str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    store, job_id, out = job
    plate = out.parent / "plate" / "sh.1005.exr"
    os.utime(plate, ns=(plate.stat().st_atime_ns, plate.stat().st_mtime_ns + 10**9))  # replaced on disk, same size
    seen = _Detections(monkeypatch)
    s = reprocess(store, Runner(store, RunOptions(qc=False)), job_id, [1006], None, {})
    assert s.done == [1006]
    assert 1005 in seen.frames and 1004 not in seen.frames


def _history(out: Path, take: int, frame: int) -> dict[str, object] | None:
    root = out if take == 1 else out / "takes" / f"t{take:03d}"
    return json.loads((root / "records" / f"{frame}.json").read_text()).get("history")


def _set_states_aside(out: Path, dest: Path) -> None:
    """Move every take's stored temporal states away (their tracking history stays)."""
    dest.mkdir()
    for i, state in enumerate(sorted(out.rglob("embeddings/state"))):
        shutil.move(state, dest / str(i))


@pytest.mark.parametrize("reference", [None, 1001])
def test_reprocess_restores_take_1s_states(job: tuple[Store, str, Path], reference: int | None) -> None:
    """A reprocess with no overrides restores the temporal state take 1 stored before each of
    its frames instead of replaying the frame's history window, also when it is locked to the
    reference frame's colour (its own reference context: take 1's states stay usable as the
    colour history it never reads is left empty), also on a step forward inside a history
    block (1006 -> 1008); its comps are bit-identical to the same take replaying the windows."""
    store, job_id, out = job
    frames = sorted([*PICK, 1008])
    restored = reprocess(store, Runner(store, RunOptions(qc=False)), job_id, frames, reference, {})
    assert sorted(restored.done) == frames
    for f in frames:
        h = _history(out, restored.take, f)
        assert h is not None and h["seeded"] == f - 1 and h["replayed"] == 0, (f, h)
    _set_states_aside(out, out.parent / "states")
    replayed = reprocess(store, Runner(store, RunOptions(qc=False)), job_id, frames, reference, {})
    assert sorted(replayed.done) == frames
    for f in frames:
        h = _history(out, replayed.take, f)
        assert h is not None and h["seeded"] is None and h["replayed"] > 0, (f, h)
        assert np.array_equal(_comp(out, restored.take, f), _comp(out, replayed.take, f)), f"frame {f}: restored and replayed differ"
        if reference is None:
            assert np.array_equal(_comp(out, restored.take, f), _comp(out, 1, f)), f"frame {f} differs from take 1"


def test_states_made_without_the_fallback_face_are_not_read_past_a_frame_without_faces(tmp_path: Path) -> None:
    """Take 1 (no reference frame) tracked no face on 1005. A take pinned to 1001 would fit
    that frame's fallback face there: it reads none of take 1's states after 1005 (the one
    after 1004 fits), and renders what it renders with none stored; a take with take 1's own
    context restores the state after 1005."""
    build_tom_hanks_actor(Path(os.environ["RECAST_MODELS"]), tmp_path)
    root = tmp_path / "plate"
    root.mkdir()
    spec = new_spec(384, 320, ["R", "G", "B"], "half", "zip")
    for i, f in enumerate(FRAMES):
        rgb = astronaut_linear(6 * i)[40:360, 40:424]
        write_image(root / f"sh.{f:04d}.exr", np.full_like(rgb, 0.18) if f == 1005 else rgb, spec)
    store = Store(tmp_path / "home" / "recast.db")
    out = tmp_path / "out"
    job_id = submit(store, JobSpec.from_dict({"plate": str(root / "sh.####.exr"), "actor": "hanks", "out": str(out), "qc": False,
                                              "settings": {**SETTINGS, "selection": "reference", "reference": "1001:0"}}))
    runner = Runner(store, RunOptions(qc=False))
    assert runner.run(job_id).status == "done"
    assert json.loads((out / "records" / "1005.json").read_text())["faces"] == []
    pinned = reprocess(store, runner, job_id, [1006], 1001, {})
    assert pinned.done == [1006]
    assert _history(out, pinned.take, 1006) == {"window": 1003, "seeded": 1004, "replayed": 1}
    same = reprocess(store, runner, job_id, [1006], None, {})
    assert _history(out, same.take, 1006) == {"window": 1003, "seeded": 1005, "replayed": 0}
    _set_states_aside(out, tmp_path / "states")
    plain = reprocess(store, runner, job_id, [1006], 1001, {})
    assert _history(out, plain.take, 1006) == {"window": 1003, "seeded": None, "replayed": 3}
    assert np.array_equal(_comp(out, pinned.take, 1006), _comp(out, plain.take, 1006))


def test_states_whose_window_swapped_several_faces_are_not_read_under_another_colour_lock(job: tuple[Store, str, Path]) -> None:
    """A state whose window had a frame with several selected faces depends on the colour the
    earlier faces were pasted with (the later ones are swapped on those pastes): a take locked
    to another colour never reads it and replays; a take with the state's own context does.
    (This plate has one face: take 1's stored states are marked as a two-face shot would mark them.)"""
    store, job_id, out = job
    states = list((out / "embeddings" / "state").rglob("*.pkl"))
    assert states
    for path in states:
        *state, meta = pickle.loads(path.read_bytes())  # noqa: S301 - the test's own files
        path.write_bytes(pickle.dumps((*state, {**meta, "multi": True})))
    locked = reprocess(store, Runner(store, RunOptions(qc=False)), job_id, [1006], 1001, {})
    assert _history(out, locked.take, 1006) == {"window": 1003, "seeded": None, "replayed": 3}
    same = reprocess(store, Runner(store, RunOptions(qc=False)), job_id, [1006], None, {})
    assert _history(out, same.take, 1006) == {"window": 1003, "seeded": 1005, "replayed": 0}
