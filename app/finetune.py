"""Background fine-tuning from the studio, and the list of model versions.

The run is `mf2 finetune --dataset DIR --json-progress` in a separate process (QProcess): it has
its own interpreter, so training never competes with the GUI for the GIL, and cancelling is a
SIGTERM that the command turns into a clean stop that `--resume` continues.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, Signal
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QHeaderView, QLabel, QPushButton, QTableWidget,
                               QTableWidgetItem, QVBoxLayout)

from core.dataset.versions import UNFINISHED, active_model, versions

ROOT = Path(__file__).resolve().parent.parent  # where `core` lives, for the child interpreter
FIGURES = (("emotion_accuracy", "emotion acc"), ("au_mean_f1", "AU F1"), ("caption_r1", "caption R@1"))


def figures_line(record: dict) -> str:
    """'emotion acc 0.40 → 0.80, AU F1 ...' for a finished version."""
    before, after = record.get("before") or {}, record.get("after") or {}
    parts = [f"{name} {before.get(k, float('nan')):.2f} → {after[k]:.2f}" for k, name in FIGURES if k in after]
    line = ", ".join(parts) + f" on {after.get('n', 0)} held-out faces" if parts else "no held-out figures"
    if "base_emotion_accuracy" in after:  # what it cost on the base data
        line += (f"; base data {before['base_emotion_accuracy']:.2f} → {after['base_emotion_accuracy']:.2f} "
                 f"on {after['base_n']} faces")
    return line


class FineTuneProcess(QObject):
    progress = Signal(str, int, int)         # stage, done, total
    finished = Signal(object, str)           # the version's record (None if the run failed), message

    def __init__(self, parent=None):
        super().__init__(parent)
        self.process: QProcess | None = None
        self.folder: Path | None = None
        self._errors: list[str] = []
        self._buffer = b""
        self._version: str | None = None   # the version the run reported writing

    def running(self) -> bool:
        return self.process is not None and self.process.state() != QProcess.ProcessState.NotRunning

    def start(self, folder: Path, base_model: Path, steps: int | None = None, resume: bool = False) -> None:
        self.folder = Path(folder)
        self._errors, self._buffer, self._version = [], b"", None
        p = QProcess(self)
        env = QProcessEnvironment.systemEnvironment()
        paths = [str(ROOT)] + ([env.value("PYTHONPATH")] if env.contains("PYTHONPATH") else [])
        env.insert("PYTHONPATH", os.pathsep.join(paths))
        p.setProcessEnvironment(env)
        p.setWorkingDirectory(str(ROOT))
        p.readyReadStandardOutput.connect(self._read)
        p.readyReadStandardError.connect(lambda: self._errors.extend(
            bytes(p.readAllStandardError()).decode(errors="replace").splitlines()))
        p.finished.connect(self._done)
        args = ["-m", "core.cli", "finetune", "--dataset", str(folder), "--model", str(base_model), "--json-progress"]
        args += ["--steps", str(steps)] if steps else []
        p.start(sys.executable, args + (["--resume"] if resume else []))
        self.process = p

    def cancel(self) -> None:
        if self.running():
            self.process.terminate()  # SIGTERM: the run saves where it is and stops

    def wait(self, ms: int) -> bool:
        return self.process is None or self.process.waitForFinished(ms)

    def _read(self) -> None:
        self._buffer += bytes(self.process.readAllStandardOutput())
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            self._version = event.get("version", self._version)  # the run's last event names it
            self.progress.emit(event.get("stage", ""), int(event.get("done", 0)), int(event.get("total", 1)))

    def _done(self, code: int, status) -> None:
        self._read()
        record = next((v.record for v in versions(self.folder) if v.name == self._version), None)
        if code == 0 and record and record.get("status") == "done":
            self.finished.emit(record, "")
        elif code == 130 or (record and record.get("status") == "cancelled"):
            self.finished.emit(record or {"status": "cancelled"},
                               "Fine-tuning cancelled; resume it from Dataset > Model Versions")
        else:
            errors = [e for e in self._errors if e.startswith("mf2:")] or self._errors[-1:] or [f"exit code {code}"]
            self.finished.emit(None, "Fine-tuning failed: " + errors[-1].removeprefix("mf2: "))


class VersionsDialog(QDialog):
    """The dataset's model versions with their held-out figures: use one, roll back, or resume."""

    def __init__(self, folder: Path, parent=None):
        super().__init__(parent)
        self.setWindowTitle(f"Model versions — {Path(folder).name}")
        self.choice: str | None = None
        self.items = versions(folder)
        active = active_model(folder)
        table = QTableWidget(len(self.items) + 1, 5, self)
        table.setHorizontalHeaderLabels(["Version", "Status", "Data", "Held-out: before → after", "Settings"])
        rows = [("base", "shipped" + (" · in use" if active is None else ""), "", "", "")]
        for v in self.items:
            r = v.record
            data = r.get("data", {})
            replay = data.get("replay") or {}
            verdict = "" if not r.get("after") else " · better" if r.get("improved") else " · not better"
            rows.append((v.name, v.status + verdict + (" · in use" if active == v.path else ""),
                         f"{data.get('train', '?')} train, {data.get('heldout', '?')} held out, "
                         f"replay {replay.get('samples', 0)}", figures_line(r) if r.get("after") else "",
                         f"{r.get('settings', {}).get('steps', '?')} steps, created {r.get('created', '?')}"))
        for i, row in enumerate(rows):
            for j, text in enumerate(row):
                table.setItem(i, j, QTableWidgetItem(text))
        table.verticalHeader().hide()
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        table.horizontalHeader().setStretchLastSection(True)
        table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        table.selectRow(len(rows) - 1)
        self.table = table
        self.use_button = QPushButton("Use this version", clicked=self._use)
        self.resume_button = QPushButton("Resume this run", clicked=self._resume)
        table.itemSelectionChanged.connect(self._selection)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, rejected=self.reject)
        buttons.addButton(self.use_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.resume_button, QDialogButtonBox.ButtonRole.ActionRole)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Each fine-tuning run is a version; choose one to use it now, or the base model "
                                "to roll back. Figures are on the dataset's held-out faces."))
        layout.addWidget(table)
        layout.addWidget(buttons)
        self._selection()
        self.resize(1180, 320)

    def _selected(self):
        row = self.table.currentRow()
        return None if row <= 0 else self.items[row - 1]

    def _selection(self) -> None:
        v = self._selected()
        self.use_button.setEnabled(self.table.currentRow() == 0 or (v is not None and v.usable))
        unfinished = [u for u in self.items if u.status in UNFINISHED]
        self.resume_button.setEnabled(v is not None and bool(unfinished) and v is unfinished[-1])  # what --resume runs

    def _use(self) -> None:
        v = self._selected()
        self.choice = v.name if v else None
        self.accept()

    def _resume(self) -> None:
        self.choice = "resume"
        self.accept()
