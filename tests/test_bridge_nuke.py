"""The Nuke bridge end to end: a fake ``nuke`` (tests/_fake_nuke.py) driving the real service.

Actor: a warp actor built from insightface's Tom Hanks sample (package data, test consent).
Plate: skimage's astronaut photograph as scene-linear half EXRs (320x320, two frames), so
a real face is found and swapped. The service runs on loopback in this process
(``start_in_thread``, port 0) with the test folder as its only root.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest
from _engine_fixtures import astronaut_linear, build_tom_hanks_actor
from _fake_nuke import FakeNuke, ProgressTask

from recast.pipeline.plateio import write_image
from recast.pipeline.service.app import ServiceConfig
from recast.pipeline.service.server import RunningServer, start_in_thread

PLUGIN = Path(__file__).resolve().parents[1] / "plugin"


@pytest.fixture()
def fake_nuke(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeNuke]:
    fake = FakeNuke()
    monkeypatch.setitem(sys.modules, "nuke", fake.module)
    monkeypatch.syspath_prepend(str(PLUGIN))
    yield fake


@pytest.fixture()
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict]:
    monkeypatch.setenv("RECAST_MODELS", str(tmp_path / "models"))
    for var in ("RECAST_SERVER", "RECAST_TOKEN", "RECAST_SERVE"):
        monkeypatch.delenv(var, raising=False)
    actor = build_tom_hanks_actor(tmp_path / "models", tmp_path)
    plates = tmp_path / "plates"
    plates.mkdir()
    for i, f in enumerate((1001, 1002)):
        rgb = astronaut_linear(shift=2 * i)[:320, 64:384]
        px = np.concatenate([rgb, np.ones(rgb.shape[:2] + (1,), np.float32)], axis=2)
        spec = oiio.ImageSpec(px.shape[1], px.shape[0], 4, oiio.HALF)
        spec.channelnames = ("R", "G", "B", "A")
        spec.alpha_channel = 3
        write_image(plates / f"astro.{f:04d}.exr", px, spec)
    matte = np.zeros((320, 320, 4), np.float32)
    matte[150:320, 90:240, 3] = 1.0  # a "hand" over the lower half of the face
    for f in (1001, 1002):
        spec = oiio.ImageSpec(320, 320, 4, oiio.HALF)
        spec.channelnames = ("R", "G", "B", "A")
        write_image(plates / f"hand.{f:04d}.exr", matte, spec)
    server: RunningServer = start_in_thread(
        ServiceConfig(roots=[tmp_path.resolve()], store_path=tmp_path / "home" / "recast.db", workers=1)
    )
    monkeypatch.setenv("RECAST_SERVER", server.url)
    yield {"actor": actor, "plates": plates, "server": server, "root": tmp_path, "store": server.server.config.app.state.store}
    server.stop()


def _recast_node(fake: FakeNuke, read, work: Path, actor: str):
    node = fake.createNode("Recast")
    node.setInput(0, read)
    node["work_dir"].setValue(str(work))
    node["shot"].setValue("sh010")
    fake.this_node = node
    node["refresh"].execute()  # the gizmo's own button script fills the pulldowns from the service
    assert actor in node["actor"].values(), node["status"].value()
    node["actor"].setValue(actor)
    return node


def _read(fake: FakeNuke, pattern: str, first: int, last: int):
    read = fake.createNode("Read")
    read["file"].setValue(pattern)
    read["first"].setValue(first)
    read["last"].setValue(last)
    return read


def _pump_until_done(fake: FakeNuke, node, timeout: float = 300) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        fake.pump(0.2)
        text = node["status"].value()
        if ": done," in text or ": failed," in text or text.startswith("error"):
            return text
    raise AssertionError(f"job did not finish: {node['status'].value()}")


def test_submit_review_approve_load_approved_round_trip(fake_nuke: FakeNuke, world: dict) -> None:
    from recast_bridge.client import BridgeConfig, Client

    fake, plates = fake_nuke, world["plates"]
    read = _read(fake, str(plates / "astro.%04d.exr"), 1001, 1002)
    dot = fake.createNode("Dot")
    dot.setInput(0, read)
    node = _recast_node(fake, dot, world["root"] / "work", world["actor"].name)
    assert node["backend"].values()[0] == "actor default" and "warp" in node["backend"].values()
    node["submit"].execute()
    job = node["job_id"].value()
    assert job, node["status"].value()
    assert "used directly" in node["status"].value()
    assert fake.executed == []  # a Read of EXRs through a Dot: its files are the plate, nothing rendered
    text = _pump_until_done(fake, node)
    assert text.startswith(f"job {job}: done, 2/2 frames done"), text
    # Open review: launches the review app on this job (RECAST_SERVE names the recast executable; a stub here)
    stub, seen = world["root"] / "recast_stub", world["root"] / "review_argv.txt"
    stub.write_text(f'#!/bin/sh\necho "$@" > {seen}\n')
    stub.chmod(0o755)
    import os

    os.environ["RECAST_SERVE"] = str(stub)
    try:
        node["open_review"].execute()
    finally:
        del os.environ["RECAST_SERVE"]
    deadline = time.monotonic() + 30
    while not (seen.is_file() and seen.read_text()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert seen.read_text().split() == ["review", job, "--server", world["server"].url], node["status"].value()
    # review approval through the API (as the review app does), then publish
    client = Client(BridgeConfig(server=world["server"].url))
    assert client.job(job)["spec"]["plate"] == str(plates / "astro.####.exr")
    client.approve(job, "all", "kim")
    pub = client.publish(job, by="kim")
    node["load_approved"].execute()
    loaded = fake.toNode(f"{node.name()}_approved")
    assert loaded is not None and loaded.Class() == "Read", node["status"].value()
    pattern = loaded["file"].value()
    assert pattern == str(Path(pub["path"]) / "comp" / "astro.####.exr")
    assert (loaded["first"].value(), loaded["last"].value()) == (1001, 1002)
    assert loaded["colorspace"].value() == "Linear Rec.709 (sRGB)"  # the plate's (EXR primaries) colourspace
    assert loaded["label"].value() == f"{job}\nv001\n{world['actor'].name}"
    for f in (1001, 1002):
        comp = Path(pattern.replace("####", str(f)))
        assert comp.is_file()
        swapped = oiio.ImageBuf(str(comp)).get_pixels(oiio.FLOAT)
        plate = oiio.ImageBuf(str(plates / f"astro.{f}.exr")).get_pixels(oiio.FLOAT)
        assert np.abs(swapped - plate).max() > 0.05  # the published frame carries the swapped face
    # a second publish: Load approved updates the same Read to v002
    client.publish(job, fill="none", by="kim")
    node["load_approved"].execute()
    assert fake.toNode(f"{node.name()}_approved")["file"].value().endswith("/v002/comp/astro.####.exr")
    assert len(fake.allNodes("Read")) == 2  # the plate's Read and the one approved Read


def test_submit_renders_a_changed_plate_and_the_holdout(fake_nuke: FakeNuke, world: dict) -> None:
    fake, plates = fake_nuke, world["plates"]
    read = _read(fake, str(plates / "astro.####.exr"), 1001, 1001)
    grade = fake.createNode("Grade")
    grade["white"].setValue(1.5)
    grade.setInput(0, read)
    node = _recast_node(fake, grade, world["root"] / "work", world["actor"].name)
    node.setInput(1, _read(fake, str(plates / "hand.####.exr"), 1001, 1001))
    import recast_bridge.nuke_host as host

    assert host.NukeContext.for_node(node).swap_knobs().auto_holdout is False  # the checkbox's default
    node["auto_holdout"].setValue(True)
    with node:  # what the Submit button does: its script runs inside the gizmo's group
        submitted = host.do_submit(host.NukeContext.for_node(node), poll=True, interval=0.2)
    assert submitted.spec["settings"]["auto_holdout"] is True  # the service has the setting
    assert not submitted.plan.direct and "Grade1 changes pixels" in submitted.plan.reason
    rendered = Path(submitted.spec["plate"].replace("####", "1001"))
    assert rendered.is_file() and rendered.parent.name == "plate" and world["root"] in rendered.parents
    spec = oiio.ImageInput.open(str(rendered)).spec()
    assert spec.format == oiio.TypeDesc("half") and spec.get_string_attribute("compression") == "zip"
    assert list(spec.channelnames) == ["R", "G", "B", "A"]  # all channels
    got = oiio.ImageBuf(str(rendered)).get_pixels(oiio.FLOAT)
    src = oiio.ImageBuf(str(plates / "astro.1001.exr")).get_pixels(oiio.FLOAT)
    np.testing.assert_allclose(got[..., :3], src[..., :3] * 1.5, rtol=2e-3, atol=2e-3)  # the Grade is in the plate
    assert [t.title for t in ProgressTask.instances] == ["Recast: plate for sh010", "Recast: holdout for sh010"]
    assert all(t.progress[-1] == 100 for t in ProgressTask.instances)
    assert not fake.allNodes("Write")  # the temporary Writes (made next to the node, not inside the gizmo) are gone
    holdout = Path(submitted.spec["plate"]).parents[1] / "holdout" / "sh010_holdout.1001.exr"
    assert holdout.is_file()
    if "holdout" in submitted.spec["settings"]:  # the service knows the setting (issue 14 landed)
        assert submitted.spec["settings"]["holdout"].endswith("sh010_holdout.####.exr")
    else:
        assert "holdout matte rendered but not sent" in node["status"].value()
    # the poller only touches the node through executeInMainThread: the knob is unchanged until pumped
    before = node["status"].value()
    time.sleep(0.5)
    assert node["status"].value() == before
    text = _pump_until_done(fake, node)
    assert ": done, 1/1 frames done" in text
    submitted.poller.stop()
    if "holdout" in submitted.spec["settings"]:  # the swap kept the plate under the matte, changed the face above it
        comp = oiio.ImageBuf(str(Path(submitted.spec["out"]) / "comp" / "sh010.1001.exr")).get_pixels(oiio.FLOAT)
        np.testing.assert_array_equal(comp[150:, 90:240], got[150:, 90:240])
        assert np.abs(comp[:150] - got[:150]).max() > 0.05


def test_preview_frame_swaps_one_frame_without_a_job(fake_nuke: FakeNuke, world: dict) -> None:
    fake, plates = fake_nuke, world["plates"]
    read = _read(fake, str(plates / "astro.####.exr"), 1001, 1002)
    node = _recast_node(fake, read, world["root"] / "work", world["actor"].name)
    fake.current_frame = 1002
    node["preview"].execute()
    shown = fake.toNode(f"{node.name()}_preview")
    assert shown is not None, node["status"].value()
    assert shown.parent_name == "Root"  # created next to the node, not inside the gizmo the button ran in
    assert (shown["first"].value(), shown["last"].value()) == (1002, 1002)
    out = Path(shown["file"].value())
    assert out.is_file() and world["root"] in out.parents
    swapped = oiio.ImageBuf(str(out)).get_pixels(oiio.FLOAT)
    plate = oiio.ImageBuf(str(plates / "astro.1002.exr")).get_pixels(oiio.FLOAT)
    assert np.abs(swapped - plate).max() > 0.05
    assert "1/1 faces swapped" in node["status"].value()
    assert world["store"].list_jobs() == []  # no job, nothing published
    assert not list((world["root"] / "work").rglob("publish"))


def test_buttons_report_one_line_errors_on_the_node(fake_nuke: FakeNuke, world: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = fake_nuke
    node = fake.createNode("Recast")
    fake.this_node = node
    node["load_approved"].execute()
    assert node["status"].value() == "error: no job on this node yet: Submit first"
    node["work_dir"].setValue(str(world["root"] / "work"))
    node["submit"].execute()
    assert node["status"].value() == "error: Recast1: connect a plate to the 'plate' input"
    node.setInput(0, _read(fake, str(world["plates"] / "astro.####.exr"), 1001, 1002))
    node["submit"].execute()
    assert "pick an actor first" in node["status"].value()
    node["server"].setValue("http://127.0.0.1:9")  # nothing listens there
    node["refresh"].execute()
    status = node["status"].value()
    assert status.startswith("error: recast service not reachable at http://127.0.0.1:9") and "\n" not in status
    # the menu's "Recast node": created even when the service is down, saying so on the node
    import recast_bridge.nuke_host as host

    monkeypatch.setenv("RECAST_SERVER", "http://127.0.0.1:9")
    down = host.create_node()
    assert down["status"].value().startswith("service not reached (recast service not reachable at http://127.0.0.1:9")
    monkeypatch.setenv("RECAST_SERVER", world["server"].url)
    up = host.create_node()
    assert up.Class() == "Recast" and up["actor"].value() == world["actor"].name
    assert up["status"].value().startswith("1 actor(s) from ")
