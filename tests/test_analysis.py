"""The studio's data model, cache and frame reader, headless, on real faces."""
import json
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from core.analysis import FORMAT, Analysis, FrameResult, run_analysis
from core.cache import READINGS, AnalysisCache, content_digest, model_digest
from core.cli import default_model_dir
from core.errors import InputError
from core.faces import FaceTracker
from core.faces.tracker import DETECT_EVERY
from core.playback import FrameReader
from core.video import open_source


@pytest.fixture(scope="module")
def scorer():
    from core.model.scorer import FaceScorer

    return FaceScorer(default_model_dir())


def analyse(path, scorer, added: list | None = None) -> Analysis:
    """``added``: gets the FrameResults as they were handed to the analysis."""
    with open_source(path) as source, FaceTracker() as tracker:
        analysis = Analysis.for_scorer(scorer, source.frame_count, str(path))
        assert run_analysis(source, analysis, tracker, scorer, added.append if added is not None else None) is None
    return analysis


def assert_same_frame(a, b) -> None:
    """Every field of two FrameResults, exactly (readings as the float32 an analysis keeps)."""
    assert (a.index, a.timestamp, len(a.faces)) == (b.index, b.timestamp, len(b.faces))
    for fa, fb in zip(a.faces, b.faces):
        assert (fa.track_id, fa.person, fa.confidence, fa.pose) == (fb.track_id, fb.person, fb.confidence, fb.pose)
        assert fa.au == fb.au and fa.emotion == fb.emotion and list(fa.au) == list(fb.au)
        assert fa.quality == fb.quality or (fa.quality != fa.quality and fb.quality != fb.quality)
        assert fa.box.dtype == fb.box.dtype == np.float32 and np.array_equal(fa.box, fb.box)
        assert fa.landmarks.dtype == fb.landmarks.dtype == np.float32 and np.array_equal(fa.landmarks, fb.landmarks)
        assert (fa.raw is None) == (fb.raw is None)
        assert fa.raw is None or np.array_equal(fa.raw, fb.raw)


def naive_series(frames, track, aus, emotions):
    """What `Analysis.series` means, frame by frame."""
    times = np.array([r.timestamp for r in frames])
    au = np.full((len(frames), len(aus)), np.nan, np.float32)
    emotion = np.full((len(frames), len(emotions)), np.nan, np.float32)
    for i, r in enumerate(frames):
        face = r.face(track)
        if face is not None and face.au:
            au[i] = [face.au[n] for n in aus]
            emotion[i] = [face.emotion[e] for e in emotions]
    return times, au, emotion


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


def naive_segments(frames, track, min_frames):
    """What `Analysis.segments` means, frame by frame."""
    labels = []
    for result in frames:
        face = result.face(track)
        top = face.top_emotion() if face else None
        labels.append(top[0] if top else ("face" if face else None))
    starts, current = [], object()
    for i, label in enumerate(labels):
        if label != current and label is not None and labels[i:i + min_frames] == [label] * min_frames:
            starts.append(frames[i].index)
            current = label
        elif label is None:
            current = None
    return starts


def test_the_columns_give_back_every_frame_as_it_was_added(tmp_path, face_clip, scorer):
    added = []
    analysis = analyse(face_clip, scorer, added)
    assert len(added) == len(analysis) == 12 and all(r.faces and r.faces[0].raw is not None for r in added)
    for r in added:
        assert_same_frame(analysis.at(r.index), r)
    assert analysis.at(12) is None and analysis.at(-1) is None
    analysis.at(3).faces[0].au[analysis.aus[0]] = 9.0  # a frame built on demand: changing it changes nothing
    assert analysis.at(3).faces[0].au == added[3].faces[0].au
    analysis.save(tmp_path / "a.npz")
    loaded = Analysis.load(tmp_path / "a.npz")
    assert (loaded.aus, loaded.emotions, loaded.baseline, loaded.source, loaded.frame_count) == \
        (analysis.aus, analysis.emotions, analysis.baseline, analysis.source, analysis.frame_count)
    assert [r.index for r in loaded.frames()] == list(range(12))
    for a, b in zip(added, loaded.frames()):
        assert_same_frame(a, b)
    track = analysis.track_ids()[0]
    for x, y in zip(analysis.series(track), loaded.series(track)):
        assert np.array_equal(x, y, equal_nan=True)


def test_series_and_segments_match_a_frame_by_frame_reading(face_clip, scorer):
    from dataclasses import replace

    added = []
    real = analyse(face_clip, scorer, added)
    track = real.track_ids()[0]
    for x, y in zip(real.series(track), naive_series(added, track, real.aus, real.emotions)):
        assert x.dtype == y.dtype and np.array_equal(x, y, equal_nan=True)
    # two faces coming and going, one frame without any face, one face read without a model
    staged = Analysis(real.aus, real.emotions, "test")
    frames = []
    for i, r in enumerate(added * 3):
        face = r.faces[0]
        faces = [face] if i % 4 else [face, replace(face, track_id=7)]
        faces = [] if i == 5 else faces if i != 9 else [replace(face, au={}, emotion={}, raw=None)]
        frames.append(FrameResult(i, i / 30, faces))
        staged.add(frames[-1])
    assert staged.track_ids() == [track, 7]
    for t in (track, 7, 99):
        for x, y in zip(staged.series(t), naive_series(frames, t, real.aus, real.emotions)):
            assert np.array_equal(x, y, equal_nan=True)
    assert_same_frame(staged.at(9), frames[9])
    assert staged.segments(7, min_frames=1) == [0, 4, 8, 12, 16, 20, 24, 28, 32]
    assert staged.segments(track) == [0, 10]  # back after frame 5, but frame 9 (read without a model) breaks the hold
    for t in (track, 7, 99):
        for m in (1, 2, 3, 5, 40):
            assert staged.segments(t, m) == naive_segments(frames, t, m)


def test_frames_added_out_of_order_or_again_are_kept_in_index_order(face_clip, scorer):
    added = []
    real = analyse(face_clip, scorer, added)
    analysis = Analysis(real.aus, real.emotions, "test")
    for i in (4, 1, 7, 1, 0):
        analysis.add(replace_index(added[i], 10 + i if i != 1 else 1))
    again = replace_index(added[9], 1)
    analysis.add(again)  # a later reading of frame 1 replaces the earlier one
    assert [r.index for r in analysis.frames()] == [1, 10, 14, 17] and len(analysis) == 4
    assert_same_frame(analysis.at(1), again)
    assert analysis.track_ids() == [added[0].faces[0].track_id]
    assert np.array_equal(analysis.series(analysis.track_ids()[0])[0], [1 / 30, 10 / 30, 14 / 30, 17 / 30])


def replace_index(result, index):
    from dataclasses import replace

    return replace(result, index=index, timestamp=index / 30)


def test_recalibrating_rereads_the_columns(face_clip, scorer):
    from core.baseline import BaselineMode

    added = []
    analysis = analyse(face_clip, scorer, added)
    track = analysis.track_ids()[0]
    streamed = analysis.series(track)
    fixed = scorer.recalibrate(analysis, BaselineMode.parse("0-0.2"))
    assert analysis.baseline == "0-0.2" and set(fixed) == {track}
    segment = analysis.series(track)
    assert not np.array_equal(segment[1], streamed[1])  # the cached series was dropped
    for x, y in zip(segment, naive_series(analysis.frames(), track, analysis.aus, analysis.emotions)):
        assert np.array_equal(x, y, equal_nan=True)
    assert analysis.at(0).faces[0].raw is not None and np.array_equal(analysis.at(0).faces[0].landmarks,
                                                                       added[0].faces[0].landmarks)
    scorer.recalibrate(analysis, BaselineMode("auto"))  # the streaming pass's readings again
    assert analysis.baseline == "auto"
    for r in added:
        assert analysis.at(r.index).faces[0].au == pytest.approx(r.faces[0].au, abs=1e-6, nan_ok=True)
    assert np.allclose(analysis.series(track)[1], streamed[1], atol=1e-6, equal_nan=True)


def test_analyze_with_a_neutral_segment_writes_what_the_studio_reads_after_marking_it(tmp_path, face_clip, scorer):
    """`mf2 analyze --baseline 0-0.2` holds the rows up to 0.2 s, reads them again against the
    segment and writes them: the same bytes as the studio's export after marking the segment, and
    as an analysis run with the segment from the start (the video check's `--baseline`)."""
    from core.analyze import AnalyzeOptions, analyze_input
    from core.baseline import BaselineMode
    from core.model.scorer import FaceScorer

    done = analyze_input(str(face_clip), tmp_path / "cli.csv", AnalyzeOptions(model=str(default_model_dir()),
                                                                             baseline="0-0.2"))
    assert done.ok and done.frames == 12 and done.notes == []
    # a segment where nobody is (past the end of the clip) is said: those people are read as with auto
    missed = analyze_input(str(face_clip), tmp_path / "late.csv", AnalyzeOptions(model=str(default_model_dir()),
                                                                                baseline="100-200"))
    assert missed.ok and missed.notes == [f"{face_clip}: the one person had no face in the neutral segment 100-200 s "
                                          "(it begins after the recording's last frame, at 0.44 s), so read against their own running estimate, as with --baseline auto "
                                          "(their rows say auto in the baseline column)"]
    late = (tmp_path / "late.csv").read_text().splitlines()
    assert all(row.split(",")[-2] == "auto" for row in late[1:])  # what they were read against, row by row
    marked = analyse(face_clip, scorer)
    scorer.recalibrate(marked, BaselineMode.parse("100-200"))  # the studio, the same segment marked
    marked.write_csv(tmp_path / "studio_late.csv")
    assert (tmp_path / "studio_late.csv").read_bytes() == (tmp_path / "late.csv").read_bytes()
    analysis = analyse(face_clip, scorer)
    auto = analysis.frames()
    scorer.recalibrate(analysis, BaselineMode.parse("0-0.2"))
    assert analysis.frames()[0].faces[0].au != auto[0].faces[0].au  # the held rows were read again
    analysis.write_csv(tmp_path / "studio.csv")
    assert (tmp_path / "cli.csv").read_bytes() == (tmp_path / "studio.csv").read_bytes()
    direct = analyse(face_clip, FaceScorer(default_model_dir(), baseline="0-0.2"))  # a scorer given the segment
    assert direct.baseline == "0-0.2"
    direct.write_csv(tmp_path / "direct.csv")
    assert (tmp_path / "direct.csv").read_bytes() == (tmp_path / "cli.csv").read_bytes()


def test_frames_can_be_read_while_another_thread_adds_them(face_clip, scorer):
    added = []
    real = analyse(face_clip, scorer, added)
    analysis = Analysis(real.aus, real.emotions, "test")
    track = real.track_ids()[0]
    n = 3000
    errors = []

    def fill():
        try:
            for i in range(n):
                analysis.add(replace_index(added[i % len(added)], i))
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    writer = threading.Thread(target=fill)
    writer.start()
    while writer.is_alive():
        times, au, _ = analysis.series(track)
        assert len(times) == len(au)
        if len(times):
            assert analysis.at(len(times) - 1) is not None
    writer.join()
    assert not errors and len(analysis) == n and analysis.track_ids() == [track]
    for x, y in zip(analysis.series(track), naive_series(analysis.frames(), track, real.aus, real.emotions)):
        assert np.array_equal(x, y, equal_nan=True)
    assert_same_frame(analysis.at(n - 1), replace_index(added[(n - 1) % len(added)], n - 1))


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
    np.savez(tmp_path / "z.npz", meta=np.array('{"format": "mf2-analysis-4"}'), frame_index=np.zeros(2))
    with pytest.raises(InputError, match="z.npz: not a readable MF² analysis"):
        Analysis.load(tmp_path / "z.npz")


def test_an_analysis_file_of_the_previous_format_is_refused_in_one_line(tmp_path):
    """Format 3 kept the same arrays but no flags (written here as its save wrote them)."""
    meta = {"format": "mf2-analysis-3", "aus": [1], "emotions": ["happy"], "model_version": "m", "frame_count": 1,
            "source": "", "complete": True, "baseline": "auto"}
    np.savez_compressed(tmp_path / "old.npz", meta=np.array(json.dumps(meta)), frame_index=np.zeros(1, np.int64),
                        frame_time=np.zeros(1), faces_per_frame=np.ones(1, np.int64), track=np.zeros(1, np.int64),
                        box=np.zeros((1, 4), np.float32), confidence=np.ones(1), pose=np.zeros((1, 3)),
                        landmarks=np.zeros((1, 478, 2), np.float32), au=np.zeros((1, 1), np.float32),
                        emotion=np.ones((1, 1), np.float32), quality=np.ones(1, np.float32), raw=np.zeros((1, 0)))
    with pytest.raises(InputError) as e:
        Analysis.load(tmp_path / "old.npz")
    assert str(e.value) == (f"{tmp_path / 'old.npz'}: not a readable MF² analysis "
                            f"(format mf2-analysis-3, this version reads {FORMAT})")
    cache = AnalysisCache(tmp_path)
    assert cache.load(tmp_path / "old.npz") is None and not (tmp_path / "old.npz").exists()  # analysed again


def test_cache_is_keyed_by_content_not_name(tmp_path, face_clip, blank_clip, scorer):
    cache = AnalysisCache(tmp_path / "cache")
    key = model_digest(default_model_dir())
    path = cache.path(content_digest(face_clip), key, 8)
    assert cache.load(path) is None
    older = [path.with_name(path.name.replace(f"-r{READINGS}", suffix)) for suffix in ("", f"-r{READINGS - 1}")]
    for entry in older:  # what earlier readings of the same video left
        entry.parent.mkdir(parents=True, exist_ok=True)
        entry.write_bytes(b"older")
    cache.save(path, analyse(face_clip, scorer))
    assert not any(entry.exists() for entry in older)
    renamed = shutil.copy(face_clip, tmp_path / "renamed.mp4")
    assert cache.path(content_digest(Path(renamed)), key, 8) == path
    assert len(cache.load(path)) == 12
    assert cache.path(content_digest(blank_clip), key, 8) != path
    assert cache.path(content_digest(face_clip), "faces", 8) != path
    assert cache.path(content_digest(face_clip), key, 2) != path  # the tracker's settings
    assert cache.path(content_digest(face_clip), key, 8, detect_every=1) != path
    assert cache.path(content_digest(face_clip), key, 8, DETECT_EVERY) == path
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


def test_an_analysis_longer_than_its_landmark_blocks_keeps_them_out_of_memory(tmp_path, face_clip, scorer):
    """Past two blocks of faces the landmarks go to a scratch file, and a loaded analysis reads
    them from its own file: every frame still reads back exactly, before and after a reload, and
    an analysis saved while it is read (the studio's cache) is the same."""
    from core.landmark_store import BLOCK

    added = []
    analyse(face_clip, scorer, added)
    analysis = Analysis(scorer.aus, scorer.emotions, "test")
    n = 3 * BLOCK + 100
    for i in range(n):
        analysis.add(replace_index(added[i % len(added)], i))
    in_memory = [p for p in analysis._landmarks._parts if isinstance(p, np.ndarray)]
    assert len(in_memory) == 2 and len(analysis._landmarks._parts) == 4
    analysis.save(tmp_path / "a.npz")
    loaded = Analysis.load(tmp_path / "a.npz")
    assert not [p for p in loaded._landmarks._parts if isinstance(p, np.ndarray)]
    for i in (0, BLOCK - 1, BLOCK, 2 * BLOCK + 3, n - 1):
        assert_same_frame(analysis.at(i), loaded.at(i))
        assert_same_frame(loaded.at(i), replace_index(added[i % len(added)], i))
    rows = np.arange(0, n, 97)
    assert np.array_equal(loaded.landmarks(rows), analysis.landmarks(rows))
    loaded.save(tmp_path / "a.npz")  # over the file it reads from
    again = Analysis.load(tmp_path / "a.npz")
    assert np.array_equal(again.landmarks(rows), analysis.landmarks(rows))
