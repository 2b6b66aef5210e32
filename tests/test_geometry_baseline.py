"""Face geometry, the person baseline and eye closure, on real faces."""
import numpy as np
import pytest

from core.baseline import BaselineMode, TrackBaseline, track_baselines
from core.errors import InputError
from core.faces import FaceTracker
from core.faces.geometry import NAMES, eye_openings, face_geometry
from core.video import open_source

from .conftest import SHARED_DATA, needs_shared


@pytest.fixture(scope="module")
def astronaut_landmarks(astronaut):
    with FaceTracker(static=True) as tracker:
        return tracker.process(astronaut)[0].landmarks


def test_geometry_ignores_size_position_roll_and_mirroring(astronaut_landmarks):
    g = face_geometry(astronaut_landmarks)
    assert np.all(np.isfinite(g)) and len(g) == len(NAMES)
    a = np.deg2rad(25)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    moved = astronaut_landmarks[:, :2] @ rot.T * 2.7 + [300, -40]
    mirrored = astronaut_landmarks[:, :2] * [-1, 1]
    np.testing.assert_allclose(face_geometry(moved), g, atol=1e-4)
    np.testing.assert_allclose(face_geometry(mirrored), g, atol=1e-4)


def clip_landmarks(name: str, frames: set[int]) -> dict[int, np.ndarray]:
    out = {}
    with open_source(str(SHARED_DATA / "videos" / name)) as source, FaceTracker(max_faces=1) as tracker:
        for frame in source:
            if frame.index in frames:
                out[frame.index] = tracker.process(frame.rgb)[0].landmarks
            elif frame.index > max(frames):
                break
            else:
                tracker.process(frame.rgb)
    return out


@needs_shared
def test_geometry_moves_as_facs_says_on_a_real_face():
    # liveportrait_d9 (labels by eye, 1-based): 5 neutral, 15 blink, 505 brows raised, 305 smile, 115 pucker
    lm = clip_landmarks("liveportrait_d9.mp4", {4, 14, 504, 304, 114})
    g = {f: dict(zip(NAMES, face_geometry(x))) for f, x in lm.items()}
    rest = g[4]
    assert g[504]["inner_brow_height"] > rest["inner_brow_height"] + 0.03
    assert g[504]["outer_brow_height"] > rest["outer_brow_height"] + 0.03
    assert g[14]["eye_opening"] < 0.6 * rest["eye_opening"]
    assert min(eye_openings(lm[14])) < 0.6 * min(eye_openings(lm[4]))
    assert g[304]["mouth_width"] > rest["mouth_width"] + 0.03 and g[304]["lip_corner_raise"] > rest["lip_corner_raise"]
    assert g[114]["mouth_width"] < rest["mouth_width"] - 0.05


def test_baseline_modes_parse_or_say_why():
    assert str(BaselineMode.parse("auto")) == "auto" and str(BaselineMode.parse("none")) == "none"
    seg = BaselineMode.parse("2.5-10")
    assert (seg.kind, seg.start, seg.end, str(seg)) == ("segment", 2.5, 10.0, "2.5-10")
    assert str(BaselineMode.parse("1:05-1:20.5")) == "65-80.5" and str(BaselineMode.parse(" 0 - 0:01 ")) == "0-1"
    for bad in ("10-2", "soon", "-3-4", "", "--", "0-1-2", "1:75-2:00"):
        with pytest.raises(InputError, match="baseline"):
            BaselineMode.parse(bad)


def test_running_baseline_is_causal_robust_and_starts_at_the_prior():
    rng = np.random.default_rng(0)
    prior = np.zeros(3)
    values = rng.normal(1.0, 0.05, (1800, 3))
    values[300:600] += 3.0  # an expression held for 10 s of a minute
    times = np.arange(1800) / 30
    out, known = track_baselines(times, values, BaselineMode("auto"), prior)
    assert known.all()  # the first rows are settled on the first estimate that is the person's own
    running = TrackBaseline(prior)
    assert np.allclose(running.estimate(), prior)
    at = next(i for i, t in enumerate(times) if running.add(t, values[i]) or running.known)
    assert 1.7 < times[at] < 2.0 and np.allclose(out[:at + 1], out[at]) and not np.allclose(out[at + 1:at + 31], out[at])
    # causal: the estimate at frame 200 is the same whatever comes after it
    changed = values.copy()
    changed[201:] = 50
    assert np.allclose(track_baselines(times, changed, BaselineMode("auto"), prior)[0][200], out[200])
    assert out[200, 0] > 0.85 and out[599, 0] < 1.5
    # robust: the held expression barely moves it, and it converges to the person's rest
    assert abs(out[-1, 0] - 1.0) < 0.1
    seg, known = track_baselines(times, values, BaselineMode("segment", 0.0, 3.0), prior)
    assert known.all()
    assert np.allclose(seg, seg[0]) and abs(seg[0, 0] - 1.0) < 0.05


def test_first_rows_wait_at_most_settle_s_for_the_persons_own_rest():
    """A face whose geometry cannot be measured for a while (no samples) is settled on what
    is known SETTLE_S after it appeared; a segment's uncovered people are read causally."""
    from core.baseline import SETTLE_S

    prior = np.zeros(3)
    times = np.arange(300) / 30
    values = np.full((300, 3), 1.0)
    values[8:200] = np.nan  # two samples (at 0 and about 0.2 s), then none until 6.7 s
    out, known = track_baselines(times, values, BaselineMode("auto"), prior)
    last = int(np.searchsorted(times, SETTLE_S)) - 1
    assert not known[:last + 1].any() and np.allclose(out[:last + 1], out[last])
    assert np.allclose(out[last], 2 / 7)  # two samples of 1.0 against the prior's five of 0
    segment, _ = track_baselines(times, values, BaselineMode("segment", 20, 30), prior)
    assert segment[0, 0] < out[0, 0] and np.allclose(segment[last], out[last])  # none in the segment: causal


def test_running_baseline_quantiles_are_those_of_the_whole_history():
    """The sorted history kept in arrays gives each feature's quantile of every sample so far
    (ties and repeats included), as the estimate is defined, long after its first arrays filled."""
    from core.baseline import N_VALUES, PRIOR_SAMPLES, QUANTILES, SAMPLE_S

    rng = np.random.default_rng(1)
    prior = rng.normal(0, 1, N_VALUES)
    running = TrackBaseline(prior)
    history = []
    for i in range(500):
        v = np.round(rng.normal(0, 1, N_VALUES), 1)  # many ties
        running.add(i * 1.5 * SAMPLE_S, v)
        history.append(v)
        if i % 37 == 0 or i == 499:
            s = np.sort(np.array(history), axis=0)
            n = len(history)
            q = np.array([s[min(n - 1, int(round(qu * (n - 1)))), k] for k, qu in enumerate(QUANTILES)])
            w = n / (n + PRIOR_SAMPLES)
            assert np.array_equal(running.estimate(), w * q + (1 - w) * prior)
    running.add(499 * 1.5 * SAMPLE_S + SAMPLE_S / 2, np.zeros(N_VALUES))  # too soon after the last: not a sample
    running.add(1000 * SAMPLE_S, np.full(N_VALUES, np.nan))               # not finite: not a sample
    assert running.samples == 500
