"""A one-line terminal progress display for one or many inputs: percent, fps and ETA."""
from __future__ import annotations

import sys
import time
from typing import Callable, TextIO


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 \
        else f"{seconds // 60}:{seconds % 60:02d}"


class ProgressLine:
    """Redraws one line on a terminal; prints nothing when the stream is not a terminal."""

    def __init__(self, n_jobs: int, stream: TextIO = sys.stderr, min_interval: float = 0.1,
                 expected: Callable[[], dict[str, int | None]] | None = None):
        """``expected``: gives each input's frames as estimated before it begins (asked only when
        the line is shown), so the percentage and ETA cover every input from the start."""
        self.stream = stream
        self.enabled = stream.isatty()
        self.n_jobs = n_jobs
        self.min_interval = min_interval
        self._done: dict[str, int] = {}
        self._total: dict[str, int | None] = dict(expected()) if expected and self.enabled else {}
        self._finished = 0
        self._t0 = time.monotonic()
        self._last_draw = 0.0
        self._width = 0

    def update(self, job: str, done: int, total: int | None) -> None:
        self._done[job], self._total[job] = done, total
        now = time.monotonic()
        if self.enabled and now - self._last_draw >= self.min_interval:
            self._last_draw = now
            self._draw(now)

    def job_finished(self) -> None:
        self._finished += 1

    def line(self, now: float) -> str:
        done = sum(self._done.values())
        elapsed = max(now - self._t0, 1e-9)
        fps = done / elapsed
        text = f"[{self._finished}/{self.n_jobs} inputs] {done} frames, {fps:.1f} fps"
        totals = list(self._total.values())
        if totals and all(t is not None for t in totals) and sum(totals):
            total = sum(totals)
            pct = min(100.0, 100.0 * done / total)
            bar = "#" * int(pct / 5) + "-" * (20 - int(pct / 5))
            eta = (total - done) / fps if fps > 0 else 0.0
            text = f"[{bar}] {pct:5.1f}% {done}/{total} frames, {fps:.1f} fps, ETA {_clock(eta)}" \
                   f" [{self._finished}/{self.n_jobs} inputs]"
        return text

    def _draw(self, now: float) -> None:
        text = self.line(now)
        self.stream.write("\r" + text.ljust(self._width))
        self.stream.flush()
        self._width = len(text)

    def clear(self) -> None:
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0
