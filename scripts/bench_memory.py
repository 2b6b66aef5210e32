"""Memory of the analyse path over a long video, for issue 12's "flat from a minute to an hour"
(compare the peaks with a one-minute video's). With ``--workers 1``, inside one process as
`mf2 analyze --workers 1` runs: RSS every ``--every`` frames and the process's peak (``ru_maxrss``,
which also catches spikes between samples). With more workers, the video in chunks as
`mf2 analyze` runs it by default: the peak of this process (which joins the chunks and writes the
CSV) and of the largest worker. The shipped model; the CSV goes to a temporary folder.

    .venv/bin/python scripts/bench_memory.py /tmp/scale/long_60min.mp4 [--every 3600] [--workers 2]

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
from core.batch import run_jobs
from core.model.shipped import default_model_dir
from core.quiet import silence_native_stderr


def rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize() / 2**20


def peak_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # KiB on Linux; of the largest child for RUSAGE_CHILDREN


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video")
    parser.add_argument("--every", type=int, default=3600, help="frames between samples (default 3600: 2 min at 30 fps)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--chunk", type=float, default=AnalyzeOptions.chunk_s, help="chunk length in s, as `mf2 analyze --chunk`")
    args = parser.parse_args()
    silence_native_stderr()
    start = time.perf_counter()
    options = AnalyzeOptions(model=str(default_model_dir()), chunk_s=args.chunk)
    if args.workers > 1:
        with tempfile.TemporaryDirectory() as folder:
            [result] = run_jobs([args.video], [Path(folder) / "out.csv"], options, args.workers)
        print(f"{Path(args.video).name}: {result.frames} frames in {time.perf_counter() - start:.0f} s on "
              f"{args.workers} workers, peak RSS {peak_mb():.0f} MB joining, {peak_mb(resource.RUSAGE_CHILDREN):.0f} MB "
              f"the largest worker{'; ' + result.error if result.error else ''}")
        return 0

    def progress(done: int, total: int | None) -> None:
        if done % args.every == 0:
            print(f"{done:7d} frames  {time.perf_counter() - start:6.0f} s  RSS {rss_mb():4.0f} MB  "
                  f"peak {peak_mb():4.0f} MB", flush=True)

    with tempfile.TemporaryDirectory() as folder:
        result = analyze_input(args.video, Path(folder) / "out.csv", options, progress)
    print(f"{Path(args.video).name}: {result.frames} frames in {time.perf_counter() - start:.0f} s, "
          f"peak RSS {peak_mb():.0f} MB{'; ' + result.error if result.error else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
