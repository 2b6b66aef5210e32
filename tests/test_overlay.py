"""The overlay's face labels on a crowded photo: never drawn over each other (app.overlay)."""
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QRectF  # noqa: E402
from PySide6.QtGui import QFont, QImage, QPainter  # noqa: E402

from app.overlay import _label_place  # noqa: E402


def test_labels_of_faces_side_by_side_are_placed_apart(qapp):
    """multi_face.jpg's people stand close: a label above one box ran into the next one's label
    and over its face. Three boxes in a row, each label wider than the gap between them."""
    image = QImage(800, 600, QImage.Format.Format_RGB32)
    painter = painter_for(image)
    boxes = [QRectF(100, 200, 60, 60), QRectF(170, 190, 60, 60), QRectF(240, 200, 60, 60)]
    placed = []
    for area in boxes:
        placed.append(_label_place(painter, "face 1  happy 100%", area, placed, [b for b in boxes if b is not area]))
    painter.end()
    assert not any(a.intersects(b) for i, a in enumerate(placed) for b in placed[i + 1:])
    assert not any(QRectF(label).intersects(box) for label, own in zip(placed, boxes) for box in boxes if box is not own)
    painter = painter_for(image)
    alone = _label_place(painter, "face 0", boxes[1], [], [])
    painter.end()
    assert alone.bottom() < boxes[1].top()  # with room, a label stays above its face


def painter_for(image):
    painter = QPainter(image)
    font = QFont()
    font.setPixelSize(13)
    painter.setFont(font)
    return painter
