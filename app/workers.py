"""Background work for the window: the GUI thread never decodes, hashes or runs a model itself.

Each job is a QRunnable whose results come back as queued Qt signals. Jobs carry no reference
to widgets; the window drops results of a job it no longer waits for.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

from PySide6.QtCore import QObject, QRunnable, Signal

from core.analysis import Analysis, run_analysis
from core.cache import AnalysisCache, content_digest
from core.errors import InputError
from core.faces import FaceTracker
from core.faces.tracker import DETECT_EVERY
from core.playback import FrameReader
from core.video import open_source

BATCH_SECONDS = 0.25  # how often results reach the GUI while a video is analysed


class Job(QRunnable):
    class Signals(QObject):
        done = Signal(object)
        failed = Signal(str)

    def __init__(self):
        super().__init__()
        self.signals = self.Signals()

    def run(self) -> None:
        try:
            self.signals.done.emit(self.work())
        except InputError as e:
            self.signals.failed.emit(str(e))
        except Exception as e:  # noqa: BLE001 - a job must report, never die silently in a pool thread
            self.signals.failed.emit(f"{type(e).__name__}: {e}")

    def work(self):
        raise NotImplementedError


class CallJob(Job):
    """Any function of no arguments, run in the pool (exports, statistics)."""

    def __init__(self, work):
        super().__init__()
        self.work = work


class LoadModelJob(Job):
    """Loads the MF² model (torch import and weights take a few seconds on first use)."""

    def __init__(self, model_dir: Path, device: str):
        super().__init__()
        self.model_dir, self.device = model_dir, device

    def work(self):
        from core.cache import model_digest
        from core.device import resolve_device
        from core.model.scorer import FaceScorer

        if not (self.model_dir / "model.safetensors").is_file():
            raise InputError(f"{self.model_dir}: no model.safetensors here; showing faces only")
        return FaceScorer(self.model_dir, resolve_device(self.device)), model_digest(self.model_dir)


class LoadTextEncoderJob(Job):
    """Loads the sentence encoder text search needs (about 2 s; the window keeps it once loaded)."""

    def work(self):
        from core.model.text import TextEncoder

        return TextEncoder()


class OpenJob(Job):
    """Opens a video for playback (reading every packet's timestamp takes a moment on long files)."""

    def __init__(self, spec: str, callbacks):
        super().__init__()
        self.spec, self.callbacks = spec, callbacks

    def work(self) -> FrameReader:
        return FrameReader(self.spec, *self.callbacks)


class OpenCameraJob(Job):
    """Opens a camera, or a video played in real time standing in for one."""

    def __init__(self, spec: str, paced: bool):
        super().__init__()
        self.spec, self.paced = spec, paced

    def work(self):
        return open_source(self.spec, paced=self.paced)


class AnalysisJob(QRunnable):
    """Faces + MF² over a whole video, reported in batches; a complete run is cached on disk
    (content hash + model + tracker settings) and a cached one is returned without decoding anything.

    The frames go into ``analysis`` (made here when not given): the window passes the one it shows,
    so an hour's analysis is held once, filled by this thread while the window reads it (`Analysis`
    locks itself). The ``results`` batches only tell the window which frames came."""

    class Signals(QObject):
        status = Signal(str)
        digest = Signal(str)            # the video file's content digest (core.cache.content_digest)
        progress = Signal(int, int)     # frames done, frames in the video
        results = Signal(list)          # FrameResults since the last batch (already in the analysis)
        finished = Signal(object, str)  # the Analysis, and '' or why it stopped early
        failed = Signal(str)

    def __init__(self, spec: str, scorer, model_key: str, max_faces: int, use_cache: bool = True,
                 detect_every: int = DETECT_EVERY, analysis: Analysis | None = None):
        super().__init__()
        self.spec, self.scorer, self.model_key = spec, scorer, model_key
        self.max_faces, self.detect_every, self.use_cache = max_faces, detect_every, use_cache
        self.analysis = analysis
        self.signals = self.Signals()
        self._cancel = threading.Event()
        self.cache_path: Path | None = None

    def cancel(self) -> None:
        self._cancel.set()

    def run(self) -> None:
        try:
            self._run()
        except InputError as e:
            self.signals.failed.emit(str(e))
        except Exception as e:  # noqa: BLE001
            self.signals.failed.emit(f"{type(e).__name__}: {e}")

    def _run(self) -> None:
        cache = AnalysisCache()
        path = Path(self.spec)
        if path.is_file():
            self.signals.status.emit(f"Checking the cache for {path.name}…")
            digest = content_digest(path)
            self.signals.digest.emit(digest)
            self.cache_path = cache.path(digest, self.model_key, self.max_faces, self.detect_every)
            cached = cache.load(self.cache_path) if self.use_cache else None
            if cached is not None:
                self.signals.finished.emit(cached, "")
                return
        with open_source(self.spec) as source, FaceTracker(max_faces=self.max_faces, static=source.static,
                                                           detect_every=self.detect_every) as tracker:
            analysis = self.analysis if self.analysis is not None else \
                Analysis.for_scorer(self.scorer, source.frame_count, self.spec)
            if analysis.frame_count is None:
                analysis.frame_count = source.frame_count
            total = source.frame_count or 0
            batch: list = []
            last = time.monotonic()

            def on_frame(result) -> None:
                nonlocal last, batch
                batch.append(result)
                if time.monotonic() - last > BATCH_SECONDS or len(analysis) == total:
                    self.signals.results.emit(batch)
                    self.signals.progress.emit(len(analysis), total)
                    batch, last = [], time.monotonic()

            self.signals.status.emit(f"Analysing {source.name}…")
            stopped = run_analysis(source, analysis, tracker, self.scorer, on_frame, self._cancel.is_set)
            if batch:
                self.signals.results.emit(batch)
        if stopped is None and self.cache_path is not None:
            cache.save(self.cache_path, analysis)
        self.signals.finished.emit(analysis, stopped or "")
