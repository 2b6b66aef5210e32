"""A person's first rows in a file are read against their own rest (core.model.settle): while
streaming, exactly as `track_baselines` gives it for the whole track, with at most SETTLE_S of
frames waiting; on a real man whose brows sit high, his neutral start no longer reads as raised."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from .conftest import SHARED_DATA
from core.baseline import SETTLE_S, BaselineMode, TrackBaseline, baseline_key, track_baselines
from core.model.settle import settled_frames

FPS = 30


class RestScorer:
    """`FaceScorer`'s streaming interface, reading one value a face: the rest it is read against."""

    baseline = BaselineMode("auto")

    def __init__(self):
        self.running: dict[int, TrackBaseline] = {}

    def score_read(self, faces, raw, t):
        out = []
        for face in faces:
            running = self.running.setdefault(baseline_key(face.person, face.track_id), TrackBaseline(np.zeros(1)))
            running.add(t, face.landmarks[0, :1].astype(np.float64))
            out.append(SimpleNamespace(au={1: running.estimate()[0]}, emotion={}, raw=None, quality=1.0, embedding=None,
                                       calibrating=False))
        return out

    def rest(self, key):
        return self.running[key].estimate(), self.running[key].known

    def reread(self, key, faces):
        for _, _, scores in faces:
            scores.au = {1: self.rest(key)[0][0]}


def face(person: int, value: float):
    return SimpleNamespace(track_id=person, person=person, box=np.zeros(4), confidence=1.0, pose=(0.0, 0.0, 0.0),
                           landmarks=np.full((478, 3), value, np.float32))


def test_streaming_settles_each_person_as_the_whole_track_does_and_holds_at_most_settle_s():
    """Person 0 from the start (own rest after ~1.8 s); person 1 from 1 s, unmeasurable until
    6 s (settled at SETTLE_S); person 2 in the last 10 frames (settled at the end)."""
    rng = np.random.default_rng(0)
    n = 300
    times = np.arange(n) / FPS
    present = {0: np.ones(n, bool), 1: times >= 1, 2: np.arange(n) >= n - 10}
    values = {p: rng.normal(1 + p, 0.05, n).astype(np.float32) for p in present}
    values[1][(times >= 1.1) & (times < 6)] = np.nan
    frames = [[face(p, values[p][i]) for p in present if present[p][i]] for i in range(n)]
    consumed = []

    def items():
        for i, faces in enumerate(frames):
            consumed.append(times[i])
            yield i, times[i], faces, None

    out = []
    for result in settled_frames(items(), RestScorer()):
        assert consumed[-1] - result.timestamp <= SETTLE_S + 1e-9  # nothing waits longer
        out.append(result)
    assert [r.index for r in out] == list(range(n))
    for p in present:
        rows = np.flatnonzero(present[p])
        whole, _ = track_baselines(times[rows], values[p][rows, None].astype(np.float64), BaselineMode("auto"), np.zeros(1))
        streamed = [next(f.au[1] for f in out[i].faces if f.person == p) for i in rows]
        assert np.allclose(streamed, whole[:, 0], atol=1e-6), p
    assert max(consumed[-1] - r.timestamp for r in out[:30]) > 1.7  # person 0's first rows did wait


@pytest.fixture(scope="module")
def single_face():
    from core.analysis import Analysis, run_analysis
    from core.cli import default_model_dir
    from core.faces import FaceTracker
    from core.model.scorer import FaceScorer
    from core.video import open_source

    video = SHARED_DATA / "videos" / "single_face.mp4"
    if not video.is_file():
        pytest.skip(f"{video} absent (shared data lives beside the repo)")
    scorer = FaceScorer(default_model_dir())
    with open_source(str(video)) as source, FaceTracker(max_faces=1) as tracker:
        analysis = Analysis.for_scorer(scorer, source.frame_count, str(video))
        assert run_analysis(source, analysis, tracker, scorer) is None
    return scorer, analysis


def test_a_high_browed_mans_neutral_start_reads_at_rest(single_face):
    """scripts/video_au_extra.csv: frames 3, 8, 13 and 18 are neutral by eye. Read against the
    population's face (his first 2 s before settling) his brows read as raised on all of them."""
    _, analysis = single_face
    for index in (2, 7, 12, 17):  # 0-based
        au = analysis.at(index).faces[0].au
        assert au[1] < 0.5 and au[2] < 0.5, (index, au[1], au[2])


def test_a_whole_analysis_reread_with_auto_gives_the_streamed_readings(single_face):
    scorer, analysis = single_face
    streamed = [{n: f.au[n] for n in (1, 2, 12, 43, 45)} for r in analysis.frames() for f in r.faces]
    scorer.recalibrate(analysis, BaselineMode("auto"))
    again = [{n: f.au[n] for n in (1, 2, 12, 43, 45)} for r in analysis.frames() for f in r.faces]
    assert len(streamed) > 60 and again == pytest.approx(streamed, abs=1e-6, nan_ok=True)


def test_a_person_read_again_at_once_reads_each_face_as_it_reads_alone(single_face):
    """`FaceScorer.recalibrate` reads a person's faces together (`read_rows`); each face's figures
    are bit for bit those of reading it alone (`readings`), eye closure held across them too."""
    from core.model.scorer import face_values

    scorer, analysis = single_face
    key = int(np.unique(analysis.face_people())[0])
    rows = analysis.key_rows(key, with_raw=True)
    times, raw = analysis.row_times(rows), analysis.raw(rows)
    values = np.stack([face_values(points) for points in analysis.landmarks(rows)])
    baselines, known = track_baselines(times, values, BaselineMode("auto"), np.median(values, 0))
    values[5, 3] = np.nan  # a face whose geometry cannot be read
    scorer.reset()
    together = scorer.read_rows(raw, values, baselines, known, key, times)
    scorer.reset()
    alone = [scorer.readings(r, v, b, key, float(t), bool(k)) for r, v, b, k, t in zip(raw, values, baselines, known, times)]
    np.testing.assert_array_equal(together[0], np.array([[a[n] for n in scorer.aus] for a, _ in alone], np.float32))
    np.testing.assert_array_equal(together[1], np.array([[e[x] for x in scorer.emotions] for _, e in alone], np.float32))
    assert np.isfinite(together[0][:, scorer.aus.index(12)]).sum() > 60


def test_an_upper_lid_raiser_needs_the_eyes_wider_than_at_rest(single_face):
    """FACS: AU5 raises the upper lid, so the eye is open wider than at rest. On the man's resting
    frames, whose look alone reads AU5, it is read with his eyes a little wider than his rest, and
    not with them a little narrower (the gate; his look and the geometry weights barely move)."""
    from core.faces.geometry import NAMES
    from core.model.scorer import faces_values

    scorer, analysis = single_face
    (key,) = np.unique(analysis.face_people()).tolist()
    rows = analysis.key_rows(key, with_raw=True)
    assert len(rows) == len(analysis)  # one face a frame: row i is frame i
    values, raw = faces_values(analysis.landmarks(rows)), analysis.raw(rows)
    au5, opening = scorer.aus.index(5), NAMES.index("eye_opening")
    for i in (2, 7, 12, 17):  # neutral by eye (scripts/video_au_extra.csv, 1-based 3, 8, 13, 18)
        read = {}
        for change in (0.03, -0.005):
            rest = values[i].astype(np.float64)  # his own rest, known; only the eye opening differs from it
            rest[opening] -= change
            au, _ = scorer.read_rows(raw[i:i + 1], values[i:i + 1], rest[None], np.array([True]), -1 - i, np.zeros(1))
            read[change] = au[0, au5]
        assert read[0.03] >= 0.5 > read[-0.005], (i, read)
