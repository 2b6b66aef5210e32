"""``mf2-studio``: starts the desktop application."""
from __future__ import annotations

import argparse
import os
import sys


def _has_display() -> bool:
    if sys.platform != "linux" or os.environ.get("QT_QPA_PLATFORM"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mf2-studio", description="MF² Studio: facial behaviour analysis in video.")
    parser.add_argument("input", nargs="?", help="a video or image to open")
    args = parser.parse_args(argv)
    if not _has_display():
        print("mf2-studio: no display found (DISPLAY/WAYLAND_DISPLAY unset); run it on a desktop, "
              "or use the command line: mf2 analyze VIDEO -o OUT", file=sys.stderr)
        return 2
    from core.quiet import silence_native_stderr

    silence_native_stderr()
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    window = MainWindow()
    window.show()
    if args.input:
        window.open(args.input)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
