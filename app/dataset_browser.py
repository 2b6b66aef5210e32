"""The dataset browser: every accepted sample with its crop, filtered by label, video or text;
edit a sample's labels and captions, delete it, or go to the frame it came from."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (QComboBox, QDialog, QFormLayout, QHBoxLayout, QHeaderView, QLabel, QLineEdit,
                               QMessageBox, QPlainTextEdit, QPushButton, QSplitter, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

from core.dataset import Captions, DatasetStore, Filter, parse_au_marks
from core.errors import InputError
from core.taxonomy import ACTION_UNITS, EMOTIONS

THUMB = 56


class DatasetBrowser(QDialog):
    # object, not int: Qt's int is 32 bits, and an imported sample's frame number may be larger
    changed = Signal(str, object, object)  # a sample was edited or deleted: its video, frame, face
    go_to = Signal(str, object, object)    # video, frame, face

    def __init__(self, store: DatasetStore, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Dataset")
        self.store = store
        self.samples = []
        self.emotion = QComboBox()
        self.emotion.addItem("any emotion", None)
        self.emotion.addItem("(no emotion)", "")
        for e in EMOTIONS:
            self.emotion.addItem(e, e)
        self.au = QComboBox()
        self.au.addItem("any AU", None)
        for au in ACTION_UNITS:
            self.au.addItem(f"{au.code} present", au.number)
        self.video = QComboBox()
        self.text = QLineEdit(placeholderText="caption contains…")
        for w in (self.emotion, self.au, self.video):
            w.currentIndexChanged.connect(self.reload)
        self.text.textChanged.connect(self.reload)
        filters = QHBoxLayout()
        for w in (self.emotion, self.au, self.video, self.text):
            filters.addWidget(w)
        self.count = QLabel()
        self.table = QTableWidget(0, 6)
        self.table.setHorizontalHeaderLabels(["Face", "Video", "Frame", "Emotion", "AUs present", "Global caption"])
        self.table.setIconSize(QSize(THUMB, THUMB))
        self.table.verticalHeader().setDefaultSectionSize(THUMB + 4)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(5, QHeaderView.ResizeMode.Stretch)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.itemSelectionChanged.connect(self._show_selected)
        self.table.doubleClicked.connect(lambda _: self._go())

        self.edit_emotion = QComboBox()
        self.edit_emotion.addItem("(none)", None)
        for e in EMOTIONS:
            self.edit_emotion.addItem(e, e)
        self.edit_aus = QLineEdit(placeholderText="AUs present, e.g. 6 12 (?26: not scorable)")
        self.edit_captions = {level: QPlainTextEdit() for level in Captions.LEVELS}
        self.provenance = QLabel()
        self.provenance.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Emotion", self.edit_emotion)
        form.addRow("AUs present", self.edit_aus)
        for level, name in zip(Captions.LEVELS, ("Global", "AU level", "Emotion level")):
            self.edit_captions[level].setFixedHeight(60)
            form.addRow(name, self.edit_captions[level])
        form.addRow(self.provenance)
        self.save_button = QPushButton("Save", clicked=self._save)
        self.delete_button = QPushButton("Delete…", clicked=self._delete)
        self.go_button = QPushButton("Go to frame", clicked=self._go)
        buttons = QHBoxLayout()
        for b in (self.save_button, self.delete_button, self.go_button):
            buttons.addWidget(b)
        editor = QWidget()
        side = QVBoxLayout(editor)
        side.addLayout(form)
        side.addLayout(buttons)
        side.addStretch(1)
        split = QSplitter()
        split.addWidget(self.table)
        split.addWidget(editor)
        split.setSizes([720, 380])
        layout = QVBoxLayout(self)
        layout.addLayout(filters)
        layout.addWidget(self.count)
        layout.addWidget(split, 1)
        self.resize(1100, 600)
        self.set_store(store)

    def set_store(self, store: DatasetStore) -> None:
        self.store = store
        self.setWindowTitle(f"Dataset — {store.folder}")
        self.reload()

    def reload(self) -> None:
        current = self._current().id if self._current() else None
        videos = self.store.videos()
        chosen = self.video.currentData()
        self.video.blockSignals(True)
        self.video.clear()
        self.video.addItem("any video", None)
        for v in videos:
            self.video.addItem(Path(v).name, v)
        self.video.setCurrentIndex(max(0, self.video.findData(chosen)))
        self.video.blockSignals(False)
        where = Filter(self.emotion.currentData(), self.au.currentData(), self.video.currentData(), self.text.text())
        self.samples = self.store.samples(where)
        self.count.setText(f"{len(self.samples)} of {len(self.store)} samples")
        self.table.setRowCount(len(self.samples))
        for i, s in enumerate(self.samples):
            thumb = QTableWidgetItem()
            pixmap = QPixmap(str(self.store.crop_path(s.id)))
            if not pixmap.isNull():
                thumb.setIcon(QIcon(pixmap.scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio,
                                                  Qt.TransformationMode.SmoothTransformation)))
            thumb.setText(str(s.face))
            present = " ".join(f"AU{n}" for n, v in sorted(s.aus.items()) if v > 0)
            cells = (Path(s.video).name, str(s.frame + 1), s.emotion or "–", present,
                     ("✎ " if s.edited() else "") + s.captions.global_text)
            self.table.setItem(i, 0, thumb)
            for j, text in enumerate(cells, start=1):
                self.table.setItem(i, j, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        self.table.setColumnWidth(4, min(self.table.columnWidth(4), 150))
        self.table.horizontalHeader().setSectionResizeMode(5, QHeaderView.ResizeMode.Stretch)
        row = next((i for i, s in enumerate(self.samples) if s.id == current), 0 if self.samples else -1)
        if row >= 0:
            self.table.selectRow(row)
        self._show_selected()

    def _current(self):
        row = self.table.currentRow()
        return self.samples[row] if 0 <= row < len(self.samples) else None

    def _show_selected(self) -> None:
        s = self._current()
        for w in (self.save_button, self.delete_button, self.go_button):
            w.setEnabled(s is not None)
        if s is None:
            self.provenance.setText("")
            return
        self.edit_emotion.setCurrentIndex(self.edit_emotion.findData(s.emotion))
        self.edit_aus.setText(" ".join(str(n) for n, v in sorted(s.aus.items()) if v > 0))
        for level, edit in self.edit_captions.items():
            edit.setPlainText(getattr(s.captions, level))
        labelled = " ".join(f"AU{n}" for n in sorted(s.aus))
        self.provenance.setText(f"<small>{s.video}<br>frame {s.frame + 1}, {s.timestamp:.2f} s, face {s.face}; "
                                f"model {s.model}<br>labelled AUs: {labelled or 'none'}<br>"
                                f"created {s.created[:19]}, updated {s.updated[:19]}</small>")

    def _save(self) -> None:
        s = self._current()
        try:
            marks = parse_au_marks(self.edit_aus.text())
        except ValueError:
            QMessageBox.warning(self, "Dataset", "AUs: type numbers such as 6 12 25 (?26: not scorable)")
            return
        aus = {**{n: 0.0 for n in s.aus}, **{n: max(1.0, s.aus.get(n, 1.0)) for n, v in marks.items() if v}}
        for n in (n for n, v in marks.items() if v is None):  # not scorable: no longer labelled
            aus.pop(n, None)
        captions = Captions(*(self.edit_captions[level].toPlainText() for level in Captions.LEVELS))
        try:
            self.store.update(replace(s, emotion=self.edit_emotion.currentData(), aus=aus, captions=captions))
        except InputError as e:
            QMessageBox.warning(self, "Dataset", str(e))
            return
        self.changed.emit(s.video, s.frame, s.face)
        self.reload()

    def _delete(self) -> None:
        s = self._current()
        answer = QMessageBox.question(self, "Delete sample", f"Delete face {s.face} of frame {s.frame + 1} "
                                      f"({Path(s.video).name}) from the dataset? Its crop is deleted too.")
        if answer != QMessageBox.StandardButton.Yes:
            return
        self.store.delete(s.id)
        self.changed.emit(s.video, s.frame, s.face)
        self.reload()

    def _go(self) -> None:
        s = self._current()
        if s is not None:
            self.go_to.emit(s.video, s.frame, s.face)
