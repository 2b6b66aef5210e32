"""What the studio draws over a frame: face boxes with ids, landmarks, AU regions coloured by
activation (with a legend) and each face's top emotion.

One painter function serves the live view (drawn in widget coordinates, so text stays crisp at
any zoom) and the exported snapshot (drawn on the full-resolution frame).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRect, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QImage, QLinearGradient, QPainter, QPen, QPolygonF

from core.analysis import FaceResult, FrameResult
from core.export import AU_THRESHOLD
from core.faces.landmarks import ibug68
from core.faces.regions import region_polygons
from core.taxonomy import AU_BY_NUMBER

COLORMAP = pg.colormap.get("viridis")  # perceptually even, readable by colour-blind viewers
DEFAULT_AUS = (1, 2, 4, 5, 6, 7, 9, 10, 12, 17, 25, 26)  # one headline AU for each region
BOX_COLOR = QColor(80, 220, 120)
SELECTED_COLOR = QColor(255, 170, 40)
LABEL_MIN_PX = 160  # on-screen face width from which active AUs are named on their regions


@dataclass
class OverlayOptions:
    boxes: bool = True
    landmarks: bool = False
    regions: bool = True
    emotion: bool = True
    aus: set[int] = field(default_factory=lambda: set(DEFAULT_AUS))


UNREADABLE_COLOR = QColor(150, 150, 150, 110)  # an AU whose skin is covered, or a face too poor to read


def activation_color(p: float, alpha: int | None = None) -> QColor:
    if p != p:  # NaN: cannot be read
        return QColor(UNREADABLE_COLOR) if alpha is None else QColor(150, 150, 150, alpha)
    r, g, b, _ = COLORMAP.map([float(np.clip(p, 0, 1))])[0]
    return QColor(int(r), int(g), int(b), int(60 + 140 * p) if alpha is None else alpha)


def _region_activations(face: FaceResult, aus: set[int]) -> list[tuple[float, str, list[int]]]:
    """(activation, region, AUs) per region with a chosen AU; a region shared by several AUs
    shows the strongest of them; NaN where none of them can be read (the region is covered).
    Weakest first, so the strongest is painted on top; unreadable regions first of all."""
    regions: dict[str, tuple[float, list[int]]] = {}
    for n in sorted(aus):
        if n not in face.au:
            continue
        region = AU_BY_NUMBER[n].region
        best, members = regions.get(region, (float("nan"), []))
        p = face.au[n]
        regions[region] = (p if best != best else best if p != p else max(best, p), members + [n])
    return sorted(((p, region, members) for region, (p, members) in regions.items()),
                  key=lambda item: (item[0] == item[0], item[0] if item[0] == item[0] else 0.0, item[1]))


def track_key(face: FaceResult) -> int:
    return face.track_id


def track_label(face: FaceResult) -> str:
    return f"face {face.track_id}"


def paint_faces(painter: QPainter, result: FrameResult | None, options: OverlayOptions,
                scale: float = 1.0, selected: int | None = None, key: Callable[[FaceResult], int | None] = track_key,
                label: Callable[[FaceResult], str] = track_label) -> None:
    """Draw ``result``'s faces; image pixel (x, y) lands at painter point (x * scale, y * scale).
    ``key``: who a face is (the one equal to ``selected`` is highlighted); ``label``: its name."""
    if result is None:
        return
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    font = QFont()
    font.setPixelSize(13)
    painter.setFont(font)
    boxes = [QRectF(QPointF(float(f.box[0]) * scale, float(f.box[1]) * scale),
                    QPointF(float(f.box[2]) * scale, float(f.box[3]) * scale)) for f in result.faces]
    labels = []  # (text, its face's box, colour): placed once every face is drawn, apart from each other
    for face, area in zip(result.faces, boxes):
        if options.regions and face.au:
            # names only where the face is big enough on screen for them not to pile up
            _paint_regions(painter, face, options.aus, scale, (face.box[2] - face.box[0]) * scale >= LABEL_MIN_PX)
        if options.landmarks:
            painter.setPen(QPen(QColor(255, 210, 60), 2.0))
            painter.drawPoints(QPolygonF([QPointF(x * scale, y * scale) for x, y in ibug68(face.landmarks)]))
        color = SELECTED_COLOR if selected is not None and key(face) == selected else BOX_COLOR
        if options.boxes:
            painter.setPen(QPen(color, 2.0))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(area)
        text = label(face)
        top = face.top_emotion()
        if options.emotion and top:
            text += f"  {top[0]} {top[1]:.0%}"
        if options.boxes or (options.emotion and top):
            labels.append((text, area, color))
    placed: list[QRect] = []
    for text, area, color in labels:
        box = _label_place(painter, text, area, placed, [b for b in boxes if b is not area])
        placed.append(box)
        _paint_label(painter, text, QPointF(box.bottomLeft()), color)


def _label_place(painter: QPainter, text: str, area: QRectF, placed: list[QRect], others: list[QRectF]) -> QRect:
    """Where a face's label goes: above its box, else just inside its top, else below it; the
    first place that covers no label drawn before and no other face's box (a crowded photo),
    else the first that covers no label, else above."""
    box = painter.fontMetrics().boundingRect(text).adjusted(-4, -2, 4, 2)
    places = []
    for bottom_left in (QPointF(area.left(), area.top() - 3), QPointF(area.left(), area.top() + 3 + box.height()),
                        QPointF(area.left(), area.bottom() + 3 + box.height())):
        candidate = QRect(box)
        candidate.moveBottomLeft(bottom_left.toPoint())
        places.append(candidate)
    free = [c for c in places if not any(c.intersects(q) for q in placed)]
    clear = [c for c in free if not any(QRectF(c).intersects(o) for o in others)]
    return (clear or free or places)[0]


def _paint_regions(painter: QPainter, face: FaceResult, aus: set[int], scale: float, labels: bool) -> None:
    points = face.landmarks * scale
    names = []  # (centre, text) of each active AU, drawn over all the fills so none hides another's
    for p, region, members in _region_activations(face, aus):
        color = activation_color(p)
        painter.setPen(QPen(color.darker(130), 1.0))
        painter.setBrush(QBrush(color, Qt.BrushStyle.BDiagPattern if p != p else Qt.BrushStyle.SolidPattern))
        polygons = region_polygons(points, region)
        for poly in polygons:
            painter.drawPolygon(QPolygonF([QPointF(float(x), float(y)) for x, y in poly]))
        if labels and p >= AU_THRESHOLD:  # name the active AU at its region: colour is not the only cue
            strongest = max(members, key=lambda n: face.au[n])
            names.append((polygons[0].mean(axis=0), f"AU{strongest}"))
    for (cx, cy), text in names:  # on a dark box: readable on any fill
        width = painter.fontMetrics().horizontalAdvance(text)
        _paint_label(painter, text, QPointF(float(cx) - width / 2, float(cy) + 6), QColor(255, 255, 255))


def _paint_label(painter: QPainter, text: str, bottom_left: QPointF, color: QColor) -> None:
    box = painter.fontMetrics().boundingRect(text).adjusted(-4, -2, 4, 2)
    box.moveBottomLeft(bottom_left.toPoint())
    painter.fillRect(box, QColor(0, 0, 0, 180))
    painter.setPen(color.lighter(130))
    painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)


def paint_legend(painter: QPainter, area: QRectF) -> None:
    """Colour bar for region activations, at the bottom-right of ``area``."""
    width, height = 150.0, 10.0
    x, y = area.right() - width - 16, area.bottom() - 34
    painter.fillRect(QRectF(x - 8, y - 20, width + 16, 46), QColor(0, 0, 0, 170))
    gradient = QLinearGradient(x, 0, x + width, 0)
    for stop in np.linspace(0, 1, 6):
        gradient.setColorAt(float(stop), activation_color(float(stop), 255))
    painter.fillRect(QRectF(x, y, width, height), gradient)
    painter.setPen(QColor(230, 230, 230))
    font = QFont()
    font.setPixelSize(11)
    painter.setFont(font)
    painter.drawText(QPointF(x, y - 6), "AU activation (probability)")
    painter.drawText(QPointF(x, y + height + 13), "0")
    painter.drawText(QPointF(x + width / 2 - 8, y + height + 13), "0.5")
    painter.drawText(QPointF(x + width - 8, y + height + 13), "1")


def render_annotated(image: QImage, result: FrameResult | None, options: OverlayOptions,
                     selected: int | None = None, key: Callable[[FaceResult], int | None] = track_key,
                     label: Callable[[FaceResult], str] = track_label) -> QImage:
    """The frame at full resolution with the overlays drawn: the exported snapshot."""
    out = image.convertToFormat(QImage.Format.Format_RGB32)
    painter = QPainter(out)
    paint_faces(painter, result, options, 1.0, selected, key, label)
    if options.regions and result and any(f.au for f in result.faces):
        paint_legend(painter, QRectF(out.rect()))
    painter.end()
    return out
