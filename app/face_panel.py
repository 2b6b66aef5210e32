"""Side panel for the selected face at the current frame: AU and emotion bars, head pose and the
generated multilevel description."""
from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QComboBox, QFormLayout, QLabel, QTextBrowser, QVBoxLayout, QWidget

from core.analysis import FaceResult
from core.describe import describe
from core.export import AU_THRESHOLD
from core.taxonomy import AU_BY_NUMBER
from core.validation import Validation

from .overlay import activation_color
from .timelines import EMOTION_COLORS


class BarList(QWidget):
    """Labelled horizontal bars, one per row, values 0..1."""

    ROW = 15

    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list[tuple[str, float, QColor, str]] = []  # label, value, colour, tooltip

    def set_rows(self, rows: list[tuple[str, float, QColor, str]]) -> None:
        self.rows = rows
        self.setMinimumHeight(self.ROW * len(rows) + 2)
        self.updateGeometry()
        self.update()

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        return QSize(240, self.ROW * len(self.rows) + 2)

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt override)
        painter = QPainter(self)
        label_w, value_w = 62, 40
        bar_w = max(10, self.width() - label_w - value_w - 8)
        for i, (label, value, color, _) in enumerate(self.rows):
            y = i * self.ROW
            painter.setPen(self.palette().text().color())
            painter.drawText(QRectF(0, y, label_w, self.ROW), Qt.AlignmentFlag.AlignVCenter, label)
            painter.fillRect(QRectF(label_w, y + 3, bar_w, self.ROW - 6), QColor(128, 128, 128, 50))
            readable = value == value  # NaN: covered, or the face too poor to read: an empty grey row
            painter.fillRect(QRectF(label_w, y + 3, bar_w * max(0.0, min(1.0, value if readable else 0.0)),
                                    self.ROW - 6), color)
            painter.drawText(QRectF(label_w + bar_w + 4, y, value_w, self.ROW), Qt.AlignmentFlag.AlignVCenter,
                             f"{value:.2f}" if readable else "—")

    def event(self, e):
        if e.type() == e.Type.ToolTip:
            row = int(e.pos().y() // self.ROW)
            self.setToolTip(self.rows[row][3] if 0 <= row < len(self.rows) else "")
        return super().event(e)


AU_TITLE = "<b>Action Units</b> (occurrence probability)"
CALIBRATING = ("<br><span style='color:#b06000'>calibrating: read against an average face until this person's "
               "own neutral face is known (about 2 s)</span>")


class FacePanel(QWidget):
    face_selected = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.face_box = QComboBox()
        self.face_box.setToolTip("The person shown in the panel, the caption editor and the first timeline lane "
                                 "(Tab: next; or click a face; People menu: rename, merge, split)")
        self.face_box.activated.connect(lambda i: self.face_selected.emit(self.face_box.itemData(i)))
        self.pose = QLabel("–")
        self.emotion_bars = BarList()
        self.au_bars = BarList()
        self.description = QTextBrowser()
        self.description.setMinimumHeight(120)
        self.description.setPlaceholderText("The description of the selected face appears here.")
        form = QFormLayout()
        form.addRow("Person", self.face_box)
        form.addRow("Head pose", self.pose)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(QLabel("<b>Emotion</b>"))
        layout.addWidget(self.emotion_bars)
        self.au_title = QLabel(AU_TITLE)
        self.au_title.setWordWrap(True)
        layout.addWidget(self.au_title)
        layout.addWidget(self.au_bars)
        layout.addWidget(QLabel("<b>Description</b>"))
        layout.addWidget(self.description, 1)
        self.face: FaceResult | None = None
        self.checks: Validation | None = None  # the model's own check on real video, said in each AU's tooltip

    def set_people(self, people: list[tuple[int, str]], selected: int | None) -> None:
        """The people to choose from, as (key, name), and the one chosen."""
        keys = [key for key, _ in people]
        shown = [(self.face_box.itemData(i), self.face_box.itemText(i)) for i in range(self.face_box.count())]
        if shown != list(people):
            self.face_box.clear()
            for key, name in people:
                self.face_box.addItem(name, key)
        if selected in keys:
            self.face_box.setCurrentIndex(keys.index(selected))

    def show_face(self, face: FaceResult | None, frame_index: int) -> None:
        self.face = face
        if face is None:
            self.pose.setText("not in this frame")
            self.emotion_bars.set_rows([])
            self.au_bars.set_rows([])
            self.au_title.setText(AU_TITLE)
            self.description.clear()
            return
        p = face.pose
        quality = f"  quality {face.quality:.2f}" if face.quality == face.quality else ""
        self.pose.setText(f"pitch {p.pitch:+.0f}°  yaw {p.yaw:+.0f}°  roll {p.roll:+.0f}°{quality}")
        self.emotion_bars.set_rows([(e, v, QColor(EMOTION_COLORS[e]), e) for e, v in face.emotion.items()])
        self.au_title.setText(AU_TITLE + (CALIBRATING if face.calibrating else ""))
        self.au_bars.set_rows([(f"AU{n}", v, activation_color(v, 255), f"AU{n} {AU_BY_NUMBER[n].name}"
                                + ("" if v == v else ": cannot be read here (covered, or the face too poor)")
                                + (f"\nOn real video: {self.checks.check(n).summary}" if self.checks else ""))
                               for n, v in face.au.items()])
        if not face.au:
            self.description.setPlainText("No model loaded: faces only.")
            return
        active = {n: v for n, v in face.au.items() if v >= AU_THRESHOLD}
        top = face.top_emotion()
        d = describe(active, top[0] if top else None, vary=False)
        au_lines = "".join(f"<li>{d.au_texts[n]}</li>" for n in sorted(d.au_texts)) or "<li>No AU active.</li>"
        self.description.setHtml(f"<p><b>Global.</b> {d.global_text}</p><p><b>AU level.</b></p><ul>{au_lines}</ul>"
                                 f"<p><b>Emotion level.</b> {d.emotion_text}</p>")
