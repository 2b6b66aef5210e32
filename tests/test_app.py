"""The studio window, offscreen, on real faces: open, analyse, seek, overlays, export, cache, live."""
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QCoreApplication, QMimeData, QPointF, QSettings, Qt, QUrl  # noqa: E402
from PySide6.QtGui import QDropEvent  # noqa: E402

from app.main_window import MainWindow  # noqa: E402
from core.baseline import BaselineMode  # noqa: E402
from core.errors import InputError  # noqa: E402
from core.model.shipped import default_model_dir  # noqa: E402
from core.validation import load_validation  # noqa: E402
from core.video import Source, open_source  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SLOW = 60000  # ms: model load + analysis on a loaded 2-core machine


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Settings and cache of each test in its own folder, never the user's."""
    monkeypatch.setenv("MF2_CACHE", str(tmp_path / "cache"))
    QCoreApplication.setOrganizationName("MF2 Studio tests")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))


@pytest.fixture
def window(qtbot, monkeypatch):
    win = MainWindow()
    win.interactive = False  # errors are signalled, not shown in modal dialogs
    qtbot.addWidget(win)
    win.resize(1280, 860)
    win.show()
    qtbot.waitUntil(lambda: not win.model_loading, timeout=SLOW)
    yield win
    win.close()


def au_table(analysis) -> np.ndarray:
    """(faces, AUs) every face's AU readings, in frame and face order."""
    return np.array([[f.au[n] for n in sorted(f.au)] for r in analysis.frames() for f in r.faces])


def open_and_analyse(window, qtbot, path) -> None:
    with qtbot.waitSignal(window.analysis_done, timeout=SLOW) as blocker:
        window.open(str(path))
    assert blocker.args == [""]
    qtbot.waitUntil(lambda: window.frame is not None, timeout=SLOW)


def test_opening_a_clip_analyses_every_frame_and_fills_the_views(window, qtbot, face_clip):
    open_and_analyse(window, qtbot, face_clip)
    analysis = window.analysis
    assert analysis.complete and len(analysis) == 12
    assert all(len(r.faces) == 1 for r in analysis.frames())
    assert window.scorer is not None and "CPU" in window.model_label.text()
    assert window.selected == analysis.track_ids()[0]
    assert window.view.result is not None and window.view.result.faces
    times, curve = window.timelines._curves["happy"].getData()
    assert len(times) == 12 and np.nanmax(curve) > 0.5  # the astronaut smiles
    assert window.panel.description.toPlainText().startswith("Global.")
    assert "AU12" in [row[0] for row in window.panel.au_bars.rows]
    # each AU's tooltip says how far the shipped model's readings of it held on real video
    tips = {row[0]: row[3] for row in window.panel.au_bars.rows}
    checks = load_validation(default_model_dir())
    assert tips["AU17"].endswith(f"On real video: not checked; read on {checks.check(17).at_rest:.0%} of resting faces")
    assert tips["AU45"].endswith(f"On real video: good (F1 {checks.check(45).f1:.2f}, "
                                 f"{checks.check(45).false_alarms:.0%} false alarms, {checks.check(45).present} frames showing it)")
    # and the heatmap marks † the AUs that did not hold
    names = window.timelines.lanes[0].au_names()
    assert "AU17†" in names and "AU12" in names and "AU45" in names and "AU2†" in names
    # not every row can be named on the axis: hovering a cell names it
    from PySide6.QtCore import QPointF

    heatmap, row = window.timelines.lanes[0].heatmap, names.index("AU12")

    class Hover:
        def __init__(self, x, y, exit=False):
            self.at, self.exit = QPointF(x, y), exit

        def isExit(self):
            return self.exit

        def pos(self):
            return self.at

    heatmap.hoverEvent(Hover(heatmap.values.shape[1] - 1, row + 0.5))
    assert re.fullmatch(r"AU12 at \d+\.\d\d s: (\d\.\d\d|not read)", heatmap.toolTip()), heatmap.toolTip()
    heatmap.hoverEvent(Hover(0, 0, exit=True))
    assert heatmap.toolTip() == ""
    # a live face read against an average face (its person's first seconds) says so
    from dataclasses import replace

    face = window.panel.face
    window.panel.show_face(replace(face, calibrating=True), 0)
    assert "calibrating" in window.panel.au_title.text()
    window.panel.show_face(face, 0)
    assert "calibrating" not in window.panel.au_title.text()
    toggle = window.annotator.editor.au_buttons[17].toolTip()  # and the caption editor's AU toggles
    assert toggle.endswith(f"The model on real video: not checked; read on {checks.check(17).at_rest:.0%} of resting faces")



def test_au_marks_follow_the_model_that_made_the_readings_shown(window, qtbot, face_clip):
    open_and_analyse(window, qtbot, face_clip)
    analysis = window.analysis

    def shown() -> tuple[list[str], str]:
        window._refresh_timelines(force=True)
        window._update_frame_view()
        return window.timelines.lanes[0].au_names(), {row[0]: row[3] for row in window.panel.au_bars.rows}["AU17"]

    names, tip = shown()
    assert "AU17†" in names and "On real video" in tip
    # readings of a model version with no check (here: the same frames relabelled) lose every mark
    analysis.model_version = "mf2-never-checked"
    window.session.start_analysis(analysis)
    names, tip = shown()
    assert "AU17" in names and "AU17†" not in names and "On real video" not in tip
    assert window.annotator.editor.checks is None and window.statistics.checks is None
    analysis.model_version = window.scorer.version  # the loaded model's readings again: its marks return
    window.session.start_analysis(analysis)
    names, tip = shown()
    assert "AU17†" in names and "On real video" in tip

def test_clicking_the_timeline_seeks_the_video(window, qtbot, face_clip):
    open_and_analyse(window, qtbot, face_clip)
    plot = window.timelines.au_plot
    target = window.player.time_of(8) + 0.01
    scene = plot.getViewBox().mapViewToScene(QPointF(target, 3.0))
    pos = window.timelines.mapFromScene(scene)
    qtbot.mouseClick(window.timelines.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    qtbot.waitUntil(lambda: window.frame.index == 8, timeout=10000)
    assert window.view.result.index == 8
    assert abs(window.timelines.playheads[0].value() - window.frame.timestamp) < 1e-6


def test_keys_step_play_and_change_speed(window, qtbot, face_clip):
    open_and_analyse(window, qtbot, face_clip)
    qtbot.keyClick(window, Qt.Key.Key_Right)
    qtbot.waitUntil(lambda: window.frame.index == 1, timeout=5000)
    qtbot.keyClick(window, Qt.Key.Key_End)
    qtbot.waitUntil(lambda: window.frame.index == 11, timeout=5000)
    qtbot.keyClick(window, Qt.Key.Key_Left)
    qtbot.waitUntil(lambda: window.frame.index == 10, timeout=5000)
    qtbot.keyClick(window, Qt.Key.Key_BracketRight)
    assert window.player.speed == 1.5
    qtbot.keyClick(window, Qt.Key.Key_Home)
    qtbot.waitUntil(lambda: window.frame.index == 0, timeout=5000)
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert window.player.playing
    qtbot.waitUntil(lambda: not window.player.playing, timeout=10000)  # stops at the end
    assert window.frame.index == 11


def test_overlay_toggles_change_what_is_drawn(window, qtbot, face_clip):
    open_and_analyse(window, qtbot, face_clip)

    def drawn():
        return window.view.grab().toImage()

    base = drawn()
    qtbot.keyClick(window, Qt.Key.Key_L)
    assert window.view.options.landmarks
    with_landmarks = drawn()
    assert with_landmarks != base
    qtbot.keyClick(window, Qt.Key.Key_R)
    assert not window.view.options.regions
    assert drawn() != with_landmarks
    window.view.options.aus = {12}
    window.view.options.regions = True
    only_au12 = drawn()
    window.view.options.aus = {4}
    assert drawn() != only_au12
    assert QSettings().value("overlay/landmarks", type=bool)  # persisted


def test_export_writes_the_analyze_csv_timelines_and_snapshot(window, qtbot, face_clip, tmp_path):
    open_and_analyse(window, qtbot, face_clip)
    csv = window.export_csv(tmp_path / "studio.csv")
    subprocess.run([sys.executable, "-m", "core.cli", "analyze", str(face_clip), "-o", str(tmp_path / "cli")],
                   check=True, capture_output=True, cwd=ROOT)
    assert csv.read_bytes() == (tmp_path / "cli" / "face.csv").read_bytes()
    timelines = window.export_timelines(tmp_path / "timelines.png")
    image = cv2.imread(str(timelines))
    assert image.shape[1] == window.timelines.width() and image.std() > 10
    snapshot = window.export_snapshot(tmp_path / "snapshot.png")
    shot = cv2.imread(str(snapshot))
    assert shot.shape == (360, 480, 3)  # the frame at full resolution
    plain = cv2.cvtColor(open_source(face_clip).__iter__().__next__().rgb, cv2.COLOR_RGB2BGR)
    assert np.abs(shot.astype(int) - plain).mean() > 2  # overlays drawn on it


def test_exports_never_write_over_the_video_or_a_file_of_another_kind(window, qtbot, face_clip, tmp_path):
    """As `mf2 report/elan -o` refuse: a save dialog's slip must not turn the recording or an
    analysis CSV into a report."""
    errors = []
    window.failed.connect(errors.append)
    assert window.exports.export_timelines(tmp_path / "empty.png") is None  # nothing open yet
    assert errors == ["Nothing analysed yet to export"] and not (tmp_path / "empty.png").exists()
    video = tmp_path / "session.mp4"
    shutil.copy(face_clip, video)
    open_and_analyse(window, qtbot, video)
    window.session.add_segment("task", 0, 0.2)
    csv = window.export_csv(tmp_path / "session.csv")
    assert window.export_csv(csv) == csv  # an analysis CSV may be written again as one
    kept = video.read_bytes(), csv.read_bytes()
    other = tmp_path / "other.mp4"
    shutil.copy(face_clip, other)
    kept = kept + (other.read_bytes(),)
    for export, path, words in ((window.exports.export_elan, video, "is the video open in the studio"),
                                (window.export_csv, other, "exists and is not a .csv file"),
                                (window.exports.export_report, csv, "exists and is not a .html file"),
                                (window.export_snapshot, csv, "exists and is not a .png file"),
                                (window.exports.export_segments, csv, "is a per-frame analysis CSV")):
        assert export(path) is None
        assert errors[-1].startswith(f"{path}: {words}; not overwritten"), errors[-1]
    qtbot.wait(200)  # a report or ELAN job, had one started, would have written by now
    assert (video.read_bytes(), csv.read_bytes(), other.read_bytes()) == kept


def test_reopening_a_video_loads_its_analysis_from_the_cache(window, qtbot, face_clip, tmp_path, monkeypatch):
    import app.workers

    analysed = []  # the videos the analysis job decoded and ran the model on
    run_analysis = app.workers.run_analysis
    monkeypatch.setattr(app.workers, "run_analysis",
                        lambda source, *a, **k: analysed.append(source.name) or run_analysis(source, *a, **k))
    open_and_analyse(window, qtbot, face_clip)
    assert analysed == ["face.mp4"]
    first = window.analysis
    first_csv = window.export_csv(tmp_path / "first.csv").read_bytes()
    messages = []
    window.statusBar().messageChanged.connect(messages.append)
    open_and_analyse(window, qtbot, face_clip)
    assert analysed == ["face.mp4"]  # the second opening analysed nothing: the cache answered
    assert "Checking the cache for face.mp4…" in messages and not any(m.startswith("Analysing") for m in messages)
    assert messages[-1] == f"Analysed 12 frames: 1 person, model {first.model_version}"
    cached = window.analysis
    assert cached is not first and cached.complete and len(cached) == 12  # read back from the disk
    assert window.export_csv(tmp_path / "cached.csv").read_bytes() == first_csv  # every figure the same
    for a, b in zip(first.frames(), cached.frames(), strict=True):
        assert (a.index, a.timestamp, len(a.faces)) == (b.index, b.timestamp, len(b.faces))
        for fa, fb in zip(a.faces, b.faces):
            assert fa.au == fb.au and fa.emotion == fb.emotion and np.array_equal(fa.landmarks, fb.landmarks)


def test_recent_files_and_drag_and_drop_open_videos(window, qtbot, face_clip, tmp_path):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(face_clip))])
    event = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                       Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(window.analysis_done, timeout=SLOW):
        window.dropEvent(event)
    assert [a.toolTip() for a in window.recent_menu.actions()] == [str(face_clip)]
    missing = tmp_path / "gone.mp4"
    window._add_recent(str(missing))
    errors = []
    window.failed.connect(errors.append)
    window.recent_menu.actions()[0].trigger()
    qtbot.waitUntil(lambda: bool(errors), timeout=10000)
    assert "gone.mp4: no such file" in errors[0]
    assert [a.toolTip() for a in window.recent_menu.actions()] == [str(face_clip)]  # dropped from the list


def test_no_camera_gives_a_clear_message(window, qtbot, monkeypatch):
    errors = []
    window.failed.connect(errors.append)
    monkeypatch.setattr("app.main_window.list_cameras", lambda: [])
    window.choose_camera()
    assert errors and errors[0].startswith("No camera found")
    window.open_live("cam:9")
    qtbot.waitUntil(lambda: len(errors) == 2, timeout=10000)
    assert errors[1] == "camera 9: no camera found at this index (not connected, or in use)"


def test_a_camera_that_cannot_open_leaves_the_video_playable(window, qtbot, face_clip):
    errors = []
    window.failed.connect(errors.append)
    open_and_analyse(window, qtbot, face_clip)
    window.open_live("cam:9")
    qtbot.waitUntil(lambda: bool(errors), timeout=10000)
    assert window.player.frame_count == 12 and window.play_button.isEnabled()
    window.player.seek_index(5)
    qtbot.waitUntil(lambda: window.frame is not None and window.frame.index == 5, timeout=10000)


@pytest.mark.parametrize("other", ["camera", "file"])
def test_what_cannot_open_leaves_the_analysis_running(window, qtbot, face_clip, tmp_path, other):
    errors = []
    window.failed.connect(errors.append)
    with qtbot.waitSignal(window.analysis_done, timeout=SLOW) as blocker:
        window.open(str(face_clip))
        qtbot.waitUntil(lambda: window.analysis_job is not None, timeout=SLOW)
        window.open_live("cam:9") if other == "camera" else window.open(str(tmp_path / "gone.mp4"))
    qtbot.waitUntil(lambda: bool(errors), timeout=10000)
    assert blocker.args == [""] and window.analysis.complete and len(window.analysis) == 12


def test_a_camera_opened_while_a_video_is_analysed_keeps_its_own_session(window, qtbot, face_crop, tmp_path):
    """The video's analysis stops once the camera has opened, and what its job still sends (its end
    among it) never becomes the live session's analysis."""
    from .conftest import moving_face_frames, write_clip

    clip = write_clip(tmp_path / "long.mp4", moving_face_frames(face_crop, 150))
    window.open(str(clip))
    qtbot.waitUntil(lambda: window.analysis_job is not None, timeout=SLOW)
    job, ended = window.analysis_job, []
    job.signals.finished.connect(lambda analysis, stopped: ended.append(stopped))
    window.open_live(str(clip), paced=True)
    qtbot.waitUntil(lambda: window.live is not None, timeout=SLOW)
    live = window.analysis
    qtbot.waitUntil(lambda: bool(ended), timeout=SLOW)
    qtbot.wait(100)  # the job's queued signals reach the window
    assert ended[0] and window.session.live and window.analysis is live and window.session.analysis is live
    window.stop_camera()


class UnpluggedCamera(Source):
    """A real clip's frames that stop with the error a camera gives when it is pulled out."""

    live = True

    def __init__(self, path, after):
        self.name, self.path, self.after = "camera 0", path, after

    def __iter__(self):
        with open_source(self.path) as source:
            for frame in source:
                if frame.index == self.after:
                    raise InputError("camera 0: stopped delivering frames (unplugged?)")
                time.sleep(0.04)
                yield frame


def test_camera_unplugged_mid_session_keeps_what_was_analysed(window, qtbot, face_clip, tmp_path):
    errors = []
    window.failed.connect(errors.append)
    window._live_opened("cam:0", UnpluggedCamera(face_clip, after=8))
    qtbot.waitUntil(lambda: bool(errors), timeout=SLOW)
    assert errors[0].startswith("camera 0: stopped delivering frames (unplugged?). The ")
    assert window.live is None and len(window.analysis) >= 1
    assert all(r.faces for r in window.analysis.frames())
    # what was analysed is settled as when the camera is stopped: reading it again changes nothing
    assert "first seconds read again" in errors[0]
    settled = au_table(window.analysis)
    window.session.scorer.recalibrate(window.analysis, BaselineMode("auto"))
    np.testing.assert_array_equal(au_table(window.analysis), settled)  # NaN (unread) equal to NaN
    assert window.export_csv(tmp_path / "live.csv").is_file()


def test_live_view_of_a_paced_video_shows_and_analyses_frames(window, qtbot, face_crop, tmp_path):
    from .conftest import moving_face_frames, write_clip

    # 2.4 s: the analyser's first frame in a fresh process takes about 0.8 s (MediaPipe's graphs are made)
    clip = write_clip(tmp_path / "paced.mp4", moving_face_frames(face_crop, 60))
    with qtbot.waitSignal(window.analysis_done, timeout=SLOW):
        window.open_live(str(clip), paced=True)
    assert window.live is None  # the clip ended
    assert len(window.analysis) >= 3
    indices = [r.index for r in window.analysis.frames()]
    assert indices == sorted(indices) and indices[-1] >= 40
    assert window.frame.index == 59  # every frame reached the screen's slot; the last is shown
    # live, the first seconds were read against the population's face; once the camera stopped, against
    # the person's own, as a file's: reading the whole analysis again changes nothing now
    settled = au_table(window.analysis)
    window.session.scorer.recalibrate(window.analysis, BaselineMode("auto"))
    np.testing.assert_array_equal(au_table(window.analysis), settled)  # NaN (unread) equal to NaN


def test_esc_stops_the_camera_and_keeps_what_was_analysed(window, qtbot, face_crop, tmp_path):
    from .conftest import moving_face_frames, write_clip

    clip = write_clip(tmp_path / "long.mp4", moving_face_frames(face_crop, 150))  # 6 s
    with qtbot.waitSignal(window.analysis_done, timeout=SLOW):
        window.open_live(str(clip), paced=True)
        qtbot.waitUntil(lambda: window.analysis is not None and len(window.analysis) >= 10, timeout=SLOW)
        trigger_key = [a for a in window.shortcut_actions if a.shortcut().toString() == "Esc"]
        assert [a.text() for a in trigger_key] == ["&Cancel Analysis / Stop the Camera"]
        trigger_key[0].trigger()
    assert window.live is None and len(window.analysis) >= 10
    assert "stopped" in window.statusBar().currentMessage()
    from core.video import Frame

    analysed = window.analysis.frames()[-1]  # on a frame with a face read
    window.frame = Frame(analysed.index, analysed.timestamp, window.frame.rgb)
    window.annotator.refresh()  # a camera's frame is no video frame to add to a dataset, stopped or not
    assert window.annotator.session.current is None
    assert window.annotator.editor.header.text() == "live view: open a video to annotate"
    # a live session has no file: opening something else first writes it (names included) to the cache
    window.session.rename(window.session.people()[0], "Presenter")
    frames = len(window.analysis)
    said = window._keep_live()  # as a start that then fails does: kept once, however often
    assert said.startswith("The live session is kept as") and window._keep_live() == said
    with qtbot.waitSignal(window.analysis_done, timeout=SLOW):
        window.open(str(clip))
    (kept,) = (tmp_path / "cache" / "live").glob("live-*.csv")
    qtbot.waitUntil(lambda: kept.stat().st_size > 0, timeout=SLOW)  # written in the background
    rows = kept.read_text().splitlines()
    assert len({line.split(",")[0] for line in rows[1:]}) == frames and rows[1].split(",")[2] == "Presenter"


def test_shortcut_help_lists_the_real_keys(window, monkeypatch):
    from app.dialogs import ShortcutsDialog

    def menu_keys(actions) -> list[tuple[str, str]]:
        """(name, keys) of every action with a shortcut in the menus, submenus included."""
        found = []
        for action in actions:
            if action.menu() is not None:
                found += menu_keys(action.menu().actions())
            elif action.shortcuts():
                found.append((action.text().replace("&", "").rstrip("…"),
                              ", ".join(k.toString() for k in action.shortcuts())))
        return found

    shown = []
    monkeypatch.setattr(ShortcutsDialog, "exec", lambda dialog: shown.append(dialog) or 0)
    help_action = [a for a in window.menuBar().actions() if a.text() == "&Help"][0]
    [f1] = [a for a in help_action.menu().actions() if a.text() == "&Keyboard Shortcuts"]
    f1.trigger()  # what Help > Keyboard Shortcuts (F1) opens
    [dialog] = shown
    table = dialog.table
    rows = [(table.item(i, 0).text(), table.item(i, 1).text()) for i in range(table.rowCount())]
    in_menus = menu_keys(window.menuBar().actions())
    assert len(in_menus) > 40
    assert sorted(rows) == sorted(in_menus)  # every key the menus bind, and nothing else
    keys = dict(rows)
    assert len(keys) == len(rows)  # no action listed twice
    # the documented bindings, written out here rather than read from the window
    assert {name: keys.get(name) for name in ("Open", "Play / Pause", "Next Frame", "Back 1 s", "Landmarks",
                                              "Export CSV", "Re-analyse (ignore the cache)", "Accept Caption",
                                              "Caption: Next Segment", "Emotion: happy", "Keyboard Shortcuts")} == {
        "Open": "Ctrl+O", "Play / Pause": "Space", "Next Frame": "Right", "Back 1 s": "Shift+Left",
        "Landmarks": "L", "Export CSV": "Ctrl+E", "Re-analyse (ignore the cache)": "Ctrl+R",
        "Accept Caption": "Ctrl+Return, Ctrl+Enter", "Caption: Next Segment": "Alt+PgDown",
        "Emotion: happy": "Alt+2", "Keyboard Shortcuts": "F1"}


def test_opening_a_photo_shows_its_face(window, qtbot, tmp_path, astronaut):
    path = tmp_path / "astronaut.png"
    cv2.imwrite(str(path), astronaut[:, :, ::-1])
    open_and_analyse(window, qtbot, path)
    assert len(window.analysis) == 1 and len(window.analysis.at(0).faces) == 1


def test_bad_file_is_reported_not_raised(window, qtbot, tmp_path):
    errors = []
    window.failed.connect(errors.append)
    bad = tmp_path / "broken.mp4"
    bad.write_text("not a video")
    window.open(str(bad))
    qtbot.waitUntil(lambda: bool(errors), timeout=10000)
    assert "broken.mp4: not a readable video" in errors[0]


def test_snapshot_mode_renders_the_window_to_a_png(tmp_path, face_clip):
    out = tmp_path / "shot.png"
    env = {"QT_QPA_PLATFORM": "offscreen", "MF2_CACHE": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin",
           "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "main.py", str(face_clip), "--snapshot", str(out), "--at", "0.3",
                           "--size", "1200x800"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    image = cv2.imread(str(out))
    assert image.shape[1] == 1200 and image.shape[0] >= 800
    bad = subprocess.run([sys.executable, "main.py", str(tmp_path / "none.mp4"), "--snapshot", str(out)], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1 and "none.mp4: no such file or folder" in bad.stderr


def test_wheel_zooms_the_timelines_in_time_only(window, qtbot, face_clip):
    from PySide6.QtCore import QPoint
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    open_and_analyse(window, qtbot, face_clip)
    box = window.timelines.emotion_plot.getViewBox()
    (x0, x1), y_before = box.viewRange()
    pos = window.timelines.mapFromScene(box.mapViewToScene(QPointF((x0 + x1) / 2, 0.5)))
    event = QWheelEvent(QPointF(pos), QPointF(window.timelines.viewport().mapToGlobal(pos)), QPoint(0, 0),
                        QPoint(0, 240), Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                        Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(window.timelines.viewport(), event)
    (z0, z1), y_after = box.viewRange()
    assert z1 - z0 < 0.8 * (x1 - x0)  # zoomed in time
    assert y_after == y_before
    au_range = window.timelines.au_plot.getViewBox().viewRange()[0]
    assert au_range == pytest.approx([z0, z1], abs=1e-6)  # the AU heatmap follows, aligned


def test_heatmap_columns_follow_true_time_at_variable_frame_rate():
    from app.timelines import uniform_columns

    times = np.array([0.0, 0.1, 0.2, 1.0, 2.0])  # dense, then sparse
    values = np.arange(5, dtype=np.float32)[:, None]
    grid, columns = uniform_columns(times, values)
    assert np.allclose(np.diff(grid), 0.1)
    assert columns[np.argmin(abs(grid - 0.9)), 0] == 2   # the frame at 0.2 s is still on screen
    assert columns[np.argmin(abs(grid - 1.5)), 0] == 3
    assert columns[-1, 0] == 4
    long_grid, _ = uniform_columns(np.arange(0, 3600, 0.04), np.zeros((90000, 1)), max_columns=4000)
    assert len(long_grid) <= 4001


def test_a_marked_neutral_segment_rereads_the_faces_and_the_export_says_so(window, qtbot, face_clip, tmp_path,
                                                                           monkeypatch):
    open_and_analyse(window, qtbot, face_clip)
    face = window.analysis.frames()[-1].faces[0]
    auto = dict(face.au)
    assert window.analysis.baseline == "auto"
    monkeypatch.setattr("app.main_window.QInputDialog.getText", lambda *a, **k: ("0-0.2", True))
    window.ask_neutral_segment()
    assert window.analysis.baseline == "0-0.2"
    window.export_csv(tmp_path / "out.csv")
    header, row = (tmp_path / "out.csv").read_text().splitlines()[:2]
    assert header.endswith(", baseline, model") and row.endswith(f",0-0.2,{window.scorer.version}")
    marked = window.analysis.frames()[-1].faces[0].au
    messages = []
    window.statusBar().messageChanged.connect(messages.append)
    open_and_analyse(window, qtbot, face_clip)  # reopened (from the cache, read with auto): the segment is kept
    assert window.analysis.baseline == "0-0.2" and window.analysis.frames()[-1].faces[0].au == pytest.approx(marked)
    # said after the analysis' own line, not hidden by it
    assert window.statusBar().currentMessage().endswith(
        "Readings relative to your neutral segment 0-0.2 s, as you marked it (Analysis > Automatic Baseline goes back)")
    window.set_baseline(BaselineMode("auto"))
    assert window.analysis.baseline == "auto"
    again = window.analysis.frames()[-1].faces[0]  # frames are built on demand: read it again
    assert again.au == pytest.approx(auto)  # the same reading as the streaming pass made
    monkeypatch.setattr("app.main_window.QInputDialog.getText", lambda *a, **k: ("9-3", True))
    with qtbot.waitSignal(window.failed) as blocker:
        window.ask_neutral_segment()
    assert "START-END" in blocker.args[0]
    # a segment where nobody is: said, and the export says what each face was read against
    monkeypatch.setattr("app.main_window.QInputDialog.getText", lambda *a, **k: ("100-200", True))
    window.ask_neutral_segment()
    assert window.statusBar().currentMessage().startswith("1 of 1 people had no face in the neutral segment 100-200 s")
    window.export_csv(tmp_path / "late.csv")
    assert (tmp_path / "late.csv").read_text().splitlines()[1].endswith(f",auto,{window.scorer.version}")


def test_undoing_a_name_keeps_the_neutral_segment(window, qtbot, face_clip, monkeypatch):
    """The neutral segment is not a step of the names-and-segments history: undoing a rename made
    before it kept the readings on screen but saved `auto`, so reopening read them otherwise."""
    open_and_analyse(window, qtbot, face_clip)
    window.session.rename(window.session.people()[0], "Ana")
    monkeypatch.setattr("app.main_window.QInputDialog.getText", lambda *a, **k: ("0-0.2", True))
    window.ask_neutral_segment()
    window.session.undo_work()
    assert window.session.names == {} and window.analysis.baseline == "0-0.2"
    assert window.session.work.baseline == "0-0.2"  # what is saved for the video


def test_saved_work_that_cannot_be_read_is_said_after_the_analysis(window, qtbot, face_clip):
    open_and_analyse(window, qtbot, face_clip)
    window.session.rename(window.session.people()[0], "Ana")
    window.session.store.path(window.session.digest).write_text("{torn")
    open_and_analyse(window, qtbot, face_clip)
    message = window.statusBar().currentMessage()
    assert message.startswith("Analysed 12 frames") and "saved work unreadable" in message, message


def test_caption_redo_answers_both_usual_keys(window):
    """Qt's StandardKey.Redo is one binding, chosen by platform: both are bound, as README lists."""
    from PySide6.QtGui import QAction

    redo = next(a for a in window.findChildren(QAction) if a.text() == "&Redo")
    assert [k.toString() for k in redo.shortcuts()] == ["Ctrl+Shift+Z", "Ctrl+Y"]
