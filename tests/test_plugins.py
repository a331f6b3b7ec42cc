"""Open plugins: backends found through entry points, built-ins declared the same way.

A tiny third-party distribution is "installed" into a temporary folder (a
``*.dist-info`` with ``METADATA`` and ``entry_points.txt`` beside its package)
and put on ``PYTHONPATH`` of a ``recast`` subprocess, the way pip would lay it out.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from _engine_fixtures import astronaut_linear, build_tom_hanks_actor, write_aov_plate
from recast.pipeline.plateio import read_plate
from recast.pipeline.registry import GROUPS, DuplicatePlugin, Registry, UnknownBackend

REPO = Path(__file__).resolve().parents[1]

# A third-party swapper: mirrors the face left-right inside an elliptical matte. It swaps
# actors built for the warp backend (``actor_backends``), so no actor builder of its own.
MIRROR_SWAPPER = '''
import numpy as np
from recast.models.base import SwapResult


class MirrorSwapper:
    name = "mirror"
    actor_backends = ("warp",)

    def swap(self, crop, face, actor):
        h, w = crop.shape[:2]
        x0, y0, x1, y1 = (int(round(float(v))) for v in face.box)
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
        out = crop.copy()
        out[y0:y1, x0:x1] = crop[y0:y1, x0:x1][:, ::-1]
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, max(1, (x1 - x0) / 2), max(1, (y1 - y0) / 2)
        matte = np.clip(1.5 - ((xx - cx) / rx) ** 2 - ((yy - cy) / ry) ** 2, 0, 1).astype(np.float32)
        return SwapResult(out, matte, {"backend": "mirror", "plugin": "recast-mirror"})


def make_swapper(options=None, *args, context=None, **kwargs):
    return MirrorSwapper()
'''


def install_dist(site: Path, dist: str, version: str, package: str, files: dict[str, str], entry_points: dict[str, dict[str, str]]) -> Path:
    """Lay out a distribution as pip would: ``package/`` + ``dist-version.dist-info/``."""
    pkg = site / package
    pkg.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (pkg / name).write_text(text)
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    eps = "".join(f"[{g}]\n" + "".join(f"{k} = {v}\n" for k, v in items.items()) + "\n" for g, items in entry_points.items())
    (info / "entry_points.txt").write_text(eps)
    return info


def recast(*args: str, site: Path | None = None) -> subprocess.CompletedProcess[str]:
    paths = [str(REPO)] + ([str(site)] if site else []) + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    return subprocess.run([sys.executable, "-m", "recast", *args], cwd=REPO, capture_output=True, text=True, env=env, timeout=600)


def test_builtins_are_entry_points_listed_with_their_origin() -> None:
    res = recast("plugins", "--json", "--check")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["groups"] == GROUPS and doc["duplicates"] == []
    names = {c: {p["name"] for p in rows} for c, rows in doc["plugins"].items()}
    assert {"dlib", "insightface"} <= names["analysers"]
    assert {"warp", "inswapper", "dfm"} <= names["swappers"] and {"gfpgan", "codeformer"} <= names["enhancers"]
    assert {"ssim_face", "lpips", "id_plate", "nonfinite"} <= names["metrics"] and {"openjd", "opencue"} <= names["farm"]
    warp = next(p for p in doc["plugins"]["swappers"] if p["name"] == "warp")
    # from a source checkout the built-ins come from the checkout's own pyproject.toml
    assert warp["distribution"] == "recast" and warp["origin"] == str(REPO / "pyproject.toml")
    assert all(p["loads"] for rows in doc["plugins"].values() for p in rows)
    text = recast("plugins").stdout
    assert "swappers (recast.swappers):" in text and "recast.models.swappers.warp:make_swapper" in text


def test_third_party_swapper_runs_a_swap(tmp_path: Path) -> None:
    site = tmp_path / "site"
    info = install_dist(site, "recast-mirror", "1.2.0", "recast_mirror", {"__init__.py": MIRROR_SWAPPER},
                        {"recast.swappers": {"mirror": "recast_mirror:make_swapper"}})
    listed = json.loads(recast("plugins", "--json", site=site).stdout)
    mirror = next(p for p in listed["plugins"]["swappers"] if p["name"] == "mirror")
    assert mirror["distribution"] == "recast-mirror" and mirror["version"] == "1.2.0" and mirror["origin"] == str(info)
    # a real swap with it: warp-built actor, the plugin's backend
    models = Path(os.environ["RECAST_MODELS"])
    build_tom_hanks_actor(models, tmp_path)
    plates = tmp_path / "plate"
    plates.mkdir()
    for i in range(2):
        write_aov_plate(plates / f"shot.{1001 + i:04d}.exr", astronaut_linear(4 * i))
    out = tmp_path / "out"
    res = recast("swap", str(plates / "shot.####.exr"), "--actor", "hanks", "--backend", "mirror", "--out", str(out), "--json", site=site)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["done"] == 2
    for f in (1001, 1002):
        rec = json.loads((out / "records" / f"{f}.json").read_text())
        face = rec["faces"][0]
        assert rec["backend"] == "mirror" and face["swapped"] and face["swap_info"]["plugin"] == "recast-mirror"
        comp, plate = read_plate(out / "comp" / f"shot.{f}.exr"), read_plate(plates / f"shot.{f}.exr")
        assert comp.attributes["recast/backend"] == "mirror"
        x0, y0, x1, y1 = (int(v) for v in face["matte_box"])
        dx, dy = plate.data_window[:2]
        inside = (slice(y0 - dy, y1 - dy), slice(x0 - dx, x1 - dx))
        assert np.abs(comp.pixels[inside] - plate.pixels[inside]).max() > 0.05  # the face changed
        same = (comp.pixels == plate.pixels) | (np.isnan(comp.pixels) & np.isnan(plate.pixels))
        ys, xs = np.nonzero(~same.all(axis=2))
        assert (ys.min() >= y0 - dy - 1 and ys.max() <= y1 - dy and xs.min() >= x0 - dx - 1 and xs.max() <= x1 - dx), (
            (xs.min() + dx, ys.min() + dy, xs.max() + dx, ys.max() + dy), face["matte_box"])  # nothing else did
    # without the distribution on the path the backend is unknown, in one line
    res = recast("swap", str(plates / "shot.####.exr"), "--actor", "hanks", "--backend", "mirror", "--out", str(tmp_path / "o2"))
    assert res.returncode != 0
    assert res.stderr.strip().splitlines()[-1] == "recast: error: unknown swapper backend 'mirror'; known: dfm, inswapper, warp"


def test_duplicate_name_is_an_error_naming_both_providers(tmp_path: Path) -> None:
    site = tmp_path / "site"
    info = install_dist(site, "warp-clash", "0.1", "warp_clash", {"__init__.py": MIRROR_SWAPPER},
                        {"recast.swappers": {"warp": "warp_clash:make_swapper"}})
    res = recast("plugins", "--json", site=site)
    assert res.returncode == 1
    assert json.loads(res.stdout)["duplicates"] == ["swappers:warp"]
    code = "from recast.models.base import SWAPPERS; SWAPPERS.create('warp')"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(site)])}
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert "DuplicatePlugin: swapper 'warp' (recast.swappers) is provided twice" in last
    assert "recast.models.swappers.warp:make_swapper from recast" in last and f"warp_clash:make_swapper from warp-clash 0.1 ({info})" in last


def test_register_in_code_refuses_a_taken_name() -> None:
    reg: Registry[object] = Registry("swapper", "recast.swappers")

    def mine() -> object:
        return object()

    with pytest.raises(DuplicatePlugin, match=r"swapper 'warp' .* provided twice: recast.models.swappers.warp:make_swapper from recast"):
        reg.register("warp")(mine)
    reg.register("mine")(mine)
    reg.register("mine")(mine)  # the same factory again: no-op
    with pytest.raises(DuplicatePlugin, match="'mine'"):
        reg.register("mine")(lambda: object())
    assert "mine" in reg.names() and reg.get("mine") is mine
    with pytest.raises(UnknownBackend, match="unknown swapper backend 'nope'; known: .*warp"):
        reg.get("nope")


# A third-party farm exporter: one shell script per chunk, using recast's own chunking.
SCRIPT_EXPORTER = '''
from recast.pipeline.farm import FarmOptions, chunks


class ShellExporter:
    name = "shell"
    suffix = "chunks.sh"

    def render(self, store, job_id, opts: FarmOptions) -> bytes:
        frames = [r["frame"] for r in store.frames(job_id, opts.take)]
        lines = ["#!/bin/sh", "set -e"]
        for c in chunks(frames, opts.chunk):
            lines.append(f"{opts.python} -m recast run-chunk {job_id} --frames {c[0]}-{c[-1]} --take {opts.take}")
        return ("\\n".join(lines) + "\\n").encode()

    def info(self, opts):
        return {"exporter": "recast-shellfarm"}
'''


def test_third_party_farm_exporter_writes_a_job(tmp_path: Path) -> None:
    from tests.test_job_support import make_plate, write_spec

    site = tmp_path / "site"
    install_dist(site, "recast-shellfarm", "0.3", "recast_shellfarm", {"__init__.py": SCRIPT_EXPORTER},
                 {"recast.farm": {"shell": "recast_shellfarm:ShellExporter"}})
    home = tmp_path / "home"
    pattern = make_plate(tmp_path / "plates", range(1001, 1006))
    spec = write_spec(tmp_path / "s.json", plate=pattern, actor="ada", out=str(tmp_path / "out"), processor="passthrough")
    env_home = {"RECAST_HOME": str(home)}

    def run(*args: str, with_site: bool = True) -> subprocess.CompletedProcess[str]:
        paths = [str(REPO)] + ([str(site)] if with_site else [])
        env = {**os.environ, **env_home, "PYTHONPATH": os.pathsep.join(paths)}
        return subprocess.run([sys.executable, "-m", "recast", *args], cwd=REPO, capture_output=True, text=True, env=env, timeout=300)

    job = json.loads(run("submit", str(spec), "--json").stdout)["job"]
    res = run("farm", "export", job, "--format", "shell", "--chunk", "2", "--json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["exporter"] == "recast-shellfarm" and doc["path"].endswith(f"{job}.t001.chunks.sh")
    script = Path(doc["path"]).read_text().splitlines()
    assert [line.split("--frames ")[1].split()[0] for line in script[2:]] == ["1001-1002", "1003-1004", "1005-1005"]
    # the built-ins still work beside it, and without the distribution the format is unknown, in one line
    assert run("farm", "export", job, "--format", "openjd").returncode == 0
    res = run("farm", "export", job, "--format", "shell", with_site=False)
    assert res.returncode != 0 and res.stderr.strip().splitlines()[-1] == "recast: error: --format 'shell': use one of opencue, openjd"


def test_discovery_is_scanned_once_and_follows_sys_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One scan serves every group; a distribution put on sys.path later is found (the scan is per sys.path)."""
    from recast.pipeline.registry import EntryPointScan, discover

    scan = EntryPointScan()
    before = {p.name for p in discover("recast.swappers", scan)}
    assert "mirror" not in before and {"warp", "dfm"} <= before
    site = tmp_path / "site"
    install_dist(site, "recast-mirror", "1.2.0", "recast_mirror", {"__init__.py": MIRROR_SWAPPER},
                 {"recast.swappers": {"mirror": "recast_mirror:make_swapper"}})
    monkeypatch.syspath_prepend(str(site))
    reg: Registry[object] = Registry("swapper", "recast.swappers")
    assert "mirror" in {p.name for p in discover("recast.swappers", scan)}
    assert "mirror" in reg.names()
    assert type(reg.create("mirror")).__name__ == "MirrorSwapper"
