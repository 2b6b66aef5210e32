"""Reviewing a session in the studio: people (rename, merge, split), segments (drag, keys,
import), the user's work surviving reopening and re-analysis, the report, ELAN and statistics
exports equal to the command line's.

The model part (core.session) runs on made-up analyses without Qt; the window part on a real
clip of two people in turn, cut from the shared videos (liveportrait_d10, d11, d10 again)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.analysis import Analysis, frame_result
from core.errors import InputError
from core.faces import Face
from core.faces.pose import HeadPose
from core.model.shipped import default_model_dir
from core.segments import Segment, read_segments
from core.session import Session, UserWork, WorkStore, check_name
from core.validation import load_validation

from .conftest import SHARED_DATA

ROOT = Path(__file__).resolve().parents[1]
DIGEST = "0123456789abcdef0123456789abcdef"


def analysis_of(people: list[list[tuple[int, int]]], fps: float = 25.0) -> Analysis:
    """A complete analysis whose frames hold faces of these (track, person), each face's
    'happy' reading its track id / 10 (so a series shows whose face it is)."""
    analysis = Analysis(aus=(12,), emotions=("neutral", "happy"), model_version="test", source="x.mp4")
    for index, faces in enumerate(people):
        tracked = [Face(t, np.array([0, 0, 10, 10], np.float32), 0.9, np.zeros((478, 3), np.float32),
                        HeadPose(0, 0, 0), person=p) for t, p in faces]

        class Scores:  # what FaceScorer.score returns per face, as much as frame_result reads
            def __init__(self, t):
                self.au, self.emotion, self.raw, self.quality = {12: 0.5}, {"neutral": 0.0, "happy": t / 10}, None, 1.0
                self.embedding, self.calibrating = None, False

        analysis.add(frame_result(index, index / fps, tracked, [Scores(t) for t, _ in faces]))
    analysis.complete = True
    return analysis


# tracks 0 and 2 are person 0, track 1 person 1; track 3 (person 2) shares frames 10-11 with track 2
FRAMES = [[(0, 0)]] * 5 + [[(1, 1)]] * 5 + [[(2, 0), (3, 2)]] * 2 + [[(2, 0)]] * 4


def opened(store: WorkStore, frames=FRAMES) -> Session:
    session = Session(store)
    session.open_source("x.mp4")
    session.attach_digest(DIGEST)
    analysis = analysis_of(frames)
    session.start_analysis(analysis)
    session.finish_analysis(analysis)
    return session


def persons(session: Session) -> list[list[tuple[int, int]]]:
    return [[(f.track_id, f.person) for f in r.faces] for r in session.analysis.frames()]


def test_the_session_corrects_people_and_announces_each_change(tmp_path):
    session = opened(WorkStore(tmp_path))
    seen = []
    for name in ("people", "selection", "lanes", "segments", "saved"):
        getattr(session.events, name).connect(lambda *args, name=name: seen.append(name))
    assert session.people() == [0, 1, 2] and session.label(0) == "person 0"
    assert session.ensure_selection() == 0 and session.lanes() == [0]
    session.rename(0, "  Patient ")
    assert session.label(0) == "Patient" and session.analysis.names == {0: "Patient"}
    assert seen[-2:] == ["saved", "people"]
    with pytest.raises(InputError, match="already Patient's name"):
        session.rename(1, "patient")
    with pytest.raises(InputError, match="both on screen at 0.40 s"):
        session.merge(0, 2)  # tracks 2 and 3 share frames 10 and 11
    times, _, emotion = session.person_series(0)
    assert np.isnan(emotion[5:10, 1]).all() and list(emotion[[0, 10, 15], 1]) == pytest.approx([0.0, 0.2, 0.2])

    new = session.split(0, 13)  # track 2 is someone else from frame 13 on
    assert new == 3 and session.selected == 3 and session.lanes() == [0, 3]
    assert persons(session)[12:] == [[(2, 0)], [(2, 3)], [(2, 3)], [(2, 3)]]
    assert persons(session)[10] == [(2, 0), (3, 2)]
    _, _, emotion = session.person_series(0)
    assert np.isfinite(emotion[:5, 1]).all() and np.isfinite(emotion[10:13, 1]).all()
    assert np.isnan(emotion[13:, 1]).all()
    _, _, emotion = session.person_series(3)
    assert list(np.flatnonzero(np.isfinite(emotion[:, 1]))) == [13, 14, 15]

    session.rename(1, "Therapist")
    session.merge(1, 3)  # the new person is the therapist
    assert session.people() == [0, 1, 2] and session.selected == 1
    assert [f.person for r in session.analysis.frames()[13:] for f in r.faces] == [1, 1, 1]
    _, _, emotion = session.person_series(1)
    assert list(np.flatnonzero(np.isfinite(emotion[:, 1]))) == [5, 6, 7, 8, 9, 13, 14, 15]
    assert list(emotion[[5, 13], 1]) == pytest.approx([0.1, 0.2])  # track 1's face, then track 2's

    saved = json.loads((tmp_path / f"{DIGEST}.json").read_text())
    assert saved["names"] == {"0": "Patient", "1": "Therapist"}
    assert saved["operations"] == [{"op": "split", "track": 2, "frame": 13, "time": 0.52, "person": 3},
                                   {"op": "merge", "keep": 1, "other": 3}]


def test_names_merges_splits_and_segments_are_undone_and_redone_and_saved_each_time(tmp_path):
    store = WorkStore(tmp_path)
    session = opened(store)
    untouched = persons(session)
    with pytest.raises(InputError, match="Nothing to undo"):
        session.undo_work()
    session.rename(0, "Patient")
    new = session.split(0, 13)
    session.rename(1, "Therapist")
    session.merge(1, new)
    session.add_segment("task", 0.1, 0.3)
    session.remove_segment(Segment("task", 0.1, 0.3))
    merged = persons(session)
    assert session.history.next_undo() == "Removal of Segment “task”"

    assert session.undo_work() == "Removal of Segment “task”" and session.segments == [Segment("task", 0.1, 0.3)]
    assert session.undo_work() == "New Segment “task”" and session.segments == []
    assert session.undo_work() == "Merge of person 3 into Therapist"
    assert sorted(session.people()) == [0, 1, 2, 3] and persons(session)[13:] == [[(2, 3)]] * 3
    _, _, emotion = session.person_series(1)  # the therapist's series no longer holds track 2's end
    assert list(np.flatnonzero(np.isfinite(emotion[:, 1]))) == [5, 6, 7, 8, 9]
    saved = json.loads((tmp_path / f"{DIGEST}.json").read_text())  # what reopening the video brings back
    assert saved["operations"] == [{"op": "split", "track": 2, "frame": 13, "time": 0.52, "person": 3}]
    assert saved["names"] == {"0": "Patient", "1": "Therapist"} and persons(opened(store)) == persons(session)

    assert session.undo_work() == "Naming of person 1" and session.names == {0: "Patient"}
    assert session.undo_work() == "Split of Patient at frame 14" and persons(session) == untouched
    assert session.undo_work() == "Naming of person 0" and session.names == {} and session.analysis.names == {}
    assert session.history.next_undo() is None and session.people() == [0, 1, 2]
    assert json.loads((tmp_path / f"{DIGEST}.json").read_text())["operations"] == []

    for _ in range(4):  # naming, split, naming, merge again
        session.redo_work()
    assert persons(session) == merged and session.names == {0: "Patient", 1: "Therapist"}
    assert session.analysis.names == {0: "Patient", 1: "Therapist"}
    session.add_segment("rest", 0.0, 0.1)  # a new step: what was undone can no longer be redone
    with pytest.raises(InputError, match="Nothing to redo"):
        session.redo_work()
    with pytest.raises(InputError):
        session.merge(0, 2)  # a refused merge is no step
    assert session.history.next_undo() == "New Segment “rest”"
    session.start_analysis(analysis_of(FRAMES))  # another analysis: the steps were made on the last one
    assert session.history.next_undo() is None


def test_the_work_is_made_again_on_a_new_analysis_of_the_same_video(tmp_path):
    store = WorkStore(tmp_path)
    first = opened(store)
    first.rename(0, "Patient")
    first.split(0, 13)
    first.rename(3, "Visitor")
    first.add_segment("baseline", 0.0, 0.2)
    again = opened(store)  # as after a re-analysis, or with the analysis cache gone
    assert persons(again) == persons(first)
    assert again.names == {0: "Patient", 3: "Visitor"} and again.analysis.names == {0: "Patient", 3: "Visitor"}
    assert again.segments == [Segment("baseline", 0.0, 0.2)]
    _, _, emotion = again.person_series(3)
    assert list(np.flatnonzero(np.isfinite(emotion[:, 1]))) == [13, 14, 15]

    # an analysis where the split's new id comes out otherwise: names follow the person, not the number
    work = UserWork.from_json((tmp_path / f"{DIGEST}.json").read_bytes())
    assert work.baseline == "auto" and UserWork(baseline="0:01-0:02.5").empty() is False
    assert UserWork.from_json(UserWork(baseline="1-2.5").to_json()).baseline == "1-2.5"
    work.operations[0]["person"] = 7
    work.names = {0: "Patient", 7: "Visitor"}
    store.save(DIGEST, work)
    remapped = opened(store)
    assert remapped.names == {0: "Patient", 3: "Visitor"} and remapped.label(3) == "Visitor"

    # stopped before its end, the analysis has the tracker's numbers: the split is not made on it,
    # so its number 3 may be someone else, and no name is given (the overlay and CSV named the wrong face)
    partial = Session(store)
    partial.open_source("x.mp4")
    partial.attach_digest(DIGEST)
    said = []
    partial.events.notes.connect(said.append)
    stopped = analysis_of(FRAMES)
    stopped.complete = False
    partial.start_analysis(stopped)
    partial.finish_analysis(stopped)
    assert partial.names == {} and partial.label(3) == "person 3" and partial.snapshot().names == {}
    assert said and said[0].startswith("Your merges, splits and names wait for a complete analysis")
    with pytest.raises(InputError, match="Names wait"):  # it would name whoever has number 3 in the end
        partial.rename(0, "Zed")


def test_work_that_cannot_be_read_is_kept_aside_and_a_split_that_no_longer_fits_is_named(tmp_path):
    store = WorkStore(tmp_path)
    (tmp_path / f"{DIGEST}.json").write_text("{not json")
    notes = []
    session = Session(store)
    session.events.notes.connect(notes.append)
    session.open_source("x.mp4")
    session.attach_digest(DIGEST)
    assert "saved work unreadable" in notes[0] and session.work.empty()
    assert [p.name.startswith(f"{DIGEST}.json.unreadable-") for p in tmp_path.iterdir()] == [True]

    work = UserWork({0: "Patient"}, [{"op": "split", "track": 9, "frame": 3, "time": 0.12, "person": 3}], [])
    store.save(DIGEST, work)
    session = opened(store)
    assert session.names == {0: "Patient"} and persons(session) == persons(opened(WorkStore(tmp_path / "none")))


def test_names_that_a_csv_or_the_readers_would_misread_are_refused():
    assert check_name("  Dr.  Ana  ") == "Dr. Ana"
    for bad in ("3", "-1", "person 2", "Face 1", "Smith, Ana", 'the "patient"', "x" * 61):
        with pytest.raises(InputError):
            check_name(bad)


def test_segments_are_kept_sorted_once_each_and_marked_at_the_playhead(tmp_path):
    session = opened(WorkStore(tmp_path))
    session.set_time(0.3, 7)
    session.mark_segment_start()
    session.set_time(0.5, 12)
    assert session.end_segment(" task  one ") == Segment("task one", 0.3, 0.5)
    assert session.segment_start is None
    with pytest.raises(InputError, match="Mark where the segment starts"):
        session.end_segment("again")
    session.add_segment("rest", 0.4, 0.1)  # dragged right to left
    assert session.add_segments([Segment("rest", 0.1, 0.4), Segment("talk", 0.5, 0.6)]) == 1
    assert session.segments == [Segment("rest", 0.1, 0.4), Segment("task one", 0.3, 0.5), Segment("talk", 0.5, 0.6)]
    assert session.segments_at(0.35) == [Segment("rest", 0.1, 0.4), Segment("task one", 0.3, 0.5)]
    session.rename_segment(Segment("talk", 0.5, 0.6), "speech")
    with pytest.raises(InputError, match="may not be named 'whole recording'"):  # the statistics' own name
        session.rename_segment(Segment("speech", 0.5, 0.6), " Whole  recording")
    session.remove_segment(Segment("rest", 0.1, 0.4))
    session.write_segments_csv(tmp_path / "segments.csv")
    assert read_segments(tmp_path / "segments.csv") == session.segments == [Segment("task one", 0.3, 0.5),
                                                                             Segment("speech", 0.5, 0.6)]
    assert [s["name"] for s in json.loads((tmp_path / f"{DIGEST}.json").read_text())["segments"]] == \
        ["task one", "speech"]


# --- the studio ---------------------------------------------------------------------------------

pytest.importorskip("pytestqt")

from PySide6.QtCore import QCoreApplication, QEvent, QPointF, QSettings, Qt  # noqa: E402
from PySide6.QtGui import QMouseEvent  # noqa: E402
from PySide6.QtWidgets import QApplication, QInputDialog  # noqa: E402

SLOW = 90000  # ms: model load + analysis on a loaded 2-core machine
VIDEOS = SHARED_DATA / "videos"


@pytest.fixture(scope="module")
def warm(tmp_path_factory) -> Path:
    """Analyses made by an earlier test of this module, handed to the next (each test's cache is
    its own, so no test sees another's saved work)."""
    return tmp_path_factory.mktemp("warm")


@pytest.fixture
def cache(tmp_path, monkeypatch, warm) -> Path:
    folder = tmp_path / "cache"
    (folder / "analyses").mkdir(parents=True)
    for entry in warm.glob("*.npz"):
        shutil.copy(entry, folder / "analyses")
    monkeypatch.setenv("MF2_CACHE", str(folder))
    QCoreApplication.setOrganizationName("MF2 Studio tests")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    yield folder
    for entry in (folder / "analyses").glob("*.npz"):
        shutil.copy(entry, warm)


@pytest.fixture(scope="module")
def two_people(tmp_path_factory) -> Path:
    """45 frames at 25 fps: 15 of one woman (track 0), 15 of another (track 1), 15 of the first
    again (track 2): people 0, 1, 0."""
    if not VIDEOS.is_dir():
        pytest.skip(f"{VIDEOS} absent")
    from .test_people import join

    return join(tmp_path_factory.mktemp("review") / "two.mp4", [("liveportrait_d10.mp4", 0, 15),
                                                                 ("liveportrait_d11.mp4", 0, 15),
                                                                 ("liveportrait_d10.mp4", 200, 215)])


def make_window(qtbot):
    from app.main_window import MainWindow

    win = MainWindow()
    win.interactive = False
    qtbot.addWidget(win)
    win.resize(1280, 900)
    win.show()
    qtbot.waitUntil(lambda: not win.model_loading, timeout=SLOW)
    return win


@pytest.fixture
def window(qtbot, cache):
    win = make_window(qtbot)
    yield win
    win.close()


def open_and_analyse(window, qtbot, path, again: bool = False) -> None:
    with qtbot.waitSignal(window.analysis_done, timeout=SLOW) as blocker:
        if again:
            window._start_analysis(use_cache=False)
        else:
            window.open(str(path))
    assert blocker.args == [""]
    qtbot.waitUntil(lambda: window.frame is not None, timeout=SLOW)


def go_to(window, qtbot, index: int) -> None:
    window.player.seek_index(index)
    qtbot.waitUntil(lambda: window.frame.index == index, timeout=10000)


def answer(monkeypatch, text: str, getter: str = "getText") -> None:
    monkeypatch.setattr(QInputDialog, getter, lambda *a, **k: (text, True))


def trigger(window, text: str) -> None:
    [action] = [a for a in window.shortcut_actions if a.text().replace("&", "") == text]
    action.trigger()


def readings(session) -> np.ndarray:
    """(faces, AUs then emotions) every face's readings, in frame order."""
    a = session.analysis
    return np.array([[f.au[n] for n in a.aus] + [f.emotion[e] for e in a.emotions]
                     for r in a.frames() for f in r.faces], np.float32)


def person_column(path: Path) -> list[str]:
    return [line.split(",")[2] for line in path.read_text().splitlines()[1:]]


def test_rename_split_and_merge_people_and_every_view_and_export_follows(window, qtbot, two_people, tmp_path,
                                                                        monkeypatch):
    open_and_analyse(window, qtbot, two_people)
    session = window.session
    assert session.people() == [0, 1] and session.selected == 0
    assert person_column(window.export_csv(tmp_path / "plain.csv")) == ["0"] * 15 + ["1"] * 15 + ["0"] * 15
    assert [lane.key for lane in window.timelines.lanes] == [0]
    [all_people] = [a for a in window.commands.lanes_menu.actions() if a.text() == "&All People"]
    all_people.trigger()
    assert [lane.key for lane in window.timelines.lanes] == [0, 1]
    times, curve = window.timelines.lanes[1].curves["neutral"].getData()
    assert len(times) == 45 and np.isnan(curve[:15]).all() and np.isfinite(curve[15:30]).all()
    assert np.isnan(curve[30:]).all()

    answer(monkeypatch, "Patient")
    trigger(window, "Rename Person…")
    window.select_face(1)
    answer(monkeypatch, "Therapist")
    trigger(window, "Rename Person…")
    assert [lane.title for lane in window.timelines.lanes] == ["Patient", "Therapist"]
    assert [window.panel.face_box.itemText(i) for i in range(2)] == ["Patient", "Therapist"]
    go_to(window, qtbot, 20)
    assert window.view.label(window.view.result.faces[0]) == "Therapist"
    assert window.selected == 1  # the track of the selected person's face: what the caption editor labels
    assert window.annotator._title == "Therapist (face 1) · frame 21 · 0.80 s"
    assert window.panel.face.track_id == 1 and window.panel.face_box.currentText() == "Therapist"

    window.select_face(0)
    go_to(window, qtbot, 35)
    trigger(window, "Split: Someone New From This Frame")  # from frame 35 on, track 2 is someone else
    assert session.people() == [0, 1, 2] and session.selected == 2
    assert [lane.key for lane in window.timelines.lanes] == [0, 1, 2]
    assert window.view.label(window.view.result.faces[0]) == "person 2"
    _, curve = window.timelines.lane(0).curves["neutral"].getData()
    assert list(np.flatnonzero(np.isfinite(curve))) == list(range(15)) + list(range(30, 35))

    split = readings(session)
    answer(monkeypatch, "Therapist", "getItem")
    trigger(window, "Merge Another Person Into This One…")  # the new person 2 is the therapist
    assert session.people() == [2, 0] and session.selected == 2
    assert session.names == {0: "Patient", 2: "Therapist"}
    expected = ["Patient"] * 15 + ["Therapist"] * 15 + ["Patient"] * 5 + ["Therapist"] * 10
    assert person_column(window.export_csv(tmp_path / "named.csv")) == expected
    assert window.view.label(window.view.result.faces[0]) == "Therapist"
    saved = json.loads(next((window.session.store.root).glob("*.json")).read_text())
    assert saved["names"] == {"0": "Patient", "2": "Therapist"}
    assert saved["operations"] == [{"op": "split", "track": 2, "frame": 35, "time": pytest.approx(1.4), "person": 2},
                                   {"op": "merge", "keep": 2, "other": 1}]
    errors = []
    window.failed.connect(errors.append)
    answer(monkeypatch, "7")
    trigger(window, "Rename Person…")
    assert "reads as an unnamed person's number" in errors[-1] and session.label(2) == "Therapist"
    undo, redo = window.commands.undo_action, window.commands.redo_action
    assert undo.text() == "&Undo Merge of Therapist into person 2" and not redo.isEnabled()
    assert redo.text() == "Re&do a Name, Merge, Split or Segment"
    [segments_menu] = [a.menu() for a in window.menuBar().actions() if a.text() == "&Segments"]
    assert undo.text() in [a.text() for a in segments_menu.actions()]
    # one person, one baseline: the merged faces were read again against the therapist's and person
    # 2's faces together, which is what reading the whole analysis again now gives
    merged = readings(session)
    assert not np.array_equal(merged[15:], split[15:], equal_nan=True)
    np.testing.assert_array_equal(merged[:15], split[:15])  # the patient's faces are not touched
    session.scorer.recalibrate(session.analysis, session.baseline)
    np.testing.assert_array_equal(readings(session), merged)
    undo.trigger()  # the merge was a mistake
    np.testing.assert_array_equal(readings(session), split)  # each read against their own again
    assert session.names == {0: "Patient", 1: "Therapist"} and window.view.label(window.view.result.faces[0]) == \
        "person 2"
    undone = person_column(window.export_csv(tmp_path / "undone.csv"))
    assert undone[:35] == expected[:35] and set(undone[35:]) == {"2"}
    assert redo.text() == "Re&do Merge of Therapist into person 2"
    redo.trigger()
    assert person_column(window.export_csv(tmp_path / "redone.csv")) == expected

    # the work survives a re-analysis, the analysis cache being dropped, and opening the video again
    open_and_analyse(window, qtbot, two_people, again=True)
    assert person_column(window.export_csv(tmp_path / "again.csv")) == expected
    for entry in (session.store.root.parent / "analyses").glob("*.npz"):
        entry.unlink()  # as when the analysis format changes
    other = make_window(qtbot)
    try:
        open_and_analyse(other, qtbot, two_people)
        assert other.session.names == {0: "Patient", 2: "Therapist"}
        assert person_column(other.export_csv(tmp_path / "reopened.csv")) == expected
        assert [other.panel.face_box.itemText(i) for i in range(2)] == ["Therapist", "Patient"]
    finally:
        other.close()


def drag(widget, start, end) -> None:
    """A left-button drag over ``widget`` from ``start`` to ``end`` (QPoints in its coordinates)."""
    def send(kind, pos, buttons):
        event = QMouseEvent(kind, QPointF(pos), QPointF(widget.mapToGlobal(pos)), Qt.MouseButton.LeftButton
                            if kind != QEvent.Type.MouseMove else Qt.MouseButton.NoButton, buttons,
                            Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(widget, event)

    held = Qt.MouseButton.LeftButton
    send(QEvent.Type.MouseButtonPress, start, held)
    for i in range(1, 11):
        send(QEvent.Type.MouseMove, start + (end - start) * (i / 10), held)
    send(QEvent.Type.MouseButtonRelease, end, Qt.MouseButton.NoButton)


def test_segments_from_a_drag_the_keys_and_files_show_and_are_kept(window, qtbot, two_people, tmp_path,
                                                                    monkeypatch):
    open_and_analyse(window, qtbot, two_people)
    session = window.session
    timelines = window.timelines
    box = timelines.segments_box

    def at(seconds):
        return timelines.mapFromScene(box.mapViewToScene(QPointF(seconds, 0.5)))

    answer(monkeypatch, "greeting")
    drag(timelines.viewport(), at(0.2), at(0.6))
    assert len(session.segments) == 1
    [greeting] = session.segments
    assert greeting.name == "greeting" and greeting.start == pytest.approx(0.2, abs=0.03)
    assert greeting.end == pytest.approx(0.6, abs=0.03)
    assert timelines.segments == session.segments

    go_to(window, qtbot, 25)
    trigger(window, "Mark Segment Start")
    assert timelines.start_mark.isVisible() and timelines.start_mark.value() == pytest.approx(1.0)
    go_to(window, qtbot, 40)
    answer(monkeypatch, "question", "getItem")  # with segments named already, the names are offered
    trigger(window, "Mark Segment End…")
    assert session.segments[1] == Segment("question", 1.0, 1.6) and not timelines.start_mark.isVisible()

    (tmp_path / "segments.csv").write_text("name,start,end\nintro,0,0:00.4\nquestion,1.0,1.6\n")
    assert window.commands.import_segments(tmp_path / "segments.csv") == 1  # the question is there already
    from pympi.Elan import Eaf

    eaf = Eaf()
    eaf.add_tier("tasks")
    eaf.add_annotation("tasks", 1200, 1700, "reading")
    eaf.to_file(str(tmp_path / "tasks.eaf"))
    assert window.commands.import_segments(tmp_path / "tasks.eaf") == 1
    (tmp_path / "late.csv").write_text("name,start,end\nlater,100,200\n")  # minutes typed as seconds
    assert window.commands.import_segments(tmp_path / "late.csv") == 1
    assert "segment 'later' (100-200 s) lies outside the recording" in window.statusBar().currentMessage()
    session.remove_segment(Segment("later", 100.0, 200.0))
    assert [(s.name, s.start, s.end) for s in session.segments] == [
        ("intro", 0.0, 0.4), (greeting.name, greeting.start, greeting.end), ("question", 1.0, 1.6),
        ("reading", 1.2, 1.7)]
    from app.timelines import segment_rows

    assert segment_rows(timelines.segments) == [0, 1, 0, 1]  # overlapping ones drawn on a second row
    assert timelines.segment_at(1.3, 0.75).name == "reading" and timelines.segment_at(1.3, 0.25).name == "question"
    menus = []
    timelines.segment_menu.connect(lambda segment, where: menus.append(segment))
    from PySide6.QtTest import QTest

    QTest.mouseClick(timelines.viewport(), Qt.MouseButton.RightButton,
                     pos=timelines.mapFromScene(box.mapViewToScene(QPointF(0.05, 0.25))))
    assert menus == [Segment("intro", 0.0, 0.4)]  # what right-click offers to rename or remove

    go_to(window, qtbot, 32)  # 1.28 s: in the question and the reading
    answer(monkeypatch, "reading aloud")
    trigger(window, "Rename Segment Here…")
    assert Segment("reading aloud", 1.2, 1.7) in session.segments
    trigger(window, "Remove Segment Here")
    assert [s.name for s in session.segments] == ["intro", "greeting", "question"]
    errors = []
    window.failed.connect(errors.append)
    bad = tmp_path / "bad.csv"
    bad.write_text("a,3,1\n")
    assert window.commands.import_segments(bad) is None and "not after its start" in errors[-1]

    reopened = make_window(qtbot)
    try:
        open_and_analyse(reopened, qtbot, two_people)
        assert reopened.session.segments == session.segments
        assert reopened.timelines.segments == session.segments
    finally:
        reopened.close()


def test_report_elan_and_statistics_from_the_studio_are_the_command_lines(window, qtbot, two_people, tmp_path,
                                                                           monkeypatch):
    open_and_analyse(window, qtbot, two_people)
    session = window.session
    session.rename(0, "Patient")
    session.rename(1, "Therapist")
    session.add_segment("first", 0.0, 0.6)
    session.add_segment("second", 0.9, 1.5)
    with qtbot.waitSignal(window.exports.finished, timeout=SLOW) as blocker:
        trigger(window, "Statistics")
    assert blocker.args[0] == "statistics" and window.statistics_dock.isVisible()
    stats = window.statistics.stats
    csv = window.export_csv(tmp_path / "two.csv")
    segments = window.exports.export_segments(tmp_path / "segments.csv")
    done = subprocess.run([sys.executable, "-m", "core.cli", "stats", str(csv), "--segments", str(segments),
                           "--json", str(tmp_path / "stats.json")], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    cli = json.loads((tmp_path / "stats.json").read_text())
    studio = stats.to_dict()
    assert studio["source"] == str(two_people) and cli["source"] == str(csv)
    studio.pop("source"), cli.pop("source")
    assert studio == cli  # every figure, to the last digit
    assert stats.people == ["Patient", "Therapist"]
    table = window.statistics
    assert table.table.rowCount() == 6
    assert [(table.cell(i, "person"), table.cell(i, "segment"), table.cell(i, "face frames")) for i in range(6)] == [
        ("Patient", "whole recording", "30/45"), ("Patient", "first", "15/15"), ("Patient", "second", "8/15"),
        ("Therapist", "whole recording", "15/45"), ("Therapist", "first", "0/15"), ("Therapist", "second", "7/15")]
    titles = [table.table.horizontalHeaderItem(j).text() for j in range(table.table.columnCount())]
    checks = load_validation(default_model_dir())  # AU columns that did not hold on real video are marked †
    aus = [t.split()[0] for t in titles if t.startswith("AU")]
    assert all(a.endswith("†") == (not checks.held(int(a.rstrip("†")[2:]))) for a in aus), aus
    assert "AU12" in aus and "AU01†" in aus and "did not hold on real video" in table.note.text()

    session.rename(1, "Visitor")  # the dock is open: it follows
    qtbot.waitUntil(lambda: window.statistics.stats is not stats and window.statistics.stats.people[1] == "Visitor",
                    timeout=SLOW)

    with qtbot.waitSignal(window.exports.finished, timeout=SLOW) as blocker:
        window.exports.export_report(tmp_path / "report.html")
    assert blocker.args == ["report", tmp_path / "report.html"]
    html = (tmp_path / "report.html").read_text()
    assert "Session report: two.mp4" in html and "Visitor" in html and "Patient" in html and "second" in html
    assert window.analysis.model_version == load_validation(default_model_dir()).model  # the shipped model's own check
    assert "data-au=AU12" in html and "comes with no check of its own" not in html

    with qtbot.waitSignal(window.exports.finished, timeout=SLOW) as blocker:
        window.exports.export_elan(tmp_path / "two.eaf")
    assert blocker.args == ["elan", tmp_path / "two.eaf"]
    from pympi.Elan import Eaf

    eaf = Eaf(str(tmp_path / "two.eaf"))
    assert {"Patient: emotion", "Visitor: emotion", "segments"} <= set(eaf.get_tier_names())
    assert read_segments(tmp_path / "two.eaf", ["segments"]) == session.segments
    assert eaf.media_descriptors[0]["MEDIA_URL"] == two_people.resolve().as_uri()
