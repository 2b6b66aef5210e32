"""``mf2``: the command line over `core` (analysis, benchmarks). No Qt here."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import InputError

DEFAULT_BENCH_VIDEO = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "videos" / "WolfgangLanger_Pexels.mp4"


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mf2", description="MF² Studio command line: facial behaviour analysis.")
    parser.add_argument("--verbose", action="store_true", help="keep the native libraries' log messages")
    sub = parser.add_subparsers(dest="command", required=True)

    a = sub.add_parser("analyze", help="per-frame CSV (OpenFace 2.x columns) for videos, images, folders, cameras",
                       description="Analyse each INPUT into OUT/<name>.csv. INPUT: a video file, an image, a folder "
                                   "(each video in it, plus its images as one sequence) or cam:N for webcam N.")
    a.add_argument("inputs", nargs="+", metavar="INPUT")
    a.add_argument("-o", "--output", required=True, type=Path, metavar="OUT", help="folder for the CSV files")
    a.add_argument("--every", type=_positive_int, default=1, metavar="N", help="analyse every Nth frame (default 1)")
    a.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="where the model runs")
    a.add_argument("--max-faces", type=_positive_int, default=8, metavar="N", help="faces per frame (default 8)")
    a.add_argument("--workers", type=_positive_int, default=None, metavar="N",
                   help="parallel worker processes (default: one per CPU core, at most one per input)")
    a.add_argument("--duration", type=float, default=None, metavar="SECONDS",
                   help="for cameras: stop after this long (default: until Ctrl-C)")

    b = sub.add_parser("bench", help="median fps of decoding, face tracking and the whole analyze path")
    b.add_argument("video", nargs="?", default=str(DEFAULT_BENCH_VIDEO))
    b.add_argument("--max-faces", type=_positive_int, default=8, metavar="N")
    return parser


def cmd_analyze(args) -> int:
    from .analyze import AnalyzeOptions, output_paths, plan_jobs
    from .batch import run_jobs
    from .device import resolve_device
    from .progress import ProgressLine

    device = resolve_device(args.device)
    jobs, errors = plan_jobs(args.inputs)
    for line in errors:
        print(f"mf2: {line}", file=sys.stderr)
    if not jobs:
        return 2
    try:
        args.output.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"{args.output}: cannot create output folder ({e.strerror})") from None
    options = AnalyzeOptions(every=args.every, max_faces=args.max_faces, device=device, duration=args.duration)
    display = ProgressLine(len(jobs))
    results = run_jobs(jobs, output_paths(jobs, args.output), options, args.workers, display)
    display.clear()
    written = 0
    for r in results:
        for note in r.notes:
            print(f"mf2: {note}", file=sys.stderr)
        if r.error:
            kept = f"; kept {r.frames} frames before it in {r.output}" if r.output else ""
            print(f"mf2: {r.error}{kept}", file=sys.stderr)
        if r.output:
            written += 1
            print(f"{r.output}: {r.frames} frames, face found in {r.face_frames}")
    if written == 0:
        return 2
    return 0 if all(r.ok for r in results) and not errors else 1


def cmd_bench(args) -> int:
    from .bench import bench_video

    if not Path(args.video).is_file():
        raise InputError(f"{args.video}: no such video (pass one: mf2 bench VIDEO)")
    print(f"mf2 bench: {args.video}")
    for stage in bench_video(args.video, args.max_faces):
        print(stage.line())
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.verbose:
        from .quiet import silence_native_stderr

        silence_native_stderr()
    try:
        return {"analyze": cmd_analyze, "bench": cmd_bench}[args.command](args)
    except InputError as e:
        print(f"mf2: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mf2: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
