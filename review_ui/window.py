"""The review window: viewer, timeline, decisions. Keyboard first (RV/DJV habits).

Keys: ←/→ step, Home/End first/last, J/K/L play back/stop/forward, [ ] previous/next
flagged frame, space flip A/B, F flag (note; strokes drawn go with it), Shift+F
unflag, R reference, A approve, X reject, D draw strokes, O overlays, 0 fit,
1 one-to-one, M cycles modes, Shift-click on the timeline selects a range.

Every client call runs on a worker thread (:class:`Calls`); results come back
through queued signals, so nothing here waits on disk, network or a reprocess.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from PyQt5.QtCore import QObject, Qt, QTimer, pyqtSignal
from PyQt5.QtGui import QKeySequence
from PyQt5.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFrame,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QShortcut,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from recast.review_ui.client import ReviewClient
from recast.review_ui.display import CHANNELS, DisplayPipeline, DisplaySettings
from recast.review_ui.loader import Bundle, FrameKey, FrameLoader, Source
from recast.review_ui.timeline import MetricPlot, ScoreStrip, StripData
from recast.review_ui.viewer import MODES, Viewer

PLOT_METRICS = ("ssim_face", "lpips", "id_actor", "id_plate", "landmark_jitter", "flicker")


class Calls(QObject):
    """Run client calls on threads; hand results back on the UI thread."""

    _done = pyqtSignal(object, object)
    _error = pyqtSignal(object, str)

    def __init__(self) -> None:
        super().__init__()
        self._n = 0
        self._lock = threading.Lock()
        self._done.connect(self._finish)
        self._error.connect(self._finish)

    def _finish(self, cb: Callable[[Any], None] | None, value: Any) -> None:
        """On the UI thread: the callback first, then the call stops counting as busy."""
        try:
            if cb is not None:
                cb(value)
        finally:
            with self._lock:
                self._n -= 1

    def busy(self) -> bool:
        with self._lock:
            return self._n > 0

    def run(self, fn: Callable[[], Any], on_done: Callable[[Any], None] | None = None,
            on_error: Callable[[str], None] | None = None) -> None:
        with self._lock:
            self._n += 1

        def work() -> None:
            try:
                res = fn()
            except Exception as exc:  # noqa: BLE001 - every failure reaches the status bar as one line
                from recast.pipeline.errors import RecastError

                msg = str(exc) if isinstance(exc, RecastError) else f"internal error {type(exc).__name__}: {' '.join(str(exc).split())}"
                self._error.emit(on_error, msg)
            else:
                self._done.emit(on_done, res)

        threading.Thread(target=work, name="recast-review-call", daemon=True).start()


class ReviewWindow(QMainWindow):
    frame_shown = pyqtSignal(int)
    message = pyqtSignal(str)
    reprocess_progress = pyqtSignal(int, int, int)  # take, done, total
    reprocess_done = pyqtSignal(int, str)  # take, error ("" when fine)

    def __init__(self, client: ReviewClient, job_id: str, pipe: DisplayPipeline | None = None, max_side: int = 2048) -> None:
        super().__init__()
        self.client, self.job_id = client, job_id
        self.pipe = pipe or DisplayPipeline()
        self.calls = Calls()
        self.loader = FrameLoader(client, job_id, self.pipe, max_side=max_side)
        self.loader.ready.connect(self._on_ready)
        self.loader.failed.connect(self._on_failed)
        self.frames: list[int] = []
        self.index = 0
        self.job: dict[str, Any] = {}
        self.state: dict[str, Any] = {}
        self.qc: dict[int, dict[str, Any]] = {}
        self.settings = DisplaySettings()
        self.a_choice, self.b_choice = "plate", "current"
        self.selection: tuple[int, int] | None = None
        self.last_reference: int | None = None
        self.last_publish: dict[str, Any] | None = None
        self.last_error = ""
        self.reprocessing: int | None = None
        self._anchor: int | None = None
        self._play = 0
        self._loaded = False
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._tick)
        self._build()
        self._keys()
        self.message.connect(self.statusBar().showMessage)
        self.reprocess_progress.connect(self._on_progress)
        self.reprocess_done.connect(self._on_reprocessed)
        self.setWindowTitle(f"Recast review — {job_id} ({client.where}) — {client.reviewer}")
        self.reload()

    # -- layout ----------------------------------------------------------------------------
    def _combo(self, items: list[str], slot: Callable[[str], None], tip: str) -> QComboBox:
        c = QComboBox()
        c.addItems(items)
        c.setFocusPolicy(Qt.NoFocus)
        c.setToolTip(tip)
        c.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        c.setMinimumContentsLength(6)
        c.setMaximumWidth(220)
        c.currentTextChanged.connect(slot)
        return c

    def _spin(self, lo: float, hi: float, value: float, step: float, slot: Callable[[float], None], tip: str) -> QDoubleSpinBox:
        s = QDoubleSpinBox()
        s.setRange(lo, hi)
        s.setSingleStep(step)
        s.setValue(value)
        s.setDecimals(2)
        s.setToolTip(tip)
        s.setFocusPolicy(Qt.ClickFocus)
        s.valueChanged.connect(slot)
        return s

    def _button(self, text: str, slot: Callable[[], None]) -> QPushButton:
        b = QPushButton(text)
        b.setFocusPolicy(Qt.NoFocus)
        b.clicked.connect(slot)
        return b

    def _build(self) -> None:
        central = QWidget()
        root = QVBoxLayout(central)
        root.setContentsMargins(4, 4, 4, 4)
        bar = QHBoxLayout()
        self.mode_box = self._combo(list(MODES), self.set_mode, "view mode (M cycles)")
        self.a_box = self._combo(["plate"], lambda t: self._set_choice("a", t), "A source")
        self.b_box = self._combo(["current"], lambda t: self._set_choice("b", t), "B source (current = approved or newest take)")
        displays = self.pipe.displays()
        self.display_box = self._combo(displays, self._set_display, "OCIO display")
        self.display_box.setCurrentText(self.pipe.color.display)
        self.view_box = self._combo(self.pipe.views(self.pipe.color.display), self._set_view, "OCIO view")
        self.view_box.setCurrentText(self.pipe.color.view)
        self.exposure = self._spin(-10, 10, 0.0, 0.5, lambda v: self._set(exposure=v), "exposure (stops)")
        self.gamma = self._spin(0.2, 4.0, 1.0, 0.1, lambda v: self._set(gamma=v), "gamma")
        self.gain = self._spin(1, 64, 4.0, 1.0, lambda v: self._set(gain=v), "difference gain")
        self.channel_box = self._combo(list(CHANNELS), lambda t: self._set(channel=t), "channels")
        self.overlay_box = QCheckBox("overlay")
        self.overlay_box.setFocusPolicy(Qt.NoFocus)
        self.overlay_box.toggled.connect(self._set_overlay)
        self.draw_box = QCheckBox("draw")
        self.draw_box.setFocusPolicy(Qt.NoFocus)
        self.draw_box.toggled.connect(self._set_annotate)
        bar2 = QHBoxLayout()
        for row, items in ((bar, (("mode", self.mode_box), ("A", self.a_box), ("B", self.b_box), ("gain", self.gain))),
                           (bar2, (("display", self.display_box), ("view", self.view_box), ("exposure", self.exposure),
                                   ("gamma", self.gamma), ("channels", self.channel_box)))):
            for label, w in items:
                row.addWidget(QLabel(label))
                row.addWidget(w)
        bar.addWidget(self.overlay_box)
        bar.addWidget(self.draw_box)
        bar.addWidget(self._button("fit (0)", self.fit))
        bar.addWidget(self._button("1:1 (1)", self.one_to_one))
        bar.addStretch(1)
        bar2.addStretch(1)
        root.addLayout(bar)
        root.addLayout(bar2)

        body = QHBoxLayout()
        self.viewer = Viewer()
        self.viewer.hovered.connect(self._on_hover)
        body.addWidget(self.viewer, 1)
        side = QVBoxLayout()
        self.info = QLabel("")
        self.info.setWordWrap(True)
        self.info.setTextFormat(Qt.RichText)
        self.info.setAlignment(Qt.AlignTop | Qt.AlignLeft)
        self.info.setMinimumWidth(260)
        self.info.setMaximumWidth(300)
        self.info.setFrameShape(QFrame.StyledPanel)
        side.addWidget(self.info, 1)
        for text, slot in (("Flag… (F)", self.flag_dialog), ("Unflag (Shift+F)", self.unflag), ("Reference (R)", self.set_reference),
                           ("Approve (A)", lambda: self.approve("approved")), ("Reject (X)", lambda: self.approve("rejected")),
                           ("Reprocess flagged against reference", self.reprocess_flagged),
                           ("Variant take… (settings)", self.variant_dialog), ("Publish approved", self.publish)):
            side.addWidget(self._button(text, slot))
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        side.addWidget(self.progress)
        self.publish_label = QLabel("")
        self.publish_label.setWordWrap(True)
        self.publish_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.publish_label.setMaximumWidth(300)
        side.addWidget(self.publish_label)
        body.addLayout(side)
        root.addLayout(body, 1)

        self.slider = QSlider(Qt.Horizontal)
        self.slider.setFocusPolicy(Qt.NoFocus)
        self.slider.valueChanged.connect(lambda i: self.goto_index(i) if i != self.index else None)
        root.addWidget(self.slider)
        self.strip = ScoreStrip()
        self.strip.frame_clicked.connect(self._on_strip)
        root.addWidget(self.strip)
        plot_bar = QHBoxLayout()
        self.metric_box = self._combo([], lambda _t: self._update_plot(), "metric plotted")
        self.metric_box.setMinimumWidth(140)
        plot_bar.addWidget(self.metric_box)
        self.plot = MetricPlot()
        self.plot.frame_clicked.connect(self._on_strip)
        plot_bar.addWidget(self.plot, 1)
        root.addLayout(plot_bar)
        self.setCentralWidget(central)
        self.pixel_label = QLabel("")
        self.statusBar().addPermanentWidget(self.pixel_label)
        self.resize(1500, 950)

    def _keys(self) -> None:
        for key, slot in (
            (Qt.Key_Right, lambda: self.step(1)), (Qt.Key_Left, lambda: self.step(-1)),
            (Qt.Key_Home, lambda: self.goto_index(0)), (Qt.Key_End, lambda: self.goto_index(len(self.frames) - 1)),
            (Qt.Key_J, lambda: self.play(-1)), (Qt.Key_K, lambda: self.play(0)), (Qt.Key_L, lambda: self.play(1)),
            (Qt.Key_BracketLeft, lambda: self.next_flag(-1)), (Qt.Key_BracketRight, lambda: self.next_flag(1)),
            (Qt.Key_Space, self.flip), (Qt.Key_F, self.flag_dialog), (Qt.SHIFT + Qt.Key_F, self.unflag),
            (Qt.Key_R, self.set_reference), (Qt.Key_A, lambda: self.approve("approved")),
            (Qt.Key_X, lambda: self.approve("rejected")), (Qt.Key_D, lambda: self.draw_box.toggle()),
            (Qt.Key_O, lambda: self.overlay_box.toggle()), (Qt.Key_0, self.fit), (Qt.Key_1, self.one_to_one),
            (Qt.Key_M, self.cycle_mode),
        ):
            sc = QShortcut(QKeySequence(key), self)
            sc.setContext(Qt.WindowShortcut)
            sc.activated.connect(slot)

    # -- data --------------------------------------------------------------------------------
    def reload(self, then: Callable[[], None] | None = None) -> None:
        """Fetch job, decisions and every take's QC on a worker, then refresh the timeline."""

        def fetch() -> tuple[dict[str, Any], dict[str, Any], dict[int, dict[str, Any]], DisplayPipeline | None]:
            job = self.client.job(self.job_id)
            state = self.client.state(self.job_id)
            qc = {int(t["take"]): self.client.qc(self.job_id, int(t["take"])) for t in job["takes"]}
            return job, state, qc, self._record_pipeline(state)

        def apply(res: tuple[dict[str, Any], dict[str, Any], dict[int, dict[str, Any]], DisplayPipeline | None]) -> None:
            self.job, self.state, self.qc, pipe = res
            if pipe is not None:
                self._use_pipeline(pipe)
            first = not self.frames
            self.frames = [int(f) for f in self.state["frames"]]
            self.slider.setRange(0, max(0, len(self.frames) - 1))
            takes = [int(t["take"]) for t in self.job["takes"]]
            self._fill(self.a_box, ["plate", "current"] + [f"take {t}" for t in takes], self.a_choice)
            self._fill(self.b_box, ["current", "plate"] + [f"take {t}" for t in takes], self.b_choice)
            metrics = sorted({m for q in self.qc.values() for m in q.get("metrics", {})},
                             key=lambda m: (PLOT_METRICS.index(m) if m in PLOT_METRICS else 99, m))
            self._fill(self.metric_box, metrics, self.metric_box.currentText() or (metrics[0] if metrics else ""))
            self.loader.forget_take()
            self._loaded = True
            self.goto_index(min(self.index, max(0, len(self.frames) - 1)) if not first else 0)
            if then is not None:
                then()

        self.calls.run(fetch, apply, self._error)

    def _record_pipeline(self, state: dict[str, Any]) -> DisplayPipeline | None:
        """The OCIO config the frame records name (``colorspace.config``), when it is not the one in use (worker)."""
        frames = state.get("frames") or []
        if not frames or self._loaded:
            return None
        rec = self.client.record(self.job_id, int(frames[0]), 1) or {}
        cs = rec.get("colorspace")
        config = cs.get("config") if isinstance(cs, dict) else None
        if not isinstance(config, str) or not config or config == self.pipe.color.config_name:
            return None
        from recast.pipeline.errors import ColorError

        try:
            return DisplayPipeline(config)
        except ColorError as exc:
            self.message.emit(f"display: the records' OCIO config is not usable here ({exc}); showing {self.pipe.color.config_name}")
            return None

    def _use_pipeline(self, pipe: DisplayPipeline) -> None:
        self.pipe = pipe
        self.loader.pipe = pipe
        self.loader.forget_take()
        self._fill(self.display_box, pipe.displays(), pipe.color.display)
        self._fill(self.view_box, pipe.views(pipe.color.display), pipe.color.view)
        self.settings = DisplaySettings(**{**self.settings.__dict__, "display": None, "view": None})

    def _fill(self, box: QComboBox, items: list[str], keep: str) -> None:
        box.blockSignals(True)
        box.clear()
        box.addItems(items)
        if keep in items:
            box.setCurrentText(keep)
        box.blockSignals(False)

    @property
    def frame(self) -> int | None:
        return self.frames[self.index] if self.frames else None

    def takes_of(self, frame: int) -> list[int]:
        return [int(t) for t in (self.state.get("takes") or {}).get(str(frame), [])]

    def current_take(self, frame: int) -> int:
        ap = (self.state.get("approvals") or {}).get(str(frame))
        if ap and ap.get("state") == "approved":
            return int(ap["take"])
        takes = self.takes_of(frame)
        return max(takes) if takes else 1

    def source(self, choice: str, frame: int) -> Source:
        if choice == "plate":
            return Source("plate", 1)
        if choice.startswith("take "):
            t = int(choice.split()[1])
            if t in self.takes_of(frame):
                return Source("comp", t)
        return Source("comp", self.current_take(frame))

    def key_for(self, frame: int) -> FrameKey:
        return FrameKey(frame, self.source(self.a_choice, frame), self.source(self.b_choice, frame), self.settings)

    def selected_frames(self) -> list[int]:
        if self.selection is not None:
            lo, hi = self.selection
            return [f for f in self.frames if lo <= f <= hi]
        return [self.frame] if self.frame is not None else []

    def flagged(self) -> list[int]:
        return sorted({int(fl["frame"]) for fl in self.state.get("flags") or []} & set(self.frames))

    # -- navigation ------------------------------------------------------------------------
    def goto_index(self, i: int) -> None:
        if not self.frames:
            return
        self.index = int(min(len(self.frames) - 1, max(0, i)))
        f = self.frames[self.index]
        self.slider.blockSignals(True)
        self.slider.setValue(self.index)
        self.slider.blockSignals(False)
        key = self.key_for(f)
        bundle = self.loader.cached(key)
        if bundle is not None:
            self._show(bundle)
        else:
            self.viewer.loading = True
            self.viewer.update()
            self.loader.request(key, 0)
        direction = self._play or 1
        for k, d in enumerate((direction, -direction, 2 * direction), start=1):
            j = self.index + d
            if 0 <= j < len(self.frames):
                self.loader.request(self.key_for(self.frames[j]), k)
        self._refresh_panel()

    def goto_frame(self, frame: int) -> None:
        if frame in self.frames:
            self.goto_index(self.frames.index(frame))

    def step(self, d: int) -> None:
        self.goto_index(self.index + d)

    def play(self, direction: int) -> None:
        self._play = direction
        if direction:
            self._timer.start(int(1000 / 24))
        else:
            self._timer.stop()

    def _tick(self) -> None:
        nxt = self.index + self._play
        if not 0 <= nxt < len(self.frames):
            self.play(0)
            return
        self.goto_index(nxt)

    def next_flag(self, d: int) -> None:
        f = self.frame
        if f is None:
            return
        cands = [x for x in self.flagged() if (x > f if d > 0 else x < f)]
        if cands:
            self.goto_frame(min(cands) if d > 0 else max(cands))

    def _show(self, bundle: Bundle) -> None:
        self.viewer.loading = False
        self.viewer.set_bundle(bundle)
        self.viewer.saved_strokes = [s for fl in self.state.get("flags") or [] if fl["frame"] == bundle.key.frame
                                     for s in fl.get("strokes") or []]
        self.frame_shown.emit(bundle.key.frame)

    def _on_ready(self, key: FrameKey) -> None:
        if self.frame is not None and key == self.key_for(self.frame):
            b = self.loader.cached(key)
            if b is not None:
                self._show(b)

    def _on_failed(self, key: FrameKey, msg: str) -> None:
        if self.frame is not None and key == self.key_for(self.frame):
            self.viewer.loading = False
            self.viewer.message = msg
            self.viewer.set_bundle(None)
            self._error(msg)

    # -- view controls ---------------------------------------------------------------------
    def set_mode(self, mode: str) -> None:
        self.viewer.set_mode(mode)
        if self.mode_box.currentText() != mode:
            self.mode_box.setCurrentText(mode)

    def cycle_mode(self) -> None:
        self.set_mode(MODES[(MODES.index(self.viewer.mode) + 1) % len(MODES)])

    def flip(self) -> None:
        if self.viewer.mode != "flip":
            self.set_mode("flip")
            self.viewer.show_b = False
        else:
            self.viewer.show_b = not self.viewer.show_b
        self.viewer.update()

    def fit(self) -> None:
        self.viewer.fit()

    def one_to_one(self) -> None:
        self.viewer.one_to_one()

    def _set(self, **kw: Any) -> None:
        self.settings = DisplaySettings(**{**self.settings.__dict__, **kw})
        self.goto_index(self.index)

    def _set_display(self, display: str) -> None:
        views = self.pipe.views(display)
        self._fill(self.view_box, views, views[0] if views else "")
        self._set(display=display, view=self.view_box.currentText() or None)

    def _set_view(self, view: str) -> None:
        if view:
            self._set(view=view)

    def _set_choice(self, side: str, text: str) -> None:
        if not text:
            return
        if side == "a":
            self.a_choice = text
        else:
            self.b_choice = text
        self.goto_index(self.index)

    def set_sources(self, a: str, b: str) -> None:
        """Pick what A and B show: ``plate``, ``current`` or ``take N``."""
        self.a_choice, self.b_choice = a, b
        self._fill(self.a_box, [self.a_box.itemText(i) for i in range(self.a_box.count())], a)
        self._fill(self.b_box, [self.b_box.itemText(i) for i in range(self.b_box.count())], b)
        self.goto_index(self.index)

    def _set_overlay(self, on: bool) -> None:
        self.viewer.overlay = on
        self.viewer.update()

    def _set_annotate(self, on: bool) -> None:
        self.viewer.annotate = on
        self.viewer.update()

    def _on_strip(self, frame: int, shift: bool) -> None:
        if shift:
            anchor = self._anchor if self._anchor is not None else (self.frame if self.frame is not None else frame)
            self.selection = (min(anchor, frame), max(anchor, frame))
        else:
            self.selection = None
            self._anchor = frame
        self.goto_frame(frame)

    def select_range(self, lo: int, hi: int) -> None:
        self.selection = (min(lo, hi), max(lo, hi))
        self._refresh_panel()

    def _on_hover(self, x: float, y: float) -> None:
        b = self.viewer.bundle
        if b is None:
            return
        parts = [f"x {x:.0f}  y {y:.0f}"]
        for name, prox in (("A", b.a_lin), ("B", b.b_lin)):
            ix, iy = int((x - prox.display_window[0]) * prox.scale), int((y - prox.display_window[1]) * prox.scale)
            h, w = prox.pixels.shape[:2]
            if 0 <= ix < w and 0 <= iy < h:
                v = prox.pixels[iy, ix].astype(float)
                parts.append(f"{name} " + " ".join(f"{c:.4f}" for c in v[:4]))
        parts.append(f"({b.space})")
        self.pixel_label.setText("   ".join(parts))

    # -- panel -----------------------------------------------------------------------------
    def _refresh_panel(self) -> None:
        f = self.frame
        if f is None:
            return
        take = self.source(self.b_choice, f).take
        q = (self.qc.get(take) or {}).get("frames", {}).get(str(f), {})
        flags = [fl for fl in self.state.get("flags") or [] if fl["frame"] == f]
        ap = (self.state.get("approvals") or {}).get(str(f))
        refs = self.state.get("references") or []
        sel = f"{self.selection[0]}–{self.selection[1]}" if self.selection else "—"
        lines = [
            f"<b>frame {f}</b> ({self.index + 1}/{len(self.frames)})",
            f"shot {self.job.get('shot', '')} · job {self.job_id}",
            f"B take {take} (takes done: {', '.join(map(str, self.takes_of(f))) or 'none'})",
            f"QC: <b>{q.get('status', 'n/a')}</b> " + "; ".join(q.get("reasons") or []),
            f"reference: {', '.join(map(str, refs)) or 'none'}" + (" <b>(this frame)</b>" if f in refs else ""),
            f"approval: {ap['state']} take {ap['take']} by {ap['by']}" if ap else "approval: none",
            f"selection: {sel}",
            f"pending strokes: {len(self.viewer.pending)}",
        ]
        for fl in flags:
            kind = "auto" if fl["source"] == "auto" else f"{fl.get('author') or ''}"
            note = fl.get("note") or fl.get("reason") or ""
            lines.append(f"⚑ <i>{kind}</i>: {note[:160]}" + (f" ({len(fl['strokes'])} strokes)" if fl.get("strokes") else ""))
        self.info.setText("<br>".join(lines))
        self.viewer.saved_strokes = [s for fl in flags for s in fl.get("strokes") or []]
        self.viewer.update()
        self.strip.current = f
        self.strip.selection = self.selection
        self.strip.set_data(self._strip_data())
        self.plot.current = f
        self._update_plot()

    def _strip_data(self) -> StripData:
        d = StripData(frames=list(self.frames))
        for f in self.frames:
            take = self.source(self.b_choice, f).take
            d.status[f] = ((self.qc.get(take) or {}).get("frames", {}).get(str(f)) or {}).get("status", "na")
            d.takes[f] = len(self.takes_of(f))
        for fl in self.state.get("flags") or []:
            f = int(fl["frame"])
            if fl["source"] == "auto":
                if fl.get("take") in (None, self.source(self.b_choice, f).take):
                    d.auto.add(f)
            else:
                d.reviewer.add(f)
        d.references = {int(r) for r in self.state.get("references") or []}
        d.approvals = {int(k): v["state"] for k, v in (self.state.get("approvals") or {}).items()}
        return d

    def _update_plot(self) -> None:
        name = self.metric_box.currentText()
        vals: dict[int, float | None] = {}
        status: dict[int, str] = {}
        info: dict[str, Any] = {}
        for f in self.frames:
            take = self.source(self.b_choice, f).take
            q = self.qc.get(take) or {}
            row = q.get("frames", {}).get(str(f)) or {}
            vals[f] = (row.get("values") or {}).get(name)
            status[f] = row.get("status", "na")
            info = info or (q.get("metrics") or {}).get(name) or {}
        self.plot.set_series(name, str(info.get("label") or ""), list(self.frames), vals, status, info.get("warn"), info.get("fail"))

    # -- decisions -------------------------------------------------------------------------
    def _error(self, msg: str) -> None:
        self.last_error = msg
        self.message.emit(f"error: {msg}")

    def _after(self, text: str) -> Callable[[Any], None]:
        def done(_res: Any) -> None:
            self.message.emit(text)
            self.reload()

        return done

    def flag_dialog(self) -> None:
        frames = self.selected_frames()
        if not frames:
            return
        note, ok = QInputDialog.getMultiLineText(self, "Flag", f"Note for frame(s) {frames[0]}–{frames[-1]}:")
        if ok:
            self.flag(note)

    def flag(self, note: str | None, frames: list[int] | None = None) -> None:
        """Flag the selection (or ``frames``) with ``note``; strokes drawn on this frame go with its flag."""
        frames = frames or self.selected_frames()
        f = self.frame
        if not frames or f is None:
            return
        strokes = list(self.viewer.pending)
        take = self.source(self.b_choice, f).take
        here = [f] if f in frames else frames[:1]
        rest = [x for x in frames if x not in here]

        def work() -> list[int]:
            ids = self.client.flag(self.job_id, here, note, strokes or None, take)
            if rest:
                ids += self.client.flag(self.job_id, rest, note, None, take)
            return ids

        self.viewer.pending = []
        self.calls.run(work, self._after(f"flagged {len(frames)} frame(s)"), self._error)

    def unflag(self, frames: list[int] | None = None) -> None:
        frames = frames or self.selected_frames()
        ids = [int(fl["id"]) for fl in self.state.get("flags") or [] if fl["source"] == "reviewer" and fl["frame"] in frames]
        if not ids:
            self.message.emit("no reviewer flag here (QC auto flags change only when QC rescores)")
            return
        self.calls.run(lambda: self.client.unflag(self.job_id, ids), self._after(f"removed {len(ids)} flag(s)"), self._error)

    def set_reference(self) -> None:
        f = self.frame
        if f is None:
            return
        self.last_reference = f
        self.calls.run(lambda: self.client.set_reference(self.job_id, f), self._after(f"reference frame {f}"), self._error)

    def approve(self, state: str = "approved") -> None:
        frames = self.selected_frames()
        if not frames:
            return
        # B names a take: frames that have it get it; the others keep their current take
        take = int(self.b_choice.split()[1]) if self.b_choice.startswith("take ") else None
        at_take = [f for f in frames if take is not None and take in self.takes_of(f)]
        current = [f for f in frames if f not in at_take]

        def work() -> dict[int, int]:
            picks: dict[int, int] = {}
            if at_take:
                picks |= self.client.approve(self.job_id, at_take, take, state)
            if current:
                picks |= self.client.approve(self.job_id, current, None, state)
            return picks

        self.calls.run(work, self._after(f"{state} {len(frames)} frame(s)" + (f" at take {take}" if at_take else "")), self._error)

    def variant_dialog(self) -> None:
        text, ok = QInputDialog.getText(self, "Variant take", "Settings for a take of every frame (key=value …), e.g. mask_blur=20 color_strength=0.5:")
        if ok and text.strip():
            self.variant(text.split())

    def variant(self, settings: list[str], frames: list[int] | None = None) -> None:
        """The whole shot (or ``frames``) again as a new take with other settings: a variant to A/B for a director."""
        from recast.pipeline.errors import RecastError
        from recast.pipeline.jobs.reprocess import parse_overrides

        try:
            overrides = parse_overrides(settings)
        except RecastError as exc:
            self._error(str(exc))
            return
        self.reprocess_flagged(frames or list(self.frames), None, overrides)

    def reprocess_flagged(self, frames: list[int] | None = None, reference: int | None = None,
                          overrides: dict[str, Any] | None = None) -> None:
        """A new take of the flagged frames (or the selection) against the reference; progress in the panel."""
        if self.reprocessing is not None:
            self.message.emit(f"take {self.reprocessing} is still running")
            return
        frames = frames or (self.selected_frames() if self.selection else self.flagged())
        refs = self.state.get("references") or []
        ref = reference if reference is not None else (self.last_reference if self.last_reference is not None else (refs[-1] if refs else None))
        if overrides:
            ref = reference  # a variant is the shot under other settings, not a fix anchored to a frame
        if not frames:
            self.message.emit("nothing flagged to reprocess (flag frames with F, or select a range)")
            return
        if not overrides:
            frames = [f for f in frames if f != ref] or frames
        self.progress.setVisible(True)
        self.progress.setRange(0, len(frames))
        self.progress.setValue(0)
        self.reprocessing = -1

        def work() -> None:
            take = self.client.reprocess(self.job_id, frames, ref, overrides)
            self.reprocessing = take
            while True:
                p = self.client.progress(self.job_id, take)
                self.reprocess_progress.emit(take, p.done + p.failed, p.total)
                if p.finished:
                    self.reprocess_done.emit(take, p.error or "")
                    return
                time.sleep(0.25)

        def failed(msg: str) -> None:
            self.reprocessing = None
            self.progress.setVisible(False)
            self._error(msg)

        self.calls.run(work, None, failed)
        self.message.emit(f"reprocessing {len(frames)} frame(s) against reference {ref}…")

    def _on_progress(self, take: int, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.progress.setFormat(f"take {take}: {done}/{total}")

    def _on_reprocessed(self, take: int, error: str) -> None:
        self.reprocessing = None
        self.progress.setVisible(False)
        prev = max([t for t in (int(x["take"]) for x in self.job.get("takes") or []) if t < take], default=1)

        def then() -> None:
            self.set_sources(f"take {prev}", f"take {take}")  # the new take beside the old one
            self.message.emit(f"take {take} done" + (f" ({error})" if error else ""))

        if error:
            self._error(error)
        self.reload(then)

    def publish(self) -> None:
        def done(m: dict[str, Any]) -> None:
            self.last_publish = m
            self.publish_label.setText(f"published <b>{m['version']}</b>: {m['path']} ({m['approved']} approved, {m['filled']} plate)")
            self.message.emit(f"published {m['version']} at {m['path']}")
            self.reload()

        self.calls.run(lambda: self.client.publish(self.job_id), done, self._error)

    # -- tests and screenshots -------------------------------------------------------------
    def settled(self) -> bool:
        """Nothing loading or waiting and the current frame on screen."""
        f = self.frame
        return (self._loaded and not self.calls.busy() and self.reprocessing is None and f is not None
                and self.viewer.bundle is not None and self.viewer.bundle.key == self.key_for(f))

    def closeEvent(self, e: Any) -> None:  # noqa: N802
        self._timer.stop()
        self.loader.shutdown()
        super().closeEvent(e)
