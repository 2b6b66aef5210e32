"""The studio's data model, cache and frame reader, headless, on real faces."""
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from core.analysis import Analysis, run_analysis
from core.cache import AnalysisCache, content_digest, model_digest
from core.cli import default_model_dir
from core.errors import InputError
from core.faces import FaceTracker
from core.playback import FrameReader
from core.video import open_source


@pytest.fixture(scope="module")
def scorer():
    from core.model.scorer import FaceScorer

    return FaceScorer(default_model_dir())


def analyse(path, scorer) -> Analysis:
    with open_source(path) as source, FaceTracker() as tracker:
        analysis = Analysis.for_scorer(scorer, source.frame_count, str(path))
        assert run_analysis(source, analysis, tracker, scorer) is None
    return analysis


def test_analysis_round_trips_through_its_file(tmp_path, face_clip, scorer):
    analysis = analyse(face_clip, scorer)
    assert analysis.complete and len(analysis) == 12
    analysis.save(tmp_path / "a.npz")
    loaded = Analysis.load(tmp_path / "a.npz")
    assert loaded.complete and loaded.model_version == scorer.version and loaded.aus == scorer.aus
    for a, b in zip(analysis.frames(), loaded.frames()):
        assert (a.index, a.timestamp) == (b.index, b.timestamp)
        fa, fb = a.faces[0], b.faces[0]
        assert fa.track_id == fb.track_id and fa.au == fb.au and fa.emotion == fb.emotion and fa.pose == fb.pose
        assert np.array_equal(fa.landmarks, fb.landmarks)
    analysis.write_csv(tmp_path / "a.csv")
    loaded.write_csv(tmp_path / "b.csv")
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()


def test_series_has_gaps_where_the_face_is_absent(face_clip, blank_clip, scorer, tmp_path):
    analysis = analyse(face_clip, scorer)
    track = analysis.track_ids()[0]
    times, au, emotion = analysis.series(track)
    assert len(times) == 12 and np.isfinite(au).all()
    assert np.allclose(emotion.sum(1), 1, atol=1e-4)
    assert emotion[:, analysis.emotions.index("happy")].mean() > 0.5
    empty = analyse(blank_clip, scorer)
    assert empty.track_ids() == []
    assert np.isnan(empty.series(0)[1]).all()


def test_unreadable_analysis_file_is_an_input_error(tmp_path):
    bad = tmp_path / "x.npz"
    bad.write_bytes(b"not numpy")
    with pytest.raises(InputError, match="x.npz: not a readable MF² analysis"):
        Analysis.load(bad)
    np.savez(tmp_path / "y.npz", meta=np.array('{"format": "other"}'))
    with pytest.raises(InputError, match="y.npz"):
        Analysis.load(tmp_path / "y.npz")


def test_cache_is_keyed_by_content_not_name(tmp_path, face_clip, blank_clip, scorer):
    cache = AnalysisCache(tmp_path / "cache")
    key = model_digest(default_model_dir())
    path = cache.path(content_digest(face_clip), key, 8)
    assert cache.load(path) is None
    cache.save(path, analyse(face_clip, scorer))
    renamed = shutil.copy(face_clip, tmp_path / "renamed.mp4")
    assert cache.path(content_digest(Path(renamed)), key, 8) == path
    assert len(cache.load(path)) == 12
    assert cache.path(content_digest(blank_clip), key, 8) != path
    assert cache.path(content_digest(face_clip), "faces", 8) != path
    path.write_bytes(b"damaged")
    assert cache.load(path) is None and not path.exists()  # removed, so it is redone


def test_cancelled_analysis_is_incomplete_and_not_cached(tmp_path, face_clip, scorer):
    with open_source(face_clip) as source, FaceTracker() as tracker:
        analysis = Analysis.for_scorer(scorer, source.frame_count)
        stopped = run_analysis(source, analysis, tracker, scorer, cancelled=lambda: len(analysis) >= 4)
    assert stopped == "face.mp4: analysis cancelled after 4 frames"
    assert not analysis.complete and len(analysis) == 4
    cache = AnalysisCache(tmp_path)
    cache.save(tmp_path / "c.npz", analysis)
    assert not (tmp_path / "c.npz").exists()


def read_frames(reader_spec, indices):
    got, errors, ready = [], [], threading.Event()

    def on_frame(frame):
        got.append(frame)
        ready.set()

    reader = FrameReader(reader_spec, on_frame, errors.append)
    try:
        for i in indices:
            ready.clear()
            reader.request(i)
            assert ready.wait(10)
    finally:
        reader.close()
    return got, errors


def test_frame_reader_serves_exact_frames_forward_and_back(face_clip):
    with open_source(face_clip) as source:
        truth = {f.index: f.rgb for f in source}
    got, errors = read_frames(str(face_clip), [0, 1, 2, 9, 3, 11, 11, 40])
    assert not errors
    assert [f.index for f in got] == [0, 1, 2, 9, 3, 11, 11, 11]  # clamped to the last frame
    for frame in got:
        assert np.array_equal(frame.rgb, truth[frame.index])


def test_frame_reader_reports_a_missing_file_at_once(tmp_path):
    with pytest.raises(InputError, match="nothing.mp4: no such file"):
        FrameReader(str(tmp_path / "nothing.mp4"), print, print)


def test_segments_start_where_the_top_emotion_changes_and_holds(face_clip, scorer):
    from dataclasses import replace

    real = analyse(face_clip, scorer)
    face = real.frames()[0].faces[0]
    assert real.segments(face.track_id) == [0]  # one expression over the clip
    sequence = ["happy"] * 8 + ["sad"] + ["happy"] * 3 + [None] * 3 + ["happy"] * 6 + ["sad"] * 6
    staged = Analysis(real.aus, real.emotions, "test")
    for i, top in enumerate(sequence):
        probs = {e: (0.9 if e == top else 0.1 / 7) for e in real.emotions}
        faces = [] if top is None else [replace(face, emotion=probs)]
        staged.add(replace(real.frames()[0], index=i, timestamp=i / 25, faces=faces))
    # the one-frame "sad" flicker is no segment; the face coming back is; so is the lasting "sad"
    assert staged.segments(face.track_id) == [0, 15, 21]
