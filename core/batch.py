"""Runs analysis jobs, in parallel worker processes when there are several.

Workers are spawned (not forked) so no MediaPipe or torch state is shared, and each reports
progress through a queue the parent reads to draw one progress line. A job that fails does not
stop the others.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import queue
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

from .analyze import AnalyzeOptions, JobResult, analyze_input
from .progress import ProgressLine


def _worker(spec: str, out_path: str, options: AnalyzeOptions, progress_queue) -> JobResult:
    def report(done: int, total: int | None) -> None:
        progress_queue.put((spec, done, total))

    return analyze_input(spec, Path(out_path), options, report)


def run_jobs(jobs: list[str], outputs: list[Path], options: AnalyzeOptions, workers: int | None = None,
             display: ProgressLine | None = None) -> list[JobResult]:
    """Results in the order of ``jobs``."""
    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    if workers == 1:
        results = []
        for spec, out in zip(jobs, outputs):
            results.append(analyze_input(spec, out, options, _display_fn(display, spec)))
            display and display.job_finished()
        return results
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager, ProcessPoolExecutor(workers, mp_context=ctx) as pool:
        progress_queue = manager.Queue()
        futures = {pool.submit(_worker, spec, str(out), options, progress_queue): i
                   for i, (spec, out) in enumerate(zip(jobs, outputs))}
        results: list[JobResult | None] = [None] * len(jobs)
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
            _drain(progress_queue, display)
            for future in finished:
                results[futures[future]] = future.result()
                display and display.job_finished()
        _drain(progress_queue, display)
    return results  # type: ignore[return-value]


def _display_fn(display: ProgressLine | None, spec: str):
    return (lambda done, total: display.update(spec, done, total)) if display else None


def _drain(progress_queue, display: ProgressLine | None) -> None:
    while True:
        try:
            spec, done, total = progress_queue.get_nowait()
        except queue.Empty:
            return
        if display:
            display.update(spec, done, total)
