"""The host bridge without Nuke: stdlib-only imports (``python -I -S``, Python 3.9 syntax),
the gizmo file, the flow's decisions, the client's errors, the stdlib command line and
the Resolve adapter (a fake Resolve) round-tripping against a real ``recast serve``.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest
from _engine_fixtures import astronaut_linear, build_tom_hanks_actor
from _fake_nuke import GIZMO, FakeNuke, parse_gizmo

from recast.pipeline.plateio import write_image

REPO = Path(__file__).resolve().parents[1]
PLUGIN = REPO / "plugin"
BRIDGE = PLUGIN / "recast_bridge"
MODULES = sorted(p.stem for p in BRIDGE.glob("*.py") if p.stem != "__main__")


def _py39() -> str | None:
    for cand in (os.environ.get("RECAST_PY39"), "/root/.pyenv/versions/3.9.18/bin/python3.9", shutil.which("python3.9")):
        if cand and Path(cand).is_file():
            try:
                out = subprocess.run([cand, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True, timeout=30)
            except OSError:
                continue
            if out.returncode == 0 and out.stdout.strip() == "(3, 9)":
                return cand
    return None


if str(PLUGIN) not in sys.path:
    sys.path.insert(0, str(PLUGIN))

from recast_bridge import flow  # noqa: E402
from recast_bridge.client import BridgeConfig, Client, ensure_service  # noqa: E402
from recast_bridge.errors import BridgeError, ServiceDown, ServiceError, WaitTimeout  # noqa: E402

# -- stdlib only, Python 3.9 ------------------------------------------------------------


def test_every_module_parses_as_python_3_9() -> None:
    files = list(BRIDGE.glob("*.py")) + list((REPO / "nuke_gizmo").glob("*.py"))
    assert len(files) >= 9
    for path in files:
        ast.parse(path.read_text(), str(path), feature_version=(3, 9))  # no match, no except*, no 3.10+ syntax
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):  # `X | Y` outside annotations is evaluated at run time: 3.10+
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") in ("isinstance", "issubclass"):
                assert not any(isinstance(a, ast.BinOp) for a in node.args), f"{path}:{node.lineno}: isinstance with X | Y"


def _isolated_import(python: str) -> dict:
    code = (
        "import sys, json; sys.path.insert(0, sys.argv[1]);"
        f"mods = {MODULES!r};"
        "[__import__('recast_bridge.' + m) for m in mods];"
        "import recast_bridge.__main__;"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('numpy', 'recast', 'nuke', 'DaVinciResolveScript', 'pydantic'));"
        "print(json.dumps({'bad': bad, 'version': list(sys.version_info[:2]), 'path': sys.path}))"
    )
    out = subprocess.run([python, "-I", "-S", "-c", code, str(PLUGIN)], capture_output=True, text=True, timeout=60, cwd="/")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_bridge_imports_in_isolated_mode_with_the_standard_library_only() -> None:
    got = _isolated_import(sys.executable)
    assert got["bad"] == []  # no numpy, no recast.*, and nuke is imported only when a button runs
    assert not any("site-packages" in p for p in got["path"])


def test_bridge_imports_on_python_3_9() -> None:
    py39 = _py39()
    if py39 is None:
        pytest.skip("no Python 3.9 interpreter here (set RECAST_PY39); the feature_version=(3, 9) parse check still runs")
    got = _isolated_import(py39)
    assert got["version"] == [3, 9] and got["bad"] == []


# -- the gizmo ----------------------------------------------------------------------------


def test_gizmo_parses_and_every_knob_and_button_the_code_uses_exists() -> None:
    from recast_bridge import nuke_host

    text = GIZMO.read_text()
    g = parse_gizmo(text)  # raises on unbalanced braces
    knobs = g["knobs"]
    used = set(re.findall(r"knob\(\"(\w+)\"\)", (BRIDGE / "nuke_host.py").read_text()))
    assert used and used <= set(knobs), used - set(knobs)
    assert set(nuke_host.KNOBS) <= set(knobs)
    for name, ktype in (("actor", 4), ("selection", 4), ("backend", 4), ("color", 4), ("blend", 4), ("reference_frame", 3),
                        ("face_index", 3), ("mask_erode", 7), ("mask_blur", 7), ("status", 26), ("job_id", 1)):
        assert knobs[name]["type"] == ktype, name
    assert knobs["selection"]["values"] == list(flow.SELECTION_MODES)
    assert knobs["color"]["values"] == list(flow.COLOUR_METHODS) and knobs["blend"]["values"] == list(flow.BLEND_METHODS)
    labels = {knobs[b]["label"] for b in nuke_host.BUTTONS}
    assert labels == {"Submit", "Preview frame", "Refresh", "Open review", "Load approved"}
    for button in nuke_host.BUTTONS:
        assert knobs[button]["type"] == 22
        tree = ast.parse(knobs[button]["script"])
        calls = [n.func.attr for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                 and getattr(n.func.value, "id", "") == "recast_host"]
        assert calls == [button], (button, calls)
        assert callable(getattr(nuke_host, button))
    inputs = [dict(zip(body[::2], body[1::2])) for cls, body in g["nodes"] if cls == "Input"]
    assert {(i["name"], i.get("number", "0")) for i in inputs} == {("plate", "0"), ("holdout", "1")}
    assert g["plain"]["inputs"] == "2"
    with pytest.raises(ValueError, match="before its"):
        parse_gizmo(text.replace("end_group", "}\nend_group"))
    with pytest.raises(ValueError, match="1 unclosed brace"):
        parse_gizmo(text.replace(" Output {", " Output {{"))


def test_init_and_menu_run_in_nuke_and_a_menu_failure_does_not_stop_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNuke()
    monkeypatch.setitem(sys.modules, "nuke", fake.module)
    init = REPO / "nuke_gizmo" / "init.py"
    exec(compile(init.read_text(), str(init), "exec"), {"__file__": str(init)})  # noqa: S102
    assert fake.plugin_paths == [str(PLUGIN)]
    menu = REPO / "nuke_gizmo" / "menu.py"
    exec(compile(menu.read_text(), str(menu), "exec"), {"__file__": str(menu)})  # noqa: S102
    assert "recast_host.create_node()" in fake.menus["Nodes"].items["Recast"].items["Recast"]
    assert set(fake.menus["Nuke"].items["Recast"].items) == {"Recast node", "Refresh selected", "Load approved (selected)"}
    printed: list[str] = []
    fake.module.menu = lambda name: (_ for _ in ()).throw(RuntimeError("no GUI"))
    fake.module.tprint = printed.append
    exec(compile(menu.read_text(), str(menu), "exec"), {"__file__": str(menu)})  # noqa: S102
    assert printed == ["Recast menu not installed: no GUI"]


# -- the flow's decisions -----------------------------------------------------------------


def test_patterns_and_frame_lists() -> None:
    assert flow.hash_pattern("/a/sh.%04d.exr") == "/a/sh.####.exr" == flow.hash_pattern("/a/sh.@@@@.exr")
    assert flow.printf_pattern("/a/sh.####.exr") == "/a/sh.%04d.exr"
    assert flow.frame_path("/a/sh.%04d.exr", 7) == "/a/sh.0007.exr"
    assert flow.frames_text([1, 2, 3, 7, 9, 10]) == "1-3,7,9-10"


def test_plan_export_uses_files_only_when_nothing_changes_them(tmp_path: Path) -> None:
    for f in (1, 2):
        (tmp_path / f"p.{f:04d}.png").write_bytes(b"x")
        (tmp_path / f"p.{f:04d}.jpg").write_bytes(b"x")
    render = str(tmp_path / "job" / "plate" / "sh.####.exr")
    direct = flow.plan_export(flow.PlateSource(1, 2, str(tmp_path / "p.%04d.png"), [], "sRGB - Texture"), render)
    assert direct.direct and direct.pattern == str(tmp_path / "p.####.png") and direct.colorspace == "sRGB - Texture"
    cases = [
        (flow.PlateSource(1, 2, str(tmp_path / "p.%04d.jpg")), "jpg is not EXR/PNG/DPX"),
        (flow.PlateSource(1, 2, str(tmp_path / "p.####.png"), ["Grade1", "Blur2"]), "Grade1, Blur2 changes pixels"),
        (flow.PlateSource(1, 3, str(tmp_path / "p.####.png")), "frame 3 of p.####.png is not on disk"),
        (flow.PlateSource(1, 2, None), "not a file Read"),
    ]
    for source, reason in cases:
        plan = flow.plan_export(source, render)
        assert not plan.direct and plan.pattern == render and reason in plan.reason and plan.colorspace is None


def test_spec_from_knobs_and_the_holdout_rule(tmp_path: Path) -> None:
    plan = flow.ExportPlan(True, "/s/p.####.exr", 1001, 1010, "direct", "ACEScg")
    knobs = flow.SwapKnobs("ada", "reference", 1004, 1, "warp", 2.0, 9.0, "lct", "laplacian")
    got = flow.build_spec(plan, knobs, "/s/out", "sh010", {"holdout": False}, holdout="/s/h.####.exr")
    assert got.spec == {
        "plate": "/s/p.####.exr", "out": "/s/out", "actor": "ada", "frames": "1001-1010", "shot": "sh010",
        "settings": {"backend": "warp", "selection": "reference", "reference": "1004:1", "mask_erode": 2.0, "mask_blur": 9.0,
                     "color": "lct", "blend": "laplacian", "colorspace": "ACEScg"},
    }
    assert got.notes == ["holdout matte rendered but not sent: this service has no 'holdout' setting yet"]
    sent = flow.build_spec(plan, knobs, "/s/out", "sh010", {"holdout": True}, holdout="/s/h.####.exr")
    assert sent.spec["settings"]["holdout"] == "/s/h.####.exr" and sent.notes == []
    assert "backend" not in flow.SwapKnobs("ada", backend=flow.ACTOR_BACKEND).settings()
    # the auto holdout checkbox: sent when ticked and the service has the setting, else a note
    ticked = flow.SwapKnobs("ada", auto_holdout=True)
    assert "auto_holdout" not in flow.SwapKnobs("ada").settings() and ticked.settings()["auto_holdout"] is True
    knows = flow.build_spec(plan, ticked, "/s/out", "sh010", {"settings": ["selection", "auto_holdout"]})
    assert knows.spec["settings"]["auto_holdout"] is True and knows.notes == []
    old = flow.build_spec(plan, ticked, "/s/out", "sh010", {"settings": ["selection"]})
    assert "auto_holdout" not in old.spec["settings"]
    assert old.notes == ["auto holdout not sent: this service has no 'auto_holdout' setting yet"]
    with pytest.raises(BridgeError, match="needs a reference frame"):
        flow.SwapKnobs("ada", "reference").settings()
    with pytest.raises(BridgeError, match="pick an actor first"):
        flow.build_spec(plan, flow.SwapKnobs("(press Refresh)"), "/s/out", "sh010")


def test_open_review_opens_the_qc_report(tmp_path: Path) -> None:
    opened: list[str] = []
    job = {"id": "sh010-1", "out": str(tmp_path)}
    with pytest.raises(BridgeError, match=r"job sh010-1: no review report yet at .*index.html \(run `recast qc report sh010-1`"):
        flow.open_review(job, opener=opened.append)
    report = tmp_path / "qc" / "report" / "index.html"
    report.parent.mkdir(parents=True)
    report.write_text("<html></html>")
    assert flow.open_review(job, opener=opened.append) == str(report) and opened == ["file://" + str(report)]
    launched: list[list[str]] = []
    got = flow.open_review(job, ["/opt/recast/bin/recast"], "http://127.0.0.1:8765", opened.append, lambda argv, **kw: launched.append(argv))
    assert launched == [["/opt/recast/bin/recast", "review", "sh010-1", "--server", "http://127.0.0.1:8765"]]
    assert got == " ".join(launched[0]) and len(opened) == 1


def test_job_folders_never_share_a_folder(tmp_path: Path) -> None:
    a = flow.job_folders(str(tmp_path), "sh 010/a", stamp="20260101_000000")
    os.makedirs(a.root)
    b = flow.job_folders(str(tmp_path), "sh 010/a", stamp="20260101_000000")
    assert a.root.endswith("sh_010_a_20260101_000000") and b.root == a.root + "_2"
    assert a.plate == os.path.join(a.root, "plate", "sh_010_a.####.exr") and a.out == os.path.join(a.root, "out")


# -- a real `recast serve` -------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """`recast serve --port 0` started by the bridge's own starter, a real actor and plate."""
    root = tmp_path_factory.mktemp("bridge")
    old_models = os.environ.get("RECAST_MODELS")
    actor = build_tom_hanks_actor(root / "models", root)
    if old_models is None:
        os.environ.pop("RECAST_MODELS", None)
    else:
        os.environ["RECAST_MODELS"] = old_models
    plates = root / "plates"
    plates.mkdir()
    for i, f in enumerate((1, 2)):
        rgb = astronaut_linear(shift=2 * i)[:320, 64:384]
        spec = oiio.ImageSpec(320, 320, 3, oiio.HALF)
        spec.channelnames = ("R", "G", "B")
        write_image(plates / f"astro.{f:04d}.exr", rgb, spec)
    env = dict(os.environ, RECAST_HOME=str(root / "home"), RECAST_MODELS=str(root / "models"), PYTHONPATH=str(REPO))
    env.pop("RECAST_TOKEN", None)
    # nothing listens on the configured URL: ensure_service starts `recast serve` (port 0: the OS picks)
    config = BridgeConfig(server="http://127.0.0.1:0", serve_command=[sys.executable, "-m", "recast"], serve_roots=[str(root)])
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        service = ensure_service(config)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert service is not None and config.server == service.url != "http://127.0.0.1:0"
    assert ensure_service(config) is None  # up now: nothing more is started
    try:
        yield {"root": root, "url": service.url, "actor": actor.name, "plates": plates, "service": service}
    finally:
        service.stop()


def _cli(*args: str, server: str | None, python: str = sys.executable) -> subprocess.CompletedProcess[str]:
    """The stdlib CLI as `python -I -S` with only plugin/ on sys.path (no site-packages, no PYTHONPATH)."""
    pre = ["--server", server] if server else []
    code = "import sys, runpy; sys.path.insert(0, sys.argv.pop(1)); runpy.run_module('recast_bridge', run_name='__main__')"
    return subprocess.run([python, "-I", "-S", "-c", code, str(PLUGIN), *pre, *args],
                          capture_output=True, text=True, timeout=600, cwd=str(REPO))


def test_cli_round_trip_in_isolated_mode(served: dict) -> None:
    url, root = served["url"], served["root"]
    spec = root / "job.json"
    spec.write_text(json.dumps({"plate": str(served["plates"] / "astro.####.exr"), "actor": served["actor"], "out": str(root / "out"), "shot": "sh020"}))
    sub = _cli("submit", str(spec), "--json", server=url)
    assert sub.returncode == 0, sub.stderr
    job = json.loads(sub.stdout)["job"]
    assert job.startswith("sh020-")
    status = _cli("status", job, server=url)
    assert status.returncode == 0 and status.stdout.startswith(f"job {job}: ")
    done = _cli("wait", job, "--timeout", "300", "--interval", "0.3", "--json", server=url)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["frames"]["done"] == 2
    none_yet = _cli("latest", job, "--json", server=url)
    assert none_yet.returncode == 1 and none_yet.stderr.strip().endswith("nothing published yet (HTTP 404)")
    client = Client(BridgeConfig(server=url))
    client.approve(job, "all", "kim")  # the review approval, through the API
    pub = client.publish(job, by="kim")
    versions = _cli("versions", job, "--json", server=url)
    assert versions.returncode == 0
    assert [v["version"] for v in json.loads(versions.stdout)["versions"]] == ["v001"]
    latest = _cli("latest", job, "--json", server=url)
    assert latest.returncode == 0, latest.stderr
    v = json.loads(latest.stdout)
    assert {"version", "path", "first", "last", "colorspace"} <= set(v)
    assert (v["version"], v["path"], v["first"], v["last"]) == ("v001", pub["path"], 1, 2)
    assert v["colorspace_source"].startswith("record (")  # what the engine resolved, read from the frame record
    assert v["colorspace"] == "Linear Rec.709 (sRGB)" and v["pattern"] == str(Path(pub["path"]) / "comp" / "astro.####.exr")
    for f in (1, 2):
        out = oiio.ImageBuf(v["pattern"].replace("####", f"{f:04d}")).get_pixels(oiio.FLOAT)
        plate = oiio.ImageBuf(str(served["plates"] / f"astro.{f:04d}.exr")).get_pixels(oiio.FLOAT)
        assert np.abs(out - plate).max() > 0.05  # a face was swapped
    text = _cli("latest", job, server=url)
    assert text.returncode == 0 and text.stdout.split()[:2] == ["v001", v["pattern"]]
    py39 = _py39()
    if py39 is not None:  # the oldest Python the bridge claims gives the same answers
        for cmd in (("latest", job, "--json"), ("versions", job, "--json"), ("status", "no-such-job")):
            new, old = _cli(*cmd, server=url, python=py39), _cli(*cmd, server=url)
            assert (new.returncode, new.stdout, new.stderr) == (old.returncode, old.stdout, old.stderr), cmd


def test_cli_errors_are_one_line_with_an_exit_code(served: dict, tmp_path: Path) -> None:
    url = served["url"]
    cases = [
        (_cli("status", "no-such-job", server=url), 1, "job 'no-such-job': no such job (HTTP 404)"),
        (_cli("status", "x", server="http://127.0.0.1:9"), 3, "recast service not reachable at http://127.0.0.1:9"),
        (_cli("submit", str(tmp_path / "missing.json"), server=url), 1, "missing.json: cannot read"),
        (_cli("frobnicate", server=url), 2, "invalid choice"),
        (_cli("wait", "x", "--timeout", "soon", server=url), 2, "invalid float value"),
    ]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"plate": "/etc/passwd.####.exr", "actor": "ada", "out": str(tmp_path / "o")}))
    cases.append((_cli("submit", str(bad), server=url), 1, "spec.plate"))
    for proc, code, text in cases:
        assert proc.returncode == code, (proc.args, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("recast_bridge: ") and text in lines[0], proc.stderr
        assert proc.stdout == ""


def test_client_token_and_errors(tmp_path: Path) -> None:
    from recast.pipeline.service.app import ServiceConfig
    from recast.pipeline.service.server import start_in_thread

    token = "bridge-token-0123456789"
    server = start_in_thread(ServiceConfig(roots=[tmp_path.resolve()], store_path=tmp_path / "recast.db", token=token, workers=1))
    try:
        with pytest.raises(ServiceError, match="missing or wrong token") as err:
            Client(BridgeConfig(server=server.url)).actors()
        assert err.value.status == 401
        client = Client(BridgeConfig.from_env({"RECAST_SERVER": server.url + "/", "RECAST_TOKEN": token}))
        assert client.server == server.url and client.actors() == [] and client.info()["holdout"] in (True, False)
        with pytest.raises(ServiceError, match=r"POST /preview: .*preview.plate.*outside the allowed roots \(HTTP 403\)"):
            client.preview("/etc/x.####.exr", 1, "ada", str(tmp_path / "p"))
        with pytest.raises(ServiceError, match=r"POST /jobs: (body\.)?plate: Field required \(HTTP 422\)"):
            client.submit({"out": str(tmp_path / "o")})
    finally:
        server.stop()
    with pytest.raises(ServiceDown, match=r"^recast service not reachable at http://127\.0\.0\.1:9 \(.*\); start it with"):
        Client(BridgeConfig(server="http://127.0.0.1:9", timeout=2)).health()


# -- Resolve ----------------------------------------------------------------------------------


class FakeItem:
    def __init__(self, name: str, start: int, duration: int) -> None:
        self.name, self.start, self.duration = name, start, duration

    def GetName(self) -> str:  # noqa: N802 - Resolve's names
        return self.name

    def GetStart(self) -> int:  # noqa: N802
        return self.start

    def GetDuration(self) -> int:  # noqa: N802
        return self.duration


class FakeTimeline:
    def __init__(self, item: FakeItem) -> None:
        self.item, self.markers = item, {}

    def GetCurrentVideoItem(self) -> FakeItem:  # noqa: N802
        return self.item

    def GetStartFrame(self) -> int:  # noqa: N802
        return 86400

    def GetMarkers(self) -> dict:  # noqa: N802
        return {float(k): dict(v) for k, v in self.markers.items()}

    def DeleteMarkerAtFrame(self, frame: int) -> bool:  # noqa: N802
        return self.markers.pop(int(frame), None) is not None

    def AddMarker(self, frame: int, color: str, name: str, note: str, duration: int, custom: str = "") -> bool:  # noqa: N802
        if frame in self.markers:
            return False
        self.markers[frame] = {"color": color, "name": name, "note": note, "duration": duration, "customData": custom}
        return True


class FakeFolder:
    def __init__(self, name: str) -> None:
        self.name, self.subs, self.clips = name, [], []

    def GetName(self) -> str:  # noqa: N802
        return self.name

    def GetSubFolderList(self) -> list:  # noqa: N802
        return list(self.subs)


class FakePool:
    def __init__(self) -> None:
        self.root, self.current, self.imports = FakeFolder("Master"), None, []

    def GetRootFolder(self) -> FakeFolder:  # noqa: N802
        return self.root

    def AddSubFolder(self, parent: FakeFolder, name: str) -> FakeFolder:  # noqa: N802
        sub = FakeFolder(name)
        parent.subs.append(sub)
        return sub

    def SetCurrentFolder(self, folder: FakeFolder) -> bool:  # noqa: N802
        self.current = folder
        return True

    def ImportMedia(self, items: list) -> list:  # noqa: N802
        self.imports.append(items)
        out = []
        for it in items:
            pattern, frames = it["FilePath"], range(it["StartIndex"], it["EndIndex"] + 1)
            if all(Path(pattern % f).is_file() for f in frames):
                out.append(f"clip:{pattern}")
        self.current.clips += out
        return out


class FakeProject:
    """Renders the timeline range with OIIO from a source sequence numbered by timeline frame."""

    def __init__(self, source: Path, item: FakeItem) -> None:
        self.source, self.timeline, self.pool = source, FakeTimeline(item), FakePool()
        self.settings: dict = {}
        self.format: tuple = ()
        self.jobs: dict = {}
        self.polls = 0

    def GetCurrentTimeline(self) -> FakeTimeline:  # noqa: N802
        return self.timeline

    def GetMediaPool(self) -> FakePool:  # noqa: N802
        return self.pool

    def GetRenderCodecs(self, fmt: str) -> dict:  # noqa: N802
        return {"RGB Float (No compression)": "RGBFloat", "RGB Half (ZIP)": "RGBHalfZIP"} if fmt == "exr" else {}

    def SetCurrentRenderMode(self, mode: int) -> bool:  # noqa: N802
        self.mode = mode
        return True

    def SetCurrentRenderFormatAndCodec(self, fmt: str, codec: str) -> bool:  # noqa: N802
        self.format = (fmt, codec)
        return True

    def SetRenderSettings(self, settings: dict) -> bool:  # noqa: N802
        self.settings.update(settings)
        return True

    def AddRenderJob(self) -> str:  # noqa: N802
        job = f"job{len(self.jobs) + 1}"
        self.jobs[job] = dict(self.settings)
        return job

    def DeleteRenderJob(self, job: str) -> bool:  # noqa: N802
        return self.jobs.pop(job, None) is not None

    def StartRendering(self, jobs: list) -> bool:  # noqa: N802
        for job in jobs:
            s = self.jobs[job]
            for f in range(s["MarkIn"], s["MarkOut"] + 1):
                px = oiio.ImageBuf(str(self.source).replace("########", f"{f:08d}")).get_pixels(oiio.FLOAT)
                spec = oiio.ImageSpec(px.shape[1], px.shape[0], px.shape[2], oiio.HALF)
                spec.attribute("compression", "zip")
                out = oiio.ImageOutput.create("exr")
                path = str(Path(s["TargetDir"]) / f"{s['CustomName']}{f:08d}.exr")
                assert out.open(path, spec)
                out.write_image(px)
                out.close()
        return True

    def GetRenderJobStatus(self, job: str) -> dict:  # noqa: N802
        self.polls += 1
        return {"JobStatus": "Rendering", "CompletionPercentage": 50} if self.polls < 2 else {"JobStatus": "Complete", "CompletionPercentage": 100}

    def StopRendering(self) -> None:  # noqa: N802
        pass


class FakeResolve:
    def __init__(self, project: FakeProject) -> None:
        self.project = project

    def GetProjectManager(self):  # noqa: N802
        return type("PM", (), {"GetCurrentProject": lambda _self: self.project})()


def test_resolve_render_submit_publish_import_round_trip(served: dict) -> None:
    from recast_bridge.resolve_host import ResolveHost, pick_exr_codec

    root = served["root"]
    src = root / "resolve_src"
    src.mkdir()
    rgb = astronaut_linear()[:320, 64:384]
    spec = oiio.ImageSpec(320, 320, 3, oiio.HALF)
    spec.channelnames = ("R", "G", "B")
    write_image(src / "A001.00086410.exr", rgb, spec)
    project = FakeProject(src / "A001.########.exr", FakeItem("A001.mov", 86410, 1))
    host = ResolveHost(FakeResolve(project), BridgeConfig(server=served["url"]), sleep=lambda s: None)
    job = host.submit_current_item(served["actor"], str(root / "resolve_work"))
    assert project.format == ("exr", "RGBHalfZIP") and project.mode == 1 and project.jobs == {}  # render job removed
    assert {k: project.settings[k] for k in ("MarkIn", "MarkOut", "CustomName", "SelectAllFrames")} == {
        "MarkIn": 86410, "MarkOut": 86410, "CustomName": "A001", "SelectAllFrames": False}
    client = Client(BridgeConfig(server=served["url"]))
    submitted = client.job(job)
    assert submitted["spec"]["plate"] == str(Path(project.settings["TargetDir"]) / "A001########.exr")
    assert flow.wait(client, job, 300, 0.3)["status"] == "done"
    client.approve(job, "all", "kim")
    client.publish(job, by="kim")
    got = host.import_published(job)
    assert [f.GetName() for f in project.pool.root.subs] == ["Recast"] and project.pool.current.clips
    assert project.pool.imports[-1] == [{"FilePath": got["pattern"].replace("########", "%08d"), "StartIndex": 86410, "EndIndex": 86410}]
    marker = project.timeline.markers[10]
    assert marker["customData"] == f"recast:{job}:v001" and f"job {job} v001" in marker["note"]
    naps: list[float] = []
    host.sleep = naps.append
    with pytest.raises(WaitTimeout, match=f"job {job}: nothing new published within 0s"):
        host.import_when_published(job, seen=["v001"], timeout=0)
    client.publish(job, fill="none", by="kim")
    again = host.import_when_published(job, seen=["v001"], timeout=60)  # v002: the same bin, the item's marker replaced
    assert again["version"] == "v002" and len(project.pool.root.subs) == 1
    assert project.timeline.markers[10]["customData"] == f"recast:{job}:v002" and len(project.timeline.markers) == 1
    assert pick_exr_codec({"a": "RGBFloat"}) == "RGBFloat"


def test_version_colourspace_comes_from_the_frame_record_when_it_carries_one(tmp_path: Path) -> None:
    from recast.pipeline.schema.layout import JobLayout
    from recast.pipeline.service.bridge_api import _record_colorspace

    layout = JobLayout(out=tmp_path, plate_name="p", padding=4)
    rec = layout.record_path(2, 1005)
    rec.parent.mkdir(parents=True)
    rec.write_text(json.dumps({"colorspace": {"plate": "ACEScg", "source": "metadata", "config": "ocio://x", "working": "sRGB"}}))
    assert _record_colorspace(layout, {"source": "approved", "take": 2, "frame": 1005}) == ("ACEScg", "record (metadata)")
    assert _record_colorspace(layout, {"source": "plate", "take": None, "frame": 1005}) == (None, None)
    assert _record_colorspace(layout, {"source": "approved", "take": 1, "frame": 1005}) == (None, None)  # no record there


def test_wait_polls_until_the_job_ends_or_times_out() -> None:
    from recast_bridge.errors import WaitTimeout

    class Jobs:
        def __init__(self, states: list[tuple[str, bool]]) -> None:
            self.states, self.calls = states, 0

        def job(self, job_id: str) -> dict:
            status, busy = self.states[min(self.calls, len(self.states) - 1)]
            self.calls += 1
            return {"id": job_id, "status": status, "busy": busy, "frames": {"done": self.calls}}

    seen: list[str] = []
    # "done" while a task still runs (a reprocess) is not finished yet
    done = flow.wait(Jobs([("running", True), ("done", True), ("done", False)]), "j", 10, 0.001, on_update=lambda j: seen.append(j["status"]))
    assert done["status"] == "done" and seen == ["running", "done", "done"]
    with pytest.raises(WaitTimeout, match=r"^job j: still running after 0.05s$"):
        flow.wait(Jobs([("running", False)]), "j", 0.05, 0.01)
    assert flow.status_line({"id": "j", "status": "done", "frames": {"done": 3, "failed": 1, "pending": 0},
                             "versions": [{"version": "v002"}]}) == "job j: done, 3/4 frames done, 1 failed, published v002"


def test_a_warm_preview_equals_a_cold_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The service keeps the analyser and swappers loaded between previews; what they remember of an
    earlier preview (tracks, the warp's view history) must not change the next one."""
    from recast.pipeline.service.bridge_api import PreviewBody, _Warm, run_preview

    monkeypatch.setenv("RECAST_MODELS", str(tmp_path / "models"))
    actor = build_tom_hanks_actor(tmp_path / "models", tmp_path)
    plates = tmp_path / "plates"
    plates.mkdir()
    for i, f in enumerate((1, 2)):
        rgb = astronaut_linear(shift=9 * i)[:320, 64:384]
        spec = oiio.ImageSpec(320, 320, 3, oiio.HALF)
        spec.channelnames = ("R", "G", "B")
        write_image(plates / f"astro.{f:04d}.exr", rgb, spec)

    def preview(warm: _Warm, frame: int, out: str) -> np.ndarray:
        body = PreviewBody(plate=str(plates / "astro.####.exr"), frame=frame, actor=actor.name, out=str(tmp_path / out))
        res = run_preview(body, warm, [tmp_path])
        assert res["status"] == "done" and res["swapped"] == 1, res
        return oiio.ImageBuf(res["path"]).get_pixels(oiio.FLOAT)

    from recast.models.base import SwapperContext

    warm = _Warm()
    preview(warm, 1, "warm")
    loaded = warm.swapper("warp", SwapperContext())
    second = preview(warm, 2, "warm")
    assert loaded._last_entry  # the warp remembers the view it used per track...
    assert warm.swapper("warp", SwapperContext()) is loaded and not loaded._last_entry  # ...until the next preview
    cold = preview(_Warm(), 2, "cold")
    np.testing.assert_array_equal(second, cold)
