"""Keeps the native libraries' log chatter (TFLite, absl) off the user's terminal.

MediaPipe's C++ threads write warnings straight to file descriptor 2, where they would bury the
one-line errors and the progress bar the CLI promises, or fill a notebook cell (ipykernel shows
what reaches fd 2). None of the libraries' own switches (``GLOG_minloglevel``,
``TF_CPP_MIN_LOG_LEVEL``) reaches those lines, so fd 2 itself is pointed at /dev/null. Python's
own stderr is moved to a copy of the descriptor first, so our messages, warnings and any
traceback still reach the user.
"""
from __future__ import annotations

import contextlib
import os
import sys


def silence_native_stderr() -> None:
    """Point fd 2 at /dev/null for good, keeping ``sys.stderr`` on the real terminal (the CLI's
    whole run). Idempotent."""
    if getattr(silence_native_stderr, "done", False):
        return
    sys.stderr.flush()
    saved = os.dup(2)
    _point_fd2_at_devnull()
    sys.stderr = os.fdopen(saved, "w", buffering=1, encoding=sys.stderr.encoding or "utf-8", errors="replace")
    silence_native_stderr.done = True


@contextlib.contextmanager
def native_stderr_silenced():
    """fd 2 at /dev/null while the block runs, then back as it was (the Python API's calls: a
    notebook keeps its own stderr afterwards). ``sys.stderr``, when it writes to fd 2 (a plain
    script), is kept on the real one meanwhile."""
    if getattr(silence_native_stderr, "done", False):
        yield
        return
    stream = sys.stderr
    stream.flush()
    saved = os.dup(2)
    moved = _writes_to_fd2(stream)
    if moved:
        sys.stderr = os.fdopen(os.dup(saved), "w", buffering=1, encoding=stream.encoding or "utf-8",
                               errors="replace")
    _point_fd2_at_devnull()
    try:
        yield
    finally:
        if moved:
            sys.stderr.close()
            sys.stderr = stream
        os.dup2(saved, 2)
        os.close(saved)


def _point_fd2_at_devnull() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)


def _writes_to_fd2(stream) -> bool:
    try:
        return stream.fileno() == 2
    except (AttributeError, OSError, ValueError):  # ipykernel's OutStream, StringIO: not fd 2
        return False
