"""`mf2 analyze` under signals, crashes, concurrent runs and failing writes, as schedulers,
`timeout` and careless users meet it: every CSV complete or absent, earlier results kept, no
process left behind, one line for each cause."""
from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.analyze import AnalyzeOptions, analyze_input
from core.outputs import AtomicOutput, output_lock

from .conftest import moving_face_frames, write_clip
from .test_cli import mf2, read_rows


@pytest.fixture(scope="module")
def long_clips(tmp_path_factory, face_crop) -> list[Path]:
    """Two clips long enough (20 s each) to be stopped half way."""
    folder = tmp_path_factory.mktemp("long")
    frames = moving_face_frames(face_crop, n=500, size=(320, 240))
    return [write_clip(folder / "first.mp4", frames), write_clip(folder / "second.mp4", frames[::-1])]


@pytest.fixture(scope="module")
def stoppable_clips(tmp_path_factory, face_crop) -> list[Path]:
    """Two clips (60 s each) that two workers cannot finish before a signal stops them, however
    far apart the workers start: with 20 s ones, the first worker once finished its clip before
    the second had written enough to be seen."""
    folder = tmp_path_factory.mktemp("stoppable")
    frames = moving_face_frames(face_crop, n=1500, size=(320, 240))
    return [write_clip(folder / "first.mp4", frames), write_clip(folder / "second.mp4", frames[::-1])]


def start(*args) -> subprocess.Popen:
    """`mf2` in a process group of its own, so the test can find (and finally kill) every child."""
    return subprocess.Popen([sys.executable, "-m", "core.cli", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def group(pgid: int) -> list[int]:
    """Live processes of a process group (zombies excluded)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            pids.append(int(stat.parent.name))
    return pids


def parts(out: Path) -> list[Path]:
    return sorted(out.glob(".*.part"))


def wait_for(condition, timeout: float = 150.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def writing(out: Path, n: int):
    """True once ``n`` workers are writing rows (their temporary CSVs have grown past the header)."""
    return lambda: len([p for p in parts(out) if p.stat().st_size > 4000]) >= n


def finish(proc: subprocess.Popen, timeout: float = 60) -> tuple[int, str, str]:
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    finally:
        for pid in group(proc.pid):
            os.kill(pid, signal.SIGKILL)
    return proc.returncode, stdout, stderr


@pytest.mark.parametrize("to_group", [False, True], ids=["parent", "group"])
def test_sigterm_stops_every_worker_and_keeps_earlier_results(tmp_path, stoppable_clips, to_group):
    out = tmp_path / "out"
    out.mkdir()
    earlier = out / "second.csv"
    earlier.write_text("an earlier complete result\n")
    proc = start("analyze", *stoppable_clips, "-o", out, "--workers", "2")
    wait_for(writing(out, 2))
    (os.killpg if to_group else os.kill)(proc.pid, signal.SIGTERM)
    rc, stdout, stderr = finish(proc)
    assert rc == 128 + signal.SIGTERM
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert any("first.mp4: stopped by SIGTERM after" in line and "nothing written" in line for line in lines), lines
    assert any("second.mp4: stopped by SIGTERM" in line and f"the earlier {earlier} is kept" in line for line in lines)
    assert lines[-1] == "mf2: stopped by SIGTERM: 0 of 2 inputs written"
    wait_for(lambda: not group(proc.pid), timeout=10)  # no worker outlives the run
    assert sorted(p.name for p in out.iterdir()) == ["second.csv"]  # no CSV, .part or lock left
    assert earlier.read_text() == "an earlier complete result\n"


def test_sigint_to_the_parent_alone_is_named_as_such_on_every_line(tmp_path, stoppable_clips):
    """`kill -INT` on mf2 (not Ctrl-C, which reaches the workers too): the workers are stopped with
    the same signal, so each input's line and the summary agree."""
    out = tmp_path / "out"
    proc = start("analyze", *stoppable_clips, "-o", out, "--workers", "2")
    wait_for(writing(out, 2))
    os.kill(proc.pid, signal.SIGINT)
    rc, _, stderr = finish(proc)
    assert rc == 130 and "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert sum("stopped by Ctrl-C after" in line for line in lines) == 2 and "SIGTERM" not in stderr, lines
    assert lines[-1] == "mf2: stopped by SIGINT: 0 of 2 inputs written"


def test_workers_die_with_a_killed_parent(tmp_path, stoppable_clips):
    out = tmp_path / "out"
    proc = start("analyze", *stoppable_clips, "-o", out, "--workers", "2")
    wait_for(writing(out, 2))
    assert len(group(proc.pid)) >= 3  # the parent, two workers (and multiprocessing's tracker)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    try:
        wait_for(lambda: not group(proc.pid), timeout=15)
    finally:
        finish(proc)
    assert list(out.iterdir()) == []  # each worker discarded its unfinished CSV on the way out


def test_ctrl_c_on_one_worker_keeps_the_earlier_csv(tmp_path, long_clips):
    out = tmp_path / "out"
    assert mf2("analyze", long_clips[0], "-o", out, "--every", "25").returncode == 0
    earlier = (out / "first.csv").read_bytes()
    proc = start("analyze", long_clips[0], "-o", out, "--workers", "1")
    wait_for(writing(out, 1))
    os.kill(proc.pid, signal.SIGINT)
    rc, _, stderr = finish(proc)
    assert rc == 130
    assert "first.mp4: stopped by Ctrl-C after" in stderr and "Traceback" not in stderr
    assert (out / "first.csv").read_bytes() == earlier
    assert sorted(p.name for p in out.iterdir()) == [".mf2-inputs.json", "first.csv"]


def test_a_crashed_worker_costs_its_input_alone(tmp_path, long_clips):
    out = tmp_path / "out"
    proc = start("analyze", *long_clips, "-o", out, "--workers", "2")
    wait_for(writing(out, 2))
    first = next(p for p in parts(out) if p.name.startswith(".first.csv."))
    worker = int(first.name.split(".")[3].split("-")[0])  # .first.csv.<pid>-<token>.part
    os.kill(worker, signal.SIGSEGV)  # as MediaPipe did on a huge image
    rc, stdout, stderr = finish(proc, timeout=150)
    assert rc == 1
    assert "first.mp4: the worker analysing it crashed (SIGSEGV inside a native library); nothing written" in stderr
    assert f"{out / 'second.csv'}: 500 frames" in stdout
    assert len(read_rows(out / "second.csv")[1]) == 500
    assert sorted(p.name for p in out.iterdir()) == [".mf2-inputs.json", "second.csv"]


def test_two_runs_on_one_output_never_interleave(tmp_path, long_clips):
    out = tmp_path / "out"
    runs = [start("analyze", long_clips[0], "-o", out, "--every", "5") for _ in range(2)]
    results = [finish(proc, timeout=150) for proc in runs]
    codes = sorted(rc for rc, _, _ in results)
    assert codes in ([0, 0], [0, 2])  # one after the other, or the second refused
    if codes == [0, 2]:
        refused = next(err for rc, _, err in results if rc == 2)
        assert "first.csv: another mf2 run is writing it (pid" in refused
    header, rows = read_rows(out / "first.csv")
    assert [int(r["frame"]) for r in rows] == list(range(1, 501, 5))
    assert all(len(r) == len(header) for r in rows)


def test_a_locked_output_is_one_line_and_the_next_input_goes_on(tmp_path, face_clip, long_clips):
    out = tmp_path / "out"
    out.mkdir()
    lock = output_lock(out / "face.csv").acquire()
    try:
        run = mf2("analyze", face_clip, long_clips[0], "-o", out, "--every", "25")
    finally:
        lock.release()
    assert run.returncode == 1
    assert run.stderr.strip().splitlines() == [
        f"mf2: {out / 'face.csv'}: another mf2 run is writing it (pid {os.getpid()}); not written",
        "mf2: 2 inputs: 1 written, 1 failed"]
    assert sorted(p.name for p in out.iterdir()) == [".mf2-inputs.json", "first.csv"]


def test_write_failures_are_one_line_each_then_the_next_input(tmp_path, face_clip, long_clips):
    out = tmp_path / "out"
    (out / "face.csv").mkdir(parents=True)  # a folder where the CSV should go
    victim = tmp_path / "victim.txt"
    victim.write_text("not yours")
    (out / "first.csv").symlink_to(victim)  # a planted link: never written through
    long_name = tmp_path / ("n" * 251 + ".mp4")  # its CSV's temporary name would not fit
    longest = tmp_path / ("l" * 252 + ".ts")  # nor would its CSV's name
    long_name.write_bytes(face_clip.read_bytes())
    longest.write_bytes(face_clip.read_bytes())
    run = mf2("analyze", face_clip, long_clips[0], long_name, longest, "-o", out, "--every", "25")
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines() == [f"mf2: {out / 'face.csv'}: is a folder; not written",
                                              f"mf2: {out / 'first.csv'}: is a symbolic link; not written through it",
                                              "mf2: 4 inputs: 2 written, 2 failed"]
    assert victim.read_text() == "not yours"
    assert (out / ("n" * 251 + ".csv")).is_file()
    shortened = [p.name for p in out.glob("lll*.csv")]  # its start and a hash of the whole name
    assert len(shortened) == 1 and shortened[0].startswith("l" * 235 + "~") and len(shortened[0]) <= 255
    assert not parts(out)


class FullDisk:
    """A file whose writes fail as on a full disk."""

    def __init__(self, file):
        self._file = file

    def write(self, _text):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name):
        return getattr(self._file, name)


@pytest.mark.parametrize("failing", ["write", "fsync"])
def test_a_full_disk_keeps_the_earlier_csv(tmp_path, face_clip, monkeypatch, failing):
    out = tmp_path / "face.csv"
    out.write_text("earlier\n")
    if failing == "write":
        opened = AtomicOutput.__init__

        def full_disk(self, path):
            opened(self, path)
            self.file = FullDisk(self.file)

        monkeypatch.setattr(AtomicOutput, "__init__", full_disk)
    else:
        monkeypatch.setattr(os, "fsync", lambda fd: FullDisk.write(None, fd))
    result = analyze_input(str(face_clip), out, AnalyzeOptions())
    assert result.error == f"{out}: cannot write (No space left on device)" and result.output is None
    assert out.read_text() == "earlier\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["face.csv"]


def test_a_worker_ended_by_a_stop_signal_is_stopped_not_crashed():
    """Ctrl-C reaches every process of the terminal's group: a worker still starting dies of it
    before it can say so, and its input is 'stopped', as the others' are."""
    from core.batch import _death

    assert _death(-signal.SIGINT) == "stopped by SIGINT" and _death(-signal.SIGTERM) == "stopped by SIGTERM"
    assert _death(-signal.SIGSEGV) == "the worker analysing it crashed (SIGSEGV inside a native library)"
    assert _death(-signal.SIGKILL) == "the worker analysing it crashed (SIGKILL)"
