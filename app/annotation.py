"""Annotation in the studio: the caption editor dock, the dataset folder, navigation between faces,
frames and segments, the dataset browser and background fine-tuning with model versions.

Kept out of the main window so that it stays a player; the window calls `refresh` when the frame
or the selected face changes and `model_changed` when another model is loaded.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QDockWidget, QFileDialog, QScrollArea

from core.cache import cache_dir
from core.dataset import CaptionSession, DatasetStore, Target, crop_face
from core.dataset.versions import active_model, set_active
from core.errors import InputError
from core.plural import counted
from core.taxonomy import EMOTIONS

from .caption_editor import CaptionEditor
from .dataset_browser import DatasetBrowser
from .finetune import FineTuneProcess, VersionsDialog, figures_line

DRAFTS_FILE = "caption_drafts.json"  # unaccepted drafts, kept between runs (core.dataset.drafts)


class Annotator(QObject):
    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.store: DatasetStore | None = None
        self.session = CaptionSession(None, "", drafts_file=cache_dir() / DRAFTS_FILE)
        self.editor = CaptionEditor()
        self.editor.session = self.session
        self.editor.accept_requested.connect(self.accept)
        self.editor.undo_requested.connect(self.undo)
        self.editor.redo_requested.connect(self.redo)
        self.editor.navigate.connect(self.go)
        self.editor.choose_dataset.connect(self.choose_dataset)
        self.browser: DatasetBrowser | None = None
        self.finetune = FineTuneProcess(self)
        self.finetune.progress.connect(self._finetune_progress)
        self.finetune.finished.connect(self._finetune_finished)
        scroll = QScrollArea()
        scroll.setWidget(self.editor)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.dock = QDockWidget("Caption editor", window)
        self.dock.setObjectName("captions")
        self.dock.setWidget(scroll)
        self.dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                              | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                              | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dock)
        face_dock = window.findChild(QDockWidget, "face")
        if face_dock is not None:  # one tall column: the face panel and the editor as tabs
            window.tabifyDockWidget(face_dock, self.dock)
        self._title = ""
        self._pending_goto: tuple[str, int, int] | None = None  # a browser sample on a video being opened

    def build_menu(self, menu) -> None:
        w = self.window
        w._action(menu, "Choose &Dataset Folder…", self.choose_dataset, "Ctrl+Shift+D")
        w._action(menu, "&Accept Caption", self.accept, ("Ctrl+Return", "Ctrl+Enter"))
        w._action(menu, "&Undo", self.undo, QKeySequence.StandardKey.Undo)
        # spelt out: StandardKey.Redo gives one binding, which one depending on the platform
        w._action(menu, "&Redo", self.redo, ("Ctrl+Shift+Z", "Ctrl+Y"))
        menu.addSeparator()
        for text, keys, kind, step in (("Caption: Next Frame", "Alt+Right", "frame", 1),
                                       ("Caption: Previous Frame", "Alt+Left", "frame", -1),
                                       ("Caption: Next Face", "Alt+Down", "face", 1),
                                       ("Caption: Previous Face", "Alt+Up", "face", -1),
                                       ("Caption: Next Segment", "Alt+PgDown", "segment", 1),
                                       ("Caption: Previous Segment", "Alt+PgUp", "segment", -1)):
            w._action(menu, text, lambda _=False, kind=kind, step=step: self.go(kind, step), keys)
        emotions = menu.addMenu("Caption: &Emotion")
        for i, e in enumerate(EMOTIONS):
            w._action(emotions, f"Emotion: {e}", lambda _=False, i=i: self.editor.set_emotion_key(i), f"Alt+{i + 1}")
        menu.addSeparator()
        w._action(menu, "&Browse Dataset…", self.browse, "Ctrl+B")
        self.finetune_action = w._action(menu, "&Fine-tune on Dataset", self.start_finetune, "Ctrl+Shift+T")
        w._action(menu, "Model &Versions…", self.show_versions, "Ctrl+Shift+V")
        menu.addAction(self.dock.toggleViewAction())

    # --- dataset folder -------------------------------------------------------------------------
    def choose_dataset(self) -> None:
        start = self.window.settings.value("dataset", str(Path.home()))
        folder = QFileDialog.getExistingDirectory(self.window, "Dataset folder (new or existing)", start)
        if folder:
            self.open_dataset(Path(folder))

    def open_dataset(self, folder: Path) -> bool:
        try:
            store = DatasetStore(folder)
        except InputError as e:
            self.window._fail(str(e))
            return False
        if self.store is not None:
            self.store.close()
        self.store = store
        self.session.use_store(store)
        self.window.settings.setValue("dataset", str(folder))
        self.dock.raise_()
        self._dataset_label()
        if self.browser is not None:
            self.browser.set_store(store)
        chosen = active_model(folder)
        if chosen is not None and chosen != self.window.model_dir:
            self.window.use_model(chosen)
        self.refresh()
        return True

    def _dataset_label(self) -> None:
        if self.store is None:
            self.editor.set_dataset_label("Choose dataset folder… (Ctrl+Shift+D)")
        else:
            self.editor.set_dataset_label(f"Dataset: {self.store.folder.name} · {len(self.store)} samples")

    # --- following the window -------------------------------------------------------------------
    def refresh(self) -> None:
        """Show the selected face of the frame on screen (its draft, its sample, or the model's reading)."""
        w = self.window
        if self.session.note:  # drafts that could not be read or written
            w.statusBar().showMessage(self.session.note)
            self.session.note = None
        if self._pending_goto and w.frame is not None and w.source_spec and self._pending_goto[0] == self._video():
            _, frame, face = self._pending_goto
            self._pending_goto = None
            w.select_track(face, frame)
            w.player.seek_index(frame)
        result = w.analysis.at(w.frame.index) if w.analysis and w.frame is not None else None
        face = w.session.face_of(result, w.session.selected)
        live = w.session.live  # a camera's frames, during the live view and after it stopped
        if w.player.playing or face is None or not face.au or live or w.source_spec is None:
            self._leave()
            self.session.close()
            why = "playing: pause to edit" if w.player.playing else \
                "live view: open a video to annotate" if live else "no analysed face here"
            self.editor.show_draft(why)
            return
        target = Target(self._video(), result.index, face.track_id, result.timestamp)
        if self.session.current is None or self.session.current.target != target:
            self._leave()
            crop, landmarks = crop_face(w.frame.rgb, face.box, face.landmarks)
            self.session.open(target, crop, landmarks, face.au, face.emotion)
        who = w.session.label(w.session.key_of(face))
        self._title = f"{who} (face {face.track_id}) · frame {result.index + 1} · {result.timestamp:.2f} s"
        self.editor.show_draft(self._title)

    def _leave(self) -> None:
        """Moving off the face on show: AUs typed in the line without Enter stay in its draft."""
        if self.session.current is not None and not self.editor.apply_typing():
            self.window.statusBar().showMessage("The AUs typed could not be read and were left out (type numbers such "
                                                "as 6 12 25, ?26: not scorable)")

    def _video(self) -> str:
        """The open video as samples name it: its absolute path."""
        return str(Path(self.window.source_spec).resolve())

    def model_changed(self, version: str) -> None:
        self.session.model_version = version

    # --- actions ----------------------------------------------------------------------------------
    def accept(self) -> None:
        if self.session.current is None:
            self.window.statusBar().showMessage("Nothing to accept: pause on an analysed face first")
            return
        if self.store is None:
            self.choose_dataset()
            if self.store is None:
                return
        if not self.editor.apply_typing():  # AUs typed without Enter are part of what is accepted
            self.window.statusBar().showMessage("Not accepted: the AUs typed cannot be read")
            return
        try:
            sample = self.session.accept()
        except InputError as e:
            self.window._fail(str(e))
            return
        self._dataset_label()
        self.window.statusBar().showMessage(f"Saved face {sample.face} at frame {sample.frame + 1} "
                                            f"({counted(len(self.store), 'sample')} in {self.store.folder.name})")
        if self.browser is not None:
            self.browser.reload()
        mode = self.editor.advance_mode()
        if mode != "stay":
            self.go(mode, 1)
        else:
            self.editor.show_draft(self._title)

    def undo(self) -> None:
        if not self.session.can_undo():
            self.window.statusBar().showMessage("Nothing to undo")
            return
        try:
            self._went_to(self.session.undo(), "Undone")
        except InputError as e:  # the sample changed elsewhere (another program on the dataset)
            self.window.statusBar().showMessage(f"Cannot undo: {e}")

    def redo(self) -> None:
        if not self.session.can_redo():
            self.window.statusBar().showMessage("Nothing to redo")
            return
        try:
            self._went_to(self.session.redo(), "Redone")
        except InputError as e:
            self.window.statusBar().showMessage(f"Cannot redo: {e}")

    def _went_to(self, target: Target, what: str) -> None:
        self._dataset_label()
        if self.browser is not None:
            self.browser.reload()
        current = self.session.current.target if self.session.current else None
        if target != current:
            if target.video != self._video():
                self.window.statusBar().showMessage(f"{what}: a step on {Path(target.video).name}, frame {target.frame + 1}")
                return
            self.window.select_track(target.face, target.frame)
            self.window.player.seek_index(target.frame)
        self.window.statusBar().showMessage(f"{what} on face {target.face}, frame {target.frame + 1}")
        self.editor.show_draft(self._title)

    def go(self, kind: str, step: int) -> None:
        w = self.window
        if w.frame is None:
            return
        if kind == "frame":
            w.player.step(step)
        elif kind == "face":
            result = w.analysis.at(w.frame.index) if w.analysis else None
            keys = sorted({w.session.key_of(f) for f in result.faces} - {None}) if result else []
            if keys:
                i = keys.index(w.session.selected) + step if w.session.selected in keys else 0
                w.select_face(keys[i % len(keys)])
        elif kind == "segment" and w.analysis and w.selected is not None:
            starts = w.analysis.segments(w.selected)
            here = w.frame.index
            later = [s for s in starts if s > here] if step > 0 else [s for s in starts if s < here]
            if later:
                w.player.seek_index(later[0] if step > 0 else later[-1])
            else:
                w.statusBar().showMessage("No further segment for this face" if step > 0 else "First segment")

    # --- browser, fine-tuning, versions -----------------------------------------------------------
    def browse(self) -> None:
        if self.store is None:
            self.choose_dataset()
            if self.store is None:
                return
        if self.browser is None:
            self.browser = DatasetBrowser(self.store, self.window)
            self.browser.changed.connect(self._browser_changed)
            self.browser.go_to.connect(self._browser_go_to)
        self.browser.reload()
        self.browser.show()
        self.browser.raise_()

    def _browser_changed(self, video: str, frame: int, face: int) -> None:
        """A sample edited or deleted in the browser: that face shows what is stored now."""
        self._dataset_label()
        self.session.changed_elsewhere(Target(video, frame, face))
        self.refresh()

    def _browser_go_to(self, video: str, frame: int, face: int) -> None:
        w = self.window
        if w.source_spec is None or video != self._video():
            self._pending_goto = (video, frame, face)  # once it is open (see `refresh`)
            w.open(video)
            return
        w.select_track(face, frame)
        w.player.seek_index(frame)

    def start_finetune(self, resume: bool = False) -> None:
        if self.store is None:
            self.window._fail("Choose a dataset folder first (Dataset > Choose Dataset Folder)")
            return
        if self.finetune.running():
            self.finetune.cancel()
            return
        steps = self.window.settings.value("finetune/steps")  # unset: the command's default
        self.finetune.start(self.store.folder, self.window.base_model_dir, int(steps) if steps else None, resume)
        self.finetune_action.setText("Cancel &Fine-tuning")
        self.window.show_job_progress("fine-tuning", 0, 1, self.finetune.cancel)

    def _finetune_progress(self, stage: str, done: int, total: int) -> None:
        self.window.show_job_progress(f"fine-tuning: {stage}", done, total, self.finetune.cancel)

    def _finetune_finished(self, record: dict | None, message: str) -> None:
        self.finetune_action.setText("&Fine-tune on Dataset")
        self.window.hide_job_progress()
        if record is None or record.get("status") != "done":
            self.window.statusBar().showMessage(message)
            if record is None:
                self.window._fail(message)
            return
        name = record["version"]
        line = figures_line(record)
        if record.get("improved"):
            set_active(self.store.folder, name)
            self.window.use_model(self.store.folder / "models" / name)
            self.window.statusBar().showMessage(f"Model {name} trained and now in use: {line}")
        else:
            self.window.statusBar().showMessage(f"Model {name} trained but not better on held-out faces ({line}); "
                                                "still using the current model (Dataset > Model Versions)")

    def show_versions(self) -> None:
        if self.store is None:
            self.window._fail("Choose a dataset folder first (Dataset > Choose Dataset Folder)")
            return
        dialog = VersionsDialog(self.store.folder, self.window)
        if not dialog.exec():
            return
        if dialog.choice == "resume":
            self.start_finetune(resume=True)
            return
        set_active(self.store.folder, dialog.choice)
        path = self.store.folder / "models" / dialog.choice if dialog.choice else self.window.base_model_dir
        self.window.use_model(path)
        self.window.statusBar().showMessage(f"Using {dialog.choice or 'the base model'}")

    def close(self) -> None:
        """The window is closing: stop a run (it can be resumed) and let go of the dataset."""
        self.finetune.cancel()
        self.finetune.wait(5000)
        if self.store is not None:
            self.store.close()
        self.store = self.session.store = None
        self.session.close()
