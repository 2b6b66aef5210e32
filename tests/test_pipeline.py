"""The two-thread analyse path gives exactly what one thread gives, however the model groups the
faces it reads, and stops cleanly."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from core.analysis import analyze_frame
from core.cli import default_model_dir
from core.faces import FaceTracker
from core.model.scorer import FaceScorer
from core.pipeline import analysed_frames
from core.errors import InputError
from core.video import Source, open_source


def rows(results):
    return [(r.index, r.timestamp, [(f.track_id, f.landmarks.tobytes(), sorted(f.au.items()), sorted(f.emotion.items()),
                                     f.quality) for f in r.faces]) for r in results]


def test_two_threads_give_what_one_gives(face_clip):
    """Frame by frame (`analyze_frame`, against the population's face: nothing to settle), and
    with the automatic baseline, whose first rows wait to be settled (core.model.settle)."""
    scorer = FaceScorer(default_model_dir(), baseline="none")
    with open_source(face_clip) as source, FaceTracker() as tracker:
        one = [analyze_frame(frame, tracker, scorer) for frame in source if frame.index % 2 == 0]
    with open_source(face_clip) as source, FaceTracker() as tracker:
        two = list(analysed_frames(source, tracker, scorer, every=2))
    assert len(two) == 6 and all(r.faces for r in two)
    assert rows(two) == rows(one)
    scorer = FaceScorer(default_model_dir())
    with open_source(face_clip) as source, FaceTracker() as tracker:
        two = list(analysed_frames(source, tracker, scorer, every=2))
    scorer.reset()
    with open_source(face_clip) as source, FaceTracker() as tracker:
        alone = list(analysed_frames(source, tracker, scorer, every=2, threads=1))
    assert rows(alone) == rows(two)


class Camera(Source):
    """Frames as a camera gives them (``live``)."""

    name, live = "cam:0", True

    def __init__(self, frames):
        self.frames = frames

    def __iter__(self):
        yield from self.frames


def test_a_camera_is_read_frame_by_frame_without_waiting(face_clip):
    """Live, nothing waits for a person's baseline to settle: what `analyze_frame` gives."""
    scorer = FaceScorer(default_model_dir())
    with open_source(face_clip) as source:
        frames = list(source)
    with FaceTracker() as tracker:
        one = [analyze_frame(frame, tracker, scorer) for frame in frames]
    scorer.reset()
    with FaceTracker() as tracker:
        camera = list(analysed_frames(Camera(frames), tracker, scorer))
    scorer.reset()
    with open_source(face_clip) as source, FaceTracker() as tracker:
        settled = list(analysed_frames(source, tracker, scorer))
    assert rows(camera) == rows(one) and rows(settled) != rows(one)


def test_a_face_reads_the_same_whatever_shares_its_model_call(astronaut, face_crop):
    """Faces of different frames read in one padded call, or each alone, give identical figures;
    an unpadded call (live) differs only by float rounding."""
    scorer = FaceScorer(default_model_dir())
    with FaceTracker(static=True) as tracker:
        pictures = [astronaut, astronaut[:, ::-1].copy(), face_crop]
        inputs = [scorer.prepare(rgb, tracker.process(rgb)) for rgb in pictures]
    assert [len(i.crops) for i in inputs] == [1, 1, 1]
    alone = [scorer.read(i) for i in inputs]
    together = scorer.read(inputs)
    assert (together == np.concatenate(alone)).all()
    assert not (alone[0] == alone[1]).all()  # the faces themselves do differ
    live = scorer.read(inputs[0], batch=None)
    assert np.allclose(live, alone[0], atol=1e-4)


def test_leaving_early_stops_the_face_thread(face_clip):
    before = threading.active_count()
    with open_source(face_clip) as source, FaceTracker() as tracker:
        frames = analysed_frames(source, tracker)
        next(frames)
        frames.close()  # as an error or Ctrl-C in the loop does
    assert threading.active_count() == before


class BreaksAfterThree(Source):
    """A video whose fourth frame cannot be decoded, as a damaged file reports it."""

    name = "damaged.mp4"

    def __init__(self, frames):
        self.frames = frames

    def __iter__(self):
        yield from self.frames[:3]
        raise InputError("damaged.mp4: corrupt or truncated video after frame 3")


def test_a_damaged_video_raises_after_its_readable_frames(face_clip):
    with open_source(face_clip) as source:
        frames = list(source)
    seen = []
    with pytest.raises(InputError, match="after frame 3"), FaceTracker() as tracker:
        for result in analysed_frames(BreaksAfterThree(frames), tracker):
            seen.append(result.index)
    assert seen == [0, 1, 2]


def test_the_frames_before_damage_come_out_settled(face_clip):
    """Frames held for a person's baseline are read and given out before the error."""
    with open_source(face_clip) as source:
        frames = list(source)
    scorer, seen = FaceScorer(default_model_dir()), []
    with pytest.raises(InputError, match="after frame 3"), FaceTracker() as tracker:
        for result in analysed_frames(BreaksAfterThree(frames), tracker, scorer):
            seen.append(result)
    assert [r.index for r in seen] == [0, 1, 2] and all(r.faces and r.faces[0].au for r in seen)


def test_threads_left_to_the_run_are_one_each_where_workers_share_the_cores():
    from core.analyze import AnalyzeOptions, with_threads

    def threads(workers, cores=2, **given):
        return with_threads(AnalyzeOptions(**given), workers, cores).threads

    assert threads(1) == 2 and threads(2, cores=8) == 2  # cores to spare: faces and model side by side
    assert threads(2) == threads(16, cores=16) == threads(1, cores=1) == 1  # the model's thread would take turns
    assert threads(2, device="cuda") == threads(2, shared_model=True) == 2  # the faces fill the model's wait
    assert threads(1, threads=1) == 1 and threads(2, threads=2) == 2  # what the user asked for
