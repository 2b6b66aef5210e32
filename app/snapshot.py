"""Snapshot mode: open a video, analyse it, show the window at one moment, save it as a PNG, exit.

Used for documentation and for checking the UI with no person at the screen. ``segments``
(a file) are shown, ``people="all"`` gives everyone a timeline lane, ``tab="statistics"`` shows the
Statistics dock, ``search`` (a description) runs a text search first so its similarity plots and
best moments show; none of it is saved as the user's work. Exit status 0 on success, 1 when the
video, the segments or the analysis failed (the message goes to stderr), 2 for a bad ``--size``.
"""
from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QTimer

from core.errors import InputError

SETTLE_MS = 300      # time for the frame at --at and the redrawn timelines to reach the screen
TIMEOUT_MS = 30 * 60 * 1000


def take_snapshot(app, window, spec: str, out: str, at: float, size: str, segments: str | None = None,
                  people: str = "selected", tab: str = "timelines", search: str | None = None) -> int:
    try:
        width, height = (int(v) for v in size.lower().split("x"))
    except ValueError:
        print(f"mf2-studio: --size {size}: give it as WIDTHxHEIGHT, e.g. 1600x1000", file=sys.stderr)
        return 2
    window.resize(width, height)
    window.show()
    status = {"code": 1, "error": None}

    def fail(message: str) -> None:
        status["error"] = message
        app.quit()

    def analysed(stopped: str) -> None:
        if stopped:
            fail(stopped)
            return
        session = window.session
        if segments:
            try:
                session.import_segments(Path(segments))
            except InputError as e:
                fail(str(e))
                return
        if people == "all":
            session.set_shown(session.people())
        if search:
            def searched(text: str) -> None:
                if text:
                    session.events.search.disconnect(searched)
                    show()
            session.events.search.connect(searched)
            window.searcher.run(search)
        else:
            show()

    def show() -> None:
        if tab == "statistics":
            window.statistics_dock.show()
            window.statistics_dock.raise_()
            window.exports.finished.connect(lambda what, value: what == "statistics" and seek())
            window.exports.compute_statistics()
        else:
            window.timelines_dock.raise_()
            seek()

    def seek() -> None:
        window.player.frame_ready.connect(lambda frame: QTimer.singleShot(SETTLE_MS, save))
        window.player.seek_time(at)

    def save() -> None:
        if window.grab().save(out):
            status["code"] = 0
        else:
            status["error"] = f"{out}: cannot write the PNG"
        app.quit()

    window.interactive = False  # an error ends the run instead of waiting on a dialog
    window.session.autosave = False  # a look at the window: nothing shown here is the user's work
    window.failed.connect(fail)
    window.analysis_done.connect(analysed)
    window.open(spec)
    QTimer.singleShot(TIMEOUT_MS, lambda: fail(f"{spec}: no snapshot after {TIMEOUT_MS // 60000} minutes"))
    app.exec()
    window.close()
    if status["error"]:
        print(f"mf2-studio: {status['error']}", file=sys.stderr)
    elif status["code"] == 0:
        print(f"mf2-studio: wrote {out}")
    return status["code"]
