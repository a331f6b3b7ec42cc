"""Farm export: OpenJD template checked and run with openjd-cli; OpenCue job spec checked structurally.

The OpenCue side is an outline built with PyOutline (opencue-pyoutline, a dev
extra) and serialised offline by its cue backend, and the hand-written
fallback for machines without PyOutline: both parsed back and checked
element by element, and the chunk command a Cue host would run is run.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from recast.pipeline.jobs.store import Store
from recast.pipeline.plateio import read_plate, same_pixels
from recast.pipeline.sequence import parse_frames
from tests.test_job_support import make_plate, recast, write_spec

OPENJD = shutil.which("openjd") or str(Path(sys.executable).with_name("openjd"))


def _submit(tmp_path: Path, frames: range) -> tuple[Path, str, Path, str]:
    home = tmp_path / "home"
    pattern = make_plate(tmp_path / "plates", frames)
    out = tmp_path / "out"
    spec = write_spec(tmp_path / "s.json", plate=pattern, actor="ada", out=str(out), processor="passthrough")
    job = json.loads(recast("submit", str(spec), "--json", home=home, check=True).stdout)["job"]
    return home, job, out, pattern


def test_openjd_template_checks_and_runs_locally(tmp_path: Path) -> None:
    home, job, out, pattern = _submit(tmp_path, range(1001, 1008))
    res = json.loads(recast("farm", "export", job, "--format", "openjd", "--chunk", "3", "--json", home=home, check=True).stdout)
    path = Path(res["path"])
    tmpl = json.loads(path.read_text())
    step = tmpl["steps"][0]
    assert step["parameterSpace"]["taskParameterDefinitions"][0]["range"] == ["1001-1003", "1004-1006", "1007"]
    assert step["script"]["actions"]["onRun"]["args"][:4] == ["-m", "recast", "run-chunk", job]
    chk = subprocess.run([OPENJD, "check", str(path)], capture_output=True, text=True, check=False, timeout=120)
    assert chk.returncode == 0, chk.stdout + chk.stderr
    # a farm node with an empty store: run-chunk indexes the job from its folder, then renders
    node_home = tmp_path / "node_home"
    run = subprocess.run(
        [OPENJD, "run", str(path), "--job-param", f"RecastHome={node_home}", "--output", "json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    records = sorted(p.name for p in (out / "records").iterdir())
    assert records == [f"{f}.json" for f in range(1001, 1008)]
    assert same_pixels(read_plate(out / "comp" / "shot.1004.exr").pixels, read_plate(pattern.replace("####", "1004")).pixels)
    node = Store(node_home / "recast.db").get_job(job)
    assert node["status"] == "done" and node["frames"]["done"] == 7
    # the submitting machine's store learns the same truth from the files
    res = json.loads(recast("job", "reindex", str(out), "--json", home=home, check=True).stdout)
    assert res["status"] == "done" and res["frames"]["done"] == 7


def test_run_chunk_twice_does_nothing_twice(tmp_path: Path) -> None:
    home, job, out, _ = _submit(tmp_path, range(1, 6))
    first = json.loads(recast("run-chunk", job, "--frames", "1-3", "--json", home=home, check=True).stdout)
    assert first["done"] == 3
    mtime = (out / "records" / "0002.json").stat().st_mtime_ns
    again = json.loads(recast("run-chunk", job, "--frames", "1-3", "--json", home=home, check=True).stdout)
    assert again["done"] == 0 and again["skipped"] == 3
    assert (out / "records" / "0002.json").stat().st_mtime_ns == mtime
    res = recast("run-chunk", job, "--frames", "40-50", home=home)
    assert res.returncode == 2 and "none of the requested frames" in res.stderr


def _cue_spec(text: str) -> ET.Element:
    assert text.startswith('<?xml version="1.0"?>')
    assert "<!DOCTYPE spec PUBLIC" in text and "Specification Language" in text and "/spcue/dtd/cjsl-" in text
    return ET.fromstring(text.encode())  # the DOCTYPE (external, never fetched) is skipped by the parser


@pytest.mark.parametrize("writer", ["pyoutline", "xml"])
def test_opencue_spec_structure(tmp_path: Path, writer: str) -> None:
    if writer == "pyoutline":
        pytest.importorskip("outline", reason="opencue-pyoutline (a dev extra) is not installed")
    home, job, out, _ = _submit(tmp_path, range(1001, 1013))
    res = json.loads(recast("farm", "export", job, "--format", "opencue", "--chunk", "5", "--cue-writer", writer, "--json",
                            home=home, check=True).stdout)
    assert res["writer"] == writer
    spec = _cue_spec(Path(res["path"]).read_text())
    assert spec.tag == "spec" and [c.tag for c in spec][:4] == ["facility", "show", "shot", "user"]
    assert (spec.findtext("facility"), spec.findtext("show"), spec.findtext("shot")) == ("local", "recast", "shot")
    jel = spec.find("job")
    assert jel is not None and jel.get("name", "").startswith("recast-shot-") and jel.get("name", "").endswith("_t1")
    assert (jel.findtext("paused"), jel.findtext("maxretries"), jel.findtext("autoeat")) == ("False", "2", "False")
    env = {k.get("name"): k.text for k in jel.findall("env/key")}
    assert env["RECAST_HOME"] == str(home) and env["PYTHONPATH"] == str(Path(__file__).resolve().parents[1])
    layers = jel.findall("layers/layer")
    assert len(layers) == 1 and layers[0].get("type") == "Render" and layers[0].get("name") == "recast"
    layer = layers[0]
    assert parse_frames(layer.findtext("range") or "") == list(range(1001, 1013))
    assert layer.findtext("chunk") == "5" and layer.findtext("services/service") == "shell"
    assert layer.findtext("memory") == "4g" and float(layer.findtext("cores") or 0) == 1.0
    cmd = layer.findtext("cmd") or ""
    assert f"run-chunk {job} --frames #FRAME_START#-#FRAME_END# --take 1 --job-dir {out}" in cmd
    assert "pycuerun" not in cmd  # the layer runs our command itself
    # the command a Cue host would run for the second chunk works as is
    args = cmd.replace("#FRAME_START#", "1006").replace("#FRAME_END#", "1010").split()
    assert args[0] == sys.executable
    done = subprocess.run(args, cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, check=False, timeout=120,
                          env={"RECAST_HOME": str(home), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert sorted(p.stem for p in (out / "records").iterdir()) == [str(f) for f in range(1006, 1011)]


def test_opencue_auto_uses_pyoutline_when_importable(tmp_path: Path) -> None:
    pytest.importorskip("outline", reason="opencue-pyoutline (a dev extra) is not installed")
    from recast.pipeline.farm import FarmOptions, opencue_spec, resolve_cue_writer

    home, job, _, _ = _submit(tmp_path, range(1, 4))
    store = Store(home / "recast.db")
    assert resolve_cue_writer("auto") == "pyoutline"
    auto = opencue_spec(store, job, FarmOptions(chunk=2))
    assert auto == opencue_spec(store, job, FarmOptions(chunk=2, cue_writer="pyoutline"))
    assert "cjsl-1.15.dtd" in auto.decode()  # PyOutline's own spec version, not the fallback's
    hand = opencue_spec(store, job, FarmOptions(chunk=2, cue_writer="xml"))
    a, h = _cue_spec(auto.decode()).find("job/layers/layer"), _cue_spec(hand.decode()).find("job/layers/layer")
    assert a is not None and h is not None
    assert [(t, a.findtext(t)) for t in ("cmd", "range", "chunk", "memory")] == [(t, h.findtext(t)) for t in ("cmd", "range", "chunk", "memory")]


def test_export_errors(tmp_path: Path) -> None:
    home, job, _, _ = _submit(tmp_path, range(1, 3))
    res = recast("farm", "export", "nope", "--format", "openjd", home=home)
    assert res.returncode == 2 and "'nope'" in res.stderr
    res = recast("farm", "export", job, "--format", "openjd", "--chunk", "0", home=home)
    assert res.returncode == 2 and "--chunk 0" in res.stderr
    res = recast("farm", "export", job, "--format", "openjd", "--take", "4", home=home)
    assert res.returncode == 2 and "no take 4" in res.stderr


@pytest.mark.parametrize("size", [1, 4, 100])
def test_chunks_cover_every_frame_once(size: int) -> None:
    from recast.pipeline.farm import chunks

    frames = [1, 2, 3, 7, 8, 20, 21, 22, 23]
    got = chunks(frames, size)
    assert [f for c in got for f in c] == frames and all(len(c) <= size for c in got)


def test_task_chunks_start_on_history_blocks() -> None:
    from recast.pipeline.farm import HistoryGrid, task_chunks

    grid = HistoryGrid(first=1001, block=48)
    frames = list(range(1010, 1110))  # a take starting inside the plate's first block
    got = task_chunks(frames, 48, grid)
    assert [(c[0], c[-1]) for c in got] == [(1010, 1048), (1049, 1096), (1097, 1109)]
    assert [(c[0], c[-1]) for c in task_chunks(frames, 96, grid)] == [(1010, 1096), (1097, 1109)]
    # a size that is not a multiple of the block: plain consecutive chunks, as asked
    assert [(c[0], c[-1]) for c in task_chunks(frames, 30, grid)] == [(1010, 1039), (1040, 1069), (1070, 1099), (1100, 1109)]
    assert task_chunks(frames, 30, None) == task_chunks(frames, 30, grid)
    # gaps stay inside their block's task
    assert task_chunks([1001, 1003, 1050, 1051], 48, grid) == [[1001, 1003], [1050, 1051]]


def test_passthrough_export_default_chunk(tmp_path: Path) -> None:
    home, job, _out, _pattern = _submit(tmp_path, range(1001, 1013))
    res = json.loads(recast("farm", "export", job, "--format", "openjd", "--json", home=home, check=True).stdout)
    assert res["chunk"] == 10  # no history to replay: the former default
