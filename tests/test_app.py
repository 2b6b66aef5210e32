"""The window, offscreen: opening an input finds its faces without blocking the GUI thread."""
import cv2
import pytest

pytest.importorskip("pytestqt")

from app.main_window import MainWindow  # noqa: E402


@pytest.fixture
def window(qtbot):
    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    return win


def test_opening_a_photo_shows_its_face(window, qtbot, tmp_path, astronaut):
    path = tmp_path / "astronaut.png"
    cv2.imwrite(str(path), astronaut[:, :, ::-1])
    window.open(str(path))
    qtbot.waitUntil(lambda: "1 face" in window.statusBar().currentMessage(), timeout=20000)
    assert len(window.faces) == 1
    assert not window.view.pixmap().isNull()


def test_opening_a_video_shows_its_first_frame(window, qtbot, face_clip):
    window.open(str(face_clip))
    qtbot.waitUntil(lambda: "12 frames" in window.statusBar().currentMessage(), timeout=20000)
    assert "480x360" in window.statusBar().currentMessage()


def test_bad_file_is_reported_not_raised(window, qtbot, tmp_path, monkeypatch):
    shown = []
    monkeypatch.setattr("app.main_window.QMessageBox.warning", lambda parent, title, text: shown.append(text))
    bad = tmp_path / "broken.mp4"
    bad.write_text("not a video")
    window.open(str(bad))
    qtbot.waitUntil(lambda: bool(shown), timeout=20000)
    assert "broken.mp4: not a readable video" in shown[0]
    assert "broken.mp4" in window.statusBar().currentMessage()
