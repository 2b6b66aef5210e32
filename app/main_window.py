"""The studio's main window: video with overlays, transport controls, side panel and timelines.

A thin view: decoding, analysis, caching and live capture run in `core` on worker threads; the
window only routes their results to the widgets and keeps the user's settings.
"""
from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QThreadPool, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (QComboBox, QDockWidget, QFileDialog, QHBoxLayout, QInputDialog, QLabel, QMainWindow,
                               QMessageBox, QProgressBar, QPushButton, QScrollArea, QSlider, QStyle, QToolButton, QVBoxLayout, QWidget)

from core.analysis import Analysis
from core.baseline import BaselineMode
from core.errors import InputError
from core.cli import default_model_dir
from core.faces.tracker import DETECT_EVERY
from core.live import LiveAnalyzer
from core.video import IMAGE_SUFFIXES, VIDEO_SUFFIXES, list_cameras

from .annotation import Annotator
from .dialogs import AuPicker, ShortcutsDialog, pick_camera
from .face_panel import FacePanel
from .frame_view import FrameView, to_qimage
from .overlay import DEFAULT_AUS, render_annotated
from .player import SPEEDS, Player
from .timelines import Timelines
from .workers import AnalysisJob, LoadModelJob, OpenCameraJob, OpenJob

MEDIA_FILTER = "Videos and images (" + " ".join(f"*{s}" for s in sorted(VIDEO_SUFFIXES | IMAGE_SUFFIXES)) + ")"
MAX_RECENT = 10
LIVE_POLL_MS = 10       # how often the live view looks for a new camera frame
TIMELINE_REFRESH_S = 0.5


def _fmt_time(seconds: float) -> str:
    minutes, s = divmod(max(0.0, seconds), 60)
    return f"{int(minutes):02d}:{s:05.2f}"


class MainWindow(QMainWindow):
    analysis_done = Signal(str)   # '' when complete, else why it stopped (tests and snapshot mode wait on it)
    model_ready = Signal()
    failed = Signal(str)          # every error line shown to the user

    def __init__(self, model_dir: Path | None = None):
        super().__init__()
        self.setWindowTitle("MF² Studio")
        self.setAcceptDrops(True)
        self.settings = QSettings()
        self.pool = QThreadPool.globalInstance()
        self.base_model_dir = Path(model_dir) if model_dir else default_model_dir()
        self.model_dir = self.base_model_dir   # the base, or a version fine-tuned on the dataset
        self.scorer = None
        self.model_key = "faces"
        self.model_loading = True
        self.analysis: Analysis | None = None
        self.analysis_job: AnalysisJob | None = None
        self.source_spec: str | None = None
        self.selected: int | None = None
        self.frame = None
        self.live: LiveAnalyzer | None = None
        self._live_shown = (-1, -1)          # (frame index, result index) on screen
        self._live_counts: list[float] = []  # wall times of frames shown, for the fps figure
        self._timeline_refreshed = 0.0
        self._pending_open: tuple | None = None  # what to open once the model is loaded
        self._jobs: set = set()
        self.interactive = True   # False: errors are signalled, not shown in a dialog (snapshot mode)

        self.player = Player(self)
        self.player.frame_ready.connect(self._show_frame)
        self.player.failed.connect(self._fail)
        self.player.playing_changed.connect(self._playing_changed)
        self.view = FrameView()
        self.view.face_clicked.connect(self.select_face)
        self.panel = FacePanel()
        self.panel.face_selected.connect(self.select_face)
        self.timelines = Timelines()
        self.timelines.seek_requested.connect(self.player.seek_time)
        self._build_transport()
        self._build_docks()
        self.annotator = Annotator(self)
        self._build_actions()
        self._build_status()
        self._restore_settings()
        self._live_timer = QTimer(self, interval=LIVE_POLL_MS, timeout=self._poll_live)
        self._load_model()
        dataset = self.settings.value("dataset")
        if dataset and Path(dataset).is_dir():
            self.annotator.open_dataset(Path(dataset))

    # --- layout -----------------------------------------------------------------------------

    def _build_transport(self) -> None:
        style = self.style()
        self.play_button = QToolButton(icon=style.standardIcon(QStyle.StandardPixmap.SP_MediaPlay))
        self.play_button.setToolTip("Play / pause (Space)")
        self.play_button.clicked.connect(self.player.toggle)
        back = QToolButton(icon=style.standardIcon(QStyle.StandardPixmap.SP_MediaSeekBackward),
                           toolTip="Previous frame (Left)", clicked=lambda: self.player.step(-1))
        forward = QToolButton(icon=style.standardIcon(QStyle.StandardPixmap.SP_MediaSeekForward),
                              toolTip="Next frame (Right)", clicked=lambda: self.player.step(1))
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setToolTip("Seek")
        self.slider.sliderMoved.connect(self.player.seek_index)
        self.slider.sliderPressed.connect(lambda: self.player.seek_index(self.slider.value()))
        self.time_label = QLabel("--:--.-- / --:--.--")
        self.time_label.setMinimumWidth(230)
        self.speed_box = QComboBox()
        for s in SPEEDS:
            self.speed_box.addItem(f"{s:g}×", s)
        self.speed_box.setToolTip("Playback speed ([ slower, ] faster, = normal)")
        self.speed_box.activated.connect(lambda i: self.player.set_speed(self.speed_box.itemData(i)))
        self.player.speed_changed.connect(lambda s: self.speed_box.setCurrentIndex(SPEEDS.index(s)))
        self.transport = (back, self.play_button, forward, self.slider, self.speed_box)
        for w in self.transport:
            w.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys belong to the window's shortcuts
        bar = QHBoxLayout()
        for w in (back, self.play_button, forward):
            bar.addWidget(w)
        bar.addWidget(self.slider, 1)
        bar.addWidget(self.time_label)
        bar.addWidget(self.speed_box)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(4, 4, 4, 0)
        layout.addWidget(self.view, 1)
        layout.addLayout(bar)
        self.setCentralWidget(central)

    def _build_docks(self) -> None:
        scroll = QScrollArea()  # the panel scrolls rather than forcing a tall window on small screens
        scroll.setWidget(self.panel)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(self.panel.sizeHint().width() + 20)
        for title, widget, area, name in (("Face", scroll, Qt.DockWidgetArea.RightDockWidgetArea, "face"),
                                          ("Timelines", self.timelines, Qt.DockWidgetArea.BottomDockWidgetArea,
                                           "timelines")):
            dock = QDockWidget(title, self)
            dock.setObjectName(name)
            dock.setWidget(widget)
            dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                             | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
            self.addDockWidget(area, dock)
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)  # side docks: full height
        self.timelines.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.panel.face_box.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.panel.description.setFocusPolicy(Qt.FocusPolicy.NoFocus)

    def _action(self, menu, text, slot, keys=(), checkable=False, checked=False) -> QAction:
        action = QAction(text, self, checkable=checkable)
        if checkable:
            action.setChecked(checked)
            action.toggled.connect(slot)
        else:
            action.triggered.connect(slot)
        action.setShortcuts([QKeySequence(k) for k in ([keys] if isinstance(keys, (str, QKeySequence.StandardKey))
                                                        else keys)])
        menu.addAction(action)
        self.shortcut_actions.append(action)
        return action

    def _build_actions(self) -> None:
        self.shortcut_actions: list[QAction] = []
        m = self.menuBar().addMenu("&File")
        self._action(m, "&Open…", self.choose_file, QKeySequence.StandardKey.Open)
        self.recent_menu = m.addMenu("Open &Recent")
        self._action(m, "Open &Camera…", self.choose_camera, "Ctrl+K")
        m.addSeparator()
        self.export_csv_action = self._action(m, "Export &CSV…", self.export_csv, "Ctrl+E")
        self._action(m, "Export &Timelines as PNG…", self.export_timelines, "Ctrl+Shift+E")
        self._action(m, "Export &Snapshot…", self.export_snapshot, "Ctrl+Shift+S")
        m.addSeparator()
        self._action(m, "&Quit", self.close, QKeySequence.StandardKey.Quit)

        m = self.menuBar().addMenu("&Playback")
        self._action(m, "Play / Pause", self.player.toggle, "Space")
        self._action(m, "Next Frame", lambda: self.player.step(1), "Right")
        self._action(m, "Previous Frame", lambda: self.player.step(-1), "Left")
        self._action(m, "Forward 1 s", lambda: self._jump(1.0), "Shift+Right")
        self._action(m, "Back 1 s", lambda: self._jump(-1.0), "Shift+Left")
        self._action(m, "Forward 10 s", lambda: self._jump(10.0), "Ctrl+Right")
        self._action(m, "Back 10 s", lambda: self._jump(-10.0), "Ctrl+Left")
        self._action(m, "First Frame", lambda: self.player.seek_index(0), "Home")
        self._action(m, "Last Frame", lambda: self.player.seek_index(self.player.frame_count - 1), "End")
        m.addSeparator()
        self._action(m, "Faster", lambda: self.player.change_speed(1), "]")
        self._action(m, "Slower", lambda: self.player.change_speed(-1), "[")
        self._action(m, "Normal Speed", lambda: self.player.set_speed(1.0), "=")

        m = self.menuBar().addMenu("&View")
        o = self.view.options
        self.boxes_action = self._action(m, "Face &Boxes", lambda on: self._set_option("boxes", on), "B", True, o.boxes)
        self.landmarks_action = self._action(m, "&Landmarks", lambda on: self._set_option("landmarks", on), "L",
                                             True, o.landmarks)
        self.regions_action = self._action(m, "AU &Regions", lambda on: self._set_option("regions", on), "R",
                                           True, o.regions)
        self.emotion_action = self._action(m, "Top &Emotion", lambda on: self._set_option("emotion", on), "M",
                                           True, o.emotion)
        self._action(m, "Choose &AUs…", self.choose_aus, "A")
        m.addSeparator()
        self._action(m, "Next &Face", self.next_face, "Tab")

        m = self.menuBar().addMenu("&Analysis")
        self._action(m, "&Cancel Analysis", self.cancel_analysis, "Escape")
        self._action(m, "&Re-analyse (ignore the cache)", lambda: self._start_analysis(use_cache=False), "Ctrl+R")
        m.addSeparator()
        self._action(m, "Mark &Neutral Segment…", self.ask_neutral_segment, "N")
        self._action(m, "A&utomatic Baseline", lambda: self.set_baseline(BaselineMode("auto")))
        m.addSeparator()
        device = QActionGroup(self)
        self.device_actions = {}
        for key, text in (("auto", "Use the GPU when there is one"), ("cpu", "CPU only")):
            action = QAction(text, self, checkable=True)
            action.setData(key)
            device.addAction(action)
            m.addAction(action)
            self.device_actions[key] = action
        device.triggered.connect(self._device_chosen)

        self.annotator.build_menu(self.menuBar().addMenu("&Dataset"))

        m = self.menuBar().addMenu("&Help")
        self._action(m, "&Keyboard Shortcuts", self.show_shortcuts, "F1")
        m.addAction("&About MF² Studio", self.about)

    def _build_status(self) -> None:
        self.progress = QProgressBar(maximumWidth=220, visible=False)
        self.cancel_button = QPushButton("Cancel", visible=False, clicked=self.cancel_analysis)
        self.cancel_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.model_label = QLabel("loading model…")
        self.job_progress = QProgressBar(maximumWidth=220, visible=False)
        self.job_cancel = QPushButton("Cancel", visible=False)
        self._job_cancel_slot = None
        self.job_cancel.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.statusBar().addPermanentWidget(self.progress)
        self.statusBar().addPermanentWidget(self.cancel_button)
        self.statusBar().addPermanentWidget(self.job_progress)
        self.statusBar().addPermanentWidget(self.job_cancel)
        self.statusBar().addPermanentWidget(self.model_label)
        self.statusBar().showMessage("Open a video (Ctrl+O), drop one on the window, or open a camera (Ctrl+K)")

    # --- settings ---------------------------------------------------------------------------

    def _restore_settings(self) -> None:
        s = self.settings
        if s.value("geometry"):
            self.restoreGeometry(s.value("geometry"))
        else:
            self.resize(1400, 900)
        if s.value("state"):
            self.restoreState(s.value("state"))
        for name, action in (("boxes", self.boxes_action), ("landmarks", self.landmarks_action),
                             ("regions", self.regions_action), ("emotion", self.emotion_action)):
            action.setChecked(s.value(f"overlay/{name}", getattr(self.view.options, name), type=bool))
        aus = s.value("overlay/aus")
        self.view.options.aus = {int(a) for a in aus} if isinstance(aus, list) else set(DEFAULT_AUS)
        self.player.set_speed(float(s.value("speed", 1.0)))
        self.device_actions.get(s.value("device", "auto"), self.device_actions["auto"]).setChecked(True)
        self._refresh_recent()

    def _set_option(self, name: str, on: bool) -> None:
        setattr(self.view.options, name, on)
        self.settings.setValue(f"overlay/{name}", on)
        self.view.update()

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("state", self.saveState())
        self.settings.setValue("speed", self.player.speed)
        self.stop_live()
        self.cancel_analysis()
        self.annotator.close()
        self.player.close()
        self.pool.waitForDone(10000)
        super().closeEvent(event)

    def show_job_progress(self, text: str, done: int, total: int, cancel) -> None:
        """A background job's bar in the status bar (fine-tuning), with its Cancel button."""
        self.job_progress.setRange(0, max(total, 1))
        self.job_progress.setValue(done)
        self.job_progress.setFormat(f"{text} %v/%m")
        self.job_progress.setVisible(True)
        if self._job_cancel_slot is not cancel:
            if self._job_cancel_slot is not None:
                self.job_cancel.clicked.disconnect(self._job_cancel_slot)
            self.job_cancel.clicked.connect(cancel)
            self._job_cancel_slot = cancel
        self.job_cancel.setVisible(True)

    def hide_job_progress(self) -> None:
        self.job_progress.setVisible(False)
        self.job_cancel.setVisible(False)

    # --- model ------------------------------------------------------------------------------

    def _load_model(self) -> None:
        """Load ``model_dir`` in the background; a newer request overrides one still loading."""
        self.model_loading = True
        self.model_label.setText("loading model…")
        device = self.settings.value("device", "auto")
        job = LoadModelJob(self.model_dir, device)
        self._model_job = job

        def loaded(value) -> None:
            if job is not self._model_job:
                return
            self.scorer, self.model_key = value
            where = "GPU" if self.scorer.device == "cuda" else "CPU"
            self.model_label.setText(f"MF² {self.scorer.version} · {where}")
            self.annotator.model_changed(self.scorer.version)
            self._model_loaded()

        def failed(message: str) -> None:
            if job is not self._model_job:
                return
            self.scorer, self.model_key = None, "faces"
            self.model_label.setText("no model: faces only")
            self.statusBar().showMessage(message)
            self._model_loaded()

        self._run(job, loaded, failed)

    def _model_loaded(self) -> None:
        self.model_loading = False
        self.model_ready.emit()
        if self._pending_open:
            action, args = self._pending_open
            self._pending_open = None
            action(*args)

    def use_model(self, model_dir: Path) -> None:
        """Swap the model without a restart: load it behind the scenes, then re-analyse the open
        video with it (from the cache when this model has seen the video before)."""
        self.model_dir = Path(model_dir)
        if self.source_spec and not self.live and not self._pending_open:
            self.cancel_analysis()
            self._pending_open = (self._start_analysis, ())
        self._load_model()

    def _device_chosen(self, action: QAction) -> None:
        self.settings.setValue("device", action.data())
        if not self.model_loading:
            self._load_model()

    # --- opening ----------------------------------------------------------------------------

    def _run(self, job, done, failed) -> None:
        self._jobs.add(job)
        job.signals.done.connect(lambda value: (self._jobs.discard(job), done(value)))
        job.signals.failed.connect(lambda message: (self._jobs.discard(job), failed(message)))
        self.pool.start(job)

    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open video or image", self.settings.value("last_dir", str(Path.home())),
                                              MEDIA_FILTER)
        if path:
            self.open(path)

    def open(self, spec: str) -> None:
        """Open a video or image: it plays at once; analysis runs (or loads from the cache) behind."""
        if self.model_loading:
            self._pending_open = (self.open, (spec,))
            self.statusBar().showMessage(f"Loading the model, then {Path(spec).name}…")
            return
        self.stop_live()
        self.cancel_analysis()
        self.statusBar().showMessage(f"Opening {spec}…")
        self._run(OpenJob(spec, self.player.callbacks()), lambda reader: self._opened(spec, reader),
                  lambda message: self._open_failed(spec, message))

    def _opened(self, spec: str, reader) -> None:
        self.source_spec = spec
        self._enable_transport(reader.seekable)
        self.player.load(reader)
        self.analysis = None
        self.selected = None
        self.setWindowTitle(f"{reader.name} — MF² Studio")
        self.slider.setRange(0, reader.frame_count - 1)
        self.timelines.reset()
        self.timelines.set_duration(self.player.duration or 1.0)
        self.panel.set_tracks([], None)
        self.panel.show_face(None, 0)
        self._add_recent(spec)
        self.settings.setValue("last_dir", str(Path(spec).parent))
        self._start_analysis()

    def _open_failed(self, spec: str, message: str) -> None:
        if spec in self._recent():
            self.settings.setValue("recent", [r for r in self._recent() if r != spec])
            self._refresh_recent()
        self._fail(message)

    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt override)
        if any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 (Qt override)
        files = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if files:
            event.acceptProposedAction()
            self.open(files[0])

    def _recent(self) -> list[str]:
        value = self.settings.value("recent", [])
        return [value] if isinstance(value, str) else list(value or [])

    def _add_recent(self, spec: str) -> None:
        self.settings.setValue("recent", ([spec] + [r for r in self._recent() if r != spec])[:MAX_RECENT])
        self._refresh_recent()

    def _refresh_recent(self) -> None:
        self.recent_menu.clear()
        for i, spec in enumerate(self._recent()):
            self.recent_menu.addAction(f"&{(i + 1) % 10} {Path(spec).name}", lambda s=spec: self.open(s)) \
                .setToolTip(spec)
        self.recent_menu.setEnabled(bool(self._recent()))

    # --- analysis ---------------------------------------------------------------------------

    def _start_analysis(self, use_cache: bool = True) -> None:
        if not self.source_spec or self.live:
            return
        self.cancel_analysis()
        # the job fills the analysis shown (one copy of it, however long the video)
        self.analysis = Analysis.for_scorer(self.scorer, self.player.frame_count, self.source_spec)
        job = AnalysisJob(self.source_spec, self.scorer, self.model_key, int(self.settings.value("max_faces", 8)),
                          use_cache, int(self.settings.value("detect_every", DETECT_EVERY)), self.analysis)
        self.analysis_job = job
        job.signals.status.connect(lambda text: job is self.analysis_job and self.statusBar().showMessage(text))
        job.signals.progress.connect(lambda done, total: job is self.analysis_job and self._progress(done, total))
        job.signals.results.connect(lambda results: job is self.analysis_job and self._add_results(results))
        job.signals.finished.connect(lambda analysis, stopped: job is self.analysis_job
                                     and self._analysis_finished(analysis, stopped))
        job.signals.failed.connect(lambda message: job is self.analysis_job and self._analysis_failed(message))
        self.progress.setRange(0, max(self.player.frame_count, 1))
        self.progress.setValue(0)
        self.progress.setVisible(True)
        self.cancel_button.setVisible(True)
        self.pool.start(job)

    def cancel_analysis(self) -> None:
        if self.analysis_job is not None:
            self.analysis_job.cancel()

    def _progress(self, done: int, total: int) -> None:
        self.progress.setValue(done)
        self.progress.setFormat("analysed %v / %m frames")

    def _add_results(self, results: list) -> None:
        """Frames the job has added to the analysis: show them where they are on screen."""
        if self.frame is not None and any(r.index == self.frame.index for r in results):
            self._update_frame_view()
        self._refresh_timelines()

    def _analysis_finished(self, analysis: Analysis, stopped: str) -> None:
        self.analysis_job = None
        self.analysis = analysis
        self.progress.setVisible(False)
        self.cancel_button.setVisible(False)
        faces = analysis.track_ids()
        if stopped:
            self.statusBar().showMessage(f"{stopped}; the {len(analysis)} frames analysed are shown and can be exported")
        else:
            self.statusBar().showMessage(f"Analysed {len(analysis)} frames: {len(faces)} face(s)"
                                         + (f", model {analysis.model_version}" if analysis.model_version else ""))
        self._refresh_timelines(force=True)
        self._update_frame_view()
        self.analysis_done.emit(stopped)

    def _analysis_failed(self, message: str) -> None:
        self.analysis_job = None
        self.progress.setVisible(False)
        self.cancel_button.setVisible(False)
        self._fail(message)
        self.analysis_done.emit(message)

    # --- live -------------------------------------------------------------------------------

    def choose_camera(self) -> None:
        cameras = list_cameras()
        if not cameras:
            self._fail("No camera found: connect a webcam (and close other programs using it), then try again")
            return
        index = pick_camera(self, cameras)
        if index is not None:
            self.open_live(f"cam:{index}")

    def open_live(self, spec: str, paced: bool = False) -> None:
        """Show a camera (or, with ``paced``, a video played in real time as if it were one),
        analysing the newest frame whenever the model is free."""
        if self.model_loading:
            self._pending_open = (self.open_live, (spec, paced))
            return
        self.stop_live()
        self.cancel_analysis()
        self.player.close()
        self.statusBar().showMessage(f"Opening {spec}…")
        self._run(OpenCameraJob(spec, paced), lambda source: self._live_opened(spec, source), self._fail)

    def _live_opened(self, spec: str, source) -> None:
        self.source_spec = spec
        self._enable_transport(False)  # a live view has no timeline to move in
        self.analysis = Analysis.for_scorer(self.scorer, None, source.name)
        self.selected = None
        self.setWindowTitle(f"{source.name} (live) — MF² Studio")
        self.timelines.reset()
        self.timelines.set_duration(60.0)
        self.live = LiveAnalyzer(source, self.scorer, int(self.settings.value("max_faces", 8)))
        self.live.start()
        self._live_shown = (-1, -1)
        self._live_counts = []
        self._live_timer.start()
        self.statusBar().showMessage(f"Live: {source.name}")

    def stop_live(self) -> None:
        if self.live is not None:
            self._live_timer.stop()
            self.live.stop()
            self.live = None

    def _poll_live(self) -> None:
        frame, result = self.live.latest()
        now = time.monotonic()
        for analysed in self.live.take_results():
            self.analysis.add(analysed)
        if frame is not None and (frame.index, getattr(result, "index", -1)) != self._live_shown:
            new_frame = frame.index != self._live_shown[0]
            self._live_shown = (frame.index, getattr(result, "index", -1))
            self.frame = frame
            self.view.show_frame(to_qimage(frame.rgb), result)
            self._update_panel(result)
            if new_frame:
                self._live_counts = [t for t in self._live_counts if now - t < 2.0] + [now]
                stats = self.live.stats()
                self.time_label.setText(f"live {_fmt_time(frame.timestamp)}")
                self.statusBar().showMessage(f"Live: {self.live_fps:.1f} fps shown, {stats.analysed_fps:.1f} fps analysed, "
                                             f"{stats.frames_dropped} frames dropped")
            self._refresh_timelines()
            if result is not None:
                self.timelines.set_time(result.timestamp)
        if not self.live.running:  # the analyser may have finished after this poll began
            for analysed in self.live.take_results():
                self.analysis.add(analysed)
        if self.live.error:
            message = self.live.error
            self.stop_live()
            self._fail(f"{message}. The {len(self.analysis)} frames analysed are kept: export them with File > Export")
        elif not self.live.running:  # a video standing in for a camera reached its end
            name = self.live.source.name
            self.stop_live()
            self._refresh_timelines(force=True)
            self.statusBar().showMessage(f"Live: {name} ended; {len(self.analysis)} frames analysed")
            self.analysis_done.emit("")

    @property
    def live_fps(self) -> float:
        """Frames shown per second over the last two seconds of live view."""
        if len(self._live_counts) < 2:
            return 0.0
        return (len(self._live_counts) - 1) / (self._live_counts[-1] - self._live_counts[0])

    # --- showing ----------------------------------------------------------------------------

    def _show_frame(self, frame) -> None:
        self.frame = frame
        self._update_frame_view()
        n = self.player.frame_count
        self.slider.blockSignals(True)
        self.slider.setValue(frame.index)
        self.slider.blockSignals(False)
        self.time_label.setText(f"{_fmt_time(frame.timestamp)} / {_fmt_time(self.player.duration)}   "
                                f"frame {frame.index + 1}/{n}")
        self.timelines.set_time(frame.timestamp)

    def _update_frame_view(self) -> None:
        if self.frame is None:
            return
        result = self.analysis.at(self.frame.index) if self.analysis else None
        self._ensure_selection()
        self.view.selected = self.selected
        self.view.show_frame(to_qimage(self.frame.rgb), result)
        self._update_panel(result)

    def _ensure_selection(self) -> None:
        """With no face chosen yet, follow the face seen in most frames."""
        if self.selected is None and self.analysis:
            tracks = self.analysis.track_ids()
            self.selected = tracks[0] if tracks else None

    def _update_panel(self, result) -> None:
        self._ensure_selection()
        self.view.selected = self.selected
        self.panel.show_face(result.face(self.selected) if result and self.selected is not None else None,
                             result.index if result else 0)
        self.annotator.refresh()

    def _refresh_timelines(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._timeline_refreshed < TIMELINE_REFRESH_S:
            return
        self._timeline_refreshed = now
        if not self.analysis:
            return
        self._ensure_selection()
        self.panel.set_tracks(self.analysis.track_ids(), self.selected)
        if self.selected is None or not self.analysis.model_version:
            return
        times, au, emotion = self.analysis.series(self.selected)
        self.timelines.set_series(times, au, emotion, self.analysis.aus, self.analysis.emotions)
        if self.live and len(times):  # follow the newest minute
            self.timelines.set_duration(max(60.0, float(times[-1])))
            self.timelines.emotion_plot.setXRange(max(0.0, float(times[-1]) - 60), max(60.0, float(times[-1])),
                                                  padding=0)

    def ask_neutral_segment(self) -> None:
        """The AU readings of every face seen in a stretch the user knows to be neutral are read
        relative to that stretch (as ``mf2 analyze --baseline START-END``)."""
        now = self.frame.timestamp if self.frame is not None else 0.0
        text, ok = QInputDialog.getText(self, "Neutral segment", "Seconds in which the faces are at rest (START-END):",
                                        text=f"{max(0.0, now - 2.5):.1f}-{now + 2.5:.1f}")
        if ok:
            try:
                self.set_baseline(BaselineMode.parse(text))
            except InputError as e:
                self._fail(str(e))

    def set_baseline(self, mode: BaselineMode) -> None:
        if self.analysis_job is not None or self.live is not None or not self.analysis or self.scorer is None:
            self._fail("A baseline can be set on a finished analysis of a video (wait for it, or open one)")
            return
        self.scorer.recalibrate(self.analysis, mode)
        where = f"the neutral segment {mode} s" if mode.kind == "segment" else "each face's own running estimate"
        self.statusBar().showMessage(f"AU readings relative to {where}")
        self._refresh_timelines(force=True)
        self._update_frame_view()

    def select_face(self, track_id: int) -> None:
        self.selected = track_id
        self._refresh_timelines(force=True)
        if self.live:
            self.view.selected = track_id
            self.view.update()
        else:
            self._update_frame_view()

    def next_face(self) -> None:
        tracks = self.analysis.track_ids() if self.analysis else []
        if tracks:
            i = tracks.index(self.selected) + 1 if self.selected in tracks else 0
            self.select_face(tracks[i % len(tracks)])

    def _enable_transport(self, on: bool) -> None:
        for w in self.transport:
            w.setEnabled(on)

    def _jump(self, seconds: float) -> None:
        if self.frame is not None:
            self.player.seek_time(self.frame.timestamp + seconds)

    def _playing_changed(self, playing: bool) -> None:
        icon = QStyle.StandardPixmap.SP_MediaPause if playing else QStyle.StandardPixmap.SP_MediaPlay
        self.play_button.setIcon(self.style().standardIcon(icon))
        self.annotator.refresh()

    def choose_aus(self) -> None:
        available = self.analysis.aus if self.analysis and self.analysis.aus else \
            (self.scorer.aus if self.scorer else ())
        if not available:
            self._fail("No model loaded: there are no AU activations to show")
            return
        dialog = AuPicker(available, self.view.options.aus, self)
        if dialog.exec():
            self.view.options.aus = dialog.chosen()
            self.settings.setValue("overlay/aus", sorted(self.view.options.aus))
            self.view.update()

    # --- export -----------------------------------------------------------------------------

    def _save_path(self, title: str, suffix: str, filter_: str) -> Path | None:
        stem = Path(self.source_spec).stem if self.source_spec and ":" not in self.source_spec else "camera"
        if self.frame is not None and suffix == ".png" and "napshot" in title:
            stem += f"_{self.frame.timestamp:.2f}s"
        default = Path(self.settings.value("export_dir", str(Path.home()))) / f"{stem}{suffix}"
        path, _ = QFileDialog.getSaveFileName(self, title, str(default), filter_)
        if not path:
            return None
        self.settings.setValue("export_dir", str(Path(path).parent))
        return Path(path)

    def export_csv(self, path: Path | None = None) -> Path | None:
        """The per-frame CSV of what has been analysed, in `mf2 analyze`'s format."""
        if not self.analysis or not len(self.analysis):
            self._fail("Nothing analysed yet to export")
            return None
        path = path or self._save_path("Export CSV", ".csv", "CSV (*.csv)")
        if path:
            try:
                self.analysis.write_csv(path)
            except InputError as e:  # the CSV could not be written whole (folder, link, disk full, in use)
                self._fail(str(e))
                return None
            note = "" if self.analysis.complete else " (analysis not complete: the frames analysed so far)"
            self.statusBar().showMessage(f"Wrote {path}: {len(self.analysis)} frames{note}")
        return path

    def export_timelines(self, path: Path | None = None) -> Path | None:
        path = path or self._save_path("Export timelines", ".png", "PNG image (*.png)")
        if path and self._save_image(self.timelines.grab(), path):
            return path
        return None

    def export_snapshot(self, path: Path | None = None) -> Path | None:
        """The current frame at full resolution with its overlays."""
        if self.frame is None:
            self._fail("No frame to export yet")
            return None
        path = path or self._save_path("Export snapshot", ".png", "PNG image (*.png)")
        if not path:
            return None
        result = self.analysis.at(self.frame.index) if self.analysis else None
        image = render_annotated(to_qimage(self.frame.rgb), result, self.view.options, self.selected)
        return path if self._save_image(image, path) else None

    def _save_image(self, image, path: Path) -> bool:
        if not image.save(str(path)):
            self._fail(f"{path}: cannot write the image (check the folder and the .png suffix)")
            return False
        self.statusBar().showMessage(f"Wrote {path}")
        return True

    # --- help and errors --------------------------------------------------------------------

    def show_shortcuts(self) -> None:
        ShortcutsDialog(self.shortcut_actions, self).exec()

    def about(self) -> None:
        model = f"{self.scorer.version} on {self.model_label.text().split('·')[-1].strip()}" if self.scorer else "none"
        QMessageBox.about(self, "About MF² Studio",
                          "<b>MF² Studio</b>: facial Action Units and emotion in video, on this machine only.<br>"
                          f"Model: {model}<br>Model folder: {self.model_dir}<br>"
                          "Research: Multimodal Representation Learning Techniques for Comprehensive Facial State "
                          "Analysis (arXiv 2504.10351).")

    def _fail(self, message: str) -> None:
        self.statusBar().showMessage(message)
        self.failed.emit(message)
        if self.interactive:
            QMessageBox.warning(self, "MF² Studio", message)
