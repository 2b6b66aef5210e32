"""Keeps the native libraries' log chatter (TFLite, absl) off the user's terminal.

MediaPipe's C++ threads write warnings straight to file descriptor 2, where they would bury the
one-line errors and the progress bar the CLI promises. Python's own stderr is moved to a copy
of the descriptor first, so our messages and any traceback still reach the terminal.
"""
from __future__ import annotations

import os
import sys


def silence_native_stderr() -> None:
    """Point fd 2 at /dev/null, keeping ``sys.stderr`` on the real terminal. Idempotent."""
    if getattr(silence_native_stderr, "done", False):
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    sys.stderr = os.fdopen(saved, "w", buffering=1, encoding=sys.stderr.encoding or "utf-8", errors="replace")
    silence_native_stderr.done = True
