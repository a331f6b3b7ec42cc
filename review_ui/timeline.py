"""Timeline widgets: the score strip (one cell per frame) and the metric plot with its thresholds."""

from __future__ import annotations

from dataclasses import dataclass, field

from PyQt5.QtCore import QPointF, QRectF, Qt, pyqtSignal
from PyQt5.QtGui import QColor, QMouseEvent, QPainter, QPainterPath, QPaintEvent, QPen, QPolygonF
from PyQt5.QtWidgets import QSizePolicy, QWidget

STATUS_COLOUR = {"pass": QColor(60, 170, 90), "warn": QColor(230, 170, 40), "fail": QColor(220, 50, 50), "na": QColor(90, 90, 90)}
AUTO_COLOUR = QColor(255, 90, 90)
REVIEWER_COLOUR = QColor(255, 214, 10)
REFERENCE_COLOUR = QColor(90, 200, 255)


@dataclass
class StripData:
    frames: list[int] = field(default_factory=list)
    status: dict[int, str] = field(default_factory=dict)
    auto: set[int] = field(default_factory=set)
    reviewer: set[int] = field(default_factory=set)
    references: set[int] = field(default_factory=set)
    approvals: dict[int, str] = field(default_factory=dict)  # frame -> approved | rejected
    takes: dict[int, int] = field(default_factory=dict)  # frame -> number of finished takes


class ScoreStrip(QWidget):
    """Cells coloured pass/warn/fail; auto flags ▼ above (red), reviewer flags ◆ below (yellow),
    the reference frame outlined in blue with an R, approvals as a green/red bar, takes as dots."""

    frame_clicked = pyqtSignal(int, bool)  # frame, shift held

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.data = StripData()
        self.current: int | None = None
        self.selection: tuple[int, int] | None = None
        self.setMinimumHeight(46)
        self.setMaximumHeight(46)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
        self.setFocusPolicy(Qt.NoFocus)

    def set_data(self, data: StripData) -> None:
        self.data = data
        self.update()

    def cell(self, i: int) -> QRectF:
        n = max(1, len(self.data.frames))
        w = self.width() / n
        return QRectF(i * w, 10, max(1.0, w - (1 if w > 4 else 0)), 20)

    def paintEvent(self, _e: QPaintEvent) -> None:  # noqa: N802
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(32, 32, 34))
        d = self.data
        for i, f in enumerate(d.frames):
            r = self.cell(i)
            p.fillRect(r, STATUS_COLOUR.get(d.status.get(f, "na"), STATUS_COLOUR["na"]))
            cx = r.center().x()
            if f in d.auto:
                p.setPen(Qt.NoPen)
                p.setBrush(AUTO_COLOUR)
                p.drawPolygon(QPolygonF([QPointF(cx - 4, 1), QPointF(cx + 4, 1), QPointF(cx, 8)]))
            if f in d.reviewer:
                p.setPen(Qt.NoPen)
                p.setBrush(REVIEWER_COLOUR)
                p.drawPolygon(QPolygonF([QPointF(cx, 31), QPointF(cx + 4, 35), QPointF(cx, 39), QPointF(cx - 4, 35)]))
            if f in d.references:
                p.setPen(QPen(REFERENCE_COLOUR, 2))
                p.setBrush(Qt.NoBrush)
                p.drawRect(r.adjusted(1, 1, -1, -1))
                p.setPen(QColor(255, 255, 255))
                p.drawText(r, Qt.AlignCenter, "R")
            state = d.approvals.get(f)
            if state:
                p.fillRect(QRectF(r.left(), 42, r.width(), 4), QColor(60, 200, 90) if state == "approved" else QColor(230, 60, 60))
            for k in range(1, min(d.takes.get(f, 1), 4)):
                p.fillRect(QRectF(r.left() + 2 + 4 * (k - 1), 24, 3, 3), QColor(255, 255, 255))
        if self.selection is not None and d.frames:
            lo, hi = self.selection
            idx = [i for i, f in enumerate(d.frames) if lo <= f <= hi]
            if idx:
                a, b = self.cell(idx[0]), self.cell(idx[-1])
                p.fillRect(QRectF(a.left(), 8, b.right() - a.left(), 24), QColor(80, 140, 255, 90))
        if self.current in d.frames:
            r = self.cell(d.frames.index(self.current))
            p.setPen(QPen(QColor(255, 255, 255), 2))
            p.setBrush(Qt.NoBrush)
            p.drawRect(r.adjusted(-1, -2, 1, 2))
        p.end()

    def frame_at(self, x: float) -> int | None:
        if not self.data.frames:
            return None
        n = len(self.data.frames)
        i = int(min(n - 1, max(0, x / max(self.width(), 1) * n)))
        return self.data.frames[i]

    def mousePressEvent(self, e: QMouseEvent) -> None:  # noqa: N802
        f = self.frame_at(e.pos().x())
        if f is not None:
            self.frame_clicked.emit(f, bool(e.modifiers() & Qt.ShiftModifier))

    def mouseMoveEvent(self, e: QMouseEvent) -> None:  # noqa: N802
        if e.buttons() & Qt.LeftButton:
            f = self.frame_at(e.pos().x())
            if f is not None:
                self.frame_clicked.emit(f, True)


class MetricPlot(QWidget):
    """One metric over frames with its warn/fail thresholds and the current frame."""

    frame_clicked = pyqtSignal(int, bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.frames: list[int] = []
        self.values: dict[int, float | None] = {}
        self.status: dict[int, str] = {}
        self.name = ""
        self.label = ""
        self.warn: float | None = None
        self.fail: float | None = None
        self.current: int | None = None
        self.setMinimumHeight(90)
        self.setMaximumHeight(110)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
        self.setFocusPolicy(Qt.NoFocus)

    def set_series(self, name: str, label: str, frames: list[int], values: dict[int, float | None], status: dict[int, str],
                   warn: float | None, fail: float | None) -> None:
        self.name, self.label, self.frames, self.values, self.status, self.warn, self.fail = name, label, frames, values, status, warn, fail
        self.update()

    def _x(self, i: int) -> float:
        n = max(1, len(self.frames))
        return (i + 0.5) * self.width() / n

    def paintEvent(self, _e: QPaintEvent) -> None:  # noqa: N802
        p = QPainter(self)
        p.setRenderHint(QPainter.Antialiasing, True)
        p.fillRect(self.rect(), QColor(28, 28, 30))
        top, bottom = 16.0, self.height() - 6.0
        vals = [v for v in self.values.values() if v is not None]
        lims = vals + [t for t in (self.warn, self.fail) if t is not None]
        p.setPen(QColor(200, 200, 200))
        p.drawText(QRectF(6, 0, self.width() - 12, 16), Qt.AlignLeft | Qt.AlignVCenter, f"{self.name}: {self.label}" if self.name else "no QC scores")
        if not lims:
            p.end()
            return
        lo, hi = min(lims), max(lims)
        if hi - lo < 1e-9:
            lo, hi = lo - 0.5, hi + 0.5
        pad = (hi - lo) * 0.08
        lo, hi = lo - pad, hi + pad

        def y(v: float) -> float:
            return bottom - (v - lo) / (hi - lo) * (bottom - top)

        for thr, colour, text in ((self.warn, QColor(230, 170, 40), "warn"), (self.fail, QColor(220, 50, 50), "fail")):
            if thr is not None:
                p.setPen(QPen(colour, 1, Qt.DashLine))
                p.drawLine(QPointF(0, y(thr)), QPointF(self.width(), y(thr)))
                p.drawText(QPointF(self.width() - 70, y(thr) - 2), f"{text} {thr:g}")
        if self.current in self.frames:
            x = self._x(self.frames.index(self.current))
            p.setPen(QPen(QColor(255, 255, 255, 120), 1))
            p.drawLine(QPointF(x, top), QPointF(x, bottom))
        path: QPainterPath | None = None
        for i, f in enumerate(self.frames):
            v = self.values.get(f)
            if v is None:
                path = None if path is None else path
                continue
            pt = QPointF(self._x(i), y(v))
            if path is None:
                path = QPainterPath(pt)
            else:
                path.lineTo(pt)
        if path is not None:
            p.setPen(QPen(QColor(180, 200, 255), 1.5))
            p.drawPath(path)
        for i, f in enumerate(self.frames):
            v = self.values.get(f)
            if v is not None:
                p.setPen(Qt.NoPen)
                p.setBrush(STATUS_COLOUR.get(self.status.get(f, "na"), STATUS_COLOUR["na"]))
                p.drawEllipse(QPointF(self._x(i), y(v)), 3.5, 3.5)
        p.end()

    def mousePressEvent(self, e: QMouseEvent) -> None:  # noqa: N802
        if self.frames:
            n = len(self.frames)
            i = int(min(n - 1, max(0, e.pos().x() / max(self.width(), 1) * n)))
            self.frame_clicked.emit(self.frames[i], bool(e.modifiers() & Qt.ShiftModifier))
