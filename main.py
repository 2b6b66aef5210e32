"""``mf2-studio``: starts the desktop application, or renders one snapshot of it and exits."""
from __future__ import annotations

import argparse
import os
import sys


def _has_display() -> bool:
    if sys.platform != "linux" or os.environ.get("QT_QPA_PLATFORM"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a time in seconds") from None
    if value < 0:
        raise argparse.ArgumentTypeError("a time in seconds can't be negative")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mf2-studio", description="MF² Studio: facial behaviour analysis in video.")
    parser.add_argument("input", nargs="?", help="a video or image to open (cam:N for a webcam)")
    parser.add_argument("--live", action="store_true",
                        help="show INPUT live: a webcam, or a video played in real time as if it were one")
    parser.add_argument("--snapshot", metavar="OUT.png",
                        help="analyse INPUT, render the whole window at --at seconds to OUT.png, and exit")
    parser.add_argument("--at", type=_seconds, default=0.0, metavar="SECONDS", help="time of the snapshot")
    parser.add_argument("--size", default="1600x1000", metavar="WxH", help="window size of the snapshot")
    parser.add_argument("--segments", metavar="FILE", default=None,
                        help="with --snapshot: show these segments (a CSV of name,start,end or an ELAN .eaf)")
    parser.add_argument("--people", choices=("selected", "all"), default="selected",
                        help="with --snapshot: the timelines show the selected person, or everyone")
    parser.add_argument("--tab", choices=("timelines", "statistics"), default="timelines",
                        help="with --snapshot: the bottom dock's tab shown")
    parser.add_argument("--search", metavar="TEXT", default=None,
                        help="with --snapshot: search the faces for this description first (lanes, moments)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.snapshot and not args.input:
        parser.error("--snapshot needs a video to open")
    if args.snapshot and not os.environ.get("QT_QPA_PLATFORM") and not _has_display():
        os.environ["QT_QPA_PLATFORM"] = "offscreen"  # a snapshot needs no screen
    if not _has_display():
        print("mf2-studio: no display found (DISPLAY/WAYLAND_DISPLAY unset); run it on a desktop, "
              "or use the command line: mf2 analyze VIDEO -o OUT", file=sys.stderr)
        return 2
    from core.quiet import silence_native_stderr

    silence_native_stderr()
    from PySide6.QtCore import QCoreApplication
    from PySide6.QtWidgets import QApplication

    QCoreApplication.setOrganizationName("MF2 Studio")
    QCoreApplication.setApplicationName("MF2 Studio")
    app = QApplication.instance() or QApplication(sys.argv[:1])
    from app.main_window import MainWindow
    from app.snapshot import take_snapshot

    window = MainWindow()
    if args.snapshot:
        return take_snapshot(app, window, args.input, args.snapshot, args.at, args.size, segments=args.segments,
                             people=args.people, tab=args.tab, search=args.search)
    window.show()
    if args.input:
        from core.video import camera_index

        if args.live or camera_index(args.input) is not None:
            window.open_live(args.input, paced=camera_index(args.input) is None)
        else:
            window.open(args.input)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
