"""The window's menus and keyboard shortcuts, and the slots they call that are not the window's
own (opening, analysis): playback jumps, overlay toggles, people (rename, merge, split, which
lanes the timelines show), segments (mark, import, rename, remove) and text search (app.search).

Slots that change state call the session (core.session.Session); the views follow its events.
Every action with a shortcut is listed in `shortcut_actions`, from which Help > Keyboard Shortcuts
is built, so the list can never drift from the real keys.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMenu

from core.baseline import BaselineMode
from core.errors import InputError
from core.plural import counted
from core.segments import outside

from .dialogs import AuPicker, ShortcutsDialog

SEGMENT_FILTER = "Segments (*.csv *.eaf *.txt)"
UNDO, REDO = "&Undo a Name, Merge, Split or Segment", "Re&do a Name, Merge, Split or Segment"  # with nothing to undo


class Actions:
    def __init__(self, window):
        self.window = window
        self.session = window.session
        self.shortcut_actions: list[QAction] = []

    def add(self, menu, text, slot, keys=(), checkable=False, checked=False) -> QAction:
        action = QAction(text, self.window, checkable=checkable)
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

    # --- menus --------------------------------------------------------------------------------
    def build(self) -> None:
        w, a = self.window, self.add
        player = w.player
        m = w.menuBar().addMenu("&File")
        a(m, "&Open…", w.choose_file, QKeySequence.StandardKey.Open)
        w.recent_menu = m.addMenu("Open &Recent")
        a(m, "Open &Camera…", w.choose_camera, "Ctrl+K")
        m.addSeparator()
        w.export_csv_action = a(m, "Export &CSV…", lambda: w.exports.export_csv(), "Ctrl+E")
        a(m, "Export &Timelines as PNG…", lambda: w.exports.export_timelines(), "Ctrl+Shift+E")
        a(m, "Export &Snapshot…", lambda: w.exports.export_snapshot(), "Ctrl+Shift+S")
        a(m, "Export Session &Report…", lambda: w.exports.export_report(), "Ctrl+Shift+H")
        a(m, "Export &ELAN File…", lambda: w.exports.export_elan(), "Ctrl+Shift+L")
        a(m, "Export Se&gments as CSV…", lambda: w.exports.export_segments())
        m.addSeparator()
        a(m, "&Quit", w.close, QKeySequence.StandardKey.Quit)

        m = w.menuBar().addMenu("&Playback")
        a(m, "Play / Pause", player.toggle, "Space")
        a(m, "Next Frame", lambda: player.step(1), "Right")
        a(m, "Previous Frame", lambda: player.step(-1), "Left")
        a(m, "Forward 1 s", lambda: self.jump(1.0), "Shift+Right")
        a(m, "Back 1 s", lambda: self.jump(-1.0), "Shift+Left")
        a(m, "Forward 10 s", lambda: self.jump(10.0), "Ctrl+Right")
        a(m, "Back 10 s", lambda: self.jump(-10.0), "Ctrl+Left")
        a(m, "First Frame", lambda: player.seek_index(0), "Home")
        a(m, "Last Frame", lambda: player.seek_index(player.frame_count - 1), "End")
        m.addSeparator()
        a(m, "Faster", lambda: player.change_speed(1), "]")
        a(m, "Slower", lambda: player.change_speed(-1), "[")
        a(m, "Normal Speed", lambda: player.set_speed(1.0), "=")

        m = w.menuBar().addMenu("&View")
        o = w.view.options
        w.boxes_action = a(m, "Face &Boxes", lambda on: self.set_option("boxes", on), "B", True, o.boxes)
        w.landmarks_action = a(m, "&Landmarks", lambda on: self.set_option("landmarks", on), "L", True, o.landmarks)
        w.regions_action = a(m, "AU &Regions", lambda on: self.set_option("regions", on), "R", True, o.regions)
        w.emotion_action = a(m, "Top &Emotion", lambda on: self.set_option("emotion", on), "M", True, o.emotion)
        a(m, "Choose &AUs…", self.choose_aus, "A")
        m.addSeparator()
        a(m, "Next &Face", w.next_face, "Tab")

        m = w.menuBar().addMenu("P&eople")
        a(m, "&Rename Person…", self.rename_person, "F2")
        a(m, "&Merge Another Person Into This One…", self.merge_person, "Ctrl+M")
        a(m, "&Split: Someone New From This Frame", self.split_person, "Ctrl+Shift+X")
        m.addSeparator()
        # one history for names, merges, splits and segments (Ctrl+Z is the caption editor's)
        self.undo_action = a(m, UNDO, self.undo_work, "Ctrl+Alt+Z")
        self.redo_action = a(m, REDO, self.redo_work, "Ctrl+Alt+Shift+Z")
        self.undo_items = [(self.undo_action, self.redo_action)]
        m.addSeparator()
        self.lanes_menu = m.addMenu("&Timelines Show")
        self.refresh_people_menu()

        m = w.menuBar().addMenu("&Segments")
        a(m, "Mark Segment &Start", self.mark_segment_start, "I")
        a(m, "Mark Segment &End…", self.mark_segment_end, "O")
        a(m, "&Import Segments…", self.import_segments, "Ctrl+I")
        m.addSeparator()
        a(m, "&Rename Segment Here…", lambda: self.rename_segment(self._segment_here()))
        a(m, "Re&move Segment Here", lambda: self.remove_segment(self._segment_here()))
        m.addSeparator()  # the same two, without their keys (listed once, in People)
        self.undo_items.append((m.addAction(UNDO, self.undo_work), m.addAction(REDO, self.redo_work)))
        self.refresh_undo()

        m = w.menuBar().addMenu("&Analysis")
        a(m, "&Cancel Analysis / Stop the Camera", w.cancel_analysis, "Escape")
        a(m, "&Re-analyse (ignore the cache)", lambda: w._start_analysis(use_cache=False), "Ctrl+R")
        m.addSeparator()
        a(m, "Mark &Neutral Segment…", w.ask_neutral_segment, "N")
        a(m, "A&utomatic Baseline", lambda: w.set_baseline(BaselineMode("auto")))
        m.addSeparator()
        a(m, "&Statistics", w.show_statistics, "Ctrl+T")
        m.addSeparator()
        w.search_action = a(m, "Search &Faces by Description…", w.searcher.focus, "Ctrl+F")
        a(m, "Next Best &Moment", lambda: w.searcher.step(1), "F3")
        a(m, "Previous Best Moment", lambda: w.searcher.step(-1), "Shift+F3")
        m.addSeparator()
        device = QActionGroup(w)
        w.device_actions = {}
        for key, text in (("auto", "Use the GPU when there is one"), ("cpu", "CPU only")):
            action = QAction(text, w, checkable=True)
            action.setData(key)
            device.addAction(action)
            m.addAction(action)
            w.device_actions[key] = action
        device.triggered.connect(w._device_chosen)

        w.annotator.build_menu(w.menuBar().addMenu("&Dataset"))

        m = w.menuBar().addMenu("&Help")
        a(m, "&Keyboard Shortcuts", self.show_shortcuts, "F1")
        m.addAction("&About MF² Studio", w.about)

    # --- playback and view --------------------------------------------------------------------
    def jump(self, seconds: float) -> None:
        w = self.window
        if w.frame is not None:
            w.player.seek_time(w.frame.timestamp + seconds)

    def set_option(self, name: str, on: bool) -> None:
        w = self.window
        setattr(w.view.options, name, on)
        w.settings.setValue(f"overlay/{name}", on)
        w.view.update()

    def choose_aus(self) -> None:
        w, s = self.window, self.session
        available = s.analysis.aus if s.analysis and s.analysis.aus else (s.scorer.aus if s.scorer else ())
        if not available:
            w._fail("No model loaded: there are no AU activations to show")
            return
        dialog = AuPicker(available, w.view.options.aus, w)
        if dialog.exec():
            w.view.options.aus = dialog.chosen()
            w.settings.setValue("overlay/aus", sorted(w.view.options.aus))
            w.view.update()

    def show_shortcuts(self) -> None:
        ShortcutsDialog(self.shortcut_actions, self.window).exec()

    # --- people ---------------------------------------------------------------------------------
    def refresh_people_menu(self) -> None:
        """Timelines Show: all people, the selected one only, or any of them (checked)."""
        s, menu = self.session, self.lanes_menu
        self.refresh_undo()
        menu.clear()
        people = s.people()
        menu.addAction("&All People", lambda: s.set_shown(people)).setEnabled(len(people) > 1)
        menu.addAction("Only the &Selected Person", lambda: s.set_shown(())).setEnabled(bool(people))
        menu.addSeparator()
        lanes = set(s.lanes())
        for key in people:
            action = menu.addAction(s.label(key))
            action.setCheckable(True)
            action.setChecked(key in lanes)
            action.setEnabled(key != s.selected)  # the selected person's lane always shows
            action.toggled.connect(lambda on, key=key: s.toggle_shown(key, on))

    def refresh_undo(self) -> None:
        """The Undo and Redo items say what they would undo or redo (also in the Segments menu)."""
        history = self.session.history
        for items in self.undo_items:
            for action, verb, what, idle in zip(items, ("&Undo", "Re&do"), (history.next_undo(), history.next_redo()),
                                                 (UNDO, REDO)):
                action.setText(f"{verb} {what}" if what else idle)
                action.setEnabled(what is not None)

    def undo_work(self) -> None:
        self._went_back(self.session.undo_work, "Undone")

    def redo_work(self) -> None:
        self._went_back(self.session.redo_work, "Redone")

    def _went_back(self, step, done: str) -> None:
        what = []
        if self._attempt(lambda: what.append(step())):
            self.window.statusBar().showMessage(f"{done}: {what[0]} (saved)")

    def _attempt(self, work) -> bool:
        try:
            work()
        except InputError as e:
            self.window._fail(str(e))
            return False
        return True

    def rename_person(self) -> None:
        s = self.session
        person = s.selected
        if person is None or s.by_track:
            self.window._fail("Choose a person to name first (click their face, or Tab)")
            return
        name, ok = QInputDialog.getText(self.window, "Rename person",
                                        f"Name of {s.label(person)} (blank: person {person} again):",
                                        text=s.names.get(person, ""))
        if ok and self._attempt(lambda: s.rename(person, name)):
            self.window.statusBar().showMessage(f"Person {person} is {s.label(person)}: in the timelines, the "
                                                "overlay and every export")

    def merge_person(self) -> None:
        s, w = self.session, self.window
        keep = s.selected
        others = [p for p in s.people() if p != keep]
        if keep is None or not others or s.by_track:
            w._fail("Merging needs two people: select one (click their face), then choose the other")
            return
        labels = [s.label(p) for p in others]
        chosen, ok = QInputDialog.getItem(w, "Merge people", f"Who else is {s.label(keep)}? (their faces become "
                                          f"{s.label(keep)}'s)", labels, 0, False)
        if ok and chosen in labels:
            other, into = others[labels.index(chosen)], s.label(keep)  # named before: keep may take the other's name
            if self._attempt(lambda: s.merge(keep, other)):
                w.statusBar().showMessage(f"{chosen} merged into {into} (Ctrl+Alt+Z to undo)")

    def split_person(self) -> None:
        s, w = self.session, self.window
        if s.selected is None or w.frame is None:
            w._fail("Choose a person and go to the first frame where their face is someone else")
            return
        before = s.label(s.selected)
        result = []
        if self._attempt(lambda: result.append(s.split(s.selected, w.frame.index))):
            w.statusBar().showMessage(f"From frame {w.frame.index + 1} on, {before}'s face is {s.label(result[0])} "
                                      "(F2 to name them, Ctrl+M to merge them with someone)")

    # --- segments -------------------------------------------------------------------------------
    def mark_segment_start(self) -> None:
        start = self.session.mark_segment_start()
        self.window.statusBar().showMessage(f"Segment starts at {start:.2f} s: go to its end and press O")

    def mark_segment_end(self) -> None:
        s = self.session
        if s.segment_start is None:
            self.window._fail("Mark where the segment starts first (I at its first frame)")
            return
        self.ask_segment(s.segment_start, s.time)

    def ask_segment(self, start: float, end: float) -> None:
        """Name the range (dragged in the segments lane, or marked with I and O) and add it."""
        start, end = sorted((start, end))
        names = list(dict.fromkeys(seg.name for seg in self.session.segments))
        name, ok = QInputDialog.getItem(self.window, "New segment", f"Name of the segment {start:.2f}–{end:.2f} s:",
                                        names, 0, True) if names else \
            QInputDialog.getText(self.window, "New segment", f"Name of the segment {start:.2f}–{end:.2f} s:")
        if not ok:
            self.session.segment_start = None
            self.session.events.segments.emit()
            return
        added = []
        if self._attempt(lambda: added.append(self.session.add_segment(name, start, end))):
            seg = added[0]
            self.window.statusBar().showMessage(f"Segment {seg.name}: {seg.start:.2f}–{seg.end:.2f} s")

    def import_segments(self, path: Path | None = None) -> int | None:
        w = self.window
        if path is None:
            chosen, _ = QFileDialog.getOpenFileName(w, "Import segments (CSV of name,start,end, or ELAN)",
                                                    w.settings.value("segments_dir", str(Path.home())),
                                                    SEGMENT_FILTER)
            if not chosen:
                return None
            path = Path(chosen)
            w.settings.setValue("segments_dir", str(path.parent))
        added = []
        if not self._attempt(lambda: added.append(self.session.import_segments(Path(path)))):
            return None
        late = outside(self.session.segments, w.player.duration) if w.player.duration else []
        w.statusBar().showMessage("; ".join([f"{Path(path).name}: {counted(added[0], 'new segment')} "
                                             f"({len(self.session.segments)} in all)", *late]))
        return added[0]

    def _segment_here(self):
        here = self.session.segments_at(self.session.time)
        if not here:
            self.window._fail("No segment at the playhead (right-click a segment in its lane to rename or remove it)")
            return None
        return here[-1]

    def rename_segment(self, segment) -> None:
        if segment is None:
            return
        name, ok = QInputDialog.getText(self.window, "Rename segment", "Name:", text=segment.name)
        if ok:
            self._attempt(lambda: self.session.rename_segment(segment, name))

    def remove_segment(self, segment) -> None:
        if segment is None:
            return
        self.session.remove_segment(segment)
        self.window.statusBar().showMessage(f"Removed the segment {segment.name} ({segment.start:.2f}–"
                                            f"{segment.end:.2f} s)")

    def segment_menu(self, segment, where) -> None:
        menu = QMenu(self.window)
        menu.addAction(f"Rename {segment.name}…", lambda: self.rename_segment(segment))
        menu.addAction(f"Remove {segment.name}", lambda: self.remove_segment(segment))
        menu.addAction("Go to its start", lambda: self.window.player.seek_time(segment.start))
        menu.popup(where)
