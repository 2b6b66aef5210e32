"""Live analysis: real-time playback, dropping instead of queueing, failures as one line, the live bench.

Timing checks compare against what the wrong behaviour would take (a queue, a stalled clock), with
wide margins, so a busy 2-core machine does not make them flake.
"""
import random
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from core import live as live_module
from core.bench import bench_live
from core.errors import InputError
from core.faces import FaceTracker
from core.live import LiveAnalyzer
from core.video import ImageFile, PacedVideo, Source, list_cameras, open_source

from .conftest import moving_face_frames, write_clip
from .test_cli import mf2

SLOW_S = 0.25  # seconds per analysed frame when analysis is made slow


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory, face_crop) -> Path:
    """4 s of the gliding face at 25 fps."""
    return write_clip(tmp_path_factory.mktemp("live") / "long.mp4", moving_face_frames(face_crop, 100))


def run_until_done(live: LiveAnalyzer, poll=None, timeout: float = 60.0) -> None:
    """Wait for the analyser to finish on its own, calling ``poll()`` every 10 ms meanwhile."""
    deadline = time.monotonic() + timeout
    while live.running and time.monotonic() < deadline:
        if poll:
            poll()
        time.sleep(0.01)
    assert not live.running, "live analysis did not finish"


class SlowTracker(FaceTracker):
    def process(self, rgb):
        time.sleep(SLOW_S)
        return super().process(rgb)


def test_paced_video_takes_as_long_as_the_clip(face_clip, tmp_path, astronaut):
    with open_source(face_clip) as plain:
        t0 = time.perf_counter()
        expected = list(plain)
        decode_s = time.perf_counter() - t0
    with open_source(face_clip, paced=True) as paced:
        assert isinstance(paced, PacedVideo) and paced.live
        t0 = time.perf_counter()
        frames = list(paced)
        paced_s = time.perf_counter() - t0
    duration = expected[-1].timestamp  # 11 frame intervals
    assert duration <= paced_s < duration + 1.0
    assert paced_s > 4 * decode_s
    assert [f.timestamp for f in frames] == [f.timestamp for f in expected]  # the file's own times
    assert all(np.array_equal(a.rgb, b.rgb) for a, b in zip(frames, expected))
    image = tmp_path / "still.png"
    cv2.imwrite(str(image), astronaut[:, :, ::-1])
    assert isinstance(open_source(image, paced=True), ImageFile)  # pacing is for video files only


def test_paced_video_catches_up_after_a_slow_consumer(long_clip):
    with open_source(long_clip, paced=True) as paced:
        t0 = time.perf_counter()
        indices = []
        for frame in paced:
            indices.append(frame.index)
            if frame.index == 0:
                time.sleep(1.5)  # the overdue frames then come at once, none dropped
        elapsed = time.perf_counter() - t0
    assert indices == list(range(100))
    assert elapsed < 3.96 + 0.75  # a clock restarted after the stall would take 5.46 s


def test_live_results_have_the_face_and_only_move_forward(face_clip, monkeypatch):
    analysed, analyze_frame = [], live_module.analyze_frame

    def recording(frame, tracker, scorer, live, people):  # every result the analyser produces, not only those polled
        assert live
        analysed.append(analyze_frame(frame, tracker, scorer, live, people))
        return analysed[-1]

    monkeypatch.setattr(live_module, "analyze_frame", recording)
    live = LiveAnalyzer(open_source(face_clip, paced=True))
    polled = []

    def poll():
        _, result = live.latest()
        if result is not None and (not polled or result is not polled[-1]):
            polled.append(result)

    live.start()
    run_until_done(live, poll)
    poll()
    live.stop()
    assert live.error is None
    stats = live.stats()
    assert stats.frames_read == 12 and stats.frames_analysed == len(analysed) >= 1
    assert stats.frames_analysed + stats.frames_dropped == 12
    # the face keeps its track from frame to frame; across frames dropped (a loaded machine) she has
    # moved 48 px or more, and her track may start again (or she is found a frame later), as the same person
    assert [(f.track_id, f.person) for f in analysed[0].faces] == [(0, 0)]
    steps = [(a, b) for a, b in zip(analysed, analysed[1:]) if b.index == a.index + 1 and a.faces]
    assert all([f.track_id for f in b.faces] == [f.track_id for f in a.faces] for a, b in steps)
    assert all(f.person == 0 for r in analysed for f in r.faces)  # decided from each track's first frame
    assert [r.index for r in analysed] == sorted({r.index for r in analysed})
    assert analysed[-1].index == 11  # once the source ends, its last frame is analysed
    assert [r.index for r in polled] == sorted({r.index for r in polled}) and polled[-1] is analysed[-1]
    assert live.latest()[0].index == 11


def test_stop_mid_stream_is_prompt_and_idempotent(long_clip):
    live = LiveAnalyzer(open_source(long_clip, paced=True))
    live.start()
    deadline = time.monotonic() + 60
    while live.latest()[1] is None and live.running and time.monotonic() < deadline:
        time.sleep(0.01)
    t0 = time.monotonic()
    live.stop()
    took = time.monotonic() - t0
    assert not live.running and live.error is None
    frame, result = live.latest()
    assert result is not None and frame.index < 99  # stopped mid-stream
    assert took < 1.0  # one analysis and one frame interval at most, not the rest of the clip
    live.stop()


def test_slow_analysis_drops_frames_and_display_keeps_real_time(long_clip, monkeypatch):
    monkeypatch.setattr(live_module, "FaceTracker", SlowTracker)
    live = LiveAnalyzer(open_source(long_clip, paced=True))
    origin = None
    frame_lag, result_lag = [], []

    def poll():
        nonlocal origin
        frame, result = live.latest()
        if frame is None or frame.index == 99:  # after the last frame there is nothing newer to show
            return
        now = time.monotonic()
        origin = origin if origin is not None else now - frame.timestamp
        frame_lag.append(now - origin - frame.timestamp)
        if result is not None:
            result_lag.append(frame.timestamp - result.timestamp)

    live.start()
    run_until_done(live, poll)
    live.stop()
    assert live.error is None
    stats = live.stats(window=10.0)
    assert stats.frames_read == 100
    assert stats.frames_analysed <= 50 and stats.frames_analysed + stats.frames_dropped == 100
    # queued, each would grow to ~20 s by the end (100 frames x 0.25 s against a 4 s clip)
    assert max(frame_lag) < 0.5
    assert max(result_lag) < 4 * SLOW_S + 0.5
    assert stats.latency_ms < (2 * SLOW_S + 0.5) * 1000


class UnpluggedCamera(Source):
    """Real frames at 25 fps, then the failure a camera pulled out mid-stream reports."""

    live = True
    name = "camera 9"

    def __init__(self, frames, error):
        self.frames, self.error, self.closed = frames, error, False

    def __iter__(self):
        for frame in self.frames:
            time.sleep(0.04)
            yield frame
        raise self.error

    def close(self):
        self.closed = True


@pytest.mark.parametrize("error, message", [
    (InputError("camera 9: stopped delivering frames (unplugged?)"), "camera 9: stopped delivering frames (unplugged?)"),
    (RuntimeError("driver fault\n  at frame 6"), "RuntimeError: driver fault at frame 6"),
])
def test_source_failure_mid_stream_becomes_one_line(face_clip, error, message):
    with open_source(face_clip) as source:
        frames = list(source)[:6]
    camera = UnpluggedCamera(frames, error)
    live = LiveAnalyzer(camera)
    live.start()
    run_until_done(live)
    assert live.error == message and not live.running
    frame, result = live.latest()
    assert live.stats().frames_read == 6 and frame.index == 5
    assert result.index == 5 and result.faces  # what came before the failure is still analysed
    live.stop()
    assert camera.closed


def test_analysis_failure_stops_the_reader_too(long_clip, monkeypatch):
    class BrokenTracker(FaceTracker):
        def process(self, rgb):
            raise ValueError("landmark model rejected the frame")

    monkeypatch.setattr(live_module, "FaceTracker", BrokenTracker)
    live = LiveAnalyzer(open_source(long_clip, paced=True))
    live.start()
    run_until_done(live)
    live.stop()
    assert live.error == "ValueError: landmark model rejected the frame"
    assert live.stats().frames_read < 100 and live.latest()[1] is None


def test_list_cameras_does_not_open_devices(monkeypatch):
    if sys.platform.startswith("linux"):
        monkeypatch.setattr(cv2, "VideoCapture", lambda *a: pytest.fail("a device was opened"))
    cameras = list_cameras()
    assert isinstance(cameras, list) and all(isinstance(i, int) for i in cameras)
    if sys.platform.startswith("linux") and not list(Path("/dev").glob("video*")):
        assert cameras == []


def test_absent_camera_is_a_clear_error():
    if 7 in list_cameras():
        pytest.skip("this machine has a camera 7")
    with pytest.raises(InputError, match=r"^camera 7: no camera found at this index"):
        open_source("cam:7")


def test_live_bench_needs_a_second_after_start_up(face_clip):
    with pytest.raises(InputError, match=r"face\.mp4: too short for a live run"):
        bench_live(str(face_clip), None, 2)


def test_mf2_bench_live_prints_displayed_fps(long_clip):
    run = mf2("bench", long_clip, "--live", "2")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    names = [line.split(" median")[0].strip() for line in lines[1:]]
    assert names[-4:] == ["live: displayed", "live: analysed", "live: dropped", "live: latency"]
    assert names.index("whole analyze path + MF²") < names.index("live: displayed")  # after the other figures
    displayed = lines[-4]
    assert "over 2 1-s windows" in displayed
    assert 0 < float(displayed.split()[3]) <= 27  # a 25 fps source, counted in 1-s windows
    bad = mf2("bench", long_clip, "--live", "0")
    assert bad.returncode == 2 and "--live: must be more than 0" in bad.stderr


def test_take_results_hands_over_every_analysed_frame_once(long_clip, monkeypatch):
    monkeypatch.setattr(live_module, "FaceTracker", SlowTracker)
    live = LiveAnalyzer(open_source(long_clip, paced=True))
    taken = []
    live.start()
    run_until_done(live, lambda: taken.extend(live.take_results()) if random.random() < 0.1 else None)
    live.stop()
    taken += live.take_results()
    indices = [r.index for r in taken]
    assert len(indices) == live.stats(window=10.0).frames_analysed
    assert indices == sorted(set(indices)) and live.take_results() == []


def test_live_faces_say_when_they_are_read_against_an_average_face(long_clip):
    """Live, a person's first seconds are read against the population's neutral face: each such
    face says so (the studio shows it), until about 2 s in, when the person's own rest is known;
    with no personal baseline asked for, nothing is ever calibrating."""
    from core.analysis import analyze_frame
    from core.cli import default_model_dir
    from core.faces.people import People
    from core.model.scorer import FaceScorer

    for baseline in ("auto", "none"):
        scorer = FaceScorer(default_model_dir(), baseline=baseline)
        people = People()
        with open_source(str(long_clip)) as source, FaceTracker(max_faces=1) as tracker:
            read = [(r.timestamp, r.faces[0].calibrating) for r in
                    (analyze_frame(frame, tracker, scorer, live=True, people=people) for frame in source) if r.faces]
        calibrating = [t for t, c in read if c]
        if baseline == "none":
            assert not calibrating and len(read) > 90
        else:
            assert read[0][1] and not read[-1][1] and 1.5 < max(calibrating) < 2.5, max(calibrating)
            assert all(c for t, c in read if t <= max(calibrating))  # once known, the person's own rest stays
