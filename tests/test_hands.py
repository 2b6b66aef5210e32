"""A real hand over a face leaves the AUs under it unread; a part of a face that the palm detector
takes for a hand covers nothing (core.faces.hands)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from core.cli import default_model_dir
from core.faces import FaceTracker
from core.faces.hands import LOOK_EVERY, HandFinder, hand_cover
from core.model.scorer import FaceScorer
from core.video import open_source

from .conftest import SHARED_DATA

VIDEOS = SHARED_DATA / "videos"
MOUTH_AUS = (10, 12, 15, 16, 17, 20, 23, 24, 25, 26, 27)


def frame_and_faces(clip: str, index: int, hands: bool = True):
    """The frame ``index`` of a shared clip and its faces, tracked from the start as `analyze` does."""
    with open_source(str(VIDEOS / clip)) as source, FaceTracker(max_faces=1, hands=hands) as tracker:
        for frame in source:
            faces = tracker.process(frame.rgb)
            if frame.index == index:
                return frame.rgb, faces
    raise AssertionError(f"{clip} has no frame {index}")


@pytest.fixture(scope="module")
def scorer():
    return FaceScorer(default_model_dir())


def test_a_hand_over_the_mouth_leaves_the_mouth_unread(scorer):
    """She holds her hand over her mouth and chin (frame 80): the visibility head alone reads her
    mouth AUs through it; with the hand found, they are empty and her eyes and brows are read."""
    rgb, faces = frame_and_faces("WolfgangLanger_Pexels.mp4", 80)
    face = faces[0]
    assert {"lips", "lower_lip", "chin"} <= set(face.covered)
    assert not {"inner_brows", "outer_brows", "upper_eyelids", "glabella"} & set(face.covered)
    scores = scorer.score(rgb, faces)[0]
    for n in MOUTH_AUS:
        assert np.isnan(scores.au[n]), n
    assert not np.isnan(scores.au[1]) and not np.isnan(scores.au[4]) and not np.isnan(scores.au[45])
    assert scores.quality < 1.0

    _, without = frame_and_faces("WolfgangLanger_Pexels.mp4", 80, hands=False)
    alone = scorer.score(rgb, without)[0]
    assert without[0].covered == ()
    assert sum(np.isnan(alone.au[n]) for n in MOUTH_AUS) <= 2, "the head alone misses this hand"


def test_a_face_taken_for_a_hand_covers_nothing():
    """On liveportrait_d3 (no hand in the clip) the palm detector finds a "hand" on her cheek and
    nose at frame 280; its wrist lies inside her face, so it covers no region."""
    rgb, faces = frame_and_faces("liveportrait_d3.mp4", 280, hands=False)
    finder = HandFinder(static=True)
    try:
        found = finder.find(rgb, [f.box for f in faces])
    finally:
        finder.close()
    assert found, "MediaPipe takes part of her face for a hand"
    assert hand_cover(faces[0].landmarks, found) == ()
    _, tracked = frame_and_faces("liveportrait_d3.mp4", 280)
    assert tracked[0].covered == ()


def test_in_video_the_palm_detector_looks_every_few_frames(monkeypatch):
    finder = HandFinder(static=False)
    calls = []

    class Nothing:
        multi_hand_landmarks = None

    monkeypatch.setattr(finder._look, "process", lambda rgb: calls.append(1) or Nothing())
    frame, box = np.zeros((64, 64, 3), np.uint8), np.array([10.0, 10.0, 50.0, 50.0])
    for _ in range(3 * LOOK_EVERY):
        assert finder.find(frame, [box]) == []
    assert len(calls) == 3
    assert finder.find(frame, []) == [] and len(calls) == 3, "no face: no look"
    finder.close()


def test_fingers_over_one_eye_hide_that_eye_alone(scorer):
    """Her fingers lie over her right eye at frame 96 (both eyes shut as she cries): that eye counts
    as hidden, the eyelid regions (both eyes together) do not, and closure is still read."""
    rgb, faces = frame_and_faces("WolfgangLanger_Pexels.mp4", 96)
    face = faces[0]
    assert "right_eye" in face.covered and "left_eye" not in face.covered
    assert not {"upper_eyelids", "lower_eyelids"} & set(face.covered)
    assert not np.isnan(scorer.score(rgb, faces)[0].au[45])


def test_eye_closure_is_read_from_the_eye_no_hand_hides(scorer):
    """Under a hand the mesh guesses the eye, and may place it shut: on a real face with both eyes
    open, its right eye's lids drawn shut read as a blink from both eyes, not when a hand hides
    that eye, and nothing is read of the eyes when both are hidden."""
    rgb, faces = frame_and_faces("liveportrait_d0.mp4", 5)
    shut = faces[0].landmarks.copy()
    shut[[159, 158, 160, 157, 161]] = shut[[145, 153, 144, 154, 163]]  # upper lid onto the lower one
    guessed = replace(faces[0], landmarks=shut)
    assert scorer.score(rgb, faces)[0].au[45] < 0.5, "her eyes are open"
    assert scorer.score(rgb, [guessed])[0].au[45] > 0.5, "a shut right eye reads as a blink"
    assert scorer.score(rgb, [replace(guessed, covered=("right_eye",))])[0].au[45] < 0.5
    both = scorer.score(rgb, [replace(guessed, covered=("right_eye", "left_eye"))])[0]
    assert np.isnan(both.au[45]) and np.isnan(both.au[43]) and not np.isnan(both.au[12])


def test_hands_found_on_one_thread_are_those_found_beside_the_faces():
    """`mf2 analyze --threads 1` looks for hands on the tracker's own thread: the same regions
    are covered on every frame of her hand over her mouth (frames 60-129)."""
    covered = {}
    for threads in (1, 2):
        with open_source(str(VIDEOS / "WolfgangLanger_Pexels.mp4")) as source, \
                FaceTracker(max_faces=1, threads=threads) as tracker:
            assert (tracker._hand_thread is None) == (threads == 1)
            covered[threads] = [[f.covered for f in tracker.process(frame.rgb)] for frame in source if frame.index < 130]
    assert covered[1] == covered[2]
    assert sum(bool(faces and faces[0]) for faces in covered[1][60:]) > 30
