"""Studio figures, measured on the real window (run under Xvfb on a headless machine):

- the GUI thread's responsiveness while a video is analysed and played at the same time
  (how late a 10 ms timer fires: median, 99th percentile and worst, in ms);
- analysis throughput in the window, and the time to reopen the same video from the cache;
- the live view with the video played in real time as a webcam: frames shown and analysed per
  second (medians over 1-s samples, the first two excluded as start-up).

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python scripts/bench_studio.py VIDEO

With ``--hour``, the studio's data model at the scale of an hour of video instead (no window, Qt
offscreen): the real results of analysing VIDEO (default: the shared single_face.mp4) with the
shipped model, repeated with new frame indices and times to 108,000 frames at 30 fps. Prints the
memory the hour takes (peak RSS, and the RSS growth while it was built), how long `add` takes,
and the medians over several runs of: one face's series after a cache invalidation, a full
timeline redraw (the series, `Timelines.set_series` as the window calls it, painting the widget,
and one `at(index)` lookup as the overlay does), the list of faces, and segments; then the CSV
export, and saving and loading the hour's file.

    .venv/bin/python scripts/bench_studio.py --hour [VIDEO]
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


def _rss_mb() -> float:
    """The process's resident memory now, in MB (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def _median_ms(fn, runs: int = 7) -> tuple[float, float]:
    """(median, worst) wall time of ``fn()`` in ms over ``runs`` calls."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), max(times)


def hour(video: str, frames: int = 108_000, fps: float = 30.0) -> None:
    import gc
    from dataclasses import replace

    from core.analysis import Analysis, FrameResult, run_analysis
    from core.cli import default_model_dir
    from core.faces import FaceTracker
    from core.faces.pose import HeadPose
    from core.model.scorer import FaceScorer
    from core.video import open_source

    scorer = FaceScorer(default_model_dir())
    with open_source(video) as source, FaceTracker() as tracker:
        clip = Analysis.for_scorer(scorer, source.frame_count, video)
        run_analysis(source, clip, tracker, scorer)
    base = [r for r in clip.frames() if r.faces]
    print(f"mf2 studio hour bench: {len(base)} analysed frames with a face of {video}, repeated to {frames} "
          f"frames at {fps:g} fps; model {scorer.version}")

    def fresh(i: int) -> FrameResult:  # new objects and arrays per frame, as the analysis worker hands over
        r = base[i % len(base)]
        return FrameResult(i, i / fps, [replace(f, box=f.box.copy(), landmarks=f.landmarks.copy(), au=dict(f.au),
                                                emotion=dict(f.emotion), pose=HeadPose(f.pose.pitch, f.pose.yaw, f.pose.roll),
                                                raw=None if f.raw is None else f.raw.copy()) for f in r.faces])

    del clip
    gc.collect()
    before, peak_before = _rss_mb(), _peak_mb()
    analysis = Analysis.for_scorer(scorer, frames, video)
    start = time.perf_counter()
    for i in range(frames):
        analysis.add(fresh(i))
    built = time.perf_counter() - start
    analysis.complete = True
    gc.collect()
    after = _rss_mb()
    print(f"memory: RSS {before:.0f} MB before building, {after:.0f} MB after: the hour takes {after - before:.0f} MB; "
          f"peak RSS (ru_maxrss) {_peak_mb():.0f} MB (was {peak_before:.0f} MB before building)")
    print(f"add: {frames} frames in {built:.2f} s ({built / frames * 1e6:.1f} us a frame)")

    track = analysis.track_ids()[0]
    ms, worst = _median_ms(lambda: (analysis.invalidate(), analysis.series(track)))
    print(f"series(track) after invalidate(): median {ms:.1f} ms (worst {worst:.1f})")
    ms, worst = _median_ms(analysis.track_ids)
    print(f"track_ids(): median {ms:.2f} ms (worst {worst:.2f})")
    ms, worst = _median_ms(lambda: analysis.at(frames // 2 + 17), 21)
    print(f"at(index): median {ms:.3f} ms (worst {worst:.3f})")
    ms, worst = _median_ms(lambda: analysis.segments(track), 3)
    print(f"segments(track): median {ms:.1f} ms (worst {worst:.1f})")

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    app = QApplication.instance() or QApplication([])
    from app.timelines import Timelines

    timelines = Timelines()
    timelines.resize(1400, 320)
    timelines.show()
    timelines.set_duration(frames / fps)
    app.processEvents()
    index = [0]

    def redraw(paint: bool) -> None:
        analysis.invalidate()  # as after new frames or a new baseline
        times, au, emotion = analysis.series(track)
        timelines.set_series(times, au, emotion, analysis.aus, analysis.emotions)
        index[0] = (index[0] + 977) % frames
        analysis.at(index[0])
        if paint:
            timelines.repaint()  # the paint the event loop would do next
            app.processEvents()

    start = time.perf_counter()
    redraw(True)
    print(f"first timeline draw (curves created): {(time.perf_counter() - start) * 1000:.0f} ms")
    ms, worst = _median_ms(lambda: redraw(False))
    print(f"timeline redraw (series + set_series + at): median {ms:.1f} ms (worst {worst:.1f})")
    ms, worst = _median_ms(lambda: redraw(True))
    print(f"timeline redraw and paint: median {ms:.1f} ms (worst {worst:.1f})")
    timelines.emotion_plot.setXRange(1800, 1860, padding=0)  # zoomed in to a minute
    app.processEvents()
    ms, worst = _median_ms(lambda: redraw(True))
    print(f"timeline redraw and paint, zoomed to a minute: median {ms:.1f} ms (worst {worst:.1f})")
    print(f"peak RSS (ru_maxrss) so far: {_peak_mb():.0f} MB")

    folder = Path(tempfile.mkdtemp(prefix="mf2-bench-hour-"))
    start = time.perf_counter()
    analysis.write_csv(folder / "hour.csv")
    print(f"write_csv (File > Export CSV): {time.perf_counter() - start:.1f} s")
    (folder / "hour.csv").unlink()
    start = time.perf_counter()
    analysis.save(folder / "hour.npz")
    saved = time.perf_counter() - start
    size = (folder / "hour.npz").stat().st_size / 2**20
    del analysis
    gc.collect()
    start = time.perf_counter()
    loaded = Analysis.load(folder / "hour.npz")
    print(f"save: {saved:.1f} s ({size:.0f} MB file); load: {time.perf_counter() - start:.1f} s, {len(loaded)} frames")
    (folder / "hour.npz").unlink()
    folder.rmdir()


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--hour"]:
        hour(args[1] if len(args) > 1 else str(Path(__file__).resolve().parents[2] / "shared/data/videos/single_face.mp4"))
    else:
        main(args[0] if args else str(Path(__file__).resolve().parents[2] / "shared/data/videos/liveportrait_d9.mp4"))
