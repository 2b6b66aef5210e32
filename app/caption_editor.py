"""The caption editor: the selected face's labels and three-level description at the current
frame, editable from the keyboard, accepted into the dataset with one key.

A view over `core.dataset.CaptionSession`: every change goes to the session (which keeps the
undo history and writes the store); the widget only redraws the session's draft. Keys that
move or accept use Ctrl or Alt so they work while typing in a caption.
"""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (QComboBox, QFormLayout, QGridLayout, QHBoxLayout, QLabel, QLineEdit, QPlainTextEdit,
                               QPushButton, QToolButton, QVBoxLayout, QWidget)

from core.dataset import CaptionSession, parse_au_marks
from core.export import AU_THRESHOLD
from core.taxonomy import AU_BY_NUMBER, EMOTIONS
from core.validation import Validation

LEVEL_NAMES = {"global_text": "Global", "au_text": "AU level", "emotion_text": "Emotion level"}
ADVANCE = (("segment", "next segment"), ("frame", "next frame"), ("face", "next face"), ("stay", "stay"))
CHECKED_STYLE = ("QToolButton:checked { background: #2f6fd6; color: white; font-weight: bold; }"
                 'QToolButton[unscored="true"] { color: #888; border: 1px dashed #888; }')
_TYPING_KEYS_PASS = {Qt.Key.Key_Escape, Qt.Key.Key_F1}


class _KeepKeys(QObject):
    """In a caption field, keys the field uses (letters, arrows, Tab, Home...) type or move the
    caret instead of firing the window's single-key shortcuts; Ctrl+Z / Ctrl+Shift+Z go to the
    session's undo, which covers labels and accepts too."""

    def __init__(self, editor: "CaptionEditor"):
        super().__init__(editor)
        self.editor = editor

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 (Qt override)
        if event.type() == QEvent.Type.ShortcutOverride:
            alt = event.modifiers() & Qt.KeyboardModifier.AltModifier
            ctrl_return = event.modifiers() & Qt.KeyboardModifier.ControlModifier and \
                event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
            if not alt and not ctrl_return and event.key() not in _TYPING_KEYS_PASS:
                event.accept()
            return False
        if event.type() == QEvent.Type.KeyPress:
            if event.matches(QKeySequence.StandardKey.Undo):
                self.editor.undo_requested.emit()
                return True
            if event.matches(QKeySequence.StandardKey.Redo) or \
                    (event.key() == Qt.Key.Key_Y and event.modifiers() == Qt.KeyboardModifier.ControlModifier):
                self.editor.redo_requested.emit()
                return True
        return False


class CaptionEditor(QWidget):
    accept_requested = Signal()
    undo_requested = Signal()
    redo_requested = Signal()
    navigate = Signal(str, int)        # "frame" | "face" | "segment", +1 / -1
    choose_dataset = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.session: CaptionSession | None = None
        self.checks: Validation | None = None  # the model's own check on real video, in each AU toggle's tooltip
        self._showing = False
        self._shown = None  # the target whose draft is on show: typing in the AU line belongs to it
        self.header = QLabel("No face selected")
        self.header.setWordWrap(True)
        self.dataset_button = QPushButton("Choose dataset folder…", clicked=self.choose_dataset.emit)
        self.emotion = QComboBox()
        self.emotion.addItem("(none)", None)
        for i, e in enumerate(EMOTIONS):
            self.emotion.addItem(f"{e}  (Alt+{i + 1})", e)
        self.emotion.activated.connect(lambda i: self._call("set_emotion", self.emotion.itemData(i)))
        self.au_line = QLineEdit()
        self.au_line.setPlaceholderText("AUs present, e.g. 6 12 25 ?26")
        self.au_line.setToolTip("Type the AUs present and press Enter (?26: AU26 not scorable, left unlabelled); "
                                "every other AU shown is labelled absent. The toggles below follow")
        self.au_line.returnPressed.connect(self._au_line_entered)
        self.au_grid = QGridLayout()
        self.au_grid.setSpacing(2)
        self.au_buttons: dict[int, QToolButton] = {}
        self.captions: dict[str, QPlainTextEdit] = {}
        self.edited_marks: dict[str, QPushButton] = {}
        keep = _KeepKeys(self)
        form = QFormLayout()
        form.addRow("Emotion", self.emotion)
        form.addRow("AUs", self.au_line)
        layout = QVBoxLayout(self)
        layout.addWidget(self.header)
        layout.addWidget(self.dataset_button)
        layout.addLayout(form)
        layout.addLayout(self.au_grid)
        for level, name in LEVEL_NAMES.items():
            edit = QPlainTextEdit()
            edit.setUndoRedoEnabled(False)  # the session's undo covers typing, labels and accepts
            edit.setTabChangesFocus(True)
            edit.setFixedHeight(64 if level != "au_text" else 96)
            edit.textChanged.connect(lambda level=level, edit=edit: self._typed(level, edit))
            edit.installEventFilter(keep)
            reset = QPushButton("reset", flat=True, visible=False,
                                toolTip="Edited by hand: click to write it from the labels again")
            reset.clicked.connect(lambda _=False, level=level: self._call("reset_caption", level))
            row = QHBoxLayout()
            row.addWidget(QLabel(f"<b>{name}</b>"))
            row.addStretch(1)
            row.addWidget(reset)
            layout.addLayout(row)
            layout.addWidget(edit)
            self.captions[level], self.edited_marks[level] = edit, reset
        self.au_line.installEventFilter(keep)
        self.advance = QComboBox()
        for key, text in ADVANCE:
            self.advance.addItem(f"then {text}", key)
        self.accept_button = QPushButton("Accept (Ctrl+Enter)", clicked=self.accept_requested.emit)
        self.accept_button.setDefault(True)
        self.state = QLabel("")
        buttons = QHBoxLayout()
        buttons.addWidget(self.accept_button)
        buttons.addWidget(self.advance)
        layout.addLayout(buttons)
        layout.addWidget(self.state)
        nav = QHBoxLayout()
        for text, tip, kind, step in (("◀ frame", "Previous frame (Alt+Left)", "frame", -1),
                                      ("frame ▶", "Next frame (Alt+Right)", "frame", 1),
                                      ("face ▼", "Next face (Alt+Down)", "face", 1),
                                      ("◀ segment", "Previous segment (Alt+PgUp)", "segment", -1),
                                      ("segment ▶", "Next segment (Alt+PgDown)", "segment", 1)):
            b = QToolButton(text=text, toolTip=tip)
            b.clicked.connect(lambda _=False, kind=kind, step=step: self.navigate.emit(kind, step))
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            nav.addWidget(b)
        layout.addLayout(nav)
        layout.addStretch(1)
        self.setEnabled(False)

    # --- showing the session's draft --------------------------------------------------------------
    def set_dataset_label(self, text: str) -> None:
        self.dataset_button.setText(text)

    def show_draft(self, title: str) -> None:
        """Redraw from the session (after opening a face, an edit, an undo...)."""
        draft = self.session.draft if self.session else None
        self.setEnabled(draft is not None)
        self.header.setText(title)
        if draft is None:
            self._clear()
            return
        target = self.session.current.target
        if target != self._shown:  # another face: what was typed in the AU line was not its
            self._shown = target
            self.au_line.setModified(False)
        self._showing = True
        self.emotion.setCurrentIndex(self.emotion.findData(draft.emotion))
        aus = draft.states()
        if sorted(self.au_buttons) != sorted(aus):
            self._build_au_buttons(sorted(aus))
        strengths = self.session.current.strengths
        for n, b in self.au_buttons.items():
            unscored = aus[n] is None
            b.setChecked(not unscored and aus[n] > 0)
            b.setText(f"AU{n}?" if unscored else f"AU{n}")
            if b.property("unscored") != unscored:
                b.setProperty("unscored", unscored)
                b.style().unpolish(b)
                b.style().polish(b)
            b.setToolTip(f"AU{n} {AU_BY_NUMBER[n].name}: model {strengths.get(n, 0):.2f}"
                         + (" · not scorable here: left unlabelled" if unscored else "")
                         + " (right-click: not scorable / scorable)"
                         + (f"\nThe model on real video: {self.checks.check(n).summary}" if self.checks else ""))
        if not self.au_line.isModified():  # not while the annotator is typing in it
            self.au_line.setText(" ".join(str(n) if v else f"?{n}" for n, v in sorted(aus.items())
                                          if v is None or v > 0))
        for level, edit in self.captions.items():
            text = getattr(draft.captions, level)
            if edit.toPlainText() != text:
                edit.setPlainText(text)
            self.edited_marks[level].setVisible(level in draft.typed)
        self._showing = False
        saved = self.session.is_saved()
        self.state.setText("✔ saved in the dataset" if saved else "not saved: Ctrl+Enter accepts")
        self.state.setStyleSheet("color: #2a8a2a" if saved else "color: #b06000")

    def _clear(self) -> None:
        """No face to edit: no labels or captions of the one before are left on show."""
        self._showing = True
        self._shown = None
        self.emotion.setCurrentIndex(0)
        self.au_line.setText("")
        self.au_line.setModified(False)
        for b in self.au_buttons.values():
            b.setChecked(False)
        for edit in self.captions.values():
            edit.setPlainText("")
        for mark in self.edited_marks.values():
            mark.setVisible(False)
        self.state.setText("")
        self._showing = False

    def _build_au_buttons(self, numbers: list[int]) -> None:
        for b in self.au_buttons.values():
            b.deleteLater()
        self.au_buttons = {}
        for i, n in enumerate(numbers):
            b = QToolButton(text=f"AU{n}", checkable=True)
            b.setMinimumWidth(48)
            b.setStyleSheet(CHECKED_STYLE)
            b.toggled.connect(lambda on, n=n: self._showing or self._call("set_au", n, 1.0 if on else 0.0))
            b.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
            b.customContextMenuRequested.connect(lambda _, n=n: self.toggle_scorable(n))
            self.au_grid.addWidget(b, i // 6, i % 6)
            self.au_buttons[n] = b

    # --- edits go to the session ------------------------------------------------------------------
    def _call(self, method: str, *args) -> None:
        if self._showing or self.session is None or self.session.draft is None:
            return
        getattr(self.session, method)(*args)
        self.show_draft(self.header.text())

    def _typed(self, level: str, edit: QPlainTextEdit) -> None:
        self._call("set_caption", level, edit.toPlainText())

    def toggle_scorable(self, number: int) -> None:
        """Not scorable here (a hand over the mouth...): the AU is left unlabelled; again: the model's reading."""
        if self.session is None or self.session.draft is None:
            return
        unscored = self.session.draft.states()[number] is None
        reading = 1.0 if self.session.current.strengths.get(number, 0) >= AU_THRESHOLD else 0.0
        self._call("set_au", number, reading if unscored else None)

    def _au_line_entered(self) -> bool:
        """``6 12 25 ?26``: AUs present, ``?`` for not scorable; every other AU shown is absent.
        False (and said) when the line cannot be read."""
        shown = set(self.au_buttons)
        try:
            marks = parse_au_marks(self.au_line.text())
        except ValueError:
            self.state.setText("AUs: type numbers such as 6 12 25 (?26: not scorable)")
            return False
        unknown = set(marks) - shown
        if unknown:
            self.state.setText(f"not shown for this model: {', '.join(f'AU{n}' for n in sorted(unknown))}")
            return False
        self.au_line.setModified(False)
        self._call("set_aus", {n: marks.get(n, 0.0) for n in shown})
        return True

    def apply_typing(self) -> bool:
        """Take AUs typed in the line but not entered (Enter) into the draft, as accepting must:
        False when they cannot be read (nothing is to be accepted then)."""
        return not self.au_line.isModified() or self._au_line_entered()

    def set_emotion_key(self, index: int) -> None:
        """Alt+1..8 picks an emotion."""
        if 0 <= index < len(EMOTIONS):
            self._call("set_emotion", EMOTIONS[index])

    def advance_mode(self) -> str:
        return self.advance.currentData()
