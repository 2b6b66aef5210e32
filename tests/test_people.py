"""People, not tracks: a cut to someone else ends a track, a face that comes back gets its person
back, one pass and a chunked pass agree, and the studio's analysis can merge, split and name people.

The real cases are short clips cut from the shared videos and joined again (people nothing was
tuned on: the thresholds were chosen on other clips, scripts/people_check.py)."""
from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from core.analysis import Analysis, frame_result
from core.analyze import AnalyzeOptions
from core.chunks import ChunkFeed, analyze_chunk, plan_chunks
from core.errors import InputError
from core.faces import Face, FaceTracker
from core.faces.appearance import BINS, GRID, N_CODES, Appearance
from core.faces.people import People
from core.faces.pose import HeadPose
from core.pipeline import analysed_frames
from core.video import VideoFile, open_source

from .conftest import SHARED_DATA, needs_shared

VIDEOS = SHARED_DATA / "videos"
SHOT = 40  # frames per shot in the joined clips


def join(path: Path, shots: list[tuple[str, int, int]]) -> Path:
    """The frames [start, end) of each (video, start, end), one after another in one mp4 at 25 fps."""
    with av.open(str(path), "w") as out:
        stream = None
        for n, (name, start, end) in enumerate(shots):
            with VideoFile(VIDEOS / name) as video:
                for frame in video.frames(video.frame_times()[start]):
                    if frame.index >= end:
                        break
                    if stream is None:
                        stream = out.add_stream("mpeg4", rate=25)
                        stream.height, stream.width = frame.rgb.shape[:2]
                        stream.pix_fmt, stream.bit_rate = "yuv420p", 8_000_000
                    picture = av.VideoFrame.from_ndarray(frame.rgb, format="rgb24")
                    out.mux(stream.encode(picture))
        out.mux(stream.encode())
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    if not VIDEOS.is_dir():
        pytest.skip(f"{VIDEOS} absent")
    folder = tmp_path_factory.mktemp("people")
    d10, d11, d12 = "liveportrait_d10.mp4", "liveportrait_d11.mp4", "liveportrait_d12.mp4"
    return {
        # two people in turn, each shot from another moment of their clip
        "abab": join(folder / "abab.mp4", [(d10, 0, SHOT), (d11, 0, SHOT), (d10, 200, 200 + SHOT),
                                           (d11, 120, 120 + SHOT)]),
        # three people, the first two coming back in reverse order
        "turns": join(folder / "turns.mp4", [(d11, 0, SHOT), (d12, 0, SHOT), (d10, 100, 100 + SHOT),
                                             (d12, 120, 120 + SHOT), (d11, 150, 150 + SHOT)]),
        # the man leaves the shot (a cut to a cartoon) and comes back: two clips of his, joined
        "return": join(folder / "return.mp4", [("face_noface.mov", 0, 80), ("noface_face.mov", 93, 140)]),
    }


def one_pass(path: Path) -> list:
    with open_source(path) as source, FaceTracker() as tracker:
        return list(analysed_frames(source, tracker))


def ids(frames) -> list[list[tuple[int, int]]]:
    """(face id, person) of each frame's faces."""
    return [[(f.track_id, f.person) for f in r.faces] for r in frames]


@needs_shared
def test_a_cut_to_someone_else_ends_the_track_and_each_comes_back_as_themselves(clips):
    frames = one_pass(clips["abab"])
    assert [r.index for r in frames] == list(range(4 * SHOT))
    # a track per shot, a person per human: d10 is person 0 in shots 1 and 3, d11 person 1 in 2 and 4
    assert ids(frames) == [[(shot, shot % 2)] for shot in range(4) for _ in range(SHOT)]


TURNS = [[(shot, person)] for shot, person in enumerate([0, 1, 2, 1, 0]) for _ in range(SHOT)]


@needs_shared
def test_three_people_in_turn_keep_their_person(clips):
    assert ids(one_pass(clips["turns"])) == TURNS


@needs_shared
def test_a_face_that_leaves_the_shot_and_comes_back_keeps_its_person(clips):
    frames = one_pass(clips["return"])
    seen = "".join("1" if r.faces else "0" for r in frames)
    assert seen == "1" * 72 + "0" * 11 + "1" * 44  # the cartoon between: 8 frames of one clip, 3 of the other
    assert ids(frames[:72]) == [[(0, 0)]] * 72 and ids(frames[83:]) == [[(1, 0)]] * 44  # a new track, the same person


@needs_shared
def test_a_person_who_comes_back_keeps_their_baseline(clips):
    """The person baseline (core.baseline) runs per person, not per track: d10 and d11 each come
    back in a new track, and each is read against the neutral face learnt in their first shot."""
    from core.model.scorer import FaceScorer
    from core.model.shipped import default_model_dir

    scorer = FaceScorer(default_model_dir())
    with open_source(clips["abab"]) as source, FaceTracker() as tracker:
        frames = list(analysed_frames(source, tracker, scorer))
    assert {f.track_id for r in frames for f in r.faces} == {0, 1, 2, 3}
    assert sorted(scorer._running) == [0, 1]  # one running baseline per person (per track: four)


@needs_shared
def test_a_chunked_pass_finds_the_people_one_pass_finds(clips):
    """Chunks of the three-people clip analysed apart (faces only), joined in order: the same
    tracks and people, although the chunk boundary falls inside a shot and two of the people
    come back only after it."""
    path = clips["turns"]
    with VideoFile(path) as video:
        times, keyframes = video.frame_times(), video.keyframes
    chunks = plan_chunks(times, keyframes, 2)
    assert len(chunks) == 2 and chunks[1].start % SHOT != 0  # inside a shot
    feed = ChunkFeed(chunks, len(times))
    for chunk in reversed(chunks):  # as workers finish: any order
        feed.put(chunk.number, analyze_chunk(str(path), chunk, AnalyzeOptions()))
    joined = list(feed.frames())
    assert [r.index for r in joined] == list(range(5 * SHOT)) and ids(joined) == TURNS


def face(track: int, x: float, look: float | None) -> Face:
    """A face at ``x`` whose look is ``look`` everywhere (None: no look, as in photos)."""
    appearance = None if look is None else Appearance(np.full(GRID * GRID * N_CODES, look, np.float32),
                                                       np.full(np.prod(BINS), look / 128, np.float32))
    return Face(track, np.array([x, 0, x + 50, 50], np.float32), 0.9, np.zeros((478, 3), np.float32),
                HeadPose(0, 0, 0), appearance)


def test_frames_wait_for_a_new_track_to_settle_and_come_out_in_order():
    read = []

    def source():
        for i in range(8):
            read.append(i)
            yield i, i / 25, [face(0 if i < 4 else 1, 0, 1.0)]

    out = [(index, [(f.track_id, f.person) for f in faces], len(read)) for index, _, faces in People(3).frames(source())]
    assert [index for index, _, _ in out] == list(range(8))
    assert [faces for _, faces, _ in out] == [[(0, 0)]] * 4 + [[(1, 0)]] * 4  # the look matches: one person
    assert [n for _, _, n in out] == [3, 3, 3, 4, 7, 7, 7, 8]  # a new track's frames wait for its third


def test_two_faces_of_one_frame_are_never_one_person():
    people = People(settle=1)
    frames = [(0, 0.0, [face(0, 0, 1.0), face(1, 100, 1.0)])]  # alike, but side by side
    out = list(people.frames(frames))
    assert [f.person for f in out[0][2]] == [0, 1]


def test_an_unlike_face_is_someone_new_and_so_is_one_without_a_look():
    people = People()
    faces = [face(0, 0, 1.0), face(1, 0, 40.0), face(2, 0, 1.0), face(3, 0, None)]
    for f in faces:  # one frame each, decided at once (live)
        people.assign([f])
    assert [f.person for f in faces] == [0, 1, 0, 2]


def test_frames_held_back_come_out_before_an_error():
    def damaged():
        yield 0, 0.0, [face(0, 0, 1.0)]
        yield 1, 0.04, [face(0, 0, 1.0)]
        raise InputError("damaged.mp4: corrupt after frame 2")

    seen = []
    with pytest.raises(InputError, match="after frame 2"):
        for index, _, faces in People(settle=8).frames(damaged()):
            seen.append((index, faces[0].person))
    assert seen == [(0, 0), (1, 0)]


def analysis_of(people: list[list[tuple[int, int]]]) -> Analysis:
    """An analysis whose frames hold faces of these (track, person)."""
    analysis = Analysis(source="x.mp4")
    for index, faces in enumerate(people):
        tracked = [Face(t, np.array([0, 0, 10, 10], np.float32), 0.9, np.zeros((478, 3), np.float32),
                        HeadPose(0, 0, 0), person=p) for t, p in faces]
        analysis.add(frame_result(index, index / 25, tracked))
    return analysis


def test_the_studio_merges_splits_and_names_people_and_keeps_the_names(tmp_path):
    analysis = analysis_of([[(0, 0)]] * 5 + [[(1, 1)]] * 3 + [[(2, 0), (3, 2)]] * 2)
    assert analysis.people() == [0, 1, 2] and analysis.person_tracks(0) == [0, 2]
    analysis.name_person(1, " Ana ")
    with pytest.raises(ValueError, match="people 0 and 2 are both in frame 8"):
        analysis.merge_people(0, 2)  # one person is never two faces of one frame
    analysis.merge_people(0, 1)  # the tracker's people 0 and 1 are one
    assert analysis.people() == [0, 2] and analysis.names == {0: "Ana"}
    assert [f.person for r in analysis.frames() for f in r.faces] == [0] * 8 + [0, 2, 0, 2]
    new = analysis.split_person(0, 3)  # track 0 was someone else from frame 3 on
    assert new == 3 and analysis.person_tracks(3) == [0] and analysis.person_tracks(0) == [0, 1, 2]
    with pytest.raises(ValueError, match="track 1 has no face from frame 9 on"):
        analysis.split_person(1, 9)
    analysis.name_person(3, "Ben")
    analysis.name_person(2, "")
    analysis.save(tmp_path / "a.npz")
    loaded = Analysis.load(tmp_path / "a.npz")
    assert loaded.names == {0: "Ana", 3: "Ben"}
    assert [(f.track_id, f.person) for r in loaded.frames() for f in r.faces] == \
        [(0, 0)] * 3 + [(0, 3)] * 2 + [(1, 0)] * 3 + [(2, 0), (3, 2)] * 2
    loaded.write_csv(tmp_path / "a.csv")
    rows = (tmp_path / "a.csv").read_text().splitlines()
    assert rows[0].startswith("frame, face_id, person, timestamp,")
    assert [tuple(r.split(",")[1:3]) for r in rows[1:]] == \
        [("0", "0")] * 3 + [("0", "3")] * 2 + [("1", "0")] * 3 + [("2", "0"), ("3", "2")] * 2


def test_an_earlier_split_keeps_a_later_one():
    analysis = analysis_of([[(0, 0)]] * 10)
    later = analysis.split_person(0, 6)   # frames 6.. are someone else
    earlier = analysis.split_person(0, 3)  # and frames 3..5 a third person: 6.. stay who they were
    assert [f.person for r in analysis.frames() for f in r.faces] == [0] * 3 + [earlier] * 3 + [later] * 4
