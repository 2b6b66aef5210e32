"""Text search in the studio: a description scored against every face, its similarity lanes, its
best moments listed and stepped through with F3 / Shift+F3.

The session part (core.session) runs on a made-up analysis with a stand-in model and encoder,
without Qt; the window part on liveportrait_d0 (the man smiles from about 1.0 to 2.6 s and is
at rest before and after) with the shipped model and the real sentence encoder."""
from __future__ import annotations


import numpy as np
import pytest
import torch

from core.analysis import Analysis, frame_result
from core.errors import InputError
from core.faces import Face
from core.faces.pose import HeadPose
from core.session import Session, WorkStore

from .conftest import SHARED_DATA, needs_shared

D0 = SHARED_DATA / "videos" / "liveportrait_d0.mp4"
FPS = 10.0


# --- the session, without Qt ------------------------------------------------------------------

class Encoder:
    """Stands in for core.model.text.TextEncoder: "smile" along one axis, anything else another."""

    def encode(self, texts):
        out = torch.zeros(len(texts), 384)
        for i, text in enumerate(texts):
            out[i, 0 if "smile" in text else 1] = 1.0
        return out


class Model(torch.nn.Module):
    """Stands in for the MF² model's text side: the first 4 values of the sentence embedding."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def embed_text(self, x):
        return torch.nn.functional.normalize(x[:, :4], dim=-1)


class Scorer:
    model = Model()
    version = "test"

    def recalibrate(self, analysis, mode, keys=None):  # people merged or split: nothing to read again here
        return {}


SMILE, REST = np.array([1, 0, 0, 0], np.float16), np.array([0, 1, 0, 0], np.float16)


def results_of(frames: list[list[tuple[int, int, np.ndarray | None]]]) -> list:
    """Frame results (10 fps) whose faces are (track, person, embedding)."""
    out = []
    for index, faces in enumerate(frames):
        tracked = [Face(t, np.array([0, 0, 10, 10], np.float32), 0.9, np.zeros((478, 3), np.float32),
                        HeadPose(0, 0, 0), person=p) for t, p, _ in faces]

        class Scores:
            def __init__(self, embedding):
                self.au, self.emotion, self.raw, self.quality = {12: 0.5}, {"neutral": 0.5, "happy": 0.5}, None, 1.0
                self.embedding, self.calibrating = embedding, False

        out.append(frame_result(index, index / FPS, tracked, [Scores(e) for _, _, e in faces]))
    return out


def analysis_of(frames: list[list[tuple[int, int, np.ndarray | None]]], complete: bool = True) -> Analysis:
    analysis = Analysis(aus=(12,), emotions=("neutral", "happy"), model_version="test", source="x.mp4")
    for result in results_of(frames):
        analysis.add(result)
    analysis.complete = complete
    return analysis


# person 0 (track 0) smiles in frames 5-9 of 0-19; person 1 (track 1) smiles in frames 24-26 of 20-39
FRAMES = ([[(0, 0, SMILE if 5 <= i <= 9 else REST)] for i in range(20)]
          + [[(1, 1, SMILE if 24 <= i <= 26 else REST)] for i in range(20, 40)])


def opened(tmp_path, frames=FRAMES, scorer=Scorer()) -> Session:
    session = Session(WorkStore(tmp_path))
    session.set_model(scorer)
    session.open_source("x.mp4")
    analysis = analysis_of(frames)
    session.start_analysis(analysis)
    session.finish_analysis(analysis)
    return session


def test_the_session_keeps_the_search_its_moments_and_steps_through_them_in_rank_order(tmp_path):
    session = opened(tmp_path)
    seen = []
    session.events.search.connect(lambda text: seen.append(("search", text)))
    session.events.moment.connect(lambda rank, m: seen.append(("moment", rank, m.frame)))
    assert session.search_unavailable() == ""
    result = session.run_search("  a big   smile ", Encoder())
    assert session.search_text == "a big smile" and seen == [("search", "a big smile")]
    assert len(session.search_scores) == 40 == len(result)  # one per face
    moments = session.moments
    # person 0's whole smile is inside the 0.3 s window at frames 6-8, person 1's (3 frames) at 25 only
    assert [(m.person, m.frame) for m in moments[:2]] == [(0, 6), (1, 25)]
    assert moments[0].score == pytest.approx(1.0) and moments[1].score == pytest.approx(1.0)
    assert all(a.score >= b.score for a, b in zip(moments, moments[1:]))
    times, values = session.search_series(1)
    assert list(times) == pytest.approx(np.arange(20, 40) / FPS) and values[5] == pytest.approx(1.0)
    assert np.isnan(session.search_series(7)[1]).all()

    assert session.step_moment(1) == moments[0] and session.selected == 0  # the first F3: the best
    assert session.step_moment(1) == moments[1] and session.selected == 1
    assert session.step_moment(-1) == moments[0]
    assert session.step_moment(-1) == moments[-1]  # goes round
    assert seen[1:3] == [("moment", 0, 6), ("moment", 1, 25)]

    session.merge(0, 1)  # one person: their moments are kept 2 s apart, the smoothing is theirs
    assert set(np.unique(session.search.keys)) == {0} and {m.person for m in session.moments} == {0}
    assert seen[-1] == ("search", "a big smile") and session.moment_index == -1

    other = analysis_of(FRAMES)
    session.start_analysis(other)  # another analysis (made again): its results are not these
    assert session.search is None and session.moments == [] and seen[-1] == ("search", "")
    assert not session.set_search(result)  # a search of an analysis no longer shown is dropped


def test_search_says_why_it_cannot_be_made(tmp_path):
    session = opened(tmp_path, scorer=None)
    assert "model" in session.search_unavailable()
    no_embeddings = [[(0, 0, None)] for _ in range(5)]
    session = opened(tmp_path, no_embeddings)
    assert "no face embeddings" in session.search_unavailable()
    with pytest.raises(InputError, match="no face embeddings"):
        session.run_search("a smile", Encoder())
    assert "No faces" in opened(tmp_path, [[] for _ in range(3)]).search_unavailable()


def test_a_search_made_while_the_analysis_fills_knows_it_is_partial(tmp_path):
    session = Session(WorkStore(tmp_path))
    session.set_model(Scorer())
    session.open_source("x.mp4")
    filling = analysis_of(FRAMES[:10], complete=False)
    session.start_analysis(filling)
    session.run_search("a smile", Encoder())
    assert len(session.search) == 10 and not session.search_partial
    for result in results_of(FRAMES)[10:]:
        filling.add(result)
    assert session.search_partial  # the window searches again when the analysis finishes


# --- the window, on a real clip -----------------------------------------------------------------

pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt  # noqa: E402

from .test_app import SLOW, isolated, open_and_analyse, window  # noqa: E402,F401 (fixtures)

SMILING = (1.0, 2.6)


def search(window, qtbot, text: str):
    field = window.searcher.panel.field
    qtbot.keyClick(window, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(field.hasFocus, timeout=5000)
    field.clear()
    qtbot.keyClicks(field, text)  # its letters are window keys too (A, B, I, M...): here they type
    assert field.text() == text
    with qtbot.waitSignal(window.statusBar().messageChanged, timeout=SLOW,
                          check_params_cb=lambda line: "best moment" in line):
        qtbot.keyClick(field, Qt.Key.Key_Return)
    assert window.session.search_text == text
    assert not field.hasFocus()  # Enter hands the keys back to the player (F3, Space, arrows)
    return window.session.moments


@needs_shared
def test_searching_the_faces_draws_lanes_lists_moments_and_f3_goes_there(window, qtbot):
    open_and_analyse(window, qtbot, D0)
    s = window.session
    panel = window.searcher.panel
    assert panel.field.isEnabled()
    boxes = window.view.options.boxes

    moments = search(window, qtbot, "a big smile")
    assert window.view.options.boxes == boxes  # typing "b" toggled nothing
    best = moments[0]
    assert SMILING[0] <= best.time <= SMILING[1], moments
    assert panel.list.count() == len(moments) and "00:01." in panel.list.item(0).text()

    lane = window.timelines.lane(best.person)
    x, y = lane.search_curve.getData()
    face_times = s.person_times(best.person)
    assert len(face_times) == len(s.analysis)  # she is in every frame
    assert list(x[np.isfinite(y)]) == pytest.approx(list(face_times))  # one value per face frame
    assert "a big smile" in lane.search_plot.titleLabel.text
    assert y[np.isfinite(y)].max() == pytest.approx(best.score, abs=1e-6)
    marks = lane.moment_marks.getData()
    assert list(marks[0]) == pytest.approx([m.time for m in moments if m.person == best.person])

    window.player.seek_index(0)
    qtbot.waitUntil(lambda: window.frame.index == 0, timeout=5000)
    qtbot.keyClick(window, Qt.Key.Key_F3)
    qtbot.waitUntil(lambda: window.frame.index == best.frame, timeout=5000)
    assert abs(window.frame.timestamp - best.time) < 1e-6 and s.selected == best.person
    assert panel.list.currentRow() == 0

    moments = search(window, qtbot, "a calm face at rest")
    assert not SMILING[0] <= moments[0].time <= SMILING[1], moments
    assert "a calm face at rest" in window.timelines.lane(best.person).search_plot.titleLabel.text
    assert len(moments) >= 2
    qtbot.keyClick(window, Qt.Key.Key_F3)
    qtbot.waitUntil(lambda: window.frame.index == moments[0].frame, timeout=5000)
    qtbot.keyClick(window, Qt.Key.Key_F3)
    qtbot.waitUntil(lambda: window.frame.index == moments[1].frame, timeout=5000)
    qtbot.keyClick(window, Qt.Key.Key_F3, Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: window.frame.index == moments[0].frame, timeout=5000)
    item = panel.list.item(1)  # clicking a moment goes there
    qtbot.mouseClick(panel.list.viewport(), Qt.MouseButton.LeftButton, pos=panel.list.visualItemRect(item).center())
    qtbot.waitUntil(lambda: window.frame.index == moments[1].frame, timeout=5000)

    panel.field.clear()
    qtbot.keyClick(panel.field, Qt.Key.Key_Return)  # an empty search clears it: the lanes lose their plot
    assert s.search is None and panel.list.count() == 0
    assert window.timelines.lanes[0].search_plot is None

    bare = analysis_of([[(0, 0, None)] for _ in range(5)])  # faces, none with an embedding
    s.start_analysis(bare)
    s.finish_analysis(bare)
    assert not panel.field.isEnabled() and "no face embeddings" in panel.field.toolTip()


def test_without_a_model_the_search_field_is_off_and_says_why(qtbot, tmp_path, face_clip, monkeypatch):
    from app.main_window import MainWindow

    win = MainWindow(model_dir=tmp_path / "no-model")
    win.interactive = False
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: not win.model_loading, timeout=SLOW)
    open_and_analyse(win, qtbot, face_clip)
    field = win.searcher.panel.field
    assert not field.isEnabled() and "model" in field.toolTip()
    qtbot.keyClick(win, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert "model" in win.statusBar().currentMessage() and not field.hasFocus()
    win.close()
