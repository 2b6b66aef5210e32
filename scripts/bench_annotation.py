"""Annotation figures: how long an accept takes to be durable, how long a fine-tuning run takes,
and how responsive the window stays while one runs in the background (run under Xvfb).

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python scripts/bench_annotation.py [VIDEO] [--samples 60]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ["MF2_CACHE"] = tempfile.mkdtemp(prefix="mf2-bench-")

from core.analysis import analyze_frame  # noqa: E402
from core.cli import default_model_dir  # noqa: E402
from core.dataset import CaptionSession, DatasetStore, Target, crop_face  # noqa: E402
from core.dataset.versions import run_finetune  # noqa: E402
from core.faces import FaceTracker  # noqa: E402
from core.model.scorer import FaceScorer  # noqa: E402
from core.quiet import silence_native_stderr  # noqa: E402
from core.training.dfn import DfnSettings  # noqa: E402
from core.video import open_source  # noqa: E402

VIDEO = Path(__file__).resolve().parents[2] / "shared/data/videos/WolfgangLanger_Pexels.mp4"


def build_dataset(video: str, folder: Path, n: int) -> list[float]:
    """Accept ``n`` faces spread over the video; returns each accept's milliseconds."""
    scorer = FaceScorer(default_model_dir())
    store = DatasetStore(folder)
    session = CaptionSession(store, scorer.version)
    times = []
    with open_source(video) as source, FaceTracker(max_faces=1) as tracker:
        step = max(1, (source.frame_count or n) // n)
        for frame in source:
            if frame.index % step or len(times) >= n:
                continue
            result = analyze_frame(frame, tracker, scorer)
            if not result.faces:
                continue
            face = result.faces[0]
            crop, landmarks = crop_face(frame.rgb, face.box, face.landmarks)
            session.open(Target(video, frame.index, face.track_id, frame.timestamp), crop, landmarks, face.au,
                         face.emotion)
            session.set_caption("global_text", f"Edited caption {frame.index}.")
            t0 = time.perf_counter()
            session.accept()
            times.append((time.perf_counter() - t0) * 1000)
    store.close()
    return times


def gui_during_finetune(folder: Path) -> tuple[list[float], float]:
    """Timer lateness (ms) in the window while `mf2 finetune` runs from it, and the run's seconds."""
    from PySide6.QtCore import QCoreApplication, QTimer
    from PySide6.QtWidgets import QApplication

    QCoreApplication.setOrganizationName("MF2 Studio bench")
    app = QApplication([])
    from app.main_window import MainWindow

    window = MainWindow()
    window.interactive = False
    window.show()
    lateness, last, start = [], [time.monotonic()], [0.0]

    def probe() -> None:
        now = time.monotonic()
        lateness.append((now - last[0] - 0.010) * 1000)
        last[0] = now

    ticker = QTimer(interval=10, timeout=probe)

    def go() -> None:
        window.annotator.open_dataset(folder)
        start[0] = last[0] = time.monotonic()
        window.annotator.start_finetune()
        ticker.start()

    def finished(record, message) -> None:
        ticker.stop()
        start[0] = time.monotonic() - start[0]
        app.quit()

    window.annotator.finetune.finished.connect(finished)
    window.model_ready.connect(go)
    app.exec()
    window.close()
    return lateness, start[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", nargs="?", default=str(VIDEO))
    parser.add_argument("--samples", type=int, default=60)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    silence_native_stderr()
    folder = Path(tempfile.mkdtemp(prefix="mf2-bench-ds-"))
    accepts = sorted(build_dataset(args.video, folder, args.samples))
    print(f"mf2 annotation bench: {args.video}, {len(accepts)} samples in {folder}")
    print(f"accept (crop written + fsync, row committed, WAL synchronous=FULL): median {statistics.median(accepts):.1f} ms, "
          f"p90 {accepts[int(0.9 * (len(accepts) - 1))]:.1f} ms, worst {accepts[-1]:.1f} ms")
    seconds = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        version = run_finetune(folder, default_model_dir(), DfnSettings())
        seconds.append(time.perf_counter() - t0)
    print(f"fine-tuning run ({DfnSettings.steps} steps, {version.record['data']['train']} training samples + replay "
          f"{version.record['data']['replay']['samples']}, in-process): median {statistics.median(seconds):.1f} s "
          f"over {len(seconds)} runs")
    late, run_seconds = gui_during_finetune(folder)
    late.sort()
    print(f"window while fine-tuning in the background ({run_seconds:.1f} s to the finished version, process start "
          f"included): timer lateness median {statistics.median(late):.1f} ms, p99 {late[int(0.99 * (len(late) - 1))]:.1f} ms, "
          f"worst {late[-1]:.1f} ms over {len(late)} ticks")


if __name__ == "__main__":
    main()
