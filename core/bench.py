"""Speed figures for the analysis path, as medians over frames with start-up excluded.

Stages on one video: decoding alone, face detection + landmarks alone (on frames decoded
beforehand, detectors on every frame and as `analyze` runs them), and the whole `analyze` path
(decode, faces, pose, CSV row) as it runs for real, without and with the model.
`bench_live` plays a video in real time through the live path, as the studio shows a webcam.
"""
from __future__ import annotations

import math
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .analysis import csv_writer, write_result
from .baseline import SETTLE_S
from .errors import InputError
from .faces import FaceTracker
from .faces.tracker import DETECT_EVERY
from .live import LiveAnalyzer
from .pipeline import analysed_frames
from .video import open_source

DISPLAY_HZ = 60.0
WINDOW = 32  # frames per timing window of the whole path


@dataclass
class StageTiming:
    name: str
    frame_ms: list[float]
    unit: str = "frames"  # what each figure of frame_ms is the time of (a frame, or a frame within a window)

    @property
    def median_fps(self) -> float:
        return 1000.0 / statistics.median(self.frame_ms)

    @property
    def throughput_fps(self) -> float:
        return 1000.0 * len(self.frame_ms) / sum(self.frame_ms)

    def line(self) -> str:
        return (f"{self.name:<34} median {statistics.median(self.frame_ms):6.2f} ms/frame = {self.median_fps:7.1f} fps"
                f"   (throughput {self.throughput_fps:6.1f} fps over {len(self.frame_ms)} {self.unit})")


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


def bench_video(path: str, max_faces: int = 8, model_dir=None) -> list[StageTiming]:
    """``model_dir``: include the MF² model in the whole path, as `analyze` runs it."""
    with open_source(path) as source:
        decode = [ms for _, ms in _timed(source)]
    with open_source(path) as source:
        frames = [f.rgb for f in source]
    faces_ms = {}
    for every in (1, DETECT_EVERY):  # detectors on every frame, then as `analyze` runs them
        with FaceTracker(max_faces=max_faces, detect_every=every) as tracker:
            tracker.process(frames[0])  # warm-up: model load and first detection excluded
            faces_ms[every] = []
            for rgb in frames:
                t0 = time.perf_counter()
                tracker.process(rgb)
                faces_ms[every].append((time.perf_counter() - t0) * 1000.0)
    del frames
    stages = [StageTiming("decode", decode), StageTiming("detection + landmarks, every frame", faces_ms[1]),
              StageTiming(f"landmarks, detection every {DETECT_EVERY}", faces_ms[DETECT_EVERY]),
              StageTiming("whole analyze path, no model", _whole_path(path, max_faces, None), f"{WINDOW}-frame windows")]
    if model_dir is not None:
        from .model.scorer import FaceScorer

        stages.append(StageTiming("whole analyze path + MF²", _whole_path(path, max_faces, FaceScorer(Path(model_dir))),
                                  f"{WINDOW}-frame windows"))
    return stages


def _whole_path(path: str, max_faces: int, scorer) -> list[float]:
    """ms a frame of the `analyze` path as it runs (faces on one thread while the model reads
    earlier frames in batches, CSV rows written): results come in bursts of a batch, so the mean
    over each window of WINDOW frames (the first SETTLE_S of video, with start-up and the burst of
    each person's settled first rows, left out)."""
    aus, emotions = (scorer.aus, scorer.emotions) if scorer else ((), ())
    with tempfile.TemporaryDirectory() as tmp, open_source(path) as source, \
            FaceTracker(max_faces=max_faces) as tracker:
        writer = csv_writer(Path(tmp) / "bench.csv", aus, emotions)
        done, fps = [], source.fps
        for result in analysed_frames(source, tracker, scorer):
            write_result(writer, result, aus, emotions)
            done.append(time.perf_counter())
        writer.close()
    # past start-up and the first rows' settling burst (a short clip: at least one window is left)
    first = min(WINDOW * math.ceil(SETTLE_S * (fps or 30) / WINDOW), max(WINDOW, len(done) - 2 * WINDOW))
    return [(done[i + WINDOW] - done[i]) * 1000.0 / WINDOW for i in range(first, len(done) - WINDOW, WINDOW)]


def bench_live(path: str, model_dir=None, seconds: float = 10.0) -> list[str]:
    """``path`` played as a webcam (`PacedVideo`) through a `LiveAnalyzer`, with a display loop
    polling it at DISPLAY_HZ as the GUI does: medians over 1-s windows (``seconds`` of them, from
    the first result on, so start-up is excluded) of the frames displayed, analysed and dropped,
    and of the latency from a frame being read to its result."""
    scorer = None
    if model_dir is not None:
        from .model.scorer import FaceScorer

        scorer = FaceScorer(Path(model_dir))
    live = LiveAnalyzer(open_source(path, paced=True), scorer)
    windows = []  # (displayed, analysed, dropped fraction, latency ms or None)
    live.start()
    try:
        while live.running and live.latest()[1] is None:
            time.sleep(1 / DISPLAY_HZ)
        before = live.stats()
        shown, displayed = None, 0
        tick = time.monotonic()
        window_end = tick + 1.0
        while live.running and len(windows) < max(1, round(seconds)):
            frame, _ = live.latest()
            if frame is not shown:
                shown, displayed = frame, displayed + 1
            if time.monotonic() >= window_end:
                now = live.stats(window=1.0)
                read = now.frames_read - before.frames_read
                windows.append((displayed, now.frames_analysed - before.frames_analysed,
                                (now.frames_dropped - before.frames_dropped) / read if read else 0.0, now.latency_ms))
                before, displayed, window_end = now, 0, window_end + 1.0
            tick = max(tick + 1 / DISPLAY_HZ, time.monotonic())
            time.sleep(max(0.0, tick - time.monotonic()))
    finally:
        live.stop()
    if live.error:
        raise InputError(live.error)
    if not windows:
        raise InputError(f"{path}: too short for a live run (it ended within a second of the first result)")
    displayed, analysed, dropped, latency = zip(*windows)
    latency = [ms for ms in latency if ms is not None]
    return [f"{'live: displayed':<22} median {statistics.median(displayed):6.1f} fps   "
            f"(display polled at {DISPLAY_HZ:.0f} Hz, over {len(windows)} 1-s windows)",
            f"{'live: analysed':<22} median {statistics.median(analysed):6.1f} fps",
            f"{'live: dropped':<22} median {statistics.median(dropped):6.1%} of frames read",
            f"{'live: latency':<22} " + (f"median {statistics.median(latency):6.1f} ms from frame read to result ready"
                                         if latency else "no result within any window")]


def bench_model(model_dir, device: str = "cpu", batch: int = 256, repeats: int = 200) -> list[str]:
    """The model as the analyse path calls it (`FaceScorer.read` on prepared crops: tensor
    conversion, forward, logits back): median ms per face for one face alone (live) and in the
    padded calls of 8 that file analysis makes, on one CPU thread as `analyze` runs it beside
    MediaPipe; and faces/s at ``batch`` on all cores (or the GPU)."""
    import numpy as np
    import torch

    from .faces.regions import EYES
    from .model.scorer import FaceInputs, FaceScorer
    from .model.transform import CANONICAL_CENTERS

    scorer = FaceScorer(Path(model_dir), device)
    size = scorer.model.cfg.input_size
    rng = np.random.default_rng(0)

    def timed(n, count, step):
        faces = FaceInputs(rng.integers(0, 255, (n, size, size), dtype=np.uint8),
                           np.repeat(CANONICAL_CENTERS[None], n, 0), np.ones(n), np.zeros((n, len(scorer.cfg.regions) + len(EYES)), bool))
        for _ in range(5):
            scorer.read(faces, step)
        times = []
        for _ in range(count):
            t0 = time.perf_counter()
            scorer.read(faces, step)  # returns numpy: synchronised on GPU too
            times.append(time.perf_counter() - t0)
        return statistics.median(times) / n

    where = "cpu, 1 thread" if device == "cpu" else device
    lines = [f"{'model, 1 face alone':<26} median {timed(1, repeats, None) * 1000:6.2f} ms/face ({where}: live)",
             f"{'model, calls of ' + str(scorer.batch):<26} median {timed(scorer.batch, repeats // 4, scorer.batch) * 1000:6.2f}"
             f" ms/face ({where}: file analysis)"]
    if device == "cpu":
        torch.set_num_threads(os.cpu_count() or 1)
        where = f"cpu, {os.cpu_count()} threads"
    lines.append(f"{'model, calls of ' + str(batch):<26} median {1 / timed(batch, 10, batch):8.0f} faces/s ({where})")
    return lines


def _peak_rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024


def _train_one_epoch(args) -> dict:
    import torch

    from .data.prepare import prepare
    from .data.sources import load_au_csv
    from .training.checkpoint import load_model
    from .training.loop import TrainSettings, train

    model_dir, labels, phase, device = args
    data = prepare(load_au_csv(labels), 48)
    model = load_model(model_dir, device)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak resident size (Linux), so the peak below is training's own
    base = _peak_rss_mb()
    with tempfile.TemporaryDirectory() as tmp:
        history = train(model, data, Path(tmp), TrainSettings(phase=phase, epochs=2, batch_size=64, device=device,
                                                              tasks=("au",)), log=open(os.devnull, "w"))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    peak = torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else \
        _peak_rss_mb() - base
    return {"phase": phase, "trainable": trainable, "seconds": history[-1]["seconds"], "peak_mb": peak}


def bench_dfn(model_dir, labels, device: str = "cpu") -> list[str]:
    """DFN (encoder frozen, heads trained) against full fine-tuning, on the AU task of ``labels``:
    trainable parameters, seconds per epoch (the second, warm one) and peak memory, each mode in a
    fresh process so the peaks do not mix."""
    import multiprocessing as mp

    lines = []
    with mp.get_context("spawn").Pool(1, maxtasksperchild=1) as pool:
        for phase, name in (("finetune", "DFN (heads only)"), ("pretrain", "full fine-tuning")):
            r = pool.apply(_train_one_epoch, ((str(model_dir), str(labels), phase, device),))
            memory = "peak GPU memory" if device == "cuda" else "peak RSS growth"
            lines.append(f"{name:<22} {r['trainable']:>10,} trainable parameters, {r['seconds']:6.1f} s/epoch, "
                         f"{memory} {r['peak_mb']:7.1f} MB")
    return lines
