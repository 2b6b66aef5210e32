"""Live analysis: show a camera (or a `PacedVideo`) smoothly while analysing it, never lagging.

Two daemon threads. The reader keeps only the newest frame, so display never waits on analysis;
the analyser takes the newest frame each time it is free, so frames that arrive while it works
are dropped rather than queued, and results stay close to real time. Front ends poll `latest()`
at their own display rate. A source that fails (a camera unplugged) ends like one that runs out:
the newest frame read is still analysed, so what came before the failure is kept.
A new face's person (core.faces.people) is decided from its first frame analysed, so that no
result waits for the frames after it.
"""
from __future__ import annotations

import statistics
import threading
import time
from collections import deque
from dataclasses import dataclass

from .analysis import FrameResult, analyze_frame
from .errors import InputError
from .faces import FaceTracker
from .faces.people import People
from .video import Frame, Source

HISTORY_S = 10.0  # how far back `stats` can look
UNREAD_MAX = 1000  # results kept for a front end that has not taken them (about 30 s of analysis)


@dataclass(frozen=True)
class LiveStats:
    frames_read: int
    frames_analysed: int
    frames_dropped: int        # replaced by a newer frame before the analyser was free
    read_fps: float            # over the window `stats` was asked for
    analysed_fps: float
    latency_ms: float | None   # median, frame read -> its result ready (None: no result in the window)


class LiveAnalyzer:
    def __init__(self, source: Source, scorer=None, max_faces: int = 8):
        """``scorer``: a FaceScorer for AU and emotion scores, or None for faces only."""
        self.source = source
        self.scorer = scorer
        if scorer is not None:
            scorer.reset()  # new tracks: no person baseline carries over from an earlier video
        self.max_faces = max_faces
        self.error: str | None = None   # one line: why the source or the analysis failed, set as both threads end
        self._wake = threading.Condition()  # guards everything below
        self._frame: Frame | None = None
        self._frame_read_at = 0.0
        self._read = self._analysed = self._dropped = 0
        self._pending = False       # the newest frame is not yet taken by the analyser
        self._reader_done = self._halt = False
        self._alive = 0
        self._failure: str | None = None
        self._result: FrameResult | None = None
        self._unread: deque[FrameResult] = deque(maxlen=UNREAD_MAX)  # results not yet taken
        self._reads: deque[tuple[float, None]] = deque()      # (read at, -)
        self._results: deque[tuple[float, float]] = deque()   # (ready at, latency in s)
        self._threads: list[threading.Thread] = []
        self._started = time.monotonic()
        self._closed = False

    def start(self) -> None:
        self._started = time.monotonic()
        self._alive = 2
        self._threads = [threading.Thread(target=self._read_loop, name="live-reader", daemon=True),
                         threading.Thread(target=self._analyse_loop, name="live-analyser", daemon=True)]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Join the threads, then close the source (the analyser closes its tracker). Idempotent."""
        with self._wake:
            self._halt = True
            self._wake.notify_all()
        for thread in self._threads:
            thread.join()
        if not self._closed:
            self._closed = True
            self.source.close()

    @property
    def running(self) -> bool:
        return any(thread.is_alive() for thread in self._threads)

    def latest(self) -> tuple[Frame | None, FrameResult | None]:
        """The newest frame read, and the newest result (possibly of an older frame). The frame's
        pixels are shared with the analyser: draw on a copy."""
        with self._wake:
            return self._frame, self._result

    def take_results(self) -> list[FrameResult]:
        """Every result since the last call, oldest first: a front end that records the session
        gets each analysed frame, however its polling lines up with the analyser."""
        with self._wake:
            results = list(self._unread)
            self._unread.clear()
            return results

    def stats(self, window: float = 2.0) -> LiveStats:
        """Counts so far, and rates and latency over the last ``window`` seconds (at most HISTORY_S)."""
        with self._wake:
            now = time.monotonic()
            since = now - window
            span = max(min(window, now - self._started), 1e-6)
            reads = sum(t >= since for t, _ in self._reads)
            latencies = [latency for t, latency in self._results if t >= since]
            return LiveStats(self._read, self._analysed, self._dropped, reads / span, len(latencies) / span,
                             statistics.median(latencies) * 1000.0 if latencies else None)

    def _read_loop(self) -> None:
        failure = None
        try:
            for frame in self.source:
                now = time.monotonic()
                with self._wake:
                    if self._halt:
                        return
                    self._dropped += self._pending
                    self._frame, self._frame_read_at, self._pending = frame, now, True
                    self._read += 1
                    _push(self._reads, now)
                    self._wake.notify_all()
        except Exception as e:
            failure = _one_line(e)
        finally:
            with self._wake:
                self._reader_done = True
            self._finish(failure)

    def _analyse_loop(self) -> None:
        tracker, failure = None, None
        try:
            tracker, people = FaceTracker(max_faces=self.max_faces), People()
            while True:
                with self._wake:
                    self._wake.wait_for(lambda: self._halt or self._pending or self._reader_done)
                    if self._halt or not self._pending:
                        return
                    frame, read_at, self._pending = self._frame, self._frame_read_at, False
                result = analyze_frame(frame, tracker, self.scorer, live=True, people=people)
                with self._wake:
                    now = time.monotonic()
                    self._result = result
                    self._unread.append(result)
                    self._analysed += 1
                    _push(self._results, now, now - read_at)
        except Exception as e:
            failure = _one_line(e)
            with self._wake:
                self._halt = True  # the reader has no one left to read for
        finally:
            if tracker is not None:
                tracker.close()
            self._finish(failure)

    def _finish(self, failure: str | None) -> None:
        """One thread ends. The first failure becomes `error` once both have ended, so that
        `latest()` by then holds the last result there will be."""
        with self._wake:
            self._failure = self._failure or failure
            self._alive -= 1
            if self._alive == 0:
                self.error = self._failure
            self._wake.notify_all()


def _one_line(error: Exception) -> str:
    """InputError's message as is (it names the input); anything else with its type."""
    text = str(error) if isinstance(error, InputError) else f"{type(error).__name__}: {error}"
    return " ".join(text.split())


def _push(history: deque, now: float, value=None) -> None:
    """Record (``now``, ``value``) and forget entries older than HISTORY_S."""
    history.append((now, value))
    while history[0][0] < now - HISTORY_S:
        history.popleft()
