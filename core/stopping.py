"""Signals that end a run: SIGINT, SIGTERM and SIGHUP (what Ctrl-C, ``timeout``, job schedulers
and a closed terminal send) become one `Stopped` exception in the main thread.

Only the first signal raises: a second one (a scheduler's repeat, Ctrl-C pressed twice) must not
break the clean-up the first one started. `received` tells afterwards which signal stopped the run.
"""
from __future__ import annotations

import signal
from contextlib import contextmanager

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

_received: list[int] = []


class Stopped(KeyboardInterrupt):
    """Raised by a stop signal; a KeyboardInterrupt so that code ending on Ctrl-C ends on it too."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signal_name(signum))
        self.signum = signum


def signal_name(signum: int) -> str:
    return signal.Signals(signum).name


def received() -> int | None:
    """The signal that stopped this process, if one did."""
    return _received[0] if _received else None


def _handler(signum, _frame) -> None:
    _received.append(signum)
    if len(_received) == 1:
        raise Stopped(signum)


@contextmanager
def stop_on_signals():
    """Inside: a stop signal raises `Stopped` once; the earlier handlers come back on leaving."""
    previous = {s: signal.signal(s, _handler) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
