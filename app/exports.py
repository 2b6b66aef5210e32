"""File > Export: the per-frame CSV, the timelines as a PNG, a snapshot of the annotated frame,
the session report (HTML), an ELAN file, the segments as a CSV, and the Statistics dock's figures.

Every export of the analysis goes through the session (core.session.Session), so each carries the
people's names in its ``person`` column and the user's segments. The CSV, images and segments are
written at once; the report, the ELAN file and the statistics are made in the thread pool (an
hour's CSV takes a while to write and read) and announce themselves on `finished`.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog

from core.errors import InputError
from core.outputs import output_file
from core.video import camera_index

from .frame_view import to_qimage
from .overlay import render_annotated
from .workers import CallJob


class Exports(QObject):
    finished = Signal(str, object)  # what ("report", "elan", "statistics"), and the path or the Statistics
    failed = Signal(str, str)       # what, and why

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.session = window.session
        self.busy: set[str] = set()
        self._latest: dict[str, object] = {}  # what -> its newest job (an older one's result is dropped)

    # --- file names -----------------------------------------------------------------------------
    def _save_path(self, title: str, suffix: str, filter_: str) -> Path | None:
        w = self.window
        spec = self.session.source
        stem = Path(spec).stem if spec and ":" not in spec else "camera"
        if w.frame is not None and suffix == ".png" and "napshot" in title:
            stem += f"_{w.frame.timestamp:.2f}s"
        default = Path(w.settings.value("export_dir", str(Path.home()))) / f"{stem}{suffix}"
        path, _ = QFileDialog.getSaveFileName(w, title, str(default), filter_)
        if not path:
            return None
        w.settings.setValue("export_dir", str(Path(path).parent))
        return Path(path)

    def _checked(self, path: Path | None, suffix: str, analysis: bool = False) -> Path | None:
        """``path`` as `mf2`'s own outputs are checked (core.outputs.output_file): never the open
        video, never an existing file of another kind (a recording, an analysis CSV under a report's
        or a segments file's name) unless ``analysis`` is written; None, said in one line, when it
        may not be written."""
        if path is None:
            return None
        source = self.session.source
        video = Path(source) if source and camera_index(source) is None else None
        try:
            return output_file(Path(path), suffix, {"video": video}, "open in the studio", analysis)
        except InputError as e:
            self.window._fail(str(e))
            return None

    def _analysed(self) -> bool:
        analysis = self.session.analysis
        if not analysis or not len(analysis):
            self.window._fail("Nothing analysed yet to export")
            return False
        return True

    # --- at once --------------------------------------------------------------------------------
    def export_csv(self, path: Path | None = None) -> Path | None:
        """The per-frame CSV of what has been analysed, in `mf2 analyze`'s format (the people's
        names in the ``person`` column)."""
        if not self._analysed():
            return None
        path = self._checked(path or self._save_path("Export CSV", ".csv", "CSV (*.csv)"), ".csv", analysis=True)
        if path:
            try:
                self.session.write_csv(path)
            except InputError as e:  # the CSV could not be written whole (folder, link, disk full, in use)
                self.window._fail(str(e))
                return None
            analysis = self.session.analysis
            note = "" if analysis.complete else " (analysis not complete: the frames analysed so far)"
            self.window.statusBar().showMessage(f"Wrote {path}: {len(analysis)} frames{note}")
        return path

    def export_timelines(self, path: Path | None = None) -> Path | None:
        if not self._analysed():
            return None
        path = self._checked(path or self._save_path("Export timelines", ".png", "PNG image (*.png)"), ".png")
        if path and self._save_image(self.window.timelines.grab(), path):
            return path
        return None

    def export_snapshot(self, path: Path | None = None) -> Path | None:
        """The current frame at full resolution with its overlays."""
        w = self.window
        if w.frame is None:
            w._fail("No frame to export yet")
            return None
        path = self._checked(path or self._save_path("Export snapshot", ".png", "PNG image (*.png)"), ".png")
        if not path:
            return None
        analysis = self.session.analysis
        result = analysis.at(w.frame.index) if analysis else None
        image = render_annotated(to_qimage(w.frame.rgb), result, w.view.options, self.session.selected,
                                 w.view.key, w.view.label)
        return path if self._save_image(image, path) else None

    def export_segments(self, path: Path | None = None) -> Path | None:
        """The segments as ``name,start,end`` (what `mf2 stats --segments` and Import read)."""
        if not self.session.segments:
            self.window._fail("No segments to export: drag in the segments lane, or I and O at the playhead")
            return None
        path = self._checked(path or self._save_path("Export segments", "_segments.csv", "CSV (*.csv)"), ".csv")
        if path:
            try:
                self.session.write_segments_csv(path)
            except InputError as e:
                self.window._fail(str(e))
                return None
            self.window.statusBar().showMessage(f"Wrote {path}: {len(self.session.segments)} segments")
        return path

    def _save_image(self, image, path: Path) -> bool:
        if not image.save(str(path)):
            self.window._fail(f"{path}: cannot write the image (check the folder and the .png suffix)")
            return False
        self.window.statusBar().showMessage(f"Wrote {path}")
        return True

    # --- in the pool ------------------------------------------------------------------------------
    def export_report(self, path: Path | None = None) -> Path | None:
        """The session report (core.report): one self-contained HTML file."""
        return self._export_in_pool("report", path, ("Export session report", "_report.html", "HTML (*.html)"),
                                    lambda snapshot, p: snapshot.write_report(p), "the report")

    def export_elan(self, path: Path | None = None) -> Path | None:
        """An ELAN file (core.export.elan): emotion and AU tiers per person, the segments, the video linked."""
        return self._export_in_pool("elan", path, ("Export ELAN file", ".eaf", "ELAN (*.eaf)"),
                                    lambda snapshot, p: snapshot.write_elan(p), "the ELAN file")

    def _export_in_pool(self, what: str, path: Path | None, ask: tuple[str, str, str], write, name: str
                        ) -> Path | None:
        """``write(snapshot, path)`` in the thread pool, of the session as it is now (whatever is
        opened meanwhile); ``ask``: the save dialog's title, suffix and filter when no path is given."""
        if not self._analysed():
            return None
        path = self._checked(Path(path) if path else self._save_path(*ask), ask[1][ask[1].rfind("."):])
        if path:
            snapshot = self.session.snapshot()
            self._start(what, lambda: (write(snapshot, path), path)[1], f"Writing {name} {path.name}…")
        return path

    def compute_statistics(self) -> bool:
        """The Statistics dock's figures, made again from the analysis as it is now."""
        analysis = self.session.analysis
        if not analysis or not len(analysis) or self.window.analysis_job is not None:
            self.window.statistics.set_stale("Statistics come once the analysis has finished.")
            return False
        self.window.statistics.set_stale("Computing…")
        snapshot = self.session.snapshot()
        self._start("statistics", lambda: (snapshot.analysis, snapshot.statistics()), "")
        return True

    def _start(self, what: str, work, message: str) -> None:
        job = CallJob(work)
        if message:
            self.window.statusBar().showMessage(message)
        self.busy.add(what)
        self._latest[what] = job

        def done(value) -> None:
            if self._latest.get(what) is not job:
                return
            self.busy.discard(what)
            if what == "statistics":
                analysis, value = value
                if analysis is not self.session.analysis:  # another video opened meanwhile: its own come
                    return
                self.window.statistics.show_stats(value)
            else:
                self.window.statusBar().showMessage(f"Wrote {value}")
            self.finished.emit(what, value)

        def failed(message: str) -> None:
            if self._latest.get(what) is not job:
                return
            self.busy.discard(what)
            if what == "statistics":
                self.window.statistics.set_stale(message)
            self.window._fail(message)
            self.failed.emit(what, message)

        self.window._run(job, done, failed)
