"""Starting the review app: the job list, a job's window, offscreen screenshots."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from recast.pipeline.errors import JobError
from recast.review_ui.client import ReviewClient


def qt_app(offscreen: bool = False) -> Any:
    """The QApplication (created once); ``offscreen`` when there is no display to draw on."""
    if offscreen or (not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY") and sys.platform.startswith("linux")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PyQt5.QtCore import QtMsgType, qInstallMessageHandler
    from PyQt5.QtWidgets import QApplication

    def quiet(kind: Any, _ctx: Any, msg: str) -> None:
        # Qt's platform chatter (no XDG_RUNTIME_DIR, offscreen size hints) is not the user's business;
        # real failures still reach stderr
        if kind in (QtMsgType.QtCriticalMsg, QtMsgType.QtFatalMsg) or os.environ.get("RECAST_QT_DEBUG"):
            print(f"qt: {msg}", file=sys.stderr)

    app = QApplication.instance()
    if app is None:
        qInstallMessageHandler(quiet)
        app = QApplication(["recast-review"])
        app.setApplicationName("Recast review")
    return app


def wait_until(app: Any, cond: Any, timeout: float = 120.0, what: str = "the review window") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise JobError(f"{what}: not ready within {timeout:.0f}s")
        app.processEvents()
        time.sleep(0.01)


def job_list(client: ReviewClient) -> Any:
    """A window listing recent jobs (shot, actor, status, pass/warn/fail, last change); double-click opens one."""
    from PyQt5.QtCore import Qt
    from PyQt5.QtWidgets import QLabel, QMainWindow, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

    from recast.review_ui.window import Calls

    win = QMainWindow()
    win.setWindowTitle(f"Recast review — jobs ({client.where})")
    central = QWidget()
    lay = QVBoxLayout(central)
    note = QLabel("loading jobs…")
    lay.addWidget(note)
    cols = ("job", "shot", "actor", "status", "pass", "warn", "fail", "last change")
    table = QTableWidget(0, len(cols))
    table.setHorizontalHeaderLabels(cols)
    table.setEditTriggers(QTableWidget.NoEditTriggers)
    table.setSelectionBehavior(QTableWidget.SelectRows)
    lay.addWidget(table)
    win.setCentralWidget(central)
    win.resize(1000, 500)
    win.calls = Calls()  # type: ignore[attr-defined]
    win.table = table  # type: ignore[attr-defined]
    win.windows = []  # type: ignore[attr-defined]

    def fill(rows: list[Any]) -> None:
        table.setRowCount(len(rows))
        for i, r in enumerate(rows):
            for j, v in enumerate((r.id, r.shot, r.actor, r.status, r.counts.get("pass", 0), r.counts.get("warn", 0),
                                   r.counts.get("fail", 0), r.updated.replace("T", " ")[:19])):
                item = QTableWidgetItem(str(v))
                if j >= 4 and j <= 6:
                    item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                table.setItem(i, j, item)
        table.resizeColumnsToContents()
        note.setText(f"{len(rows)} job(s) — double-click to review" if rows else "no jobs in this store")

    def open_row(row: int, _col: int) -> None:
        from recast.review_ui.window import ReviewWindow

        job_id = table.item(row, 0).text()
        w = ReviewWindow(client, job_id)
        win.windows.append(w)  # type: ignore[attr-defined]
        w.show()

    table.cellDoubleClicked.connect(open_row)
    win.calls.run(client.jobs, fill, lambda msg: note.setText(f"error: {msg}"))  # type: ignore[attr-defined]
    return win


def screenshot(client: ReviewClient, job_id: str, png: Path, frame: int | None = None, mode: str = "side",
               size: tuple[int, int] = (1600, 1000), overlay: bool = False, timeout: float = 180.0) -> dict[str, Any]:
    """Open the window offscreen on ``frame``, render it to ``png``; returns where the panes are (window pixels)."""
    from recast.review_ui.viewer import MODES
    from recast.review_ui.window import ReviewWindow

    if mode not in MODES:
        raise JobError(f"--mode {mode!r}: not one of {', '.join(MODES)}")
    app = qt_app(offscreen=True)
    win = ReviewWindow(client, job_id)
    try:
        win.resize(*size)
        win.show()
        wait_until(app, lambda: win._loaded, timeout, f"job {job_id}")
        if frame is not None:
            if frame not in win.frames:
                raise JobError(f"--frame {frame}: not a frame of job {job_id} ({win.frames[0]}-{win.frames[-1]})")
            win.goto_frame(frame)
        win.set_mode(mode)
        if overlay:
            win.overlay_box.setChecked(True)
        wait_until(app, win.settled, timeout, f"job {job_id} frame {win.frame}")
        if win.viewer.bundle is None:
            raise JobError(f"job {job_id} frame {win.frame}: {win.last_error or 'no image'}")
        app.processEvents()
        image = win.grab()
        png.parent.mkdir(parents=True, exist_ok=True)
        if not image.save(str(png), "PNG"):
            raise JobError(f"{png}: cannot write the screenshot")
        off = win.viewer.mapTo(win, win.viewer.rect().topLeft())
        panes = []
        for p in win.viewer.panes():
            r = win.viewer.image_rect(p)
            panes.append({"pane": [p.x() + off.x(), p.y() + off.y(), p.width(), p.height()],
                          "image": [r.x() + off.x(), r.y() + off.y(), r.width(), r.height()]})
        b = win.viewer.bundle
        return {
            "platform": str(app.platformName()),
            "png": str(png), "job": job_id, "frame": win.frame, "mode": mode, "size": [image.width(), image.height()],
            "a": b.key.a.label, "b": b.key.b.label, "panes": panes,
            "proxy": {"scale": b.a_lin.scale, "display_window": list(b.a_lin.display_window)},
        }
    finally:
        win.close()
        app.processEvents()


def run_app(client: ReviewClient, job_id: str | None) -> int:
    """The event loop: a job's window, or the job list."""
    from recast.review_ui.window import ReviewWindow

    if (sys.platform.startswith("linux") and not os.environ.get("QT_QPA_PLATFORM")
            and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY")):
        raise JobError("no display to open a window on (DISPLAY is not set); use --screenshot PNG to render offscreen")
    app = qt_app()
    win = ReviewWindow(client, job_id) if job_id else job_list(client)
    win.show()
    return int(app.exec_())
