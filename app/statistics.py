"""The Statistics dock: `core.stats` per person and segment of the open analysis, as a table.

The figures are those of `mf2 stats` on the CSV File > Export CSV writes (the session computes
them from that very CSV, core.session.Session.statistics): one row per person and range (the
whole recording, then each segment name), the AUs present in any range as columns at the end.
"""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QHBoxLayout, QHeaderView, QLabel, QPushButton, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

from core.plural import counted
from core.stats import Statistics, summary_cells
from core.validation import Validation

COLUMNS = ("person", "segment", "face frames", "face share", "seconds", "top emotions (share of time)",
           "episodes", "blinks/min", "head range p/y/r (°)")


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def range_cells(r) -> list[str]:
    """One `RangeStats` as the table's text cells (without the AU columns)."""
    cells = summary_cells(r, missing="–")
    return [r.person, r.segment, f"{r.face_frames}/{r.frames}", _pct(r.face_share), f"{r.seconds:.2f}",
            cells["emotions"], cells["episodes"], cells["blinks"], cells["head"]]


class StatisticsPanel(QWidget):
    refresh_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.stats: Statistics | None = None
        self.checks: Validation | None = None  # the model's own check: AU columns that did not hold are marked †
        self.note = QLabel("Open and analyse a video, then Refresh.")
        self.note.setWordWrap(True)
        self.refresh = QPushButton("Refresh", clicked=self.refresh_requested)
        self.refresh.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        top = QHBoxLayout()
        top.addWidget(self.note, 1)
        top.addWidget(self.refresh)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)

    def set_stale(self, why: str) -> None:
        self.note.setText(why)

    def show_stats(self, stats: Statistics) -> None:
        self.stats = stats
        aus = sorted({au for r in stats.ranges for au, v in r.au_occurrence.items() if v and v >= 0.05})
        header = list(COLUMNS) + [f"{au}{'†' if self._unsure(au) else ''} present" for au in aus]
        self.table.clear()
        self.table.setColumnCount(len(header))
        self.table.setHorizontalHeaderLabels(header)
        self.table.setRowCount(len(stats.ranges))
        for i, r in enumerate(stats.ranges):
            cells = range_cells(r) + [_pct(r.au_occurrence.get(au)) for au in aus]
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if j >= 2:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(i, j, item)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        found = counted(len(stats.people), "person", "people") if stats.people else "no face in any frame"
        self.note.setText(f"{counted(stats.frames, 'frame')} ({stats.seconds:.1f} s), {found}, "
                          f"{counted(len(stats.segments), 'segment')}: "
                          "the figures of `mf2 stats` on the exported CSV (README, Statistics)"
                          + ("; † an AU that did not hold on real video (the report's table)"
                             if any(self._unsure(au) for au in aus) else ""))

    def _unsure(self, au: str) -> bool:
        return self.checks is not None and au[2:].isdigit() and not self.checks.held(int(au[2:]))

    def cell(self, row: int, column: str) -> str:
        """The text of a row's cell, by column title (for tests and copying)."""
        titles = [self.table.horizontalHeaderItem(j).text() for j in range(self.table.columnCount())]
        return self.table.item(row, titles.index(column)).text()
