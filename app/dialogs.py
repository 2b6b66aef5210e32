"""Small dialogs: keyboard shortcuts, which AUs the overlay shows, which camera to open."""
from __future__ import annotations

from PySide6.QtGui import QAction
from PySide6.QtWidgets import (QCheckBox, QDialog, QDialogButtonBox, QGridLayout, QHeaderView, QInputDialog,
                               QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from core.taxonomy import AU_BY_NUMBER

from .overlay import DEFAULT_AUS


class ShortcutsDialog(QDialog):
    """Built from the window's actions, so the list can never drift from the real keys."""

    def __init__(self, actions: list[QAction], parent=None):
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        rows = [(a.text().replace("&", "").rstrip("…"), ", ".join(k.toString() for k in a.shortcuts()))
                for a in actions if a.shortcuts()]
        table = QTableWidget(len(rows), 2, self)
        table.setHorizontalHeaderLabels(["Action", "Keys"])
        for i, (name, keys) in enumerate(rows):
            table.setItem(i, 0, QTableWidgetItem(name))
            table.setItem(i, 1, QTableWidgetItem(keys))
        table.verticalHeader().hide()
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        table.resizeRowsToContents()
        self.table = table
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, rejected=self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(table)
        layout.addWidget(buttons)
        self.resize(460, 560)


class AuPicker(QDialog):
    """Tick the AUs whose regions the overlay paints."""

    def __init__(self, available: tuple[int, ...], chosen: set[int], parent=None):
        super().__init__(parent)
        self.setWindowTitle("AU regions to show")
        grid = QGridLayout()
        self.boxes: dict[int, QCheckBox] = {}
        for i, n in enumerate(available):
            au = AU_BY_NUMBER[n]
            box = QCheckBox(f"AU{n} {au.name}")
            box.setToolTip(f"{au.description} Region: {au.region.replace('_', ' ')}.")
            box.setChecked(n in chosen)
            self.boxes[n] = box
            grid.addWidget(box, i // 2, i % 2)
        presets = QWidget()
        row = QGridLayout(presets)
        for col, (label, numbers) in enumerate((("All", available), ("None", ()), ("Default", DEFAULT_AUS))):
            button = QPushButton(label)
            button.clicked.connect(lambda _=False, ns=numbers: self._set(set(ns)))
            row.addWidget(button, 0, col)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel,
                                   accepted=self.accept, rejected=self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(grid)
        layout.addWidget(presets)
        layout.addWidget(buttons)

    def _set(self, numbers: set[int]) -> None:
        for n, box in self.boxes.items():
            box.setChecked(n in numbers)

    def chosen(self) -> set[int]:
        return {n for n, box in self.boxes.items() if box.isChecked()}


def pick_camera(parent, cameras: list[int]) -> int | None:
    """The camera index chosen (no dialog when there is only one), or None if cancelled."""
    if len(cameras) == 1:
        return cameras[0]
    names = [f"Camera {i}" for i in cameras]
    name, ok = QInputDialog.getItem(parent, "Open camera", "Camera:", names, 0, False)
    return cameras[names.index(name)] if ok else None
