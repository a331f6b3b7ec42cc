"""Review app (PyQt5, offscreen) on a small job the real engine processed: 3 frames, 480x270.

The fixture runs the demo's steps (a warp actor from skimage's astronaut, a
scene-linear EXR plate of insightface's t1.jpg faces, a real job with QC) at a
small size, so every test sees real comps, records, scores and auto flags.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

pytest.importorskip("pytestqt")
from PyQt5.QtCore import QEvent, QPointF, Qt  # noqa: E402
from PyQt5.QtGui import QMouseEvent  # noqa: E402
from PyQt5.QtWidgets import QApplication  # noqa: E402

from recast.pipeline.jobs.store import Store  # noqa: E402
from recast.review_ui.client import HttpClient, LocalClient  # noqa: E402
from recast.review_ui.viewer import MODES  # noqa: E402
from recast.review_ui.window import ReviewWindow  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
FRAMES = [1001, 1002, 1003]


@pytest.fixture()
def review_job(tmp_path: Path) -> tuple[str, Path]:
    from recast.pipeline import demo

    out = tmp_path / "job"
    demo.prepare_folder(out)
    actor = demo.make_actor(out)
    plate = demo.make_plate(out, demo.DemoOptions(out=out, frames=3, width=480, height=270))
    res = demo.run_job(out, plate.pattern, actor, settings={"reference": demo.reference_for(plate)}, identity=False)
    assert res.job is not None and [r["status"] for r in res.records] == ["done"] * 3
    return res.job, out.resolve()


def _store() -> Store:
    return Store(Path(os.environ["RECAST_HOME"]) / "recast.db")


def _open(qtbot: Any, client: Any, job: str) -> ReviewWindow:
    win = ReviewWindow(client, job)
    qtbot.addWidget(win)
    win.resize(1400, 900)
    win.show()
    qtbot.waitUntil(win.settled, timeout=120_000)
    return win


def _idle(qtbot: Any, win: ReviewWindow, timeout: int = 120_000) -> None:
    qtbot.waitUntil(lambda: win.settled(), timeout=timeout)


def _drag(widget: Any, points: list[tuple[int, int]]) -> None:
    """A real left-button drag (press, moves with the button held, release)."""
    def send(kind: QEvent.Type, p: tuple[int, int], buttons: Any) -> None:
        pos = QPointF(*p)
        QApplication.sendEvent(widget, QMouseEvent(kind, pos, Qt.LeftButton, buttons, Qt.NoModifier))

    send(QEvent.MouseButtonPress, points[0], Qt.LeftButton)
    for p in points[1:]:
        send(QEvent.MouseMove, p, Qt.LeftButton)
    send(QEvent.MouseButtonRelease, points[-1], Qt.NoButton)


def _swapped_box(out: Path, frame: int, take: int = 1) -> list[float]:
    rec_dir = out / "records" if take == 1 else out / "takes" / f"t{take:03d}" / "records"
    rec = json.loads((rec_dir / f"{frame}.json").read_text())
    return next(f["matte_box"] for f in rec["faces"] if f["swapped"])


def test_review_workflow_local(qtbot: Any, review_job: tuple[str, Path]) -> None:
    job, out = review_job
    client = LocalClient(reviewer="kim")
    win = _open(qtbot, client, job)
    assert win.frames == FRAMES and win.frame == 1001
    assert win.viewer.bundle is not None and win.viewer.bundle.key.a.kind == "plate"
    # the strip shows QC: statuses from the scores, the auto flags the runner raised
    strip = win.strip.data
    auto = {f["frame"] for f in _store().flags(job) if f["source"] == "auto"}
    assert strip.status and set(strip.status.values()) <= {"pass", "warn", "fail"} and strip.auto == auto

    # 1. step frames with the keyboard, switch modes
    qtbot.keyClick(win, Qt.Key_Right)
    qtbot.waitUntil(lambda: win.frame == 1002 and win.settled(), timeout=60_000)
    qtbot.keyClick(win, Qt.Key_End)
    qtbot.waitUntil(lambda: win.frame == 1003 and win.settled(), timeout=60_000)
    qtbot.keyClick(win, Qt.Key_Home)
    qtbot.waitUntil(lambda: win.frame == 1001 and win.settled(), timeout=60_000)
    shots = {}
    for mode in MODES:
        win.set_mode(mode)
        img = win.viewer.grab().toImage()
        shots[mode] = img
        assert win.viewer.mode == mode and not img.isNull()
    b = win.viewer.bundle
    assert b is not None and int(b.diff8.max()) > 0  # plate and comp differ somewhere (the face)
    assert np.array_equal(b.a8[:20, :20], b.b8[:20, :20])  # ... and not in the untouched corner
    qtbot.keyClick(win, Qt.Key_Space)
    assert win.viewer.mode == "flip"
    shown = win.viewer.show_b
    qtbot.keyClick(win, Qt.Key_Space)
    assert win.viewer.show_b is not shown
    # wipe: the divider follows a drag
    win.set_mode("wipe")
    rect = win.viewer.image_rect(win.viewer.panes()[0])
    x0 = int(rect.left() + rect.width() * 0.5)
    y = int(rect.center().y())
    _drag(win.viewer, [(x0, y), (x0 + 40, y), (int(rect.left() + rect.width() * 0.25), y)])
    assert abs(win.viewer.wipe - 0.25) < 0.02
    # zoom: 1:1 is one plate pixel per screen pixel; fit comes back
    win.one_to_one()
    assert abs(win.viewer.scale() * b.a_lin.scale - 1.0) < 1e-6
    win.fit()
    # exposure goes through the display pipeline: +2 stops brightens the plate
    before = b.a8.astype(float).mean()
    win.exposure.setValue(2.0)
    _idle(qtbot, win)
    assert win.viewer.bundle.a8.astype(float).mean() > before + 10
    win.exposure.setValue(0.0)
    _idle(qtbot, win)

    # 2. flag frame 1002 with a note and a freehand stroke drawn with the mouse
    win.goto_frame(1002)
    _idle(qtbot, win)
    win.set_mode("flip")
    win.draw_box.setChecked(True)
    pane = win.viewer.image_rect(win.viewer.panes()[0])
    pts = [(int(pane.left() + pane.width() * fx), int(pane.top() + pane.height() * 0.5)) for fx in (0.3, 0.4, 0.5)]
    _drag(win.viewer, pts)
    assert len(win.viewer.pending) == 1 and len(win.viewer.pending[0]["points"]) == 3
    stroke_x = win.viewer.pending[0]["points"][0][0]
    assert abs(stroke_x - 480 * 0.3) < 3  # plate pixels, not widget pixels
    win.draw_box.setChecked(False)
    win.flag("mouth smears on the left")
    _idle(qtbot, win)
    rev = [f for f in _store().flags(job) if f["source"] == "reviewer"]
    assert [(f["frame"], f["author"], f["note"]) for f in rev] == [(1002, "kim", "mouth smears on the left")]
    assert len(rev[0]["strokes"]) == 1 and len(rev[0]["strokes"][0]["points"]) == 3
    mirrored = json.loads((out / "review" / "flags.json").read_text())["flags"]
    assert mirrored[0]["strokes"] == rev[0]["strokes"]
    assert win.viewer.saved_strokes == rev[0]["strokes"] and win.strip.data.reviewer == {1002}
    # flag and unflag a range selected with shift-click on the timeline
    win.goto_frame(1001)
    _idle(qtbot, win)
    c3 = win.strip.cell(2).center().toPoint()
    qtbot.mouseClick(win.strip, Qt.LeftButton, Qt.ShiftModifier, c3)
    assert win.selection == (1001, 1003)
    win.flag("range check")
    _idle(qtbot, win)
    assert sorted(f["frame"] for f in _store().flags(job) if f["note"] == "range check") == FRAMES
    win.unflag([1001, 1003])
    _idle(qtbot, win)
    assert sorted(f["frame"] for f in _store().flags(job) if f["source"] == "reviewer") == [1002, 1002]
    win.selection = None
    # [ and ] walk the flagged frames
    win.goto_frame(1001)
    _idle(qtbot, win)
    qtbot.keyClick(win, Qt.Key_BracketRight)
    assert win.frame == min(f for f in win.flagged() if f > 1001)

    # 3. the reference frame (R)
    win.goto_frame(1001)
    _idle(qtbot, win)
    qtbot.keyClick(win, Qt.Key_R)
    _idle(qtbot, win)
    assert _store().references(job) == [1001] and win.strip.data.references == {1001}

    # 4. reprocess the flagged frames against the reference: a real take 2, progress, UI alive
    win.reprocess_flagged()
    assert win.progress.isVisible()
    qtbot.waitUntil(lambda: win.reprocessing is None and win.settled(), timeout=300_000)
    assert win.last_error == ""
    takes = _store().takes(job)
    assert [t["take"] for t in takes] == [1, 2] and takes[1]["reference_frame"] == 1001
    t2 = out / "takes" / "t002"
    reprocessed = sorted(int(p.stem) for p in (t2 / "records").glob("*.json"))
    assert 1002 in reprocessed and 1001 not in reprocessed
    assert (t2 / "comp" / "demo_plate.1002.exr").is_file()
    # the new take beside the old one
    assert (win.a_choice, win.b_choice) == ("take 1", "take 2")

    # 5. A/B the takes of frame 1002, approve take 2 there and take 1 elsewhere, publish
    win.goto_frame(1002)
    _idle(qtbot, win)
    key = win.viewer.bundle.key
    assert (key.a.kind, key.a.take, key.b.kind, key.b.take) == ("comp", 1, "comp", 2)
    win.set_mode("wipe")
    qtbot.keyClick(win, Qt.Key_A)
    _idle(qtbot, win)
    assert _store().approvals(job)[1002]["take"] == 2
    win.set_sources("plate", "current")
    win.select_range(1001, 1003)
    qtbot.keyClick(win, Qt.Key_A)
    _idle(qtbot, win)
    approvals = _store().approvals(job)
    assert {f: (a["take"], a["state"], a["by"]) for f, a in approvals.items()} == {
        1001: (1, "approved", "kim"), 1002: (2, "approved", "kim"), 1003: (1, "approved", "kim")}
    win.publish()
    qtbot.waitUntil(lambda: win.last_publish is not None, timeout=60_000)
    _idle(qtbot, win)

    # 6. the store and the files
    m = win.last_publish
    assert m["version"] == "v001" and Path(m["path"]) == out / "publish" / "v001"
    assert "v001" in win.publish_label.text()
    manifest = json.loads((out / "publish" / "v001" / "manifest.json").read_text())
    assert [(e["frame"], e["take"]) for e in manifest["frames"]] == [(1001, 1), (1002, 2), (1003, 1)]
    assert (out / "publish" / "v001" / "comp" / "demo_plate.1002.exr").read_bytes() == (t2 / "comp" / "demo_plate.1002.exr").read_bytes()
    audit = [(a["action"], a["who"]) for a in _store().audit_log(job)]
    for action in ("flag", "unflag", "reference", "take", "approved", "publish"):
        assert (action, "kim") in audit, (action, audit)
    win.close()


def test_screenshot_cli_plate_and_comp_differ_at_the_face(review_job: tuple[str, Path], tmp_path: Path) -> None:
    job, out = review_job
    png = tmp_path / "shot.png"
    res = subprocess.run(
        [sys.executable, "-m", "recast", "review", str(out), "--screenshot", str(png), "--frame", "1002", "--mode", "side", "--json"],
        cwd=REPO, capture_output=True, text=True, env=dict(os.environ), timeout=600,
    )
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    assert info["frame"] == 1002 and info["a"] == "plate" and info["b"] == "take 1"
    img = cv2.cvtColor(cv2.imread(str(png)), cv2.COLOR_BGR2RGB).astype(np.float32)
    assert img.shape[:2] == (info["size"][1], info["size"][0]) and img.std() > 20  # not blank
    left, right = (p["image"] for p in info["panes"])
    dw = info["proxy"]["display_window"]

    def crop(rect: list[float], box: list[float]) -> np.ndarray:
        x, y, w, h = rect
        sx, sy = w / dw[2], h / dw[3]
        x0, y0 = round(x + (box[0] - dw[0]) * sx), round(y + (box[1] - dw[1]) * sy)
        w_px, h_px = round((box[2] - box[0]) * sx), round((box[3] - box[1]) * sy)  # same size in both panes
        return img[y0 : y0 + h_px, x0 : x0 + w_px]

    face = _swapped_box(out, 1002)
    diff_face = np.abs(crop(left, face) - crop(right, face)).mean()
    corner = [dw[0] + 2, dw[1] + dw[3] - 32, dw[0] + 40, dw[1] + dw[3] - 2]  # bottom-left: no face, no pane label
    diff_corner = np.abs(crop(left, corner) - crop(right, corner)).mean()
    assert diff_face > 8.0 and diff_corner < 1.0, (diff_face, diff_corner)
    # other modes render too, and a bad frame is one clear line
    bad = subprocess.run([sys.executable, "-m", "recast", "review", job, "--screenshot", str(tmp_path / "x.png"), "--frame", "7"],
                         cwd=REPO, capture_output=True, text=True, env=dict(os.environ), timeout=600)
    assert bad.returncode != 0 and "--frame 7" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


def test_otio_export_reads_back(review_job: tuple[str, Path], tmp_path: Path) -> None:
    otio = pytest.importorskip("opentimelineio")
    job, out = review_job
    client = LocalClient(reviewer="lee")
    client.flag(job, [1003], "eyes drift", [{"points": [[10, 10], [30, 40]], "color": "#00ff00", "width": 4}])
    client.set_reference(job, 1001)
    client.approve(job, [1001, 1002], None)
    client.approve(job, [1003], None, "rejected")
    path = tmp_path / "edit" / "review.otio"
    res = subprocess.run([sys.executable, "-m", "recast", "review", "export", job, "--otio", str(path), "--json"],
                         cwd=REPO, capture_output=True, text=True, env=dict(os.environ), timeout=300)
    assert res.returncode == 0, res.stderr
    tl = otio.adapters.read_from_file(str(path))
    clip = tl.tracks[0][0]
    ref = clip.media_reference
    assert isinstance(ref, otio.schema.ImageSequenceReference) and ref.start_frame == 1001 and ref.name_suffix == ".exr"
    assert Path(ref.abstract_target_url("1002".zfill(4)).replace("1002", "")).parent == out / "comp" or ref.target_url_base.rstrip("/") == str(out / "comp")
    marks = [(int(m.marked_range.start_time.value), m.name, m.color, dict(m.metadata["recast"])) for m in clip.markers]
    flags = [m for m in marks if m[3]["kind"] == "flag"]
    assert (1003, "flag: eyes drift", "YELLOW") in [(f, n, c) for f, n, c, _ in flags]
    reviewer = next(d for f, n, c, d in flags if d["source"] == "reviewer")
    assert reviewer["author"] == "lee" and reviewer["strokes"] == 1 and reviewer["note"] == "eyes drift"
    auto = {f for f, _n, c, d in flags if d["source"] == "auto" and c == "RED"}
    assert auto == {f["frame"] for f in _store().flags(job) if f["source"] == "auto"}
    assert (1001, "reference", "CYAN") in [(f, n, c) for f, n, c, _ in marks]
    decided = {f: (d["kind"], d["take"]) for f, _n, _c, d in marks if d["kind"] in ("approved", "rejected")}
    assert decided == {1001: ("approved", 1), 1002: ("approved", 1), 1003: ("rejected", 1)}
    assert json.loads(res.stdout)["markers"] == len(marks)
    # files are the truth: a store rebuilt from the job folder has the reviewer flag, note and strokes
    from recast.pipeline.jobs.reindex import reindex

    fresh = Store(tmp_path / "fresh.db")
    assert reindex(fresh, out)["reviewer_flags"] == 1
    keep = ("frame", "author", "note", "reason", "strokes", "created", "take")
    strip = [{k: f[k] for k in keep} for f in _store().flags(job) if f["source"] == "reviewer"]
    assert [{k: f[k] for k in keep} for f in fresh.flags(job) if f["source"] == "reviewer"] == strip
    assert reindex(fresh, out)["reviewer_flags"] == 0  # a second reindex adds nothing


def test_review_over_http(qtbot: Any, review_job: tuple[str, Path], tmp_path: Path) -> None:
    from recast.pipeline.service.app import ServiceConfig
    from recast.pipeline.service.server import start_in_thread

    job, out = review_job
    cfg = ServiceConfig(roots=[tmp_path.resolve()], store_path=Path(os.environ["RECAST_HOME"]) / "recast.db", workers=1, recover=False)
    server = start_in_thread(cfg)
    try:
        http = HttpClient(server.url, reviewer="ana")
        local = LocalClient(reviewer="ana")
        row = next(r for r in http.jobs() if r.id == job)
        assert row.shot == "demo" and row.actor == "demo-astronaut" and sum(row.counts.values()) == 3
        assert http.qc(job, 1)["frames"] == local.qc(job, 1)["frames"]
        hp, lp = http.proxy(job, 1002, 1, "comp"), local.proxy(job, 1002, 1, "comp")
        assert np.array_equal(hp.pixels, lp.pixels) and hp.colorspace == lp.colorspace
        ids = http.flag(job, [1001, 1002], "check", [{"points": [[1, 2], [3, 4]], "color": "#ff0000", "width": 2}])
        assert len(ids) == 2
        http.unflag(job, ids[1:])
        flags = [f for f in http.state(job)["flags"] if f["source"] == "reviewer"]
        assert [(f["frame"], f["author"], len(f["strokes"])) for f in flags] == [(1001, "ana", 1)]
        with pytest.raises(Exception, match="auto flag"):
            auto_id = next(f["id"] for f in http.state(job)["flags"] if f["source"] == "auto")
            http.unflag(job, [auto_id])
        # the same window, through the service
        win = _open(qtbot, http, job)
        assert win.frames == FRAMES and win.viewer.bundle is not None
        qtbot.keyClick(win, Qt.Key_Right)
        qtbot.waitUntil(lambda: win.frame == 1002 and win.settled(), timeout=60_000)
        qtbot.keyClick(win, Qt.Key_R)
        _idle(qtbot, win)
        assert _store().references(job) == [1002]
        win.reprocess_flagged([1003], 1002)
        qtbot.waitUntil(lambda: win.reprocessing is None and win.settled(), timeout=300_000)
        assert win.last_error == "" and (out / "takes" / "t002" / "records" / "1003.json").is_file()
        win.goto_frame(1003)
        _idle(qtbot, win)
        qtbot.keyClick(win, Qt.Key_A)
        _idle(qtbot, win)
        win.publish()
        qtbot.waitUntil(lambda: win.last_publish is not None, timeout=60_000)
        assert win.last_publish["version"] == "v001" and _store().approvals(job)[1003]["take"] == 2
        assert {("reference", "ana"), ("approved", "ana"), ("publish", "ana")} <= {(a["action"], a["who"]) for a in http.audit(job)}
        win.close()
    finally:
        server.stop()


def test_bad_targets_are_one_line_errors(tmp_path: Path) -> None:
    for args, needle in ((["no-such-job", "--screenshot", str(tmp_path / "a.png")], "no such job"),
                         ([str(tmp_path), "--screenshot", str(tmp_path / "a.png")], "not a job output folder"),
                         (["export", "x"], "usage: recast review export JOB --otio FILE")):
        res = subprocess.run([sys.executable, "-m", "recast", "review", *args], cwd=REPO, capture_output=True, text=True,
                             env=dict(os.environ), timeout=120)
        assert res.returncode == 2 and needle in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
    # no display and no --screenshot: one clear line, not an invisible window
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    res = subprocess.run([sys.executable, "-m", "recast", "review"], cwd=REPO, capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 2 and "no display" in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr


def test_real_window_under_xvfb(review_job: tuple[str, Path], tmp_path: Path) -> None:
    xvfb = shutil.which("xvfb-run")
    if xvfb is None:
        pytest.skip("xvfb-run not installed (scripts/sysdeps.sh installs xvfb and the xcb libraries as root)")
    job, _out = review_job
    png = tmp_path / "x11.png"
    env = dict(os.environ, QT_QPA_PLATFORM="xcb")
    res = subprocess.run([xvfb, "-a", "-s", "-screen 0 1600x1000x24", sys.executable, "-m", "recast", "review", job,
                          "--screenshot", str(png), "--mode", "wipe", "--json"],
                         cwd=REPO, capture_output=True, text=True, env=env, timeout=600)
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    assert info["platform"] == "xcb"  # a real X server drew it, not the offscreen plugin
    img = cv2.imread(str(png))
    assert img is not None and img.std() > 20


def test_qc_report_shows_strokes_beside_the_frame(review_job: tuple[str, Path], tmp_path: Path) -> None:
    import base64
    import re

    from recast.qc.report import write_report
    from recast.qc.scoring import read_scores

    job, out = review_job
    client = LocalClient(reviewer="kim")
    box = _swapped_box(out, 1002)
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    stroke = {"points": [[cx - 30, cy], [cx, cy + 20], [cx + 30, cy]], "color": "#00ff00", "width": 4}
    client.flag(job, [1002], "chin edge shimmers", [stroke])
    html = write_report(read_scores(out, 1), tmp_path / "report")[0].read_text()
    fig = re.search(r"<figure class='reviewer' data-frame='1002'>(.*?)</figure>", html, re.S)
    assert fig is not None and "chin edge shimmers" in fig.group(1) and "kim" in fig.group(1) and "1 stroke" in fig.group(1)
    png = base64.b64decode(re.search(r"base64,([A-Za-z0-9+/=]+)", fig.group(1)).group(1))
    img = cv2.cvtColor(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB).astype(int)
    green = (img[..., 1] > 200) & (img[..., 0] < 80) & (img[..., 2] < 80)
    ys, xs = np.nonzero(green)
    assert green.sum() > 20
    sx = img.shape[1] / 480  # the thumbnail covers the 480x270 display window
    assert abs(xs.mean() / sx - cx) < 8 and abs(ys.mean() / sx - (cy + 8)) < 12  # drawn where the reviewer drew it


def test_job_list_without_a_job(qtbot: Any, review_job: tuple[str, Path]) -> None:
    from recast.review_ui.app import job_list

    job, _out = review_job
    win = job_list(LocalClient(reviewer="kim"))
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.table.rowCount() == 1 and not win.calls.busy(), timeout=60_000)
    row = {win.table.horizontalHeaderItem(c).text(): win.table.item(0, c).text() for c in range(win.table.columnCount())}
    scores = json.loads((_out / "qc" / "scores.json").read_text())["summary"]
    assert (row["job"], row["shot"], row["actor"], row["status"]) == (job, "demo", "demo-astronaut", "done")
    assert (int(row["pass"]), int(row["warn"]), int(row["fail"])) == (scores["pass"], scores["warn"], scores["fail"])
    assert row["last change"][:4].isdigit()
    # double-click opens the job's review window
    win.table.cellDoubleClicked.emit(0, 0)
    assert len(win.windows) == 1 and win.windows[0].job_id == job
    qtbot.addWidget(win.windows[0])
    qtbot.waitUntil(win.windows[0].settled, timeout=120_000)


def test_record_colorspace_drives_the_display(qtbot: Any, review_job: tuple[str, Path]) -> None:
    job, out = review_job
    win = _open(qtbot, LocalClient(reviewer="kim"), job)
    default_a8 = win.viewer.bundle.a8.copy()
    assert win.viewer.bundle.a_lin.colorspace == "Linear Rec.709 (sRGB)"  # as the engine resolved it
    # pixel values under the cursor, in plate space (scene-linear, the plate's colourspace)
    pane = win.viewer.image_rect(win.viewer.panes()[1])
    pos = QPointF(pane.left() + pane.width() * 0.25, pane.top() + pane.height() * 0.75)
    QApplication.sendEvent(win.viewer, QMouseEvent(QEvent.MouseMove, pos, Qt.NoButton, Qt.NoButton, Qt.NoModifier))
    text = win.pixel_label.text()
    x, y = (float(v) for v in text.split()[1:4:2])
    assert abs(x - 480 * 0.25) <= 1.5 and abs(y - 270 * 0.75) <= 1.5, text
    plate_px = win.viewer.bundle.a_lin.pixels[int(y), int(x)].astype(float)
    assert f"A {plate_px[0]:.4f} {plate_px[1]:.4f} {plate_px[2]:.4f}" in text and "(Linear Rec.709 (sRGB))" in text
    win.close()
    # a record that names its plate colourspace and OCIO config (record schema 2 'colorspace')
    for f in FRAMES:
        p = out / "records" / f"{f}.json"
        rec = json.loads(p.read_text())
        rec["colorspace"] = {"plate": "ACEScg", "source": "job", "config": "ocio://cg-config-latest", "working": "sRGB - Texture"}
        p.write_text(json.dumps(rec))
    win = _open(qtbot, LocalClient(reviewer="kim", proxy_cache=out.parent / "cache2"), job)
    assert win.pipe.color.config_name == "ocio://cg-config-latest"
    assert win.viewer.bundle.a_lin.colorspace == "ACEScg" and win.viewer.bundle.b_lin.colorspace == "ACEScg"
    # the same pixels read as ACEScg look different (wider primaries: more saturated) than as linear Rec.709
    assert np.abs(win.viewer.bundle.a8.astype(int) - default_a8.astype(int)).mean() > 2
    win.close()


def test_variant_take_and_playback(qtbot: Any, review_job: tuple[str, Path]) -> None:
    job, out = review_job
    win = _open(qtbot, LocalClient(reviewer="dir"), job)
    # J/K/L: play forwards to the end, stop, play backwards
    qtbot.keyClick(win, Qt.Key_L)
    qtbot.waitUntil(lambda: win.frame == 1003, timeout=30_000)
    qtbot.keyClick(win, Qt.Key_K)
    assert win._play == 0
    qtbot.keyClick(win, Qt.Key_J)
    qtbot.waitUntil(lambda: win.frame == 1001, timeout=30_000)
    qtbot.keyClick(win, Qt.Key_K)
    # a settings variant of the whole shot, run as a take for a director's choice
    win.variant(["mask_blur=40", "color_strength=0.3"])
    qtbot.waitUntil(lambda: win.reprocessing is None and win.settled(), timeout=300_000)
    assert win.last_error == ""
    t2 = next(t for t in _store().takes(job) if t["take"] == 2)
    assert t2["overrides"] == {"mask_blur": 40, "color_strength": 0.3} and t2["frames"]["done"] == 3
    rec = json.loads((out / "takes" / "t002" / "records" / "1002.json").read_text())
    assert rec["settings"]["mask_blur"] == 40
    assert (win.a_choice, win.b_choice) == ("take 1", "take 2")
    win.goto_frame(1002)
    _idle(qtbot, win)
    b = win.viewer.bundle
    assert (b.key.a.take, b.key.b.take) == (1, 2) and int(b.diff8.max()) > 0  # the variants differ
    win.set_sources("take 1", "take 1")
    _idle(qtbot, win)
    assert int(win.viewer.bundle.diff8.max()) == 0  # and a take against itself does not
    # the director picks take 1 for the whole shot
    win.select_range(1001, 1003)
    qtbot.keyClick(win, Qt.Key_A)
    _idle(qtbot, win)
    assert {f: a["take"] for f, a in _store().approvals(job).items()} == {1001: 1, 1002: 1, 1003: 1}
    bad = win.last_error
    win.variant(["oops"])
    assert win.last_error != bad and "--set 'oops'" in win.last_error
