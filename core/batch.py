"""Runs analysis jobs, in parallel worker processes when there are several.

Workers are spawned (not forked) so no MediaPipe or torch state is shared. Each has a pipe of its
own: the parent hands it one job at a time and reads back progress and the result, so it always
knows which input a worker holds. A worker that dies (a crash inside a native library) costs
that input alone, reported as such; a fresh worker takes the next one. Workers die with the
parent (``PR_SET_PDEATHSIG`` on Linux, and a watch on the parent everywhere), and a stop signal
to the parent (SIGTERM from ``timeout`` or a scheduler, SIGINT, SIGHUP) is passed on to them:
each discards its unfinished CSV, the finished inputs are reported as done, then the run ends.

With more workers than inputs, long videos are split into time chunks that the workers analyse
side by side; they hand each chunk's frames over as they read them, and this process joins them
as they come and writes the CSV (core.chunks). A fresh worker takes each chunk
(core.chunks.CHUNKS_PER_PROCESS), so neither grows with the video's length.
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

from .analyze import AnalyzeOptions, JobResult, analyze_input, join_chunks, with_threads
from .chunks import CHUNKS_PER_PROCESS, Chunk, ChunkFeed, WorkerLost, analyze_chunk, video_chunks
from .outputs import remove_leftovers
from .progress import ProgressLine
from .stopping import received, signal_name, stop_on_signals

GRACE_S = 20.0  # how long stopped workers get to clean up before they are killed


def run_jobs(jobs: list[str], outputs: list[Path], options: AnalyzeOptions, workers: int | None = None,
             display: ProgressLine | None = None) -> list[JobResult]:
    """Results in the order of ``jobs``. After a stop signal, the inputs not finished carry an
    error saying so; `core.stopping.received` tells the caller which signal it was."""
    workers = max(1, workers or os.cpu_count() or 1)
    with stop_on_signals():
        tasks, feeds = plan_tasks(jobs, options, workers)
        size = min(workers, len(tasks))
        options = with_threads(options, size)
        if size == 1:
            return _run_here(jobs, outputs, options, display)
        return _Pool(jobs, outputs, options, size, display, tasks, feeds).run()


def plan_tasks(jobs: list[str], options: AnalyzeOptions, workers: int
               ) -> tuple[list[tuple[int, Chunk | None]], dict[int, ChunkFeed]]:
    """(tasks as (job, chunk or None for the whole input), the chunked jobs' feeds). Videos are
    chunked only when there are more workers than inputs."""
    tasks, feeds = [], {}
    for job, spec in enumerate(jobs):
        chunks, frames = video_chunks(spec, options.chunk_s, workers // len(jobs))
        if chunks:
            feeds[job] = ChunkFeed(chunks, frames)
            tasks += [(job, chunk) for chunk in chunks]
        else:
            tasks.append((job, None))
    return tasks, feeds


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
    task: int | None = None  # index into the pool's tasks
    slot: int = 0            # its reply queue from the shared model, if any
    chunks: int = 0          # chunks it has analysed


class _Pool:
    def __init__(self, jobs, outputs, options, size, display, tasks, feeds):
        self.jobs, self.outputs, self.options, self.size, self.display = jobs, outputs, options, size, display
        self.tasks: list[tuple[int, Chunk | None]] = tasks
        self.feeds: dict[int, ChunkFeed] = feeds
        self.results: list[JobResult | None] = [None] * len(jobs)
        self.pending = deque(range(len(tasks)))
        self.started: set[int] = set()          # jobs a task of which was handed out
        self.frames_done: dict[int, int] = {}   # chunk task -> frames it reported so far
        self.workers: list[_Worker] = []
        self.retired: list[_Worker] = []        # told to end after their last chunk, until they have
        self.ctx = mp.get_context("spawn")
        self.server = None
        if options.shared_model and options.model:
            from .model_server import ModelServer

            self.server = ModelServer(self.ctx, options.model, options.device, size)
        self.joiners = {job: threading.Thread(target=self._join_chunks, args=(job,), name=f"join-{job}", daemon=True)
                        for job in feeds}

    def run(self) -> list[JobResult]:
        try:
            try:
                for joiner in self.joiners.values():
                    joiner.start()
                while self.pending or self._busy() or self._joining():
                    self._dispatch()
                    self._collect(0.2)
            except KeyboardInterrupt:  # Stopped (or a plain Ctrl-C): pass it on, keep what finished
                self._stop()
        finally:
            self._close()
        return self.results  # type: ignore[return-value]

    def _join_chunks(self, job: int) -> None:
        """A chunked video's CSV, written here from its chunks as the workers finish them."""
        self.results[job] = join_chunks(self.jobs[job], self.outputs[job], self.options, self.feeds[job])

    def _joining(self) -> bool:
        finished = [job for job, t in self.joiners.items() if not t.is_alive() and t.ident is not None]
        for job in finished:
            del self.joiners[job]
            self.display and self.display.job_finished()
        return bool(self.joiners)

    def _busy(self) -> list[_Worker]:
        return [w for w in self.workers if w.task is not None]

    def _dispatch(self) -> None:
        self.workers = [w for w in self.workers if w.process.is_alive() or w.task is not None]
        for worker in [w for w in self.retired if not w.process.is_alive()]:
            worker.process.join()
            worker.conn.close()
            self.retired.remove(worker)
        while self.pending and len(self.workers) < self.size:
            self.workers.append(self._spawn())
        for worker in self.workers:
            while worker.task is None and self.pending:
                task = self.pending.popleft()
                job, chunk = self.tasks[task]
                if chunk is not None and self.results[job] is not None:
                    continue  # that video already ended (damage, a lost worker): its other chunks are moot
                worker.task = task
                self.started.add(job)
                worker.conn.send((task, self.jobs[job], str(self.outputs[job]), chunk))

    def _spawn(self) -> _Worker:
        slot = min(set(range(self.size)) - {w.slot for w in self.workers})
        client = self.server.client(slot) if self.server else None
        parent_end, child_end = self.ctx.Pipe()
        process = self.ctx.Process(target=_worker_main, args=(child_end, self.options, os.getpid(), client), daemon=True)
        process.start()
        child_end.close()
        return _Worker(process, parent_end, slot=slot)

    def _collect(self, timeout: float) -> None:
        if self.server:
            self.server.alive()
        busy = self._busy()
        if not busy:
            time.sleep(timeout if self.joiners else 0)
            return
        wait([w.conn for w in busy] + [w.process.sentinel for w in busy], timeout)
        for worker in busy:
            try:
                while worker.task is not None and worker.conn.poll():
                    self._message(worker, worker.conn.recv())
            except (EOFError, OSError):
                pass
            if worker.task is not None and not worker.process.is_alive():
                self._lost(worker, _death(worker.process.exitcode))

    def _message(self, worker: _Worker, message) -> None:
        kind, task, *rest = message
        job, chunk = self.tasks[task]
        spec = self.jobs[job]
        if kind == "progress" and self.display:
            if chunk is None:
                self.display.update(spec, *rest)
            else:  # the whole video's frames, over all its chunks
                self.frames_done[task] = rest[0]
                done = sum(n for t, n in self.frames_done.items() if self.tasks[t][0] == job)
                self.display.update(spec, done, -(-self.feeds[job].frame_count // self.options.every))
        elif kind == "result":
            self.results[job] = rest[0]
            worker.task = None
            self.display and self.display.job_finished()
        elif kind == "frames":
            self.feeds[job].add(chunk.number, rest[0])
        elif kind in ("chunk", "failed"):
            if kind == "chunk":
                self.feeds[job].put(chunk.number, rest[0])
            else:
                self.feeds[job].fail(WorkerLost(f"{rest[0]} (in its chunk from frame {chunk.start})"))
            worker.task = None
            worker.chunks += 1
            if worker.chunks >= CHUNKS_PER_PROCESS and any(self.results[self.tasks[t][0]] is None for t in self.pending):
                self._retire(worker)

    def _retire(self, worker: _Worker) -> None:
        """End a worker that has analysed its share of chunks (core.chunks.CHUNKS_PER_PROCESS:
        MediaPipe leaves memory behind with every chunk); `_dispatch` spawns a fresh one."""
        try:
            worker.conn.send(None)
        except (OSError, ValueError):
            pass
        self.workers.remove(worker)
        self.retired.append(worker)

    def _lost(self, worker: _Worker, why: str) -> None:
        """The worker died holding a task: that input alone fails, its unfinished CSV goes."""
        job, chunk = self.tasks[worker.task]
        worker.task = None
        if chunk is not None:  # the joiner discards the CSV and reports it
            self.feeds[job].fail(WorkerLost(f"{why} (in its chunk from frame {chunk.start})"))
            return
        remove_leftovers(self.outputs[job], worker.process.pid)
        self.results[job] = JobResult(self.jobs[job], error=f"{self.jobs[job]}: {why}; nothing written")
        self.display and self.display.job_finished()

    def _stop(self) -> None:
        why = signal_name(received() or signal.SIGINT)
        for job in {self.tasks[t][0] for t in self.pending} - self.started:
            self.results[job] = JobResult(self.jobs[job], error=f"{self.jobs[job]}: not started (stopped by {why})")
        self.pending.clear()
        for job, feed in self.feeds.items():
            feed.fail(KeyboardInterrupt(why))
        for worker in self._busy():  # the signal this process got, so that every line names the same one
            _signal(worker.process, received() or signal.SIGTERM)
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
        for job, joiner in self.joiners.items():
            joiner.join()
            if job not in self.started:
                self.results[job] = JobResult(self.jobs[job], error=f"{self.jobs[job]}: not started (stopped by {why})")
        self.joiners.clear()

    def _close(self) -> None:
        for feed in self.feeds.values():
            feed.fail(KeyboardInterrupt("stopped"))  # joiners still waiting (this process failed) end
        for joiner in self.joiners.values():
            if joiner.ident is not None:
                joiner.join()
        for worker in self.workers:
            if worker.task is None:
                try:
                    worker.conn.send(None)
                except (OSError, ValueError):
                    pass
        for worker in self.workers + self.retired:
            worker.process.join(2)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(5)
            if worker.task is not None and self.tasks[worker.task][1] is None:  # left holding a job (the parent failed)
                remove_leftovers(self.outputs[self.tasks[worker.task][0]], worker.process.pid)
            worker.conn.close()
        if self.server:
            self.server.close()


def _worker_main(conn, options: AnalyzeOptions, parent: int, client=None) -> None:
    """One worker: tasks from the pipe until told to end, the parent dies or a signal stops it.
    ``client``: the shared model's, to read faces through (core.model_server)."""
    _die_with_parent(parent)
    if client is not None:
        from .model_server import use

        use(client)
    with stop_on_signals():
        try:
            while (task := conn.recv()) is not None:
                index, spec, out, chunk = task

                def report(done: int, total: int | None = None) -> None:
                    conn.send(("progress", index, done, total))

                def deliver(frames: list) -> None:
                    conn.send(("frames", index, frames))

                if chunk is not None:
                    try:
                        conn.send(("chunk", index, analyze_chunk(spec, chunk, options, report, deliver)))
                    except Exception as e:  # noqa: BLE001 - e.g. the shared model gone: this video fails
                        conn.send(("failed", index, f"{type(e).__name__}: {e}"))
                    continue
                try:
                    result = analyze_input(spec, Path(out), options, report)
                except KeyboardInterrupt as e:
                    result = JobResult(spec, error=f"{spec}: stopped by {e}; nothing written")
                except Exception as e:  # noqa: BLE001 - its CSV is already discarded
                    result = JobResult(spec, error=f"{spec}: {type(e).__name__}: {e}; nothing written")
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
        if -exitcode in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            # a stop (Ctrl-C reaches the whole process group: a worker still starting dies of it)
            return f"stopped by {name}"
        return f"the worker analysing it crashed ({name}{' inside a native library' if name in ('SIGSEGV', 'SIGBUS', 'SIGABRT', 'SIGFPE', 'SIGILL') else ''})"
    return f"the worker analysing it ended unexpectedly (exit code {exitcode})"


def _signal(process: mp.Process, signum: int) -> None:
    try:
        os.kill(process.pid, signum)
    except (ProcessLookupError, TypeError):
        pass


def _display_fn(display: ProgressLine | None, spec: str):
    return (lambda done, total: display.update(spec, done, total)) if display else None
