"""Draws a frame with its faces (boxes, track ids, landmarks) into a QImage-backed label."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QLabel, QSizePolicy

from core.faces import Face


def to_qimage(rgb: np.ndarray) -> QImage:
    rgb = np.ascontiguousarray(rgb)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def draw_faces(image: QImage, faces: list[Face], landmarks: bool = True) -> QImage:
    out = image.copy()
    painter = QPainter(out)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    width = max(1.5, out.width() / 400)
    font = QFont()
    font.setPixelSize(max(12, out.width() // 60))
    painter.setFont(font)
    for face in faces:
        x0, y0, x1, y1 = (float(v) for v in face.box)
        painter.setPen(QPen(QColor(80, 220, 120), width))
        painter.drawRect(QRectF(x0, y0, x1 - x0, y1 - y0))
        label = f"face {face.track_id}  {face.confidence:.2f}"
        text_box = painter.fontMetrics().boundingRect(label).adjusted(-3, -2, 3, 2)
        text_box.moveBottomLeft(QPointF(x0, y0 - width).toPoint())
        painter.fillRect(text_box, QColor(0, 0, 0, 170))
        painter.setPen(QColor(140, 255, 170))
        painter.drawText(text_box, Qt.AlignmentFlag.AlignCenter, label)
        if landmarks:
            painter.setPen(QPen(QColor(255, 210, 60), width))
            for x, y in face.points68:
                painter.drawPoint(QPointF(float(x), float(y)))
    painter.end()
    return out


class FrameView(QLabel):
    """Shows one image scaled to fit, keeping its aspect ratio."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.setMinimumSize(320, 240)
        self._image: QImage | None = None

    def set_image(self, image: QImage) -> None:
        self._image = image
        self._rescale()

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        self._rescale()

    def _rescale(self) -> None:
        if self._image is not None:
            self.setPixmap(QPixmap.fromImage(self._image).scaled(
                self.size(), Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation))
