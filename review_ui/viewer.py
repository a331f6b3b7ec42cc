"""The image viewer: side-by-side, A/B wipe, difference and flip, with synced zoom/pan, overlays and strokes.

Coordinates: *image* = proxy pixels; *plate* = the EXR's pixel space
(``plate = image / proxy.scale + display window origin``), the space of the
record's face boxes, of stroke points and of the pixel readout.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PyQt5.QtCore import QPointF, QRectF, Qt, pyqtSignal
from PyQt5.QtGui import QColor, QFont, QImage, QMouseEvent, QPainter, QPainterPath, QPaintEvent, QPen, QWheelEvent
from PyQt5.QtWidgets import QSizePolicy, QWidget

from recast.review_ui.loader import Bundle

MODES: tuple[str, ...] = ("side", "wipe", "diff", "flip")
STROKE_COLOR = "#ff3b30"
PENDING_COLOR = "#ff9f0a"


def qimage(arr: np.ndarray) -> QImage:
    """A QImage viewing ``arr`` (uint8 (h, w, 3), C-contiguous); the caller keeps ``arr`` alive."""
    h, w = arr.shape[:2]
    return QImage(arr.data, w, h, 3 * w, QImage.Format_RGB888)


class Viewer(QWidget):
    hovered = pyqtSignal(float, float)  # plate x, y
    strokes_changed = pyqtSignal()
    view_changed = pyqtSignal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.StrongFocus)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self.setMinimumSize(320, 200)
        self.bundle: Bundle | None = None
        self._images: dict[str, QImage] = {}
        self.mode = "side"
        self.show_b = True  # flip mode: B (True) or A
        self.zoom: float | None = None  # widget px per image px; None = fit
        self.center: tuple[float, float] | None = None  # image coords at the pane centre; None = image centre
        self.wipe = 0.5
        self.overlay = False
        self.annotate = False
        self.smooth = True
        self.saved_strokes: list[dict[str, Any]] = []  # strokes of the frame's flags (plate coords)
        self.pending: list[dict[str, Any]] = []  # drawn, not yet stored with a flag
        self._drag: tuple[str, QPointF, Any] | None = None
        self._current: list[list[float]] | None = None
        self.loading = False
        self.message = ""

    # -- content ---------------------------------------------------------------------------
    def set_bundle(self, bundle: Bundle | None) -> None:
        self.bundle = bundle
        self._images = {}
        if bundle is not None:
            self._images = {"a": qimage(bundle.a8), "b": qimage(bundle.b8), "diff": qimage(bundle.diff8)}
        self.update()

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(mode)
        self.mode = mode
        self.update()

    def image_size(self) -> tuple[int, int]:
        if self.bundle is None:
            return (16, 9)
        h, w = self.bundle.a8.shape[:2]
        return w, h

    # -- geometry --------------------------------------------------------------------------
    def panes(self) -> list[QRectF]:
        r = QRectF(self.rect())
        if self.mode == "side":
            half = float(int((r.width() - 4) // 2))  # whole pixels: both panes resample alike
            return [QRectF(r.left(), r.top(), half, r.height()), QRectF(r.left() + half + 4, r.top(), half, r.height())]
        return [r]

    def fit_zoom(self) -> float:
        w, h = self.image_size()
        p = self.panes()[0]
        return max(1e-3, min(p.width() / w, p.height() / h))

    def scale(self) -> float:
        return self.zoom if self.zoom is not None else self.fit_zoom()

    def origin(self, pane: QRectF) -> QPointF:
        """Widget position of image (0, 0) in ``pane``."""
        w, h = self.image_size()
        cx, cy = self.center if self.center is not None else (w / 2, h / 2)
        s = self.scale()
        return QPointF(pane.center().x() - cx * s, pane.center().y() - cy * s)

    def image_rect(self, pane: QRectF) -> QRectF:
        w, h = self.image_size()
        o, s = self.origin(pane), self.scale()
        return QRectF(o.x(), o.y(), w * s, h * s)

    def pane_at(self, pos: QPointF) -> QRectF:
        for p in self.panes():
            if p.contains(pos):
                return p
        return self.panes()[0]

    def to_image(self, pos: QPointF) -> tuple[float, float]:
        pane = self.pane_at(pos)
        o, s = self.origin(pane), self.scale()
        return (pos.x() - o.x()) / s, (pos.y() - o.y()) / s

    def image_to_plate(self, x: float, y: float) -> tuple[float, float]:
        if self.bundle is None:
            return x, y
        p = self.bundle.a_lin
        return x / p.scale + p.display_window[0], y / p.scale + p.display_window[1]

    def plate_to_image(self, x: float, y: float) -> tuple[float, float]:
        if self.bundle is None:
            return x, y
        p = self.bundle.a_lin
        return (x - p.display_window[0]) * p.scale, (y - p.display_window[1]) * p.scale

    def plate_to_widget(self, pane: QRectF, x: float, y: float) -> QPointF:
        ix, iy = self.plate_to_image(x, y)
        o, s = self.origin(pane), self.scale()
        return QPointF(o.x() + ix * s, o.y() + iy * s)

    def fit(self) -> None:
        self.zoom, self.center = None, None
        self.view_changed.emit()
        self.update()

    def one_to_one(self) -> None:
        """One plate pixel per screen pixel."""
        p = self.bundle.a_lin.scale if self.bundle is not None else 1.0
        self.zoom = 1.0 / max(p, 1e-6)
        self.view_changed.emit()
        self.update()

    def zoom_by(self, factor: float, at: QPointF | None = None) -> None:
        w, h = self.image_size()
        old = self.scale()
        new = min(64.0, max(0.02, old * factor))
        if at is not None:
            ix, iy = self.to_image(at)
            cx, cy = self.center if self.center is not None else (w / 2, h / 2)
            # keep the image point under the cursor fixed
            self.center = (ix - (ix - cx) * old / new, iy - (iy - cy) * old / new)
        self.zoom = new
        self.view_changed.emit()
        self.update()

    # -- painting --------------------------------------------------------------------------
    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802 - Qt name
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(24, 24, 26))
        if self.bundle is None:
            p.setPen(QColor(200, 200, 200))
            p.drawText(self.rect(), Qt.AlignCenter, self.message or "loading…")
            p.end()
            return
        if self.smooth and self.scale() < 1.0:
            p.setRenderHint(QPainter.SmoothPixmapTransform, True)
        panes = self.panes()
        if self.mode == "side":
            labels = [f"A  {self.bundle.key.a.label}", f"B  {self.bundle.key.b.label}"]
            for pane, name, label in zip(panes, ("a", "b"), labels, strict=True):
                p.save()
                p.setClipRect(pane)
                p.drawImage(self.image_rect(pane), self._images[name])
                self._overlays(p, pane)
                p.restore()
                self._label(p, pane, label)
        elif self.mode == "wipe":
            pane = panes[0]
            rect = self.image_rect(pane)
            p.drawImage(rect, self._images["a"])
            x = rect.left() + rect.width() * self.wipe
            p.save()
            p.setClipRect(QRectF(x, pane.top(), pane.right() - x, pane.height()))
            p.drawImage(rect, self._images["b"])
            p.restore()
            p.setPen(QPen(QColor(255, 255, 255), 2))
            p.drawLine(QPointF(x, pane.top()), QPointF(x, pane.bottom()))
            self._overlays(p, pane)
            self._label(p, pane, f"A  {self.bundle.key.a.label}   |   B  {self.bundle.key.b.label}  (drag the line)")
        elif self.mode == "diff":
            pane = panes[0]
            p.drawImage(self.image_rect(pane), self._images["diff"])
            self._overlays(p, pane)
            self._label(p, pane, f"|A - B| x{self.bundle.key.settings.gain:g}   A {self.bundle.key.a.label}, B {self.bundle.key.b.label}")
        else:
            pane = panes[0]
            name = "b" if self.show_b else "a"
            p.drawImage(self.image_rect(pane), self._images[name])
            self._overlays(p, pane)
            src = self.bundle.key.b if self.show_b else self.bundle.key.a
            self._label(p, pane, f"{name.upper()}  {src.label}   (space flips)")
        if self.loading:
            p.setPen(QColor(255, 210, 80))
            p.drawText(self.rect().adjusted(0, 0, -10, -8), Qt.AlignRight | Qt.AlignBottom, "loading…")
        p.end()

    def _label(self, p: QPainter, pane: QRectF, text: str) -> None:
        p.save()
        f = QFont(p.font())
        f.setPointSizeF(max(8.0, f.pointSizeF()))
        p.setFont(f)
        box = QRectF(pane.left() + 6, pane.top() + 6, min(pane.width() - 12, 9 * len(text) + 16), 22)
        p.fillRect(box, QColor(0, 0, 0, 150))
        p.setPen(QColor(235, 235, 235))
        p.drawText(box.adjusted(8, 0, 0, 0), Qt.AlignVCenter | Qt.AlignLeft, text)
        p.restore()

    def _overlays(self, p: QPainter, pane: QRectF) -> None:
        if self.overlay and self.bundle is not None:
            rec = self.bundle.records.get("b") or self.bundle.records.get("a") or {}
            for face in rec.get("faces") or []:
                colour = QColor(80, 220, 120) if face.get("swapped") else QColor(160, 160, 160)
                p.setPen(QPen(colour, 1.5))
                box = face.get("box")
                if box:
                    a, b = self.plate_to_widget(pane, box[0], box[1]), self.plate_to_widget(pane, box[2], box[3])
                    p.drawRect(QRectF(a, b))
                    label = f"track {face.get('track_id')}" + (f"  {face.get('label')}" if face.get("label") else "")
                    p.drawText(a + QPointF(2, -4), label)
                p.setPen(QPen(QColor(90, 200, 255), 2.5))
                for pt in face.get("landmarks") or face.get("kps5") or []:
                    p.drawPoint(self.plate_to_widget(pane, pt[0], pt[1]))
        for strokes, colour in ((self.saved_strokes, None), (self.pending, PENDING_COLOR)):
            for s in strokes:
                self._stroke(p, pane, s["points"], colour or s.get("color", STROKE_COLOR), float(s.get("width", 3.0)))
        if self._current:
            self._stroke(p, pane, self._current, PENDING_COLOR, 3.0)

    def _stroke(self, p: QPainter, pane: QRectF, points: list[list[float]], colour: str, width: float) -> None:
        if not points:
            return
        path = QPainterPath(self.plate_to_widget(pane, *points[0]))
        for pt in points[1:]:
            path.lineTo(self.plate_to_widget(pane, *pt))
        s = self.scale() * (self.bundle.a_lin.scale if self.bundle is not None else 1.0)
        p.setPen(QPen(QColor(colour), max(1.5, width * s), Qt.SolidLine, Qt.RoundCap, Qt.RoundJoin))
        p.setBrush(Qt.NoBrush)
        p.drawPath(path)

    # -- mouse -----------------------------------------------------------------------------
    def _near_divider(self, pos: QPointF) -> bool:
        if self.mode != "wipe" or self.bundle is None:
            return False
        rect = self.image_rect(self.panes()[0])
        return abs(pos.x() - (rect.left() + rect.width() * self.wipe)) < 10

    def mousePressEvent(self, e: QMouseEvent) -> None:  # noqa: N802
        pos = QPointF(e.pos())
        if e.button() == Qt.LeftButton and self._near_divider(pos):
            self._drag = ("wipe", pos, None)
        elif e.button() == Qt.LeftButton and self.annotate and self.bundle is not None:
            self._current = [list(self.image_to_plate(*self.to_image(pos)))]
            self._drag = ("stroke", pos, None)
        elif e.button() in (Qt.LeftButton, Qt.MiddleButton):
            w, h = self.image_size()
            self._drag = ("pan", pos, self.center if self.center is not None else (w / 2, h / 2))
        self.setFocus()

    def mouseMoveEvent(self, e: QMouseEvent) -> None:  # noqa: N802
        pos = QPointF(e.pos())
        if self.bundle is not None:
            self.hovered.emit(*self.image_to_plate(*self.to_image(pos)))
        if self._drag is None:
            self.setCursor(Qt.SplitHCursor if self._near_divider(pos) else (Qt.CrossCursor if self.annotate else Qt.ArrowCursor))
            return
        kind, start, c0 = self._drag
        if kind == "wipe":
            rect = self.image_rect(self.panes()[0])
            self.wipe = float(min(1.0, max(0.0, (pos.x() - rect.left()) / max(rect.width(), 1.0))))
        elif kind == "stroke" and self._current is not None:
            self._current.append(list(self.image_to_plate(*self.to_image(pos))))
        elif kind == "pan":
            s = self.scale()
            self.center = (c0[0] - (pos.x() - start.x()) / s, c0[1] - (pos.y() - start.y()) / s)
            if self.zoom is None:
                self.zoom = s
            self.view_changed.emit()
        self.update()

    def mouseReleaseEvent(self, _e: QMouseEvent) -> None:  # noqa: N802
        if self._drag is not None and self._drag[0] == "stroke" and self._current:
            self.add_stroke(self._current)
        self._current = None
        self._drag = None
        self.update()

    def add_stroke(self, points: list[list[float]], color: str = STROKE_COLOR, width: float = 3.0) -> None:
        """A freehand stroke in plate coordinates, pending until the next flag stores it."""
        self.pending.append({"points": [[round(x, 2), round(y, 2)] for x, y in points], "color": color, "width": width})
        self.strokes_changed.emit()
        self.update()

    def wheelEvent(self, e: QWheelEvent) -> None:  # noqa: N802
        steps = e.angleDelta().y() / 120.0
        if steps:
            self.zoom_by(1.25**steps, QPointF(e.pos()))
