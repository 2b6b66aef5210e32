"""Studio figures, measured on the real window (run under Xvfb on a headless machine):

- the GUI thread's responsiveness while a video is analysed and played at the same time
  (how late a 10 ms timer fires: median, 99th percentile and worst, in ms);
- analysis throughput in the window, and the time to reopen the same video from the cache;
- the live view with the video played in real time as a webcam: frames shown and analysed per
  second (medians over 1-s samples, the first two excluded as start-up).

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python scripts/bench_studio.py VIDEO
"""
from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ["MF2_CACHE"] = tempfile.mkdtemp(prefix="mf2-bench-")  # a cold cache, not the user's

from PySide6.QtCore import QCoreApplication, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402


def main(video: str) -> None:
    QCoreApplication.setOrganizationName("MF2 Studio bench")
    app = QApplication([])
    from app.main_window import MainWindow

    window = MainWindow()
    window.interactive = False
    window.resize(1600, 1000)
    window.show()
    lateness: list[float] = []
    last = [time.monotonic()]

    def probe() -> None:
        now = time.monotonic()
        lateness.append((now - last[0] - 0.010) * 1000)
        if lateness[-1] > 50: print("stall", round(lateness[-1]), "ms at", round(now - phases["start"], 2), "s", file=sys.stderr)
        last[0] = now

    ticker = QTimer(interval=10, timeout=probe)
    phases: dict[str, float] = {}
    live: dict[str, list[float]] = {"shown": [], "analysed": []}

    def start_cold() -> None:
        phases["start"] = time.monotonic()
        window.analysis_done.connect(cold_done)
        window.open(video)
        QTimer.singleShot(1500, window.player.play)  # play while the analysis runs
        last[0] = time.monotonic()
        ticker.start()

    def cold_done(stopped: str) -> None:
        ticker.stop()
        phases["cold"] = time.monotonic() - phases["start"]
        phases["frames"] = len(window.analysis)
        window.analysis_done.disconnect(cold_done)
        window.analysis_done.connect(warm_done)
        phases["start"] = time.monotonic()
        window.open(video)

    def warm_done(stopped: str) -> None:
        phases["warm"] = time.monotonic() - phases["start"]
        window.analysis_done.disconnect(warm_done)
        window.analysis_done.connect(live_done)
        window.open_live(video, paced=True)
        sampler.start()

    def sample() -> None:
        if window.live is not None and window.live_fps:
            live["shown"].append(window.live_fps)
            live["analysed"].append(window.live.stats().analysed_fps)

    def live_done(stopped: str) -> None:
        sampler.stop()
        app.quit()

    sampler = QTimer(interval=1000, timeout=sample)
    window.model_ready.connect(start_cold)
    app.exec()
    late = sorted(lateness)
    print(f"mf2 studio bench: {video}")
    print(f"GUI timer lateness during analysis + playback: median {statistics.median(late):.1f} ms, "
          f"p99 {late[int(0.99 * (len(late) - 1))]:.1f} ms, worst {late[-1]:.1f} ms over {len(late)} ticks")
    print(f"analysis in the window: {phases['frames']} frames in {phases['cold']:.1f} s "
          f"= {phases['frames'] / phases['cold']:.1f} fps (with playback running)")
    print(f"reopen from the cache: {phases['warm']:.2f} s to the timelines")
    shown, analysed = live["shown"][2:], live["analysed"][2:]
    if shown:
        print(f"live (video as a webcam): median {statistics.median(shown):.1f} fps shown (min {min(shown):.1f}), "
              f"median {statistics.median(analysed):.1f} fps analysed, over {len(shown)} s")
    window.close()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(Path(__file__).resolve().parents[2] / "shared/data/videos/liveportrait_d9.mp4"))
