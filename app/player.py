"""Playback of an opened video: a clock that turns wall time (times speed) into the frame due now.

Frames come from a `FrameReader` thread. The clock asks for the due frame only when the reader
is idle, so a slow decode drops frames instead of falling behind: playback stays in real time.
"""
from __future__ import annotations

import bisect
import time

from PySide6.QtCore import QObject, Qt, QTimer, Signal

from core.playback import FrameReader

SPEEDS = (0.25, 0.5, 1.0, 1.5, 2.0, 4.0)



def clock(seconds: float) -> str:
    """mm:ss.ss, as the transport bar and the search list show times."""
    minutes, s = divmod(max(0.0, seconds), 60)
    return f"{int(minutes):02d}:{s:05.2f}"

class Player(QObject):
    frame_ready = Signal(object)    # core.video.Frame, in the GUI thread
    failed = Signal(str)
    playing_changed = Signal(bool)
    speed_changed = Signal(float)
    _decoded = Signal(int, object)  # (reader generation, frame) from the reader thread
    _error = Signal(int, str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.reader: FrameReader | None = None
        self.index = -1           # frame on screen
        self.playing = False
        self.speed = 1.0
        self._anchor = (0.0, 0.0)  # (wall clock, video time) when play started or speed changed
        self._timer = QTimer(self, interval=5, timerType=Qt.TimerType.PreciseTimer, timeout=self._tick)
        self._decoded.connect(self._on_decoded, Qt.ConnectionType.QueuedConnection)
        self._error.connect(self._on_error, Qt.ConnectionType.QueuedConnection)
        self._generation = 0

    def callbacks(self):
        """(on_frame, on_error) for the next FrameReader. They run on the reader's thread; the
        signals hop to the GUI thread, and frames of a reader since replaced are ignored."""
        self._generation += 1
        gen = self._generation
        return (lambda frame: self._decoded.emit(gen, frame)), (lambda message: self._error.emit(gen, message))

    def load(self, reader: FrameReader) -> None:
        self.close()
        self.reader = reader
        self.index = -1
        reader.request(0)

    def close(self) -> None:
        self.pause()
        if self.reader is not None:
            self.reader.close()
            self.reader = None

    @property
    def frame_count(self) -> int:
        return self.reader.frame_count if self.reader else 0

    @property
    def duration(self) -> float:
        if not self.reader or not self.reader.times:
            return 0.0
        step = 1.0 / self.reader.fps if self.reader.fps else 0.04
        return self.reader.times[-1] + step

    def time_of(self, index: int) -> float:
        return self.reader.time_of(index) if self.reader else 0.0

    def index_at(self, seconds: float) -> int:
        """The frame on screen at ``seconds``: the last one starting at or before it."""
        if not self.reader or not self.reader.times:
            return 0
        return max(0, bisect.bisect_right(self.reader.times, seconds + 1e-6) - 1)

    def play(self) -> None:
        if not self.reader or not self.reader.seekable or self.playing:
            return
        if self.index >= self.frame_count - 1:
            self.seek_index(0)
        self.playing = True
        self._anchor = (time.monotonic(), self.time_of(max(self.index, 0)))
        self._timer.start()
        self.playing_changed.emit(True)

    def pause(self) -> None:
        if self.playing:
            self.playing = False
            self._timer.stop()
            self.playing_changed.emit(False)

    def toggle(self) -> None:
        self.pause() if self.playing else self.play()

    def step(self, frames: int) -> None:
        self.pause()
        if self.reader:
            self.reader.request(self.index + frames)

    def seek_time(self, seconds: float) -> None:
        self.seek_index(self.index_at(seconds))

    def seek_index(self, index: int) -> None:
        if not self.reader:
            return
        index = max(0, min(index, self.frame_count - 1))
        self.reader.request(index)
        if self.playing:
            self._anchor = (time.monotonic(), self.time_of(index))

    def set_speed(self, speed: float) -> None:
        self._anchor = (time.monotonic(), self._clock())
        self.speed = speed
        self.speed_changed.emit(speed)

    def change_speed(self, steps: int) -> None:
        i = min(range(len(SPEEDS)), key=lambda k: abs(SPEEDS[k] - self.speed))
        self.set_speed(SPEEDS[max(0, min(len(SPEEDS) - 1, i + steps))])

    def _clock(self) -> float:
        if not self.playing:
            return self.time_of(max(self.index, 0))
        wall, video = self._anchor
        return video + (time.monotonic() - wall) * self.speed

    def _tick(self) -> None:
        due = self.index_at(self._clock())
        if due >= self.frame_count - 1 and self.index >= self.frame_count - 1:
            self.pause()
            return
        if due != self.index and self.reader.idle:
            self.reader.request(due)

    def _on_decoded(self, gen: int, frame) -> None:
        if self.reader is None or gen != self._generation:
            return
        self.index = frame.index
        self.frame_ready.emit(frame)

    def _on_error(self, gen: int, message: str) -> None:
        if gen != self._generation:
            return
        self.pause()
        self.failed.emit(message)
