"""The studio's main window. For now: open a video or image and see its faces found."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QThreadPool
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMessageBox

from core.video import IMAGE_SUFFIXES, VIDEO_SUFFIXES

from .frame_view import FrameView, draw_faces, to_qimage
from .workers import FirstFrameJob

MEDIA_FILTER = "Videos and images (" + " ".join(f"*{s}" for s in sorted(VIDEO_SUFFIXES | IMAGE_SUFFIXES)) + ")"


class MainWindow(QMainWindow):
    def __init__(self):
        super().__init__()
        self.setWindowTitle("MF² Studio")
        self.resize(1100, 720)
        self.view = FrameView(self)
        self.setCentralWidget(self.view)
        self.faces: list = []
        self._jobs: set[FirstFrameJob] = set()
        open_action = QAction("&Open…", self, shortcut=QKeySequence.StandardKey.Open, triggered=self.choose_file)
        quit_action = QAction("&Quit", self, shortcut=QKeySequence.StandardKey.Quit, triggered=self.close)
        file_menu = self.menuBar().addMenu("&File")
        file_menu.addAction(open_action)
        file_menu.addAction(quit_action)
        self.statusBar().showMessage("Open a video or image (Ctrl+O)")

    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open video or image", str(Path.home()), MEDIA_FILTER)
        if path:
            self.open(path)

    def open(self, spec: str) -> None:
        """Load ``spec`` in the background; the window stays responsive meanwhile."""
        self.statusBar().showMessage(f"Opening {spec}…")
        job = FirstFrameJob(spec)
        job.signals.done.connect(self._show)
        job.signals.failed.connect(self._fail)
        self._jobs.add(job)
        job.signals.done.connect(lambda *_: self._jobs.discard(job))
        job.signals.failed.connect(lambda *_: self._jobs.discard(job))
        QThreadPool.globalInstance().start(job)

    def _show(self, rgb, faces, description: str) -> None:
        self.faces = faces
        self.view.set_image(draw_faces(to_qimage(rgb), faces))
        self.statusBar().showMessage(description)

    def _fail(self, message: str) -> None:
        self.statusBar().showMessage(message)
        QMessageBox.warning(self, "MF² Studio", message)
