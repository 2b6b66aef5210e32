"""One model for many workers (core.model_server), the GPU path run here with --device cpu:
the same CSVs byte for byte, whole inputs and chunks alike, and one line when the model is gone."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from .conftest import moving_face_frames, write_clip
from .test_cli import mf2
from .test_job_control import finish, group, start, wait_for


@pytest.fixture(scope="module")
def clips(tmp_path_factory, face_crop) -> list[Path]:
    folder = tmp_path_factory.mktemp("shared")
    frames = moving_face_frames(face_crop, n=150, size=(320, 240))
    return [write_clip(folder / "a.mp4", frames), write_clip(folder / "b.mp4", frames[::-1])]


def spawned(pid: int) -> list[int]:
    """The run's spawned processes (the resource tracker aside), the model process first."""
    found = []
    for p in group(pid):
        try:
            if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes():
                found.append(p)
        except OSError:
            pass
    return found


def outputs(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_workers_sharing_one_model_write_what_each_with_its_own_writes(tmp_path, clips):
    own = mf2("analyze", *clips, "-o", tmp_path / "own", "--workers", "2")
    shared = mf2("analyze", *clips, "-o", tmp_path / "shared", "--workers", "2", "--shared-model", "--device", "cpu")
    assert own.returncode == 0 and shared.returncode == 0, shared.stderr
    assert outputs(tmp_path / "shared") == outputs(tmp_path / "own")
    chunked = mf2("analyze", clips[0], "-o", tmp_path / "chunked", "--workers", "2", "--chunk", "2",
                  "--shared-model", "--device", "cpu")
    alone = mf2("analyze", clips[0], "-o", tmp_path / "alone", "--workers", "2", "--chunk", "2")
    assert chunked.returncode == 0 and alone.returncode == 0, chunked.stderr
    assert outputs(tmp_path / "chunked") == outputs(tmp_path / "alone")


def test_the_model_process_gone_is_one_line_per_input(tmp_path, clips):
    out = tmp_path / "out"
    proc = start("analyze", *clips, "-o", out, "--workers", "2", "--shared-model", "--device", "cpu")
    wait_for(lambda: len(spawned(proc.pid)) == 3)  # the model process, then two workers
    time.sleep(2)
    os.kill(min(spawned(proc.pid)), signal.SIGKILL)
    rc, _, stderr = finish(proc, timeout=150)
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if "the shared model process ended" in line]
    written = sorted(p.name for p in out.iterdir()) if out.exists() else []
    assert len(lines) + len(written) == 2  # each input either finished before, or one line
    assert rc == (2 if not written else 1)
