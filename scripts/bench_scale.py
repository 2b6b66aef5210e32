"""Throughput, CPU use and memory of `mf2 analyze` on long videos (issue 12's targets).

Runs `mf2 analyze` as a user would, once per setting given, and prints for each: wall time,
frames per second, CPU use over the run (user + system time of the whole process tree / wall
time, 200% = both cores of a 2-core machine busy), and peak resident memory, both of the largest
single process and of the whole tree summed (sampled every 0.5 s from /proc; Linux).

    .venv/bin/python scripts/bench_scale.py /tmp/scale/long_20min.mp4 --runs default "--workers 1 --threads 1"

Long test videos: scripts/make_long_video.py.
"""
from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = os.sysconf("SC_PAGE_SIZE")
TICK = os.sysconf("SC_CLK_TCK")


def tree(root: int) -> list[int]:
    """``root`` and every process descended from it."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = {root}, [root]
    while frontier:
        frontier = [p for p, pp in parents.items() if pp in frontier and p not in found]
        found.update(frontier)
    return sorted(found)


def rss_mb(pid: int) -> float:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE / 2**20
    except (OSError, IndexError):
        return 0.0


def run(video: Path, extra: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "core.cli", "analyze", str(video), "-o", out, *extra]
        started = time.monotonic()
        before = os.times()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        peak = {"one": 0.0, "all": 0.0}

        def sample() -> None:
            while proc.poll() is None:
                sizes = [rss_mb(p) for p in tree(proc.pid)]
                peak["one"] = max(peak["one"], max(sizes, default=0))
                peak["all"] = max(peak["all"], sum(sizes))
                time.sleep(0.5)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        stdout, stderr = proc.communicate()
        wall = time.monotonic() - started
        after = os.times()
        sampler.join()
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {stderr.strip()[-500:]}")
        frames = int(stdout.split(": ")[1].split()[0])
        cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
        return {"wall": wall, "frames": frames, "cpu": 100 * cpu / wall, **peak}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("videos", type=Path, nargs="+")
    parser.add_argument("--runs", nargs="+", default=["default"],
                        help='settings, each one string of mf2 analyze options ("default": none)')
    args = parser.parse_args()
    for video in args.videos:
        for setting in args.runs:
            extra = [] if setting == "default" else shlex.split(setting)
            r = run(video, extra)
            print(f"{video.name:<20} {setting:<28} {r['wall']:8.1f} s  {r['frames'] / r['wall']:6.1f} fps  "
                  f"CPU {r['cpu']:4.0f}%  peak RSS {r['one']:6.0f} MB largest process, {r['all']:6.0f} MB all",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
