"""Annotation in the studio, offscreen on real faces: the caption editor's keys, accept, undo and
redo, the dataset browser, and fine-tuning in the background with a model swap."""
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QMessageBox  # noqa: E402

from app.main_window import MainWindow  # noqa: E402
from core.dataset import Filter  # noqa: E402
from core.dataset.store import DB_NAME  # noqa: E402
from core.dataset.versions import active_model  # noqa: E402

from .test_app import SLOW, isolated, open_and_analyse, window  # noqa: E402,F401 (fixtures)

CTRL, ALT = Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.AltModifier


def pause_on(window, qtbot, frame: int) -> None:
    window.player.seek_index(frame)
    session = window.annotator.session
    qtbot.waitUntil(lambda: session.current is not None and session.current.target.frame == frame, timeout=10000)


@pytest.fixture
def annotating(window, qtbot, face_clip, tmp_path):
    assert window.annotator.open_dataset(tmp_path / "ds")
    open_and_analyse(window, qtbot, face_clip)
    pause_on(window, qtbot, 2)
    return window


def test_type_label_accept_undo_redo_from_the_keyboard(annotating, qtbot):
    window = annotating
    editor, store, session = window.annotator.editor, window.annotator.store, window.annotator.session
    editor.advance.setCurrentIndex(editor.advance.findData("frame"))
    field = editor.captions["global_text"]
    field.setFocus()
    field.moveCursor(field.textCursor().MoveOperation.End)
    landmarks_on = window.landmarks_action.isChecked()
    qtbot.keyClicks(field, " Big smile, lips apart.")  # L, B, M... type; they are also window keys
    assert field.toPlainText().endswith(" Big smile, lips apart.")
    assert window.landmarks_action.isChecked() == landmarks_on and window.frame.index == 2
    assert "global_text" in session.draft.typed
    qtbot.keyClick(field, Qt.Key.Key_4, ALT)  # emotion 4: surprise
    assert session.draft.emotion == "surprise" and editor.emotion.currentData() == "surprise"
    assert "surprise" in editor.captions["emotion_text"].toPlainText()
    editor.au_buttons[25].click()
    au25 = dict(session.draft.aus)[25]

    qtbot.keyClick(field, Qt.Key.Key_Return, CTRL)  # accept, then the next frame
    qtbot.waitUntil(lambda: window.frame.index == 3, timeout=10000)
    assert len(store) == 1
    sample = store.samples()[0]
    assert (sample.frame, sample.emotion, sample.aus[25]) == (2, "surprise", au25)
    assert sample.captions.global_text.endswith(" Big smile, lips apart.") and sample.edited()
    assert sample.video == str(Path(window.source_spec).resolve()) and sample.model == window.scorer.version
    assert "1 samples" in editor.dataset_button.text()

    pause_on(window, qtbot, 3)
    field.setFocus()
    qtbot.keyClick(field, Qt.Key.Key_Z, CTRL)  # undo the accept: back to frame 2, sample gone
    qtbot.waitUntil(lambda: window.frame.index == 2 and session.current.target.frame == 2, timeout=10000)
    assert len(store) == 0 and editor.captions["global_text"].toPlainText().endswith("lips apart.")
    assert "not saved" in editor.state.text()
    qtbot.keyClick(field, Qt.Key.Key_Z, CTRL | Qt.KeyboardModifier.ShiftModifier)  # redo
    assert len(store) == 1 and "saved in the dataset" in editor.state.text()
    qtbot.keyClick(field, Qt.Key.Key_Z, CTRL)
    qtbot.keyClick(field, Qt.Key.Key_Z, CTRL)  # the AU25 click
    qtbot.keyClick(field, Qt.Key.Key_Z, CTRL)  # the emotion
    qtbot.keyClick(field, Qt.Key.Key_Z, CTRL)  # all the typing, one step
    assert not field.toPlainText().endswith("lips apart.") and session.draft.emotion != "surprise"

    qtbot.keyClick(field, Qt.Key.Key_Right, ALT)  # next frame
    qtbot.waitUntil(lambda: session.current.target.frame == 3, timeout=10000)
    qtbot.keyClick(field, Qt.Key.Key_PageDown, ALT)  # one expression over the clip: no further segment
    assert "No further segment" in window.statusBar().currentMessage()
    qtbot.keyClick(field, Qt.Key.Key_PageUp, ALT)
    qtbot.waitUntil(lambda: window.frame.index == 0, timeout=10000)


def test_au_field_and_right_click_mark_aus_present_absent_or_not_scorable(annotating, qtbot):
    window = annotating
    editor, store = window.annotator.editor, window.annotator.store
    editor.advance.setCurrentIndex(editor.advance.findData("stay"))
    editor.au_line.setFocus()
    editor.au_line.selectAll()
    qtbot.keyClicks(editor.au_line, "6 12 ?25")
    qtbot.keyClick(editor.au_line, Qt.Key.Key_Return)
    states = window.annotator.session.draft.states()
    assert (states[6], states[12], states[25], states[4]) == (1.0, 1.0, None, 0.0)
    assert editor.au_buttons[25].text() == "AU25?" and not editor.au_buttons[25].isChecked()
    editor.au_buttons[26].customContextMenuRequested.emit(editor.au_buttons[26].rect().center())
    assert window.annotator.session.draft.states()[26] is None
    qtbot.keyClick(editor.au_line, Qt.Key.Key_Return, CTRL)
    labels = store.samples()[0].aus
    assert labels[6] == labels[12] == 1.0 and labels[4] == 0.0 and 25 not in labels and 26 not in labels
    assert editor.au_line.text() == "6 12 ?25 ?26"


def test_playing_disables_the_editor_and_no_dataset_asks_for_one(window, qtbot, face_clip, monkeypatch):
    open_and_analyse(window, qtbot, face_clip)
    pause_on(window, qtbot, 1)
    asked = []
    monkeypatch.setattr(window.annotator, "choose_dataset", lambda: asked.append(True))
    window.annotator.accept()
    assert asked and window.annotator.store is None
    editor = window.annotator.editor
    assert editor.captions["global_text"].toPlainText()
    window.player.play()
    qtbot.waitUntil(lambda: not editor.isEnabled(), timeout=5000)
    assert "pause to edit" in editor.header.text()
    # nothing of the face before is left on show, greyed or not
    assert editor.captions["global_text"].toPlainText() == "" and editor.au_line.text() == ""
    assert not any(b.isChecked() for b in editor.au_buttons.values()) and editor.state.text() == ""
    window.player.pause()


def test_browser_filters_edits_and_deletes(annotating, qtbot, monkeypatch):
    window = annotating
    annotator = window.annotator
    for frame, emotion in ((2, 3), (5, 2)):  # surprise, sad (Alt+N picks EMOTIONS[N-1])
        pause_on(window, qtbot, frame)
        annotator.editor.set_emotion_key(emotion)
        annotator.editor.advance.setCurrentIndex(annotator.editor.advance.findData("stay"))
        annotator.accept()
    annotator.browse()
    browser = annotator.browser
    assert browser.table.rowCount() == 2 and "2 of 2" in browser.count.text()
    browser.emotion.setCurrentIndex(browser.emotion.findData("sad"))
    assert browser.table.rowCount() == 1 and browser.samples[0].frame == 5
    browser.edit_aus.setText("4 12")
    browser.edit_captions["global_text"].setPlainText("Corrected in the browser.")
    browser.save_button.click()
    edited = annotator.store.samples(Filter(emotion="sad"))[0]
    assert edited.aus[4] == 1.0 and edited.captions.global_text == "Corrected in the browser."
    assert annotator.session.current.target.frame == 5 and annotator.session.draft.au_dict()[4] == 1.0
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    browser.delete_button.click()
    assert browser.table.rowCount() == 0 and len(annotator.store) == 1
    browser.emotion.setCurrentIndex(0)
    assert browser.table.rowCount() == 1
    window.player.seek_index(0)
    qtbot.waitUntil(lambda: window.frame.index == 0, timeout=10000)
    browser.go_button.click()  # the remaining sample: frame 2
    qtbot.waitUntil(lambda: window.frame.index == 2, timeout=10000)
    browser.close()


def test_a_corrupt_dataset_folder_is_reported_and_kept(window, qtbot, tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / DB_NAME).write_bytes(b"\0garbage" * 64)
    messages = []
    window.failed.connect(messages.append)
    assert not window.annotator.open_dataset(folder)
    assert "unreadable dataset database" in messages[0] and (folder / DB_NAME).stat().st_size == 512


def test_background_finetune_makes_a_version_the_studio_swaps_in(window, qtbot, face_clip, tmp_path, monkeypatch):
    folder = tmp_path / "ds"
    window.settings.setValue("finetune/steps", 60)
    assert window.annotator.open_dataset(folder)
    open_and_analyse(window, qtbot, face_clip)
    assert max(window.analysis.at(5).faces[0].emotion.items(), key=lambda kv: kv[1])[0] == "happy"
    annotator = window.annotator
    annotator.editor.advance.setCurrentIndex(annotator.editor.advance.findData("frame"))
    pause_on(window, qtbot, 0)
    for frame in range(12):  # the annotator: "she looks surprised", frame after frame
        qtbot.waitUntil(lambda: annotator.session.current and annotator.session.current.target.frame == frame,
                        timeout=10000)
        annotator.editor.set_emotion_key(3)
        annotator.accept()
    assert len(annotator.store) == 12
    base_version = window.scorer.version
    import app.main_window

    reanalysed = []  # the model version of each analysis the window starts from here on

    class CountedJob(app.main_window.AnalysisJob):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            reanalysed.append(self.scorer.version)

    monkeypatch.setattr(app.main_window, "AnalysisJob", CountedJob)
    with qtbot.waitSignal(annotator.finetune.finished, timeout=SLOW * 3) as blocker:
        annotator.start_finetune()
        qtbot.waitUntil(lambda: window.job_progress.isVisible(), timeout=5000)
    record, message = blocker.args
    assert record is not None and record["status"] == "done" and record["improved"], message
    # an improved version is announced and swapped in at once: it loads, and only then is the video re-analysed
    assert record["version"] == "v001"
    assert window.statusBar().currentMessage().startswith("Model v001 trained and now in use: ")
    assert window.model_loading
    assert reanalysed == []
    qtbot.waitUntil(lambda: not window.model_loading and window.scorer.version.endswith("-v001"), timeout=SLOW)
    assert active_model(folder) == folder / "models" / "v001"
    assert reanalysed == [window.scorer.version]  # the open video, once, with the new model
    qtbot.waitUntil(lambda: window.analysis is not None and window.analysis.complete
                    and window.analysis.model_version.endswith("-v001"), timeout=SLOW)
    tops = [max(r.faces[0].emotion.items(), key=lambda kv: kv[1])[0] for r in window.analysis.frames()]
    assert tops.count("surprise") >= 9  # the running studio now reads her as the annotator did
    assert not window.job_progress.isVisible()
    from app.finetune import VersionsDialog

    dialog = VersionsDialog(folder, window)
    assert dialog.table.rowCount() == 2 and "better · in use" in dialog.table.item(1, 1).text()
    assert "base data" in dialog.table.item(1, 3).text()
    assert dialog.use_button.isEnabled() and not dialog.resume_button.isEnabled()
    dialog.table.selectRow(0)
    dialog.use_button.click()
    assert dialog.choice is None  # the base: roll back
    window.use_model(window.base_model_dir)  # roll back, no restart
    qtbot.waitUntil(lambda: not window.model_loading and window.scorer.version == base_version, timeout=SLOW)


def test_browser_goes_to_a_sample_of_another_video(annotating, qtbot, face_clip, tmp_path):
    import shutil

    window = annotating
    pause_on(window, qtbot, 6)
    window.annotator.editor.advance.setCurrentIndex(window.annotator.editor.advance.findData("stay"))
    window.annotator.accept()
    other = shutil.copy(face_clip, tmp_path / "other.mp4")
    open_and_analyse(window, qtbot, other)
    window.annotator.browse()
    window.annotator.browser.go_button.click()
    qtbot.waitUntil(lambda: Path(window.source_spec).name == face_clip.name and window.frame is not None
                    and window.frame.index == 6, timeout=SLOW)
    window.annotator.browser.close()


def test_typed_aus_are_accepted_without_enter_and_stay_with_their_face(annotating, qtbot):
    """AUs typed in the line and accepted at once (Ctrl+Enter, no Enter) are what is saved; typed
    and left for another frame, they stay in that face's draft and the next face shows its own."""
    window = annotating
    editor, store, session = window.annotator.editor, window.annotator.store, window.annotator.session
    editor.advance.setCurrentIndex(editor.advance.findData("stay"))
    editor.au_line.setFocus()
    editor.au_line.selectAll()
    qtbot.keyClicks(editor.au_line, "4 7")
    qtbot.keyClick(editor.au_line, Qt.Key.Key_Return, CTRL)
    saved = store.samples()[0].aus
    assert {n for n, v in saved.items() if v > 0} == {4, 7} and "saved in the dataset" in editor.state.text()

    editor.au_line.selectAll()
    qtbot.keyClicks(editor.au_line, "6 12")
    pause_on(window, qtbot, 3)
    assert editor.au_line.text() != "6 12", "frame 3 shows its own AUs"
    pause_on(window, qtbot, 2)
    assert {n for n, v in session.draft.states().items() if v} == {6, 12} and "not saved" in editor.state.text()


def test_the_browser_leaves_other_drafts_and_undo_goes_on_past_its_changes(annotating, qtbot, monkeypatch, tmp_path):
    window = annotating
    annotator = window.annotator
    editor, session = annotator.editor, annotator.session
    editor.advance.setCurrentIndex(editor.advance.findData("stay"))
    annotator.editor.set_emotion_key(2)  # frame 2: happy, accepted twice (a new sample, then updated)
    annotator.accept()
    annotator.editor.set_emotion_key(3)
    annotator.accept()
    pause_on(window, qtbot, 4)
    field = editor.captions["global_text"]
    field.setPlainText("Typed at frame 4, not accepted.")
    annotator.browse()
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    annotator.browser.table.selectRow(0)
    annotator.browser.delete_button.click()  # frame 2's sample
    assert len(annotator.store) == 0 and field.toPlainText() == "Typed at frame 4, not accepted."
    annotator.undo()  # the typing at frame 4; the accepts of the deleted sample are out of the history
    assert field.toPlainText() != "Typed at frame 4, not accepted."
    annotator.undo()
    annotator.undo()  # the two emotion picks at frame 2
    qtbot.waitUntil(lambda: session.current.target.frame == 2, timeout=10000)
    assert not session.can_undo() and len(annotator.store) == 0
    annotator.browser.close()

    annotator.editor.set_emotion_key(5)
    annotator.accept()  # into ds, then another dataset: undo there touches neither
    assert annotator.open_dataset(tmp_path / "other")
    annotator.undo()
    assert "Nothing to undo" in window.statusBar().currentMessage()
    assert annotator.open_dataset(tmp_path / "ds") and len(annotator.store) == 1


def test_drafts_not_accepted_are_there_after_the_studio_closes(annotating, qtbot, face_clip, tmp_path):
    window = annotating
    field = window.annotator.editor.captions["global_text"]
    field.setPlainText("Typed, never accepted.")
    window.annotator.editor.set_emotion_key(3)  # surprise
    window.close()
    again = MainWindow()
    again.interactive = False
    qtbot.addWidget(again)
    assert again.annotator.open_dataset(tmp_path / "ds")
    open_and_analyse(again, qtbot, face_clip)
    pause_on(again, qtbot, 2)
    editor = again.annotator.editor
    assert editor.captions["global_text"].toPlainText() == "Typed, never accepted."
    assert again.annotator.session.draft.emotion == "surprise" and "not saved" in editor.state.text()
    again.close()
