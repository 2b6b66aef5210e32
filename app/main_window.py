"""The studio's main window: video with overlays, transport controls, side panel and timelines.

The composition of the views over one `core.session.Session` (the Qt-free model: what is open,
its analysis, the people and their names, the segments, the selection, the model and baseline).
The window connects the session's events to the views; the menus and their slots are in
`actions`, the exports in `exports`, annotation in `annotation`. Decoding, analysis, caching and
live capture run in `core` on worker threads; the window routes their results to the session.
"""
from __future__ import annotations

import time
import weakref
from pathlib import Path

import numpy as np

from PySide6.QtCore import QSettings, Qt, QThreadPool, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (QComboBox, QDockWidget, QFileDialog, QHBoxLayout, QInputDialog, QLabel, QMainWindow,
                               QMessageBox, QProgressBar, QPushButton, QScrollArea, QSlider, QStyle, QToolButton,
                               QVBoxLayout, QWidget)

from core.analysis import Analysis
from core.baseline import BaselineMode
from core.cache import cache_dir
from core.errors import InputError
from core.faces.tracker import DETECT_EVERY
from core.live import LiveAnalyzer
from core.model.shipped import default_model_dir
from core.plural import counted
from core.session import Session
from core.validation import model_validation
from core.video import IMAGE_SUFFIXES, VIDEO_SUFFIXES, list_cameras

from .actions import Actions
from .annotation import Annotator
from .dialogs import pick_camera
from .exports import Exports
from .face_panel import FacePanel
from .frame_view import FrameView, to_qimage
from .overlay import DEFAULT_AUS
from .player import SPEEDS, Player, clock
from .search import Searcher
from .statistics import StatisticsPanel
from .timelines import Timelines
from .workers import AnalysisJob, CallJob, LoadModelJob, OpenCameraJob, OpenJob

MEDIA_FILTER = "Videos and images (" + " ".join(f"*{s}" for s in sorted(VIDEO_SUFFIXES | IMAGE_SUFFIXES)) + ")"
MAX_RECENT = 10
LIVE_POLL_MS = 10       # how often the live view looks for a new camera frame
TIMELINE_REFRESH_S = 0.5
STATISTICS_DELAY_MS = 400  # the Statistics dock is made again this long after the last change
LAYOUT = 2  # the docks' arrangement; a window state saved with an earlier one is not restored (2: Statistics)
SETTLED = "; each person's first seconds read again against their own neutral face"  # after a camera stops


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
        self.session = Session(model_dir=Path(model_dir) if model_dir else default_model_dir())
        self.model_loading = True
        self.analysis_job: AnalysisJob | None = None
        self.frame = None                    # the decoded frame on screen (core.video.Frame)
        self.live: LiveAnalyzer | None = None
        self._live_shown = (-1, -1)          # (frame index, result index) on screen
        self._live_kept: tuple = (None, "")  # the live session last written to the cache, and what was said
        self._analysis_notes: list[str] | None = None  # notes said while an analysis runs (`_note`)
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
        self.view.key = self.session.key_of
        self.view.label = self._face_label
        self.view.face_clicked.connect(self.select_face)
        self.panel = FacePanel()
        self.panel.face_selected.connect(self.select_face)
        self.timelines = Timelines()
        self.timelines.seek_requested.connect(self.player.seek_time)
        self.statistics = StatisticsPanel()
        self.exports = Exports(self)
        self.statistics.refresh_requested.connect(self.exports.compute_statistics)
        self._statistics_timer = QTimer(self, singleShot=True, interval=STATISTICS_DELAY_MS,
                                        timeout=self._statistics_changed)
        self.searcher = Searcher(self)
        self._build_transport()
        self._build_docks()
        self.annotator = Annotator(self)
        self.commands = Actions(self)  # (not `actions`: QWidget.actions() lists a widget's QActions)
        self.commands.build()
        self.timelines.segment_drawn.connect(self.commands.ask_segment)
        self.timelines.segment_menu.connect(self.commands.segment_menu)
        self._build_status()
        self._restore_settings()
        self._observe(self.session)
        self._live_timer = QTimer(self, interval=LIVE_POLL_MS, timeout=self._poll_live)
        self._load_model()
        dataset = self.settings.value("dataset")
        if dataset and Path(dataset).is_dir():
            self.annotator.open_dataset(Path(dataset))

    # --- the session's state, under the names the window always had ---------------------------

    @property
    def analysis(self) -> Analysis | None:
        return self.session.analysis

    @property
    def source_spec(self) -> str | None:
        return self.session.source

    @property
    def scorer(self):
        return self.session.scorer

    @property
    def model_key(self) -> str:
        return self.session.model_key

    @property
    def model_dir(self) -> Path:
        return self.session.model_dir

    @property
    def base_model_dir(self) -> Path:
        return self.session.base_model_dir

    @property
    def selected(self) -> int | None:
        """The track of the selected person's face on screen (else their first track): the face
        the caption editor labels."""
        s = self.session
        if s.selected is None or not s.analysis:
            return None
        face = s.face_of(s.analysis.at(self.frame.index), s.selected) if self.frame is not None else None
        if face is not None:
            return face.track_id
        tracks = s.tracks_of(s.selected)
        return min(tracks) if tracks else None

    @property
    def shortcut_actions(self) -> list[QAction]:
        return self.commands.shortcut_actions

    def _action(self, *args, **kwargs) -> QAction:
        """A menu action with shortcuts, listed in Help (`Actions.add`; the annotator adds its own)."""
        return self.commands.add(*args, **kwargs)

    def _face_label(self, face) -> str:
        key = self.session.key_of(face)
        return self.session.label(key) if key is not None else f"face {face.track_id}"

    # --- observing the session ----------------------------------------------------------------

    def _observe(self, session: Session) -> None:
        ev = session.events
        ev.analysis.connect(self._analysis_replaced)
        ev.frames.connect(self._add_results)
        ev.people.connect(self._people_changed)
        ev.segments.connect(self._segments_changed)
        ev.selection.connect(self._selection_changed)
        ev.lanes.connect(lambda keys: self._refresh_timelines(force=True))
        ev.time.connect(lambda seconds, index: self.timelines.set_time(seconds))
        ev.model.connect(self._model_changed)
        ev.baseline.connect(self._baseline_changed)
        ev.notes.connect(self._note)

    def _analysis_replaced(self, analysis) -> None:
        self._refresh_checks()
        self.timelines.reset()
        self.panel.set_people([], None)
        self.commands.refresh_people_menu()
        if analysis is None:
            self.panel.show_face(None, 0)
        self.statistics.set_stale("Statistics come once the analysis has finished.")

    def _people_changed(self) -> None:
        self.commands.refresh_people_menu()
        self._refresh_timelines(force=True)
        self._update_frame_view()
        self._statistics_changed_soon()

    def _segments_changed(self) -> None:
        s = self.session
        self.timelines.set_segments(s.segments, s.segment_start)
        self._statistics_changed_soon()
        self.commands.refresh_undo()

    def _selection_changed(self, key) -> None:
        self.commands.refresh_people_menu()
        self.panel.set_people([(k, self.session.label(k)) for k in self.session.people()], key)
        if self.live:
            self.view.selected = key
            self.view.update()
        else:
            self._update_frame_view()

    def _model_changed(self, scorer) -> None:
        if scorer is None:
            self.model_label.setText("no model: faces only")
            return
        where = "GPU" if scorer.device == "cuda" else "CPU"
        self.model_label.setText(f"MF² {scorer.version} · {where}")
        self.annotator.model_changed(scorer.version)

    def _baseline_changed(self, mode: BaselineMode) -> None:
        where = f"the neutral segment {mode} s" if mode.kind == "segment" else "each face's own running estimate"
        self.statusBar().showMessage(f"AU readings relative to {where}")
        self._refresh_timelines(force=True)
        self._update_frame_view()
        self._statistics_changed_soon()

    def _statistics_changed_soon(self) -> None:
        self._statistics_timer.start()

    def _statistics_changed(self) -> None:
        """The figures shown no longer hold: made again when the dock is open, else marked stale."""
        analysis = self.session.analysis
        if not analysis or self.analysis_job is not None:
            return
        if self.statistics_dock.isVisible():
            self.exports.compute_statistics()
        else:
            self.statistics.set_stale("The people or segments changed: Refresh for the figures as they are now.")

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
        lanes = QScrollArea()  # more people's lanes than fit scroll
        lanes.setWidget(self.timelines)
        lanes.setWidgetResizable(True)
        lanes.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        lanes.setFrameShape(QScrollArea.Shape.NoFrame)
        lanes.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        timelines = QWidget()  # the lanes, and the text search beside them
        row = QHBoxLayout(timelines)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        row.addWidget(lanes, 1)
        row.addWidget(self.searcher.panel)
        docks = {}
        for title, widget, area, name in (("Face", scroll, Qt.DockWidgetArea.RightDockWidgetArea, "face"),
                                          ("Timelines", timelines, Qt.DockWidgetArea.BottomDockWidgetArea,
                                           "timelines"),
                                          ("Statistics", self.statistics, Qt.DockWidgetArea.BottomDockWidgetArea,
                                           "statistics")):
            dock = QDockWidget(title, self)
            dock.setObjectName(name)
            dock.setWidget(widget)
            dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                             | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                             | (QDockWidget.DockWidgetFeature.DockWidgetClosable if name == "statistics"
                                else QDockWidget.DockWidgetFeature.NoDockWidgetFeatures))
            self.addDockWidget(area, dock)
            docks[name] = dock
        self.tabifyDockWidget(docks["timelines"], docks["statistics"])
        docks["timelines"].raise_()
        self.statistics_dock, self.timelines_dock = docks["statistics"], docks["timelines"]
        self.statistics_dock.visibilityChanged.connect(lambda on: on and self._statistics_changed_soon())
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)  # side docks: full height
        self.timelines.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.panel.face_box.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.panel.description.setFocusPolicy(Qt.FocusPolicy.NoFocus)

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

    def show_statistics(self) -> None:
        """The Statistics dock, with the figures as they are now."""
        self.statistics_dock.show()
        self.statistics_dock.raise_()
        self.exports.compute_statistics()

    # --- settings ---------------------------------------------------------------------------

    def _restore_settings(self) -> None:
        s = self.settings
        if s.value("geometry"):
            self.restoreGeometry(s.value("geometry"))
        else:
            self.resize(1400, 900)
        if s.value("state") and int(s.value("layout", 0)) == LAYOUT:
            self.restoreState(s.value("state"))
        for name, action in (("boxes", self.boxes_action), ("landmarks", self.landmarks_action),
                             ("regions", self.regions_action), ("emotion", self.emotion_action)):
            action.setChecked(s.value(f"overlay/{name}", getattr(self.view.options, name), type=bool))
        aus = s.value("overlay/aus")
        self.view.options.aus = {int(a) for a in aus} if isinstance(aus, list) else set(DEFAULT_AUS)
        self.player.set_speed(float(s.value("speed", 1.0)))
        self.device_actions.get(s.value("device", "auto"), self.device_actions["auto"]).setChecked(True)
        self._refresh_recent()

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("state", self.saveState())
        self.settings.setValue("layout", LAYOUT)
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
            scorer, key = value
            self.session.set_model(scorer, key)
            self._refresh_checks()
            self._model_loaded()

        def failed(message: str) -> None:
            if job is not self._model_job:
                return
            self.session.set_model(None, "faces")
            self._refresh_checks()
            self.statusBar().showMessage(message)
            self._model_loaded()

        self._run(job, loaded, failed)

    def _refresh_checks(self) -> None:
        """Mark the AU readings shown (tooltips, † on the heatmaps and the statistics) with the
        check of the model version that made them: the analysis on screen, else the loaded model."""
        analysis, scorer = self.session.analysis, self.scorer
        version, aus = ((analysis.model_version, analysis.aus) if analysis is not None
                        else (scorer.version, scorer.aus) if scorer is not None else (None, ()))
        checks = None
        if version is not None:
            try:
                checks = model_validation(self.model_dir, version)
            except InputError as e:
                self.statusBar().showMessage(str(e))
        self.panel.checks = self.annotator.editor.checks = self.statistics.checks = checks
        self.timelines.set_unsure([n for n in aus if checks is not None and not checks.held(n)])
        if self.statistics.stats is not None:
            self.statistics.show_stats(self.statistics.stats)

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
        self.session.model_dir = Path(model_dir)
        if self.source_spec and not self.session.live and not self._pending_open:
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
        kept = self._keep_live()
        self.stop_live()
        self.statusBar().showMessage(kept + f"Opening {spec}…")
        self._run(OpenJob(spec, self.player.callbacks()), lambda reader: self._opened(spec, reader),
                  lambda message: self._open_failed(spec, message))

    def _opened(self, spec: str, reader) -> None:
        self._enable_transport(reader.seekable)
        self.player.load(reader)
        self.session.open_source(spec)
        self.setWindowTitle(f"{reader.name} — MF² Studio")
        self.slider.setRange(0, reader.frame_count - 1)
        self.timelines.set_duration(self.player.duration or 1.0)
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
        if not self.source_spec or self.session.live:  # a camera, live or stopped, has no file to analyse
            return
        self.cancel_analysis()
        # the job fills the analysis shown (one copy of it, however long the video)
        analysis = Analysis.for_scorer(self.scorer, self.player.frame_count, self.source_spec)
        self._analysis_notes = []  # the session's notes from now to the end of the analysis
        self.session.start_analysis(analysis)
        job = AnalysisJob(self.source_spec, self.scorer, self.model_key, int(self.settings.value("max_faces", 8)),
                          use_cache, int(self.settings.value("detect_every", DETECT_EVERY)), analysis)
        self.analysis_job = job
        job.signals.status.connect(lambda text: job is self.analysis_job and self.statusBar().showMessage(text))
        job.signals.digest.connect(lambda digest: job is self.analysis_job and self.session.attach_digest(digest))
        job.signals.progress.connect(lambda done, total: job is self.analysis_job and self._progress(done, total))
        job.signals.results.connect(lambda results: job is self.analysis_job and self.session.frames_added(results))
        job.signals.finished.connect(lambda analysis, stopped: job is self.analysis_job
                                     and self._analysis_finished(analysis, stopped))
        job.signals.failed.connect(lambda message: job is self.analysis_job and self._analysis_failed(message))
        self.progress.setRange(0, max(self.player.frame_count, 1))
        self.progress.setValue(0)
        self.progress.setVisible(True)
        self.cancel_button.setVisible(True)
        self.pool.start(job)

    def cancel_analysis(self) -> None:
        """Esc: stop the analysis running, or the camera (what was analysed stays)."""
        if self.live is not None:
            self.stop_camera()
        elif self.analysis_job is not None:
            self.analysis_job.cancel()

    def _drop_analysis_job(self) -> None:
        """A file's analysis gives way to a camera: stopped, and detached, so that what it still
        sends (each signal checks that its job is `analysis_job`) never reaches the live session."""
        if self.analysis_job is not None:
            self.analysis_job.cancel()
            self._detach_analysis_job()

    def _detach_analysis_job(self) -> None:
        """No analysis job any more: its notes and progress go, and its signals are dropped."""
        self.analysis_job, self._analysis_notes = None, None
        self.progress.setVisible(False)
        self.cancel_button.setVisible(False)

    def stop_camera(self) -> None:
        name = self.live.source.name
        self._add_live_results()
        self.stop_live()
        self._live_ended(f"Live: {name} stopped; {len(self.analysis)} frames analysed")

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
        self.progress.setVisible(False)
        self.cancel_button.setVisible(False)
        self.session.finish_analysis(analysis)
        notes, self._analysis_notes = self._analysis_notes, None
        people = self.session.people()
        if stopped:
            line = f"{stopped}; the {counted(len(analysis), 'frame')} analysed are shown and can be exported"
        else:
            found = "no face found" if not people else counted(len(people), "face") if self.session.by_track \
                else counted(len(people), "person", "people")
            line = f"Analysed {counted(len(analysis), 'frame')}: {found}" \
                + (f", model {analysis.model_version}" if analysis.model_version else "")
        self.statusBar().showMessage(" · ".join([line, *(notes or [])]))  # the notes after it, not hidden by it
        self._refresh_timelines(force=True)
        self._update_frame_view()
        self.analysis_done.emit(stopped)

    def _note(self, line: str) -> None:
        """What the session says (saved work unreadable, a neutral segment applied...): shown now,
        and while an analysis runs also kept, to follow its 'Analysed' line rather than vanish."""
        self.statusBar().showMessage(line)
        if self._analysis_notes is not None:
            self._analysis_notes.append(line)

    def _analysis_failed(self, message: str) -> None:
        self._detach_analysis_job()
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
        kept = self._keep_live()
        self.stop_live()
        self.statusBar().showMessage(kept + f"Opening {spec}…")
        self._run(OpenCameraJob(spec, paced), lambda source: self._live_opened(spec, source), self._fail)

    def _live_opened(self, spec: str, source) -> None:
        # only now: a camera that cannot be opened leaves the video on show, and its analysis running
        kept = self._keep_live()  # a camera that opened meanwhile (two opened in a row) gives way as in open_live
        self.stop_live()
        self._drop_analysis_job()
        self.player.close()
        self._enable_transport(False)  # a live view has no timeline to move in
        self.session.open_source(spec, live=True)
        self.session.start_analysis(Analysis.for_scorer(self.scorer, None, source.name))
        self.setWindowTitle(f"{source.name} (live) — MF² Studio")
        self.timelines.set_duration(60.0)
        self.live = LiveAnalyzer(source, self.scorer, int(self.settings.value("max_faces", 8)))
        self.live.start()
        self._live_shown = (-1, -1)
        self._live_counts = []
        self._live_timer.start()
        self.statusBar().showMessage(kept + f"Live: {source.name}")

    def _keep_live(self) -> str:
        """A live session about to give way to another source has no file of its own: its CSV
        (names in the person column, written in the background from a snapshot) and its segments
        go to ``<cache>/live/`` first, so starting again never loses it. Returns what to say
        ("" when there was nothing to keep)."""
        if not self.session.live or self.analysis is None or not len(self.analysis):
            return ""
        if self.live is not None:
            self.stop_camera()
        kept = (len(self.analysis), self.session.names, tuple(self.session.segments))
        before, said = self._live_kept
        if before is not None and before[0]() is self.analysis and before[1:] == kept:
            return said  # a start that failed before: this session is kept as it is
        folder = cache_dir() / "live"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = _new_file(folder, time.strftime("live-%Y%m%d-%H%M%S"), ".csv")
            if self.session.segments:
                self.session.write_segments_csv(path.with_name(path.stem + "_segments.csv"))
        except (InputError, OSError) as e:
            self._fail(f"The live session could not be kept: {e}")
            return ""
        snapshot = self.session.snapshot()
        self._run(CallJob(lambda: snapshot.write_csv(path)), lambda _: None,
                  lambda message: self._fail(f"The live session could not be kept: {message}"))
        self._live_kept = ((weakref.ref(self.analysis), *kept), f"The live session is kept as {path} · ")
        return self._live_kept[1]

    def stop_live(self) -> None:
        if self.live is not None:
            self._live_timer.stop()
            self.live.stop()
            self.live = None

    def _poll_live(self) -> None:
        frame, result = self.live.latest()
        now = time.monotonic()
        self._add_live_results()
        if frame is not None and (frame.index, getattr(result, "index", -1)) != self._live_shown:
            new_frame = frame.index != self._live_shown[0]
            self._live_shown = (frame.index, getattr(result, "index", -1))
            self.frame = frame
            self.view.show_frame(to_qimage(frame.rgb), result)
            self._update_panel(result)
            if new_frame:
                self._live_counts = [t for t in self._live_counts if now - t < 2.0] + [now]
                stats = self.live.stats()
                self.time_label.setText(f"live {clock(frame.timestamp)}")
                self.statusBar().showMessage(f"Live: {self.live_fps:.1f} fps shown, {stats.analysed_fps:.1f} fps analysed, "
                                             f"{stats.frames_dropped} frames dropped")
            self._refresh_timelines()
            if result is not None:
                self.session.set_time(result.timestamp, result.index)
        if not self.live.running:  # the analyser may have finished after this poll began
            self._add_live_results()
        if self.live.error:
            message = self.live.error
            self.stop_live()
            settled = self.session.settle_live()
            self._refresh_timelines(force=True)
            self._fail(f"{message}. The {len(self.analysis)} frames analysed are kept"
                       f"{SETTLED if settled else ''}: export them with File > Export")
        elif not self.live.running:  # a video standing in for a camera reached its end
            name = self.live.source.name
            self.stop_live()
            self._live_ended(f"Live: {name} ended; {len(self.analysis)} frames analysed")

    def _add_live_results(self) -> None:
        """The frames the live analyser has read since the last call, into the analysis shown."""
        for analysed in self.live.take_results():
            self.analysis.add(analysed)

    def _live_ended(self, message: str) -> None:
        """Each person's first seconds read again against their own rest (core.session.settle_live)."""
        if self.session.settle_live():
            message += SETTLED
        self._refresh_timelines(force=True)
        self._update_frame_view()  # the last live face, read again (and no longer calibrating)
        self.statusBar().showMessage(message)
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
        self.session.set_time(frame.timestamp, frame.index)
        self._update_frame_view()
        n = self.player.frame_count
        self.slider.blockSignals(True)
        self.slider.setValue(frame.index)
        self.slider.blockSignals(False)
        self.time_label.setText(f"{clock(frame.timestamp)} / {clock(self.player.duration)}   "
                                f"frame {frame.index + 1}/{n}")

    def _update_frame_view(self) -> None:
        if self.frame is None:
            return
        result = self.analysis.at(self.frame.index) if self.analysis else None
        self.view.show_frame(to_qimage(self.frame.rgb), result)
        self._update_panel(result)

    def _update_panel(self, result) -> None:
        s = self.session
        s.ensure_selection()
        self.view.selected = s.selected
        self.panel.show_face(s.face_of(result, s.selected), result.index if result else 0)
        self.annotator.refresh()

    def _refresh_timelines(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._timeline_refreshed < TIMELINE_REFRESH_S:
            return
        self._timeline_refreshed = now
        s = self.session
        if not s.analysis:
            return
        s.ensure_selection()
        self.panel.set_people([(k, s.label(k)) for k in s.people()], s.selected)
        if s.selected is None or not s.analysis.model_version:
            return
        lanes = s.lanes()
        self.timelines.set_lanes([(k, s.label(k)) for k in lanes], s.selected, s.search.text if s.search else "")
        for key, lane in zip(lanes, self.timelines.lanes):
            times, au, emotion = s.person_series(key)
            self.timelines.set_lane_series(lane, times, au, emotion, s.analysis.aus, s.analysis.emotions)
        if s.search:
            self._draw_search(lanes)
        if self.live:  # follow the newest minute
            times = self.timelines.lanes[0].curves and next(iter(self.timelines.lanes[0].curves.values())).xData
            if times is not None and len(times):
                end = float(times[-1])
                self.timelines.set_duration(max(60.0, end))
                self.timelines.show_range(max(0.0, end - 60), max(60.0, end))

    def _draw_search(self, lanes: list[int]) -> None:
        """Each lane's similarity to the search text, on one scale, its person's best moments marked."""
        s = self.session
        shown = np.isin(s.search.keys, lanes) & np.isfinite(s.search.smoothed)
        values = s.search.smoothed[shown]
        scale = (float(values.min()), float(values.max())) if len(values) else (0.0, 1.0)
        moments = s.moments
        for key, lane in zip(lanes, self.timelines.lanes):
            times, values = s.search_series(key)
            mine = [(rank, m.time, m.score) for rank, m in enumerate(moments) if m.person == key]
            self.timelines.set_lane_search(lane, times, values, mine, scale)

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
        if self.analysis_job is not None:
            self._fail("A baseline can be set on a finished analysis of a video (wait for it, or open one)")
            return
        try:
            self.session.set_baseline(mode)
        except InputError as e:
            self._fail(str(e))

    def select_face(self, key: int) -> None:
        """Choose a person (a face's key: core.session.Session.key_of) for the panel, the caption
        editor and the first timeline lane."""
        self.session.select(key)

    def select_track(self, track: int, index: int) -> None:
        """Choose the person the track's face in frame ``index`` is."""
        key = self.session.person_of(track, index)
        if key is not None:
            self.session.select(key)

    def next_face(self) -> None:
        people = self.session.people()
        if people:
            selected = self.session.selected
            i = people.index(selected) + 1 if selected in people else 0
            self.select_face(people[i % len(people)])

    def _enable_transport(self, on: bool) -> None:
        for w in self.transport:
            w.setEnabled(on)

    def _playing_changed(self, playing: bool) -> None:
        icon = QStyle.StandardPixmap.SP_MediaPause if playing else QStyle.StandardPixmap.SP_MediaPlay
        self.play_button.setIcon(self.style().standardIcon(icon))
        self.annotator.refresh()

    # --- exports (app.exports), under the names tests and scripts use ---------------------------

    def export_csv(self, path: Path | None = None) -> Path | None:
        return self.exports.export_csv(path)

    def export_timelines(self, path: Path | None = None) -> Path | None:
        return self.exports.export_timelines(path)

    def export_snapshot(self, path: Path | None = None) -> Path | None:
        return self.exports.export_snapshot(path)

    # --- help and errors --------------------------------------------------------------------

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


def _new_file(folder: Path, stem: str, suffix: str) -> Path:
    """A file made empty in ``folder``, named ``stem`` (then ``stem-2``...) as none there is yet."""
    for n in range(1, 1000):
        path = folder / (stem + (f"-{n}" if n > 1 else "") + suffix)
        try:
            with open(path, "x"):
                return path
        except FileExistsError:
            continue
    raise OSError(f"{folder}: no free name for {stem}{suffix}")
