"""Background work for the window: the GUI thread never decodes or runs models itself."""
from __future__ import annotations

from PySide6.QtCore import QObject, QRunnable, Signal

from core.errors import InputError
from core.faces import FaceTracker
from core.video import open_source


class FirstFrameSignals(QObject):
    done = Signal(object, object, str)  # rgb frame, faces, description line
    failed = Signal(str)


class FirstFrameJob(QRunnable):
    """Open an input, decode its first frame and find the faces in it."""

    def __init__(self, spec: str):
        super().__init__()
        self.spec = spec
        self.signals = FirstFrameSignals()

    def run(self) -> None:
        try:
            with open_source(self.spec) as source:
                frame = next(iter(source))
                with FaceTracker(static=True) as tracker:
                    faces = tracker.process(frame.rgb)
                h, w = frame.rgb.shape[:2]
                length = f", {source.frame_count} frames at {source.fps:.2f} fps" if source.fps else ""
                self.signals.done.emit(frame.rgb, faces, f"{source.name}: {w}x{h}{length}, {len(faces)} face(s)")
        except (InputError, StopIteration) as e:
            self.signals.failed.emit(str(e) or f"{self.spec}: no frame could be read")
