"""Frames on request, decoded on a background thread, for a player that must never block.

The player asks for frame *i* whenever its clock or the user says so; only the newest request
is served (older ones are dropped), so seeking or scrubbing fast never builds a queue. Reading
forward by a few frames decodes on from where the decoder is, which is what playback does;
anything else is an exact seek.
"""
from __future__ import annotations

import threading
from typing import Callable

from .errors import InputError
from .video import Frame, VideoFile, open_source

FORWARD_LIMIT = 50  # frames a decoder reads on rather than seeking


class FrameReader:
    def __init__(self, spec: str, on_frame: Callable[[Frame], None], on_error: Callable[[str], None]):
        """Opens ``spec`` at once (InputError if it can't be); frames arrive on ``on_frame`` from
        the reader's thread."""
        self._source = open_source(spec)
        self.name = self._source.name
        self.seekable = isinstance(self._source, VideoFile)
        self.times = self._source.frame_times() if self.seekable else None
        self.frame_count = self._source.frame_count or 1
        self.fps = self._source.fps
        self._still = None if self.seekable else next(iter(self._source), None)
        self._on_frame = on_frame
        self._on_error = on_error
        self._wanted: int | None = None
        self._closed = False
        self._busy = False
        self._cond = threading.Condition()
        self._frames = None   # open decoder iterator
        self._last = -1       # index of the frame it yielded last
        self._thread = threading.Thread(target=self._run, name="frame-reader", daemon=True)
        self._thread.start()

    def time_of(self, index: int) -> float:
        return self.times[index] if self.times else 0.0

    def request(self, index: int) -> None:
        """Ask for frame ``index`` (clamped to the video); replaces any request not yet served."""
        with self._cond:
            self._wanted = max(0, min(index, self.frame_count - 1))
            self._cond.notify()

    @property
    def idle(self) -> bool:
        with self._cond:
            return self._wanted is None and not self._busy

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout=5)
        self._source.close()

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._wanted is None and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                index, self._wanted, self._busy = self._wanted, None, True
            try:
                frame = self._read(index)
            except InputError as e:
                self._frames = None
                self._on_error(str(e))
            else:
                if frame is not None:
                    self._on_frame(frame)
            finally:
                with self._cond:
                    self._busy = False

    def _read(self, index: int) -> Frame | None:
        if not self.seekable:
            return self._still
        if self._frames is None or not self._last < index <= self._last + FORWARD_LIMIT:
            self._frames = self._source.frames(self.times[index])
        for frame in self._frames:
            self._last = frame.index
            if frame.index >= index:
                return frame
        self._frames = None
        return None
