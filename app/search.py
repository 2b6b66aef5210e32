"""Text search in the studio: a free description of a face ("brows raised and mouth open", "a
forced smile") scored against every face of the analysis, drawn as a similarity plot in each
person's timeline lane, and its best moments listed beside the timelines.

The search state is the session's (`core.session.Session.search`, ``search`` and ``moment``
events); this is the field, the list and the background work. The sentence encoder is loaded once,
in the thread pool, the first time the field is focused or a search is asked for; the scoring runs
in the pool too, so the window never waits. Enter searches (and, like Esc, gives the keys back
to the player), F3 / Shift+F3 go to the next /
previous best moment in rank order (the first F3 after a search goes to the best), selecting its
person; clicking a moment in the list goes there.
"""
from __future__ import annotations

from functools import partial

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import QLabel, QLineEdit, QListWidget, QVBoxLayout, QWidget

from core.session import search_faces

from .player import clock
from .workers import CallJob, LoadTextEncoderJob

PANEL_PX = 270
HINT = ("Describe a face (\u201ca big smile\u201d, \u201cbrows raised and mouth open\u201d) and press Enter: "
        "its best moments are listed here and each lane gets a similarity plot. "
        "F3 / Shift+F3: next / previous best moment.")


class SearchField(QLineEdit):
    """The description field: Enter searches (``returnPressed``) and, like Esc, hands the keys back
    to the player (Space, arrows, F3); Esc here never cancels the analysis."""

    def event(self, event) -> bool:
        if event.type() == QEvent.Type.ShortcutOverride and event.key() == Qt.Key.Key_Escape:
            event.accept()  # ours, not the window's Cancel Analysis
            return True
        return super().event(event)

    def keyPressEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().keyPressEvent(event)
        if event.key() in (Qt.Key.Key_Escape, Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.clearFocus()


class SearchPanel(QWidget):
    """The search field, a line about the results, and the best moments (clicking one: `chosen`)."""

    chosen = Signal(int)  # the rank of the moment clicked (0: the best)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.field = SearchField(placeholderText="Search faces by description (Ctrl+F)")
        self.field.setClearButtonEnabled(True)
        self.info = QLabel(HINT, wordWrap=True)
        self.info.setStyleSheet("color: #a0a0a8; font-size: 8pt;")
        self.list = QListWidget()
        self.list.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the window's keys stay the window's
        self.list.setToolTip("Click a moment to go there (F3 / Shift+F3: next / previous)")
        self.list.itemClicked.connect(lambda item: self.chosen.emit(self.list.row(item)))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 2, 2, 2)
        layout.addWidget(self.field)
        layout.addWidget(self.info)
        layout.addWidget(self.list, 1)
        self.setFixedWidth(PANEL_PX)

    def set_unavailable(self, why: str) -> None:
        """The field is off, its tooltip saying why ('' on, with the usual tooltip)."""
        self.field.setEnabled(not why)
        self.field.setToolTip(why or "Describe a face and press Enter (Ctrl+F comes here)")
        self.list.setEnabled(not why)
        if why and not self.list.count():
            self.info.setText(why)
        elif not self.list.count():
            self.info.setText(HINT)

    def show_moments(self, rows: list[str], info: str) -> None:
        self.list.clear()
        self.list.addItems(rows)
        self.info.setText(info)

    def set_current(self, rank: int) -> None:
        self.list.blockSignals(True)
        self.list.setCurrentRow(rank)
        self.list.blockSignals(False)


class Searcher(QObject):
    """The window's text search: the panel, the encoder, the jobs; the session holds the results."""

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.session = window.session
        self.panel = SearchPanel()
        self.encoder = None              # core.model.text.TextEncoder, once loaded
        self._encoder_job = None         # loading it
        self._job = None                 # a search running
        self._pending: str | None = None  # the text to search once the encoder or the running search is done
        self.panel.field.returnPressed.connect(lambda: self.run(self.panel.field.text()))
        self.panel.chosen.connect(self.session.go_to_moment)
        ev = self.session.events
        ev.search.connect(self._results_changed)
        ev.moment.connect(self._moment_chosen)
        ev.people.connect(lambda: self.session.search and self._results_changed(self.session.search_text))
        ev.model.connect(lambda scorer: self.refresh())
        ev.analysis.connect(lambda analysis: self.refresh())
        ev.finished.connect(self._analysis_finished)
        ev.frames.connect(lambda results: self.panel.field.isEnabled() or self.refresh())
        window.model_ready.connect(self.refresh)
        self.refresh()

    # --- state --------------------------------------------------------------------------------
    def unavailable(self) -> str:
        if self.window.model_loading:
            return "Loading the model\u2026"
        return self.session.search_unavailable()

    def refresh(self) -> None:
        self.panel.set_unavailable(self.unavailable())

    def _analysis_finished(self, complete: bool) -> None:
        self.refresh()
        s = self.session
        if s.search_text and (s.search is None or s.search_partial) and not self.unavailable():
            self.run(s.search_text)  # the whole analysis now (or the one made again)

    # --- the field ------------------------------------------------------------------------------
    def focus(self) -> None:
        """Ctrl+F: to the field (or why it is off, in the status bar); the encoder starts loading."""
        why = self.unavailable()
        self.refresh()
        if why:
            self.window.statusBar().showMessage(why)
            return
        self.window.timelines_dock.show()
        self.window.timelines_dock.raise_()
        self.panel.field.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.panel.field.selectAll()
        self.load_encoder()

    def load_encoder(self) -> None:
        if self.encoder is not None or self._encoder_job is not None:
            return
        job = LoadTextEncoderJob()
        self._encoder_job = job
        self.window._run(job, self._encoder_loaded, self._encoder_failed)

    def _encoder_loaded(self, encoder) -> None:
        self.encoder, self._encoder_job = encoder, None
        if self._pending is not None:
            self._start()

    def _encoder_failed(self, message: str) -> None:
        self._encoder_job, self._pending = None, None
        self.window._fail(f"Text search: the sentence encoder could not be loaded ({message})")

    def run(self, text: str) -> None:
        """Search ``text`` in the background ('' clears the search)."""
        text = " ".join(text.split())
        if not text:
            self._pending = None
            self.session.clear_search()
            return
        why = self.unavailable()
        if why:
            self.window._fail(why)
            return
        self._pending = text
        if self.encoder is None:
            self.window.statusBar().showMessage(f"Loading the text encoder, then searching \u201c{text}\u201d\u2026")
            self.load_encoder()
            return
        self._start()

    def _start(self) -> None:
        if self._job is not None or self._pending is None:
            return  # the running search starts the next when done
        text, self._pending = self._pending, None
        s = self.session
        why = s.search_unavailable()
        if why:
            self.window._fail(why)
            return
        job = CallJob(partial(search_faces, s.analysis, s.scorer.model, self.encoder, text, s.by_track, s.people()))
        self._job = job
        self.window.statusBar().showMessage(f"Searching \u201c{text}\u201d in {len(s.analysis)} frames\u2026")
        self.window._run(job, self._done, self._failed)

    def _done(self, result) -> None:
        self._job = None
        if self._pending is not None:  # asked again meanwhile: that one counts
            self._start()
            return
        if self.session.set_search(result):
            n = len(result.moments)
            self.window.statusBar().showMessage(
                f"{n} best moment{'s' if n != 1 else ''} for \u201c{result.text}\u201d"
                + (": F3 goes to the best" if n else ": no face to match"))

    def _failed(self, message: str) -> None:
        self._job = None
        self.window._fail(f"Text search: {message}")
        self._start()

    # --- results --------------------------------------------------------------------------------
    def _results_changed(self, text: str) -> None:
        s = self.session
        if text and self.panel.field.text().strip() != text and not self.panel.field.hasFocus():
            self.panel.field.setText(text)
        rows = [f"{rank + 1:>2}.  {clock(m.time)}   {s.label(m.person)}   {m.score:.3f}"
                for rank, m in enumerate(s.moments)]
        info = (f"Best moments for \u201c{text}\u201d (similarity, higher fits better). Click one, or "
                "F3 / Shift+F3." if text else HINT)
        self.panel.show_moments(rows, info)
        if s.moment_index >= 0:
            self.panel.set_current(s.moment_index)
        if not text:  # the lanes lose their similarity plots, whatever is analysed
            timelines = self.window.timelines
            timelines.set_lanes([(lane.key, lane.title) for lane in timelines.lanes], s.selected, "")
        self.window._refresh_timelines(force=True)

    def step(self, direction: int) -> None:
        """F3 (1) / Shift+F3 (-1): the next / previous best moment, in rank order, going round."""
        if not self.session.moments:
            self.window.statusBar().showMessage("No search results to step through: Ctrl+F, describe a face, Enter")
            return
        self.session.step_moment(direction)

    def _moment_chosen(self, rank: int, moment) -> None:
        w, s = self.window, self.session
        self.panel.set_current(rank)
        if not w.session.live:  # a camera's frames are not kept to go back to
            w.player.seek_index(moment.frame)
        w.statusBar().showMessage(f"Best moment {rank + 1} of {len(s.moments)} for \u201c{s.search_text}\u201d: "
                                  f"{clock(moment.time)}, {s.label(moment.person)} "
                                  f"(similarity {moment.score:.3f})")
