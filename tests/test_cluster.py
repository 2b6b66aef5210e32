"""`mf2 analyze --ray`: the same CSVs and per-input errors as a local run, a dying worker retried
then reported for its input alone, a GPU share asked only when the model can use it, one line
without the cluster extra, Ctrl-C cancelling the tasks and ending the private cluster.

One private Ray cluster (2 CPUs, this machine only) serves the module, reached by ``mf2`` at its
address as a multi-machine cluster is; the Ctrl-C test starts its own with ``--ray local``."""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from core.analyze import AnalyzeOptions, JobResult
from core.cluster import (GPU_SHARE, MISSING, TEMP_PREFIX, Kind, Unit, analyse_chunk, analyse_whole, on_this_node,
                          run_jobs_ray, task_functions)

from .conftest import SHARED_DATA, needs_shared
from .test_cli import mf2

ray = pytest.importorskip("ray", reason="the cluster extra (pip install -e .[test] brings it)")


@pytest.fixture(scope="module")
def cluster():
    """The address of a private cluster this test process is also connected to. It declares a GPU
    that is not there: tasks that ask for one are scheduled, only CUDA itself would fail."""
    sigterm, auth = signal.getsignal(signal.SIGTERM), os.environ.get("RAY_AUTH_MODE")
    ray.init(address="local", num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False,
             logging_level=logging.ERROR)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
        signal.signal(signal.SIGTERM, sigterm)  # ray.init puts its own in place
        if auth is None:  # and turns token authentication on for this process's children
            os.environ.pop("RAY_AUTH_MODE", None)


def ray_processes() -> set[int]:
    """Live processes of any Ray cluster on this machine (its servers and workers)."""
    found = set()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ")
            state = (cmdline.parent / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and any(k in text for k in (b"raylet", b"gcs_server", b"default_worker", b"ray::",
                                                    b"ray/dashboard", b"log_monitor", b"ray/autoscaler",
                                                    b"_hold_local_cluster")):
            found.add(int(cmdline.parent.name))
    return found


def task_folders() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob(f"{TEMP_PREFIX}*"))


def writing_rows(folders: set[Path]) -> bool:
    """True once a task in a folder not in ``folders`` has written rows past the CSV's header."""
    for folder in task_folders() - folders:
        try:
            if any(p.stat().st_size > 4000 for p in folder.glob(".*.part")):
                return True
        except OSError:  # finished or cancelled meanwhile
            pass
    return False


def test_the_cluster_writes_what_a_local_run_writes(tmp_path, cluster, face_clip, blank_clip):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    inputs = [face_clip, blank_clip, tmp_path / "missing.mp4", text]
    local = mf2("analyze", *inputs, "-o", tmp_path / "local", "--workers", "1", "--device", "cpu")
    remote = mf2("analyze", *inputs, "-o", tmp_path / "ray", "--ray", cluster, "--device", "cpu")
    assert local.returncode == 1, local.stderr
    assert (remote.returncode, remote.stderr) == (local.returncode, local.stderr)
    assert remote.stdout == local.stdout.replace(str(tmp_path / "local"), str(tmp_path / "ray"))
    assert sorted(p.name for p in (tmp_path / "ray").iterdir()) == [".mf2-inputs.json", "blank.csv", "face.csv"]  # nothing else
    for name in ("blank.csv", "face.csv"):
        assert (tmp_path / "ray" / name).read_bytes() == (tmp_path / "local" / name).read_bytes()


def _dies(spec: str, options: AnalyzeOptions, tries: str, times: int):
    """The worker dies (as in a native crash) on the first ``times`` tries, then analyses."""
    with open(tries, "a") as f:
        f.write("x")
    if os.path.getsize(tries) <= times:
        os._exit(1)
    return analyse_whole(spec, options)


def test_a_dying_worker_is_retried_then_costs_its_input_alone(tmp_path, cluster, face_clip, blank_clip):
    tries = {"face": tmp_path / "face.tries", "blank": tmp_path / "blank.tries"}
    dies = {"face": 1, "blank": 99}  # the face's worker dies once, the blank clip's on every try

    def split(job, spec, options):
        name = Path(spec).stem
        return [Unit(job, 0, _dies, (spec, options, str(tries[name]), dies[name]))]

    out = tmp_path / "out"
    out.mkdir()
    (out / "blank.csv").write_text("an earlier result\n")
    results = run_jobs_ray([str(face_clip), str(blank_clip)], [out / "face.csv", out / "blank.csv"],
                           AnalyzeOptions(), "unused: already connected", kind=Kind(split, lambda spec, parts: parts[0]))
    assert [r.input for r in results] == [str(face_clip), str(blank_clip)]
    assert results[0].ok and results[0].output == str(out / "face.csv") and results[0].frames == 12
    assert results[1].error == f"{blank_clip}: the worker analysing it crashed (3 tries on the Ray cluster); nothing written"
    assert tries["face"].read_text() == "xx" and tries["blank"].read_text() == "xxx"  # max_retries=2
    expected = tmp_path / "expected.csv"
    from core.analyze import analyze_input

    analyze_input(str(face_clip), expected, AnalyzeOptions())
    assert (out / "face.csv").read_bytes() == expected.read_bytes()
    assert (out / "blank.csv").read_text() == "an earlier result\n"
    assert sorted(p.name for p in out.iterdir()) == ["blank.csv", "face.csv"]


def _probe(spec: str, options: AnalyzeOptions):
    """What a task was given: its device, its share of the node, the model it would load."""
    assigned = sorted(ray.get_runtime_context().get_assigned_resources().items())
    return JobResult(spec, notes=[options.device, str(assigned), str(on_this_node(options).model)]), None


@pytest.mark.parametrize("device", ["auto", "cpu"])
def test_tasks_ask_for_a_gpu_share_when_the_model_can_use_one(tmp_path, cluster, device):
    from core.cli import default_model_dir

    options = AnalyzeOptions(device=device, model=str(default_model_dir()))
    probe = Kind(lambda job, spec, options: [Unit(job, 0, _probe, (spec, options))], lambda spec, parts: parts[0])
    [result] = run_jobs_ray(["clip.mp4"], [tmp_path / "clip.csv"], options, cluster, kind=probe)
    expected = ["cuda", str([("CPU", 1.0), ("GPU", GPU_SHARE)])] if device == "auto" else ["cpu", str([("CPU", 1.0)])]
    assert result.notes == expected + [str(default_model_dir())]  # the shipped model: each node's own copy
    assert result.ok and result.output is None and not (tmp_path / "clip.csv").exists()


def test_without_the_cluster_extra_it_is_one_line(tmp_path, face_clip):
    code = "import sys; sys.modules['ray'] = None; from core.cli import main; sys.exit(main(sys.argv[1:]))"
    run = subprocess.run([sys.executable, "-c", code, "analyze", str(face_clip), "-o", str(tmp_path / "out"),
                          "--ray", "local"], capture_output=True, text=True, timeout=120)
    assert (run.returncode, run.stderr) == (2, f"mf2: {MISSING}\n")
    assert not (tmp_path / "out").exists()


@needs_shared
def test_ctrl_c_cancels_the_tasks_and_ends_the_local_cluster(tmp_path, face_clip):
    video = SHARED_DATA / "videos" / "WolfgangLanger_Pexels.mp4"
    out = tmp_path / "out"
    before, folders = ray_processes(), task_folders()
    proc = subprocess.Popen([sys.executable, "-m", "core.cli", "analyze", str(video), str(face_clip), "-o", str(out),
                             "--ray", "local", "--workers", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not writing_rows(folders):  # the task is writing rows on its node
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.2)
        os.kill(proc.pid, signal.SIGINT)
        stopped = time.monotonic()
        stdout, stderr = proc.communicate(timeout=60)
        took = time.monotonic() - stopped
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, stderr
    assert took < 30
    assert stdout == "" and stderr.splitlines() == [
        f"mf2: {video}: stopped by Ctrl-C; nothing written",
        f"mf2: {face_clip}: not started (stopped by SIGINT)",
        "mf2: stopped by SIGINT: 0 of 2 inputs written"]
    assert list(out.iterdir()) == []  # no CSV, no partial one, no lock
    deadline = time.monotonic() + 20
    while ray_processes() - before or task_folders() - folders:
        assert time.monotonic() < deadline, (ray_processes() - before, task_folders() - folders)
        time.sleep(0.2)


def test_chunks_run_on_workers_that_ray_replaces_after_a_few():
    """Chunk tasks go to a Ray function with max_calls (MediaPipe leaves memory behind every
    chunk); whole inputs to one without; both with the run's task options."""
    from core.chunks import CHUNKS_PER_PROCESS

    class Function:
        def __init__(self, fn, settings):
            self.fn, self.settings = fn, settings

        def options(self, **options):
            return self.fn, self.settings, options

    class FakeRay:
        def remote(self, fn=None, **settings):
            return Function(fn, settings) if fn else lambda f: Function(f, settings)

    remote = task_functions(FakeRay(), {"num_cpus": 1})
    _, chunk_settings, chunk_options = remote(Unit(0, 1, analyse_chunk, ()), "mf2 long.mp4 #1")
    _, whole_settings, whole_options = remote(Unit(1, 0, analyse_whole, ()), "mf2 short.mp4")
    assert chunk_settings == {"max_calls": CHUNKS_PER_PROCESS} and whole_settings == {}
    assert chunk_options == {"name": "mf2 long.mp4 #1", "num_cpus": 1} and whole_options["name"] == "mf2 short.mp4"


def test_a_long_video_in_chunks_on_the_cluster_writes_what_chunks_on_this_machine_write(tmp_path, cluster, face_crop):
    from .conftest import moving_face_frames, write_clip

    clip = write_clip(tmp_path / "long.mp4", moving_face_frames(face_crop, n=150, size=(320, 240)))  # 6 s
    local = mf2("analyze", clip, "-o", tmp_path / "local", "--workers", "2", "--chunk", "2", "--device", "cpu")
    remote = mf2("analyze", clip, "-o", tmp_path / "ray", "--ray", cluster, "--chunk", "2", "--device", "cpu")
    assert local.returncode == 0 and remote.returncode == 0, remote.stderr
    assert (tmp_path / "ray" / "long.csv").read_bytes() == (tmp_path / "local" / "long.csv").read_bytes()
    one_pass = mf2("analyze", clip, "-o", tmp_path / "one", "--workers", "1")
    assert one_pass.returncode == 0  # and chunks were made: their landmarks differ from one pass's by jitter
    assert (tmp_path / "one" / "long.csv").read_bytes() != (tmp_path / "local" / "long.csv").read_bytes()


def test_the_driver_writes_a_chunked_video_as_its_chunks_come_back(tmp_path, face_crop):
    """The driver joins a long video's chunks as they arrive: a chunk it can use is scored and
    dropped at once (it does not wait for the last chunk holding every other one), a chunk that
    came early waits for the one before it, and the CSV is the same whatever order they came in
    (that it equals a local chunked run's is tested on the cluster above)."""
    from core.chunks import analyze_chunk
    from core.cluster import chunked
    from core.model.shipped import default_model_dir

    from .conftest import moving_face_frames, write_clip

    clip = write_clip(tmp_path / "long.mp4", moving_face_frames(face_crop, n=200, size=(320, 240)))  # 8 s
    options = AnalyzeOptions(chunk_s=3, model=str(default_model_dir()))
    kind = chunked(3, options)
    units = kind.split(0, str(clip), options)
    assert len(units) == 3
    found = [analyze_chunk(str(clip), unit.args[1], options) for unit in units]
    (tmp_path / "ray").mkdir()
    joiner = kind.joiner(str(clip), tmp_path / "ray" / "long.csv", units)

    def held() -> int:  # chunks handed in and not yet taken by the join
        return joiner.feed.held()

    def settle(condition) -> None:
        deadline = time.monotonic() + 30
        while not condition():
            assert time.monotonic() < deadline, (held(), joiner.done(), joiner.result)
            time.sleep(0.05)

    joiner.put((units[2].args[1], found[2]))  # the last chunk first: it must wait
    joiner.put((units[0].args[1], found[0]))
    settle(lambda: held() == 1)  # the first was taken; the last waits for the second
    assert not joiner.done() and not (tmp_path / "ray" / "long.csv").exists()
    joiner.put((units[1].args[1], found[1]))
    settle(joiner.done)
    assert joiner.result.error is None and held() == 0
    (tmp_path / "in_order").mkdir()  # the chunks handed in as they come in order: the same CSV
    in_order = kind.joiner(str(clip), tmp_path / "in_order" / "long.csv", units)
    for unit, chunk_found in zip(units, found):
        in_order.put((unit.args[1], chunk_found))
    settle(in_order.done)
    assert (tmp_path / "ray" / "long.csv").read_bytes() == (tmp_path / "in_order" / "long.csv").read_bytes()


def test_a_lost_chunk_ends_the_join_without_a_csv(tmp_path, face_crop):
    from core.chunks import WorkerLost
    from core.cluster import chunked

    from .conftest import moving_face_frames, write_clip

    clip = write_clip(tmp_path / "long.mp4", moving_face_frames(face_crop, n=150, size=(320, 240)))
    options = AnalyzeOptions(chunk_s=2)
    kind = chunked(3, options)
    joiner = kind.joiner(str(clip), tmp_path / "long.csv", kind.split(0, str(clip), options))
    joiner.fail(WorkerLost("the node analysing it died"))
    joiner.thread.join(30)
    assert joiner.done() and "the node analysing it died" in joiner.result.error
    assert not (tmp_path / "long.csv").exists()
