"""Snapshot mode: open a video, analyse it, show the window at one moment, save it as a PNG, exit.

Used for documentation and for checking the UI with no person at the screen. Exit status 0 on
success, 1 when the video or the analysis failed (the message goes to stderr), 2 for a bad
``--size``.
"""
from __future__ import annotations

import sys

from PySide6.QtCore import QTimer

SETTLE_MS = 300      # time for the frame at --at and the redrawn timelines to reach the screen
TIMEOUT_MS = 30 * 60 * 1000


def take_snapshot(app, window, spec: str, out: str, at: float, size: str) -> int:
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
        window.player.frame_ready.connect(lambda frame: QTimer.singleShot(SETTLE_MS, save))
        window.player.seek_time(at)

    def save() -> None:
        if window.grab().save(out):
            status["code"] = 0
        else:
            status["error"] = f"{out}: cannot write the PNG"
        app.quit()

    window.interactive = False  # an error ends the run instead of waiting on a dialog
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
