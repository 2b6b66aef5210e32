"""Undo and redo of the user's work on a video: names, merges, splits and segments.

The caption editor has its own history (`core.dataset.annotate`); this one covers what the studio's
People and Segments menus change, so that a wrong merge or a removed segment is one keystroke from
coming back. Each step keeps the whole state from before it (the work, a copy of each face's person,
the track-to-person map), which is small beside the analysis: about 0.4 MB for an hour of one face.
"""
from __future__ import annotations

from typing import Any

LIMIT = 100  # steps kept; the oldest go first


class WorkHistory:
    def __init__(self):
        self._undo: list[tuple[str, Any]] = []  # (what the step did, the state before it)
        self._redo: list[tuple[str, Any]] = []  # (what the step did, the state after it)

    def record(self, what: str, before: Any) -> None:
        """A step is about to be made on ``before`` (a new step forgets what was undone)."""
        self._undo = self._undo[-(LIMIT - 1):] + [(what, before)]
        self._redo.clear()

    def drop_last(self) -> None:
        """The step just recorded was not made after all (it failed)."""
        self._undo.pop()

    def undo(self, now: Any) -> tuple[str, Any] | None:
        """(what was undone, the state to go back to); None with nothing to undo."""
        return self._move(self._undo, self._redo, now)

    def redo(self, now: Any) -> tuple[str, Any] | None:
        """(what was redone, the state to go to); None with nothing to redo."""
        return self._move(self._redo, self._undo, now)

    @staticmethod
    def _move(source: list, target: list, now: Any) -> tuple[str, Any] | None:
        if not source:
            return None
        what, state = source.pop()
        target.append((what, now))
        return what, state

    def next_undo(self) -> str | None:
        return self._undo[-1][0] if self._undo else None

    def next_redo(self) -> str | None:
        return self._redo[-1][0] if self._redo else None

    def clear(self) -> None:
        self._undo.clear()
        self._redo.clear()
