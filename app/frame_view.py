"""The video area: the current frame scaled to fit, with the overlays drawn in view coordinates."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget

from core.analysis import FrameResult

from .overlay import OverlayOptions, paint_faces, paint_legend, track_key, track_label


def to_qimage(rgb: np.ndarray) -> QImage:
    rgb = np.ascontiguousarray(rgb)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


class FrameView(QWidget):
    face_clicked = Signal(int)  # who the face is (`key`: its person, or its track)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(320, 240)
        self.image: QImage | None = None
        self.result: FrameResult | None = None
        self.options = OverlayOptions()
        self.selected: int | None = None  # the key of the face highlighted
        self.key = track_key               # who a face is: set by the window (core.session.Session.key_of)
        self.label = track_label           # what a face's label says
        self.placeholder = "Open a video (Ctrl+O), drop one here, or open a camera (Ctrl+K)"

    def show_frame(self, image: QImage, result: FrameResult | None) -> None:
        self.image, self.result = image, result
        self.update()

    def set_result(self, result: FrameResult | None) -> None:
        self.result = result
        self.update()

    def _geometry(self) -> tuple[QRectF, float]:
        """Where the frame is drawn, and its scale."""
        w, h = self.image.width(), self.image.height()
        scale = min(self.width() / w, self.height() / h)
        rect = QRectF((self.width() - w * scale) / 2, (self.height() - h * scale) / 2, w * scale, h * scale)
        return rect, scale

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt override)
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(24, 24, 28))
        if self.image is None:
            painter.setPen(QColor(170, 170, 180))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.placeholder)
            return
        rect, scale = self._geometry()
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.drawImage(rect, self.image)
        painter.translate(rect.topLeft())
        paint_faces(painter, self.result, self.options, scale, self.selected, self.key, self.label)
        painter.resetTransform()
        if self.options.regions and self.result and any(f.au for f in self.result.faces):
            paint_legend(painter, rect)

    def mousePressEvent(self, event) -> None:  # noqa: N802 (Qt override)
        """Clicking a face selects it for the timelines and the side panel."""
        if self.image is None or self.result is None:
            return
        rect, scale = self._geometry()
        p = (event.position() - rect.topLeft()) / scale
        for face in self.result.faces:
            x0, y0, x1, y1 = face.box
            if x0 <= p.x() <= x1 and y0 <= p.y() <= y1 and self.key(face) is not None:
                self.face_clicked.emit(self.key(face))
                return
