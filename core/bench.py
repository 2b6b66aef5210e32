"""Speed figures for the analysis path, as medians over frames with start-up excluded.

Three stages on one video: decoding alone, face detection + landmarks alone (on frames decoded
beforehand), and the whole `analyze` path (decode, faces, pose, CSV row) as it runs for real.
"""
from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .export import OpenFaceWriter
from .faces import FaceTracker
from .video import open_source


@dataclass
class StageTiming:
    name: str
    frame_ms: list[float]

    @property
    def median_fps(self) -> float:
        return 1000.0 / statistics.median(self.frame_ms)

    @property
    def throughput_fps(self) -> float:
        return 1000.0 * len(self.frame_ms) / sum(self.frame_ms)

    def line(self) -> str:
        return (f"{self.name:<22} median {statistics.median(self.frame_ms):6.2f} ms/frame = {self.median_fps:7.1f} fps"
                f"   (throughput {self.throughput_fps:6.1f} fps over {len(self.frame_ms)} frames)")


def _timed(iterable):
    """Yield (item, ms spent producing it)."""
    it = iter(iterable)
    while True:
        t0 = time.perf_counter()
        try:
            item = next(it)
        except StopIteration:
            return
        yield item, (time.perf_counter() - t0) * 1000.0


def bench_video(path: str, max_faces: int = 8) -> list[StageTiming]:
    with open_source(path) as source:
        decode = [ms for _, ms in _timed(source)]
    with open_source(path) as source:
        frames = [f.rgb for f in source]
    with FaceTracker(max_faces=max_faces) as tracker:
        tracker.process(frames[0])  # warm-up: model load and first detection excluded
        faces_ms = []
        for rgb in frames:
            t0 = time.perf_counter()
            tracker.process(rgb)
            faces_ms.append((time.perf_counter() - t0) * 1000.0)
    del frames
    whole = []
    with tempfile.TemporaryDirectory() as tmp, open_source(path) as source, \
            FaceTracker(max_faces=max_faces) as tracker:
        writer = OpenFaceWriter(Path(tmp) / "bench.csv")
        frames_iter = iter(source)
        first = next(frames_iter)
        writer.write(first.index, first.timestamp, tracker.process(first.rgb))  # warm-up
        while True:
            t0 = time.perf_counter()
            frame = next(frames_iter, None)
            if frame is None:
                break
            writer.write(frame.index, frame.timestamp, tracker.process(frame.rgb))
            whole.append((time.perf_counter() - t0) * 1000.0)
        writer.close()
    return [StageTiming("decode", decode), StageTiming("detection + landmarks", faces_ms),
            StageTiming("whole analyze path", whole)]
