"""Runs analysis jobs as tasks on a Ray cluster: ``mf2 analyze INPUTS -o OUT --ray ADDRESS``.

ADDRESS is what ``ray.init`` takes: ``local`` starts a private cluster on this machine for the
run and shuts it down at the end; ``auto`` joins the cluster this machine belongs to (``ray start``
ran here); ``HOST:6379`` names a head node; ``ray://HOST:10001`` connects through Ray Client.

Where the files live: each task analyses one input with `analyze_input` into a temporary folder
on the node that runs it and returns the CSV's bytes with its result. The driver (the machine
running ``mf2``) writes every CSV where it was asked, through `core.outputs` as a local run does:
atomic rename, the per-output lock, an earlier CSV never replaced by a partial one. So the
outputs need no shared storage. The INPUTS must be readable at the same path on the driver
(which expands folders and names the CSVs) and on every node: shared storage, or a copy at the
same path. So must a ``--model`` folder; the shipped model is taken from each node's own install.

The code: with ``local`` the workers run in the driver's Python environment. On a cluster every
node needs mf2-studio installed at the same version, with its extra (``pip install -e
.[cluster]``); the workers import `core` from there. (Ray can ship a folder instead, with
``runtime_env={"working_dir": ...}``, for a caller that sets up Ray itself: an already connected
Ray session is used as it is and left connected.)

Failures: a task whose worker or node dies is run again, up to `MAX_RETRIES` times; if it keeps
dying, that input alone fails, reported as a crashed local worker is (`core.batch`). Bad input is
not retried: `analyze_input` reports it in its result, as locally. A stop signal (Ctrl-C, SIGTERM,
SIGHUP) cancels every unfinished task (its worker is killed), reports the finished inputs as
written and the others as stopped or not started, then the run ends with 128 + the signal.

GPUs: when ``options.device`` is ``auto`` or ``cuda`` and the cluster has GPUs, each task asks
for `GPU_SHARE` of one (so up to 4 tasks share a GPU: the model is small, face tracking runs on
the CPU) besides its CPU, and runs the model on CUDA; otherwise tasks ask one CPU each and run it
on the CPU. ``cuda`` on a cluster without a GPU is an error before any work.

A job reaches the cluster as units (`Unit`): plain functions with picklable arguments that return
``(JobResult, CSV bytes or None)``. `WHOLE` makes one unit per input; another `Kind` splits a job
into several units and merges their outcomes, with the same dispatch, retries, stop and
write-back. Chunks of a long video (`chunked`) are joined on the driver as they arrive, in order,
and dropped once written, so the driver does not hold a whole video's chunks.
"""
from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from .analyze import AnalyzeOptions, JobResult, analyze_input, join_chunks, with_threads, write_listing
from .chunks import CHUNKS_PER_PROCESS
from .errors import InputError
from .outputs import AtomicOutput, OutputError
from .progress import ProgressLine
from .stopping import received, signal_name, stop_on_signals
from .video import camera_index

MAX_RETRIES = 2        # runs of a task after its worker or node died (application errors: none)
GPU_SHARE = 0.25       # of one GPU per task when the model runs on CUDA
CANCEL_GRACE_S = 5.0   # how long cancelled tasks get to report before the run ends without them
WAIT_S = 0.5           # longest wait for a finished task, so a stop signal is seen promptly
TEMP_PREFIX = "mf2-ray-"
SHIPPED_MODEL = "mf2:shipped-model"  # options.model in transit: each node's own shipped model
MISSING = "--ray needs the cluster extra: pip install -e .[cluster]"

Outcome = tuple[JobResult, "bytes | None"]


# --- what runs on the nodes -------------------------------------------------------------------

def analyse_whole(spec: str, options: AnalyzeOptions) -> Outcome:
    """One input analysed on this node: its result and the CSV's bytes (None when no CSV was
    written). The result's ``output`` is this node's temporary file, gone by now: the driver sets it."""
    _sweep_stale_temps()
    return _analysed_to_bytes(spec, on_this_node(options))


def _analysed_to_bytes(spec: str, options: AnalyzeOptions) -> Outcome:
    """`analyze_input` into a temporary folder of this process: its result and the CSV's bytes."""
    folder = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-"))
    try:
        out = folder / "result.csv"
        result = analyze_input(spec, out, options)
        return result, (out.read_bytes() if result.output else None)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def on_this_node(options: AnalyzeOptions) -> AnalyzeOptions:
    """``options`` with this node's shipped model and, for ``auto``, this node's device."""
    if options.model == SHIPPED_MODEL:
        from .model.shipped import default_model_dir

        options = replace(options, model=str(default_model_dir()))
    if options.device == "auto":
        from .device import resolve_device

        options = replace(options, device=resolve_device("auto"))
    return options


def _call(fn: Callable[..., Outcome], args: tuple) -> Outcome:
    """The Ray task: a unit's function on its arguments."""
    return fn(*args)


def _call_chunk(fn: Callable[..., Outcome], args: tuple) -> Outcome:
    """The Ray task for a chunk: the same, on a worker that Ray replaces after CHUNKS_PER_PROCESS
    calls (``max_calls``, core.chunks: MediaPipe leaves memory behind every chunk)."""
    return fn(*args)


def task_functions(ray, task: dict) -> Callable:
    """``remote(unit, name)``: the Ray function a unit runs as, with ``task``'s options; chunks on
    workers that Ray replaces after CHUNKS_PER_PROCESS of them."""
    whole, in_chunks = ray.remote(_call), ray.remote(max_calls=CHUNKS_PER_PROCESS)(_call_chunk)

    def remote(unit: Unit, name: str):
        return (in_chunks if unit.fn is analyse_chunk else whole).options(name=name, **task)

    return remote


def _sweep_stale_temps() -> None:
    """Remove the temporary folders of tasks whose worker was killed (a cancel, a crash)."""
    for folder in Path(tempfile.gettempdir()).glob(f"{TEMP_PREFIX}*"):
        pid = folder.name[len(TEMP_PREFIX):].split("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


# --- how jobs become units ---------------------------------------------------------------------

@dataclass(frozen=True)
class Unit:
    """One task: ``fn(*args)`` on some node, outcome ``part`` of job ``job``."""
    job: int
    part: int
    fn: Callable[..., Outcome]
    args: tuple


@dataclass(frozen=True)
class Kind:
    """How a job is split into units (``split(job, spec, options)``) and how the outcomes of its
    units, in ``part`` order, become the job's one outcome (``merge(spec, outcomes)``). With
    ``joiner(spec, out, units)`` (None for units it does not join), the outcomes are instead
    handed to a joiner as they arrive, which writes the job's CSV itself while later units still
    run: the driver then holds only the units that finished ahead of their turn."""
    split: Callable[[int, str, AnalyzeOptions], list[Unit]]
    merge: Callable[[str, list[Outcome]], Outcome]
    joiner: Callable[[str, Path, list[Unit]], "_ChunkJoiner | None"] | None = None


def _one_unit(job: int, spec: str, options: AnalyzeOptions) -> list[Unit]:
    return [Unit(job, 0, analyse_whole, (spec, options))]


def _only(spec: str, outcomes: list[Outcome]) -> Outcome:
    return outcomes[0]


WHOLE = Kind(_one_unit, _only)


def analyse_chunk(spec: str, chunk, options: AnalyzeOptions):
    """One chunk of a long video analysed on this node (core.chunks): (the chunk, what it found)."""
    from .chunks import analyze_chunk

    return chunk, analyze_chunk(spec, chunk, on_this_node(options))


def chunked(share: int, options: AnalyzeOptions) -> Kind:
    """Long videos in time chunks when the cluster has ``share`` slots or more an input (as
    `core.batch` does on one machine); the driver joins a video's chunks as they come back, in
    order, and writes its CSV (`_ChunkJoiner`)."""
    from .chunks import video_chunks

    def split(job: int, spec: str, options: AnalyzeOptions) -> list[Unit]:
        chunks, _ = video_chunks(spec, options.chunk_s, share)
        return [Unit(job, c.number, analyse_chunk, (spec, c, options)) for c in chunks] or _one_unit(job, spec, options)

    def joiner(spec: str, out: Path, units: list[Unit]) -> "_ChunkJoiner | None":
        if any(unit.fn is not analyse_chunk for unit in units):
            return None  # a short video: one unit, written back whole
        # scored here: the readings need each person's frames in order, across chunks
        return _ChunkJoiner(spec, out, [unit.args[1] for unit in units], replace(on_this_node(options), device="cpu"))

    return Kind(split, _only, joiner)


class _ChunkJoiner:
    """One chunked video joined on the driver while its chunks run (the local path's joiner,
    `core.batch`): each chunk's frames are scored and written as soon as the chunks before it are
    in, and then dropped, so the driver's memory holds chunks that came early, not the video."""

    def __init__(self, spec: str, out: Path, chunks: list, options: AnalyzeOptions):
        from .chunks import ChunkFeed

        self.feed = ChunkFeed(chunks, 0)
        self.result: JobResult | None = None
        self.thread = threading.Thread(target=self._join, args=(spec, out, options), name=f"join {Path(spec).name}",
                                       daemon=True)
        self.thread.start()

    def _join(self, spec: str, out: Path, options: AnalyzeOptions) -> None:
        self.result = join_chunks(spec, out, options, self.feed)

    def put(self, outcome) -> None:
        chunk, found = outcome
        self.feed.put(chunk.number, found)

    def fail(self, error: BaseException) -> None:
        """End the join where its next chunk would come (a lost chunk, a stop): no CSV."""
        self.feed.fail(error)

    def done(self) -> bool:
        return not self.thread.is_alive()


# --- the driver --------------------------------------------------------------------------------

def need_ray() -> None:
    """InputError (one line, exit 2) when the cluster extra is missing. Looks without importing:
    Ray reads its authentication settings once, when imported (see `_LocalCluster.start`)."""
    try:
        found = importlib.util.find_spec("ray") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise InputError(MISSING)


def _import_ray():
    try:
        import ray
    except ImportError:
        raise InputError(MISSING) from None
    return ray


def run_jobs_ray(jobs: list[str], outputs: list[Path], options: AnalyzeOptions, address: str,
                 display: ProgressLine | None = None, workers: int | None = None, quiet: bool = True,
                 kind: Kind = WHOLE) -> list[JobResult]:
    """Results in the order of ``jobs``, as `core.batch.run_jobs` gives them. ``workers`` caps the
    tasks in flight (default: as many as the cluster has slots for). ``quiet`` keeps Ray's own
    messages off the terminal. After a stop signal, the inputs not finished carry an error saying
    so; `core.stopping.received` tells the caller which signal it was."""
    need_ray()
    results, own = None, False
    try:
        with _ray_session(address, quiet) as (ray, own):
            resources = ray.cluster_resources()
            gpus, slots = resources.get("GPU", 0), int(resources.get("CPU", 0))
            if options.device == "cuda" and not gpus:
                raise InputError(f"--device cuda: the Ray cluster ({address}) has no GPU")
            on_gpu = options.device in ("auto", "cuda") and gpus > 0
            if on_gpu:
                slots = min(slots, int(gpus / GPU_SHARE))
            options = replace(options, device="cuda" if on_gpu else "cpu", model=_portable_model(options.model))
            share = (workers or slots or 1) // len(jobs)
            if kind is WHOLE and share >= 2:
                kind = chunked(share, options)
            limit = max(1, workers or slots or len(jobs))
            options = with_threads(replace(options, shared_model=False), limit, cores=limit)  # a task has one CPU
            task = dict(num_cpus=1, num_gpus=GPU_SHARE if on_gpu else 0, max_retries=MAX_RETRIES,
                        retry_exceptions=False)
            remote = task_functions(ray, task)
            with stop_on_signals():  # also over a SIGTERM handler that a caller's own ray.init put in place
                results = _Run(ray, remote, jobs, outputs, options, kind, limit, display).run()
    except KeyboardInterrupt:  # stopped before the tasks (the cluster starting) or after them
        if results is None:
            why = signal_name(received() or signal.SIGINT)
            results = [JobResult(spec, error=f"{spec}: not started (stopped by {why})") for spec in jobs]
    if own:
        _sweep_stale_temps()  # what killed workers of a private cluster left on this machine
    return results


@contextlib.contextmanager
def _ray_session(address: str, quiet: bool):
    """Connected to the cluster inside: yields Ray and whether this run made the connection (and
    so ends it, and a ``local`` cluster with it); an existing connection is used as it is. Ray's
    messages (the raylet's notes on retried tasks go to stdout, where the CSV lines go) are
    dropped when ``quiet``, else sent to stderr."""
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        yield ray, False
        return
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull if quiet else sys.stderr):
        local = _LocalCluster(quiet) if address == "local" else None
        try:
            target = local.start() if local else address
            ray = _import_ray()
            _connect(ray, target, address, quiet)
            try:
                yield ray, True
            finally:
                with _uninterrupted():
                    ray.shutdown()
        finally:
            if local:
                with _uninterrupted():
                    local.stop()


def _connect(ray, target: str, address: str, quiet: bool) -> None:
    """``ray.init(address=target)``, run on a thread of its own: there Ray leaves the signal
    handlers alone, and a stop signal during the connection waits for it, then ends it whole."""
    failed: list[BaseException] = []

    def connect() -> None:
        try:
            ray.init(address=target, logging_level=logging.ERROR if quiet else logging.INFO, log_to_driver=not quiet)
        except BaseException as e:  # noqa: B902 - handed to the main thread
            failed.append(e)

    connecting = threading.Thread(target=connect, name="ray-init", daemon=True)
    connecting.start()
    try:
        while connecting.is_alive():
            connecting.join(WAIT_S)
    except KeyboardInterrupt:
        connecting.join()
        with _uninterrupted():
            ray.shutdown()
        raise
    if failed:
        ray.shutdown()
        raise InputError(f"--ray {address}: cannot reach the Ray cluster ({_first_line(failed[0])})")


class _LocalCluster:
    """``--ray local``: a private cluster on this machine, held by a helper process in a session
    of its own, so that a signal to this run's process group (Ctrl-C in a terminal, ``timeout``,
    a scheduler) reaches this process only, which cancels its tasks and reports before the
    cluster goes. The helper shuts the cluster down when its stdin closes: at the end of the run,
    or when this process dies, however it dies."""

    STOP_S = 60.0  # a cluster shuts down in seconds; after this long it is killed

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.process: subprocess.Popen | None = None

    def start(self) -> str:
        """Start it (the machine's CPUs, no dashboard); its address."""
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from core.cluster import _hold_local_cluster; _hold_local_cluster()",
             str(os.cpu_count() or 1), "quiet" if self.quiet else "verbose"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL if self.quiet else None,
            text=True, start_new_session=True, cwd=Path(__file__).resolve().parent.parent)
        kind, _, text = self.process.stdout.readline().strip().partition(" ")
        if kind != "address":
            raise InputError(f"--ray local: cannot start a Ray cluster ({text or 'its process ended'})")
        address, _, auth = text.partition(" ")
        # Ray sends its token to an explicit address only when told to, before it is imported
        os.environ.setdefault("RAY_AUTH_MODE", auth)
        return address

    def stop(self) -> None:
        """Shut it down and wait for that (killed after a while, with what it started)."""
        if self.process is None:
            return
        try:
            self.process.stdin.close()
        except OSError:
            pass
        try:
            self.process.wait(self.STOP_S)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process.stdout.close()


def _hold_local_cluster() -> None:
    """The helper process of `_LocalCluster` (argv: CPUs, quiet|verbose): starts the cluster,
    writes ``address ADDRESS AUTH_MODE`` (or ``error WHY``) on stdout, holds it until stdin closes."""
    import ray

    num_cpus, quiet = int(sys.argv[1]), sys.argv[2] == "quiet"
    report = os.fdopen(os.dup(1), "w")
    chatter = os.open(os.devnull, os.O_WRONLY) if quiet else 2
    os.dup2(chatter, 1)  # Ray's own messages: not into the pipe nobody reads after the address
    try:
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, log_to_driver=False,
                 logging_level=logging.ERROR if quiet else logging.INFO)
    except Exception as e:
        report.write(f"error {_first_line(e)}\n")
        return
    try:
        report.write(f"address {ray.get_runtime_context().gcs_address} {os.environ.get('RAY_AUTH_MODE', 'disabled')}\n")
        report.close()
        sys.stdin.read()
    finally:
        ray.shutdown()


@contextlib.contextmanager
def _uninterrupted():
    """Stop signals ignored while the block runs (the shutdown that ends the cluster's processes)."""
    previous = {s: signal.signal(s, signal.SIG_IGN)
                for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _portable_model(model: str | None) -> str | None:
    """The shipped model travels as a name, each node using its own copy; any other model
    folder as its path, which must be the same on every node."""
    from .model.shipped import default_model_dir

    if model and Path(model).resolve() == default_model_dir().resolve():
        return SHIPPED_MODEL
    return model


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class _Run:
    def __init__(self, ray, remote, jobs, outputs, options, kind: Kind, limit: int, display):
        self.ray, self.remote, self.jobs, self.outputs = ray, remote, jobs, outputs
        self.kind, self.limit, self.display = kind, limit, display
        self.results: list[JobResult | None] = [None] * len(jobs)
        for job, spec in enumerate(jobs):  # a webcam belongs to the machine it is plugged into
            if camera_index(spec) is not None:
                self._done(job, JobResult(spec, error=f"{spec}: a camera cannot be read through --ray "
                                                      "(analyse it without --ray)"))
        units = [kind.split(job, spec, options) if self.results[job] is None else []
                 for job, spec in enumerate(jobs)]
        self.pending: deque[Unit] = deque(unit for job_units in units for unit in job_units)
        self.parts: dict[int, dict[int, Outcome]] = {job: {} for job in range(len(jobs))}
        self.joiners = {job: joiner for job, job_units in enumerate(units)
                        if job_units and kind.joiner and (joiner := kind.joiner(jobs[job], outputs[job], job_units))}
        self.counts = [len(job_units) for job_units in units]
        self.started: set[int] = set()  # jobs with a unit handed to the cluster
        self.running: dict = {}         # ObjectRef -> Unit

    def run(self) -> list[JobResult]:
        try:
            while self.pending or self.running or self.joiners:
                self._submit()
                if self.running:
                    done, _ = self.ray.wait(list(self.running), num_returns=1, timeout=WAIT_S)
                    for ref in done:
                        self._finished(ref)
                elif self.joiners:
                    next(iter(self.joiners.values())).thread.join(WAIT_S)
                self._joined()
        except KeyboardInterrupt:  # Stopped (or a plain Ctrl-C): cancel the rest, keep what finished
            self._stop()
        return self.results  # type: ignore[return-value]

    def _joined(self) -> None:
        """Record the jobs whose joiners have written (or failed to write) their CSV."""
        for job, joiner in list(self.joiners.items()):
            if joiner.done():
                del self.joiners[job]
                if self.results[job] is None:
                    self._done(job, joiner.result)
                for ref, unit in list(self.running.items()):  # a join that ended early (the output locked)
                    if unit.job == job:
                        self._cancel(ref)

    def _submit(self) -> None:
        while self.pending and len(self.running) < self.limit:
            unit = self.pending.popleft()
            if self.results[unit.job] is not None:  # the job already failed in another unit
                continue
            name = f"mf2 {Path(self.jobs[unit.job]).name}" + (f" #{unit.part}" if self.counts[unit.job] > 1 else "")
            self.running[self.remote(unit, name).remote(unit.fn, unit.args)] = unit
            self.started.add(unit.job)

    def _finished(self, ref, stopping: str | None = None) -> None:
        unit = self.running.pop(ref)
        if self.results[unit.job] is not None:
            return
        try:
            outcome = self.ray.get(ref)
        except self.ray.exceptions.RayError as e:
            return self._fail(unit.job, *self._lost(e, stopping))
        if unit.job in self.joiners:
            return self.joiners[unit.job].put(outcome)
        self.parts[unit.job][unit.part] = outcome
        if len(self.parts[unit.job]) == self.counts[unit.job]:
            spec = self.jobs[unit.job]
            result, data = self.kind.merge(spec, [self.parts[unit.job][i] for i in range(self.counts[unit.job])])
            self.parts[unit.job].clear()
            self._done(unit.job, write_back(result, data, self.outputs[unit.job]))

    def _lost(self, error, stopping: str | None) -> tuple[str, bool]:
        """Why a unit brought no outcome (worded as `core.batch` words a lost worker), and whether
        to say that an earlier CSV is kept."""
        exceptions = self.ray.exceptions
        tries = f"{1 + MAX_RETRIES} tries on the Ray cluster"
        if stopping and isinstance(error, (exceptions.TaskCancelledError, exceptions.WorkerCrashedError)):
            return stopping, True
        if isinstance(error, exceptions.WorkerCrashedError):
            return f"the worker analysing it crashed ({tries})", False
        if isinstance(error, exceptions.OutOfMemoryError):
            return f"the worker analysing it ran out of memory ({tries})", False
        if isinstance(error, exceptions.NodeDiedError):
            return f"the node analysing it died ({tries})", False
        if isinstance(error, exceptions.RayTaskError):  # an exception in the analysis, not bad input: not retried
            cause = getattr(error, "cause", None) or error
            return f"the analysis failed on the Ray cluster ({type(cause).__name__}: {_first_line(cause)})", False
        return f"the Ray cluster could not run it ({_first_line(error)})", False

    def _fail(self, job: int, why: str, kept: bool = False) -> None:
        """Job ``job`` ends without a CSV; its other units are dropped."""
        out = self.outputs[job]
        earlier = f"; the earlier {out} is kept" if kept and out.exists() else ""
        self._done(job, JobResult(self.jobs[job], error=f"{self.jobs[job]}: {why}; nothing written{earlier}"))
        self.parts[job].clear()
        if job in self.joiners:
            from .chunks import WorkerLost

            self.joiners[job].fail(WorkerLost(why))
        for ref, unit in list(self.running.items()):
            if unit.job == job:
                self._cancel(ref)

    def _done(self, job: int, result: JobResult) -> None:
        self.results[job] = result
        if self.display:
            self.display.update(result.input, result.frames, result.frames)  # done: its frames are its total
            self.display.job_finished()

    def _cancel(self, ref) -> None:
        try:
            self.ray.cancel(ref, force=True)
        except Exception:  # finished meanwhile, or the cluster is gone: nothing to cancel
            pass

    def _stop(self) -> None:
        signum = received() or signal.SIGINT
        why = signal_name(signum)
        for ref in list(self.running):
            self._cancel(ref)
        for unit in self.pending:
            if self.results[unit.job] is None and unit.job not in self.started:
                self.results[unit.job] = JobResult(self.jobs[unit.job], error=f"{self.jobs[unit.job]}: not started "
                                                                               f"(stopped by {why})")
        self.pending.clear()
        stopped = f"stopped by {'Ctrl-C' if signum == signal.SIGINT else why}"
        deadline = time.monotonic() + CANCEL_GRACE_S
        while self.running and time.monotonic() < deadline:  # tasks that finished before the cancel count
            try:
                done, _ = self.ray.wait(list(self.running), num_returns=len(self.running), timeout=WAIT_S)
                for ref in done:
                    self._finished(ref, stopping=stopped)
            except KeyboardInterrupt:
                pass  # a repeated signal changes nothing: the tasks are already cancelled
        for joiner in self.joiners.values():  # as the local path does: a video being joined is cut short
            joiner.fail(KeyboardInterrupt(why))
        for joiner in self.joiners.values():
            while joiner.thread.is_alive():
                try:
                    joiner.thread.join()
                except KeyboardInterrupt:
                    pass  # a repeated signal changes nothing: the joins are already cut short
        self._joined()
        for job, result in enumerate(self.results):
            if result is None:
                self._fail(job, stopped, kept=True)


def write_back(result: JobResult, data: bytes | None, out: Path) -> JobResult:
    """Write a task's CSV on this machine as `analyze_input` writes it locally: whole or not at
    all, under the output's lock, and a damaged input's rows never over an earlier CSV."""
    result.output = None
    if data is None:
        return result
    if result.error and out.exists():
        result.error += f" (the rows before it were not written; the earlier {out} is kept)"
        return result
    try:
        target = AtomicOutput(out)
        try:
            target.write(data.decode("utf-8"))
            target.commit()
        except BaseException:
            target.discard()
            raise
    except OutputError as e:
        result.error = str(e)
        return result
    result.output = str(out)
    write_listing(result.input, out, result)
    return result
