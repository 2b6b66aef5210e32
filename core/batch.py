"""Runs analysis jobs, in parallel worker processes when there are several.

Workers are spawned (not forked) so no MediaPipe or torch state is shared. Each has a pipe of its
own: the parent hands it one job at a time and reads back progress and the result, so it always
knows which input a worker holds. A worker that dies (a crash inside a native library) costs
that input alone, reported as such; a fresh worker takes the next one. Workers die with the
parent (``PR_SET_PDEATHSIG`` on Linux, and a watch on the parent everywhere), and a stop signal
to the parent (SIGTERM from ``timeout`` or a scheduler, SIGINT, SIGHUP) is passed on to them:
each discards its unfinished CSV, the finished inputs are reported as done, then the run ends.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import wait
from pathlib import Path

from .analyze import AnalyzeOptions, JobResult, analyze_input
from .outputs import remove_leftovers
from .progress import ProgressLine
from .stopping import received, signal_name, stop_on_signals

GRACE_S = 20.0  # how long stopped workers get to clean up before they are killed


def run_jobs(jobs: list[str], outputs: list[Path], options: AnalyzeOptions, workers: int | None = None,
             display: ProgressLine | None = None) -> list[JobResult]:
    """Results in the order of ``jobs``. After a stop signal, the inputs not finished carry an
    error saying so; `core.stopping.received` tells the caller which signal it was."""
    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    with stop_on_signals():
        if workers == 1:
            return _run_here(jobs, outputs, options, display)
        return _Pool(jobs, outputs, options, workers, display).run()


def _run_here(jobs, outputs, options, display) -> list[JobResult]:
    results = []
    for spec, out in zip(jobs, outputs):
        if received():
            results.append(JobResult(spec, error=f"{spec}: not started (stopped by {signal_name(received())})"))
            continue
        try:
            results.append(analyze_input(spec, out, options, _display_fn(display, spec)))
        except KeyboardInterrupt as e:  # a signal outside the frame loop (opening, loading the model)
            results.append(JobResult(spec, error=f"{spec}: stopped by {e}; nothing written"))
        display and display.job_finished()
    return results


@dataclass
class _Worker:
    process: mp.Process
    conn: object          # the parent's end of the worker's pipe
    job: int | None = None


class _Pool:
    def __init__(self, jobs, outputs, options, size, display):
        self.jobs, self.outputs, self.options, self.size, self.display = jobs, outputs, options, size, display
        self.results: list[JobResult | None] = [None] * len(jobs)
        self.pending = deque(range(len(jobs)))
        self.workers: list[_Worker] = []
        self.ctx = mp.get_context("spawn")

    def run(self) -> list[JobResult]:
        try:
            try:
                while self.pending or self._busy():
                    self._dispatch()
                    self._collect(0.2)
            except KeyboardInterrupt:  # Stopped (or a plain Ctrl-C): pass it on, keep what finished
                self._stop()
        finally:
            self._close()
        return self.results  # type: ignore[return-value]

    def _busy(self) -> list[_Worker]:
        return [w for w in self.workers if w.job is not None]

    def _dispatch(self) -> None:
        self.workers = [w for w in self.workers if w.process.is_alive() or w.job is not None]
        while self.pending and len(self.workers) < self.size:
            self.workers.append(self._spawn())
        for worker in self.workers:
            if worker.job is None and self.pending:
                worker.job = self.pending.popleft()
                worker.conn.send((worker.job, self.jobs[worker.job], str(self.outputs[worker.job])))

    def _spawn(self) -> _Worker:
        parent_end, child_end = self.ctx.Pipe()
        process = self.ctx.Process(target=_worker_main, args=(child_end, self.options, os.getpid()), daemon=True)
        process.start()
        child_end.close()
        return _Worker(process, parent_end)

    def _collect(self, timeout: float) -> None:
        busy = self._busy()
        if not busy:
            return
        wait([w.conn for w in busy] + [w.process.sentinel for w in busy], timeout)
        for worker in busy:
            try:
                while worker.job is not None and worker.conn.poll():
                    self._message(worker, worker.conn.recv())
            except (EOFError, OSError):
                pass
            if worker.job is not None and not worker.process.is_alive():
                self._lost(worker, _death(worker.process.exitcode))

    def _message(self, worker: _Worker, message) -> None:
        kind, index, *rest = message
        spec = self.jobs[index]
        if kind == "progress" and self.display:
            self.display.update(spec, *rest)
        elif kind == "result":
            self.results[index] = rest[0]
            worker.job = None
            self.display and self.display.job_finished()

    def _lost(self, worker: _Worker, why: str) -> None:
        """The worker died holding a job: that input alone fails, its unfinished CSV goes."""
        index = worker.job
        remove_leftovers(self.outputs[index], worker.process.pid)
        self.results[index] = JobResult(self.jobs[index], error=f"{self.jobs[index]}: {why}; nothing written")
        worker.job = None
        self.display and self.display.job_finished()

    def _stop(self) -> None:
        why = signal_name(received() or signal.SIGINT)
        for index in self.pending:
            self.results[index] = JobResult(self.jobs[index], error=f"{self.jobs[index]}: not started (stopped by {why})")
        self.pending.clear()
        for worker in self._busy():
            _signal(worker.process, signal.SIGTERM)
        deadline = time.monotonic() + GRACE_S
        while self._busy() and time.monotonic() < deadline:
            try:
                self._collect(0.2)
            except KeyboardInterrupt:
                pass  # a repeated signal changes nothing: the workers are already stopping
        for worker in self._busy():
            worker.process.kill()
            worker.process.join(5)
            self._lost(worker, f"stopped by {why}")

    def _close(self) -> None:
        for worker in self.workers:
            if worker.job is None:
                try:
                    worker.conn.send(None)
                except (OSError, ValueError):
                    pass
        for worker in self.workers:
            worker.process.join(2)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(5)
            if worker.job is not None:  # left holding a job (the parent itself failed)
                remove_leftovers(self.outputs[worker.job], worker.process.pid)
            worker.conn.close()


def _worker_main(conn, options: AnalyzeOptions, parent: int) -> None:
    """One worker: jobs from the pipe until told to end, the parent dies or a signal stops it."""
    _die_with_parent(parent)
    with stop_on_signals():
        try:
            while (job := conn.recv()) is not None:
                index, spec, out = job

                def report(done: int, total: int | None) -> None:
                    conn.send(("progress", index, done, total))

                try:
                    result = analyze_input(spec, Path(out), options, report)
                except KeyboardInterrupt as e:
                    result = JobResult(spec, error=f"{spec}: stopped by {e}; nothing written")
                conn.send(("result", index, result))
                if received():
                    return
        except (EOFError, OSError, KeyboardInterrupt):
            return


def _die_with_parent(parent: int) -> None:
    """SIGTERM this worker when the parent dies, however it dies (SIGKILL included): the kernel's
    parent-death signal on Linux, and a thread watching the parent's pid everywhere."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM))

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


def _death(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        name = signal_name(-exitcode)
        return f"the worker analysing it crashed ({name}{' inside a native library' if name in ('SIGSEGV', 'SIGBUS', 'SIGABRT', 'SIGFPE', 'SIGILL') else ''})"
    return f"the worker analysing it ended unexpectedly (exit code {exitcode})"


def _signal(process: mp.Process, signum: int) -> None:
    try:
        os.kill(process.pid, signum)
    except (ProcessLookupError, TypeError):
        pass


def _display_fn(display: ProgressLine | None, spec: str):
    return (lambda done, total: display.update(spec, done, total)) if display else None
