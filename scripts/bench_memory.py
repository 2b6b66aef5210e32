"""Memory of the analyse path over a long video, inside one process: RSS every ``--every`` frames
and the process's peak (``ru_maxrss``, which also catches spikes between samples), for issue 12's
"flat from a minute to an hour" (compare the peak with a one-minute video's). Runs `analyze_input`
as `mf2 analyze --workers 1` does, with the shipped model; the CSV goes to a temporary folder.

    .venv/bin/python scripts/bench_memory.py /tmp/scale/long_60min.mp4 [--every 3600]

Long test videos: scripts/make_long_video.py.
"""
from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

from core.analyze import AnalyzeOptions, analyze_input
from core.model.shipped import default_model_dir
from core.quiet import silence_native_stderr


def rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize() / 2**20


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video")
    parser.add_argument("--every", type=int, default=3600, help="frames between samples (default 3600: 2 min at 30 fps)")
    args = parser.parse_args()
    silence_native_stderr()
    start = time.perf_counter()

    def progress(done: int, total: int | None) -> None:
        if done % args.every == 0:
            print(f"{done:7d} frames  {time.perf_counter() - start:6.0f} s  RSS {rss_mb():4.0f} MB  "
                  f"peak {peak_mb():4.0f} MB", flush=True)

    with tempfile.TemporaryDirectory() as folder:
        result = analyze_input(args.video, Path(folder) / "out.csv", AnalyzeOptions(model=str(default_model_dir())),
                               progress)
    print(f"{Path(args.video).name}: {result.frames} frames in {time.perf_counter() - start:.0f} s, "
          f"peak RSS {peak_mb():.0f} MB{'; ' + result.error if result.error else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
