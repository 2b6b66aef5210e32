"""Emotion and AU timelines of the people chosen, with a playhead synced to playback, over the
user's segments.

One *lane* per person shown, titled with their name: one line per emotion probability over
their AU activations as a heatmap (one row per AU, colour as on the video overlay). Under the
lanes the segments lane: the user's named time ranges (overlapping ones on rows of their own);
drag in it to mark a new one, right-click one to rename or remove it. Every plot shares the time
axis; the mouse wheel zooms and dragging pans in time; clicking, or dragging the playhead, seeks.
Frames where the person is absent are gaps, not zeros.

After a text search each lane has a third plot under its heatmap, titled with the search text:
the person's faces' smoothed similarity to it (one value per face; the same scale in every lane),
the best moments marked with their rank.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPoint, Qt, Signal

from core.segments import SEGMENT_COLOURS, Segment, overlap_rows

from .overlay import COLORMAP, SELECTED_COLOR

EMOTION_COLORS = {"neutral": "#9e9e9e", "happy": "#f2c12e", "sad": "#4a7bd0", "surprise": "#ff8c1a",
                  "fear": "#8e5bd0", "disgust": "#3aa655", "angry": "#e0403a", "contempt": "#b07a4a"}

MAX_COLUMNS = 4000  # heatmap columns: finer than any screen, bounded for hour-long videos
LANE_MIN_PX = 120   # a lane's least height; more lanes than fit scroll
SEGMENTS_PX = 64
AXIS_PX = 64        # equal left axes keep every plot's time scale aligned
TICK_PX = 11        # an AU name on the heatmap's axis needs this much height
SEARCH_PX = 56      # a search plot's least height
SEARCH_COLOR = "#4dd0e1"
MOMENT_COLOR = "#ffffff"
_LUT = (COLORMAP.getLookupTable(0.0, 1.0, 256, alpha=False)).astype(np.uint8)


def heatmap_rgba(values: np.ndarray) -> np.ndarray:
    """(F, A) probabilities -> (F, A, 4) uint8 colours; NaN (face absent) is transparent."""
    finite = np.isfinite(values)
    idx = (np.clip(np.nan_to_num(values), 0, 1) * 255).astype(np.uint8)
    rgba = np.zeros(values.shape + (4,), np.uint8)
    rgba[..., :3] = _LUT[idx]
    rgba[..., 3] = np.where(finite, 255, 0)
    return rgba


def uniform_columns(times: np.ndarray, values: np.ndarray, max_columns: int = MAX_COLUMNS):
    """An image's columns are evenly spaced, frame times need not be (variable frame rate): each
    column at time t shows the frame on screen at t. Long videos get at most ``max_columns``."""
    step = float(np.percentile(np.diff(times), 10)) if len(times) > 1 else 1.0 / 25  # resolves the dense parts
    step = max(step, float(times[-1] - times[0]) / max_columns, 1e-3)
    grid = np.arange(float(times[0]), float(times[-1]) + step / 2, step)
    if len(grid) < 2:
        grid = np.array([float(times[0]), float(times[0]) + step])
    index = np.clip(np.searchsorted(times, grid + 1e-6, side="right") - 1, 0, len(times) - 1)
    return grid, values[index]


def segment_rows(segments: list[Segment]) -> list[int]:
    """Per segment (in the order given), the row it is drawn on (`core.segments.overlap_rows`)."""
    return overlap_rows(segments, tolerance=1e-9)


def with_gaps(times: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A NaN put between two faces further apart than 1.5 frames (the person was absent), so a
    line drawn with ``connect="finite"`` breaks there."""
    times, values = np.asarray(times, np.float64), np.asarray(values, np.float64)
    if len(times) < 2:
        return times, values
    step = np.diff(times)
    at = np.flatnonzero(step > 1.5 * max(float(np.median(step)), 1e-6)) + 1
    return np.insert(times, at, times[at - 1] + step[at - 1] / 2), np.insert(values, at, np.nan)


def segment_color(name: str, names: list[str]) -> str:
    return SEGMENT_COLOURS[names.index(name) % len(SEGMENT_COLOURS)] if name in names else SEGMENT_COLOURS[0]


class _Heatmap(pg.ImageItem):
    """The AU heatmap; hovering a cell names its AU, time and activation, since not every row
    can carry its name on the axis (23 AUs in a lane a hundred pixels high)."""

    def __init__(self, names):
        super().__init__(axisOrder="row-major")
        self.names = names                     # () -> the rows' AU names, bottom up
        self.values = np.zeros((0, 0))         # (AUs, columns) activations, NaN where not read
        self.times = np.zeros(0)               # each column's start, seconds

    def hoverEvent(self, event) -> None:
        if event.isExit() or not self.values.size:
            self.setToolTip("")
            return
        row, column = int(event.pos().y()), int(event.pos().x())
        names = self.names()
        if not (0 <= row < min(len(names), self.values.shape[0]) and 0 <= column < self.values.shape[1]):
            self.setToolTip("")
            return
        value = self.values[row, column]
        self.setToolTip(f"{names[row]} at {self.times[column]:.2f} s: "
                        + ("not read" if value != value else f"{value:.2f}"))


class Lane:
    """One person's plots: emotion lines above, AU heatmap below (and, with ``search``, the
    similarity to the search text under it)."""

    def __init__(self, key: int | None, search: bool = False):
        self.key = key
        self.emotion_plot = pg.PlotItem()
        self.au_plot = pg.PlotItem()
        self.search_plot = pg.PlotItem() if search else None
        self.emotion_plot.setLabel("left", "emotion")
        self.emotion_plot.setYRange(0, 1, padding=0.02)
        self.emotion_plot.getAxis("left").setTicks([[(0, "0"), (0.5, "0.5"), (1, "1")]])
        # an hour is 108,000 points a curve: draw only those in view, a min and a max per few pixels
        self.emotion_plot.setDownsampling(auto=True, mode="peak")
        self.emotion_plot.setClipToView(True)
        self.au_plot.setLabel("left", "AU")
        self.aus: tuple[int, ...] = ()
        self.unsure: frozenset[int] = frozenset()  # AUs marked †: not found good or fair by the model's own check
        for plot in self.plots:
            plot.setMouseEnabled(x=True, y=False)  # zoom and pan in time only
            plot.hideButtons()
            plot.getAxis("left").setWidth(AXIS_PX)
            plot.getViewBox().setLimits(xMin=0)
        for plot in self.plots:
            plot.getAxis("bottom").setStyle(showValues=False)  # the time axis is the segments lane's
            plot.getAxis("bottom").setHeight(6)
        self.heatmap = _Heatmap(self.au_names)
        self.au_plot.addItem(self.heatmap)
        self.au_plot.getViewBox().sigResized.connect(lambda _: self._au_ticks())
        self.playheads = [pg.InfiniteLine(0, movable=True, pen=pg.mkPen("#ff5a36", width=2)) for _ in self.plots]
        for line, plot in zip(self.playheads, self.plots):
            plot.addItem(line)
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.aus: tuple[int, ...] = ()
        self.emotions: tuple[str, ...] = ()
        self.title = ""
        self.search_curve: pg.PlotDataItem | None = None
        self.moment_marks: pg.ScatterPlotItem | None = None
        self._moment_labels: list[pg.TextItem] = []
        if search:
            plot = self.search_plot
            plot.setLabel("left", "match")
            plot.getAxis("left").enableAutoSIPrefix(False)  # similarities are below 1: no "(x0.001)"
            plot.setDownsampling(auto=True, mode="peak")
            plot.setClipToView(True)
            self.search_curve = plot.plot([], [], pen=pg.mkPen(SEARCH_COLOR, width=1.6), connect="finite")
            self.moment_marks = pg.ScatterPlotItem(size=9, symbol="o", pen=pg.mkPen("#18181c", width=1),
                                                   brush=pg.mkBrush(MOMENT_COLOR))
            plot.addItem(self.moment_marks)

    @property
    def plots(self) -> tuple[pg.PlotItem, ...]:
        return (self.emotion_plot, self.au_plot) + ((self.search_plot,) if self.search_plot is not None else ())

    def set_search_title(self, text: str) -> None:
        if self.search_plot is None:
            return
        self.search_plot.setTitle(text, size="8pt", justify="left", color=SEARCH_COLOR)
        self.search_plot.layout.setRowFixedHeight(0, 15)
        self.search_plot.titleLabel.setMaximumHeight(15)

    def set_search(self, times: np.ndarray, values: np.ndarray, moments: list[tuple[int, float, float]],
                   scale: tuple[float, float]) -> None:
        """The person's faces' similarity (``times``, ``values``: one per face), the moments of
        theirs among the best (rank from 0, time, value), on the scale all lanes share: ``scale``,
        the lowest and highest similarity shown anywhere (ticked on the axis)."""
        if self.search_plot is None:
            return
        self.search_curve.setData(*with_gaps(times, values), connect="finite")
        self.moment_marks.setData([t for _, t, _ in moments], [v for _, _, v in moments])
        for label in self._moment_labels:
            self.search_plot.removeItem(label)
        self._moment_labels = []
        for rank, t, v in moments:
            label = pg.TextItem(str(rank + 1), color=MOMENT_COLOR, anchor=(-0.25, 0.5))  # right of its dot
            label.setPos(t, v)
            self.search_plot.addItem(label, ignoreBounds=True)
            self._moment_labels.append(label)
        lo, hi = scale
        pad = max(hi - lo, 0.02) * 0.1
        self.search_plot.setYRange(lo - pad, hi + pad, padding=0)
        self.search_plot.getAxis("left").setTicks([[(lo, f"{lo:.2f}"), (hi, f"{hi:.2f}")]])

    def set_title(self, text: str, selected: bool) -> None:
        self.title = text
        self.emotion_plot.setTitle(text, size="9pt", bold=selected, justify="left",
                                   color=SELECTED_COLOR.name() if selected else "#d8d8dc")
        self.emotion_plot.layout.setRowFixedHeight(0, 18)
        self.emotion_plot.titleLabel.setMaximumHeight(18)

    def set_series(self, times: np.ndarray, au: np.ndarray, emotion: np.ndarray,
                   aus: tuple[int, ...], emotions: tuple[str, ...]) -> None:
        if emotions != self.emotions:
            for curve in self.curves.values():
                self.emotion_plot.removeItem(curve)
            self.curves = {e: self.emotion_plot.plot([], [], name=e, pen=pg.mkPen(EMOTION_COLORS[e], width=1.6),
                                                     connect="finite") for e in emotions}
            for curve in self.curves.values():
                curve.opts["autoDownsampleFactor"] = 1.0  # peak: a min and a max per pixel is the whole envelope
            self.emotions = emotions
        for i, e in enumerate(emotions):
            self.curves[e].setData(times, emotion[:, i].astype(np.float64), connect="finite")
        if aus != self.aus:
            self.aus = aus
            self._au_ticks()
            self.au_plot.setYRange(0, len(aus), padding=0)
        if len(times) and len(aus):
            grid, columns = uniform_columns(times, au)
            self.heatmap.setImage(heatmap_rgba(columns.T), autoLevels=False)  # rows: AUs
            self.heatmap.values, self.heatmap.times = columns.T, grid
            self.heatmap.setRect(float(grid[0]), 0.0, float(grid[-1] - grid[0]) + float(grid[1] - grid[0]),
                                 float(len(aus)))
        else:
            self.heatmap.clear()
            self.heatmap.values = np.zeros((0, 0))

    def _au_ticks(self) -> None:
        """AU names down the heatmap: every row's when they fit, else every second's, fourth's..."""
        if not self.aus:
            return
        height = self.au_plot.getViewBox().height() or 1.0
        step = 1
        while step < len(self.aus) and height / len(self.aus) * step < TICK_PX:
            step *= 2
        ticks = [(i + 0.5, name) for i, name in enumerate(self.au_names())]
        self.au_plot.getAxis("left").setTicks([ticks[::step]])

    def au_names(self) -> list[str]:
        """The heatmap's rows, bottom up: ``AU12``, or ``AU17†`` for an AU that did not hold."""
        return [f"AU{n}{'†' if n in self.unsure else ''}" for n in self.aus]

    def reset(self) -> None:
        for curve in self.curves.values():
            curve.setData([], [])
        self.heatmap.clear()
        self.heatmap.values = np.zeros((0, 0))
        if self.search_plot is not None:
            self.set_search(np.zeros(0), np.zeros(0), [], (0.0, 1.0))


class _SegmentBox(pg.ViewBox):
    """The segments lane's view: a left-button drag marks a time range (shown while dragging)."""

    drawn = Signal(float, float)

    def __init__(self):
        super().__init__(enableMenu=False)
        self.setMouseEnabled(x=True, y=False)
        self.rubber = pg.LinearRegionItem(movable=False, brush=pg.mkBrush(255, 90, 54, 70),
                                          pen=pg.mkPen("#ff5a36"))
        self.rubber.setZValue(20)
        self.rubber.hide()
        self.addItem(self.rubber, ignoreBounds=True)

    def mouseDragEvent(self, ev, axis=None):  # noqa: N802 (pyqtgraph override)
        if ev.button() != Qt.MouseButton.LeftButton:
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        a = self.mapSceneToView(ev.buttonDownScenePos()).x()
        b = self.mapSceneToView(ev.scenePos()).x()
        lo, hi = max(0.0, min(a, b)), max(0.0, max(a, b))
        self.rubber.setRegion((lo, hi))
        self.rubber.show()
        if ev.isFinish():
            self.rubber.hide()
            if hi > lo:
                self.drawn.emit(lo, hi)


class Timelines(pg.GraphicsLayoutWidget):
    seek_requested = Signal(float)        # seconds
    segment_drawn = Signal(float, float)  # start, end seconds of a range dragged in the segments lane
    segment_menu = Signal(object, QPoint)  # a Segment right-clicked, and where (global)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setBackground("#18181c")
        self.lanes: list[Lane] = []
        self.segments_box = _SegmentBox()
        self.segments_box.drawn.connect(self.segment_drawn)
        self.segments_plot = pg.PlotItem(viewBox=self.segments_box)
        self.segments_plot.hideButtons()
        self.segments_plot.setLabel("bottom", "time", units="s")
        self.segments_plot.setLabel("left", "segments")
        self.segments_plot.getAxis("left").setWidth(AXIS_PX)
        self.segments_plot.getAxis("left").setTicks([[]])
        self.segments_plot.setMaximumHeight(SEGMENTS_PX)
        self.segments_plot.setMinimumHeight(SEGMENTS_PX)
        self.segments_box.setLimits(xMin=0)
        self.segments_playhead = pg.InfiniteLine(0, movable=True, pen=pg.mkPen("#ff5a36", width=2))
        self.segments_plot.addItem(self.segments_playhead)
        self.segments_playhead.sigDragged.connect(lambda l: self.seek_requested.emit(max(0.0, l.value())))
        self.start_mark = pg.InfiniteLine(0, movable=False, pen=pg.mkPen("#ff5a36", width=1.5,
                                                                          style=Qt.PenStyle.DashLine))
        self.start_mark.hide()
        self.segments_plot.addItem(self.start_mark)
        self.hint = pg.TextItem("drag here to mark a segment (or I … O at the playhead)", color="#8a8a90",
                                anchor=(0, 0.5))
        self.segments_plot.addItem(self.hint, ignoreBounds=True)
        self.segments: list[Segment] = []
        self._segment_items: list = []
        self.legend = pg.LabelItem("", justify="right", size="8pt")  # the emotions' colours, above the lanes
        self.legend.setMaximumHeight(16)
        self.scene().sigMouseClicked.connect(self._clicked)
        self.duration = 0.0
        self._time = 0.0
        self.search = ""  # the search text the lanes' similarity plots show ('' none)
        self.unsure: frozenset[int] = frozenset()
        self.set_lanes([(None, "")], None)

    def set_unsure(self, aus) -> None:
        """Mark these AUs † down the heatmaps: the model's own check did not find them good or fair."""
        self.unsure = frozenset(aus)
        for lane in self.lanes:
            lane.unsure = self.unsure
            lane._au_ticks()

    # --- lanes ----------------------------------------------------------------------------------
    def set_lanes(self, lanes: list[tuple[int | None, str]], selected: int | None, search: str | None = None) -> None:
        """One lane per (key, title), in order; kept (with their data) while the keys, and whether
        there is a search, are the same. ``search``: the text of the search shown ('' none, None as
        before)."""
        lanes = lanes or [(None, "")]
        search = self.search if search is None else search
        if [lane.key for lane in self.lanes] != [key for key, _ in lanes] or bool(search) != bool(self.search):
            self.search = search
            self._rebuild([key for key, _ in lanes])
        self.search = search
        for lane, (key, title) in zip(self.lanes, lanes):
            if title:
                lane.set_title(title, key == selected and len(lanes) > 1)
            else:
                lane.emotion_plot.setTitle(None)
            if search:
                lane.set_search_title(f"search: \u201c{search}\u201d  (similarity, smoothed; "
                                      "numbers: best moments)")
        self._refit()

    def set_lane_search(self, lane: Lane, times: np.ndarray, values: np.ndarray,
                        moments: list[tuple[int, float, float]], scale: tuple[float, float]) -> None:
        lane.set_search(times, values, moments, scale)

    def lane(self, key: int) -> Lane | None:
        return next((lane for lane in self.lanes if lane.key == key), None)

    def _rebuild(self, keys: list[int | None]) -> None:
        old = self.lanes
        view = self.segments_box.viewRange()[0] if old else None
        self.ci.clear()
        self.lanes = [Lane(key, bool(self.search)) for key in keys]
        for lane in self.lanes:
            lane.unsure = self.unsure
        self.ci.addItem(self.legend, row=0, col=0)
        rows = len(self.lanes[0].plots)
        for i, lane in enumerate(self.lanes):
            for j, (plot, stretch) in enumerate(zip(lane.plots, (4, 6, 3))):
                self.ci.addItem(plot, row=rows * i + j + 1, col=0)
                self.ci.layout.setRowStretchFactor(rows * i + j + 1, stretch)
            if lane.search_plot is not None:
                lane.search_plot.setMinimumHeight(SEARCH_PX)
            for plot in lane.plots:
                plot.setXLink(self.segments_plot)
                plot.getViewBox().setLimits(xMin=0, xMax=self.duration if self.duration else None)
            for line in lane.playheads:
                line.setValue(self._time)
                line.sigDragged.connect(lambda l: self.seek_requested.emit(max(0.0, l.value())))
        self.ci.addItem(self.segments_plot, row=rows * len(self.lanes) + 1, col=0)
        self.ci.layout.setRowStretchFactor(rows * len(self.lanes) + 1, 0)
        self.setMinimumHeight((LANE_MIN_PX + (SEARCH_PX if self.search else 0)) * len(self.lanes) + SEGMENTS_PX + 10)
        if view is not None:
            self.segments_box.setXRange(*view, padding=0)

    # the first lane's plots, under the names the single-face timelines had
    @property
    def emotion_plot(self) -> pg.PlotItem:
        return self.lanes[0].emotion_plot

    @property
    def au_plot(self) -> pg.PlotItem:
        return self.lanes[0].au_plot

    @property
    def heatmap(self) -> pg.ImageItem:
        return self.lanes[0].heatmap

    @property
    def _curves(self) -> dict[str, pg.PlotDataItem]:
        return self.lanes[0].curves

    @property
    def playheads(self) -> list[pg.InfiniteLine]:
        return [line for lane in self.lanes for line in lane.playheads] + [self.segments_playhead]

    def set_series(self, times: np.ndarray, au: np.ndarray, emotion: np.ndarray,
                   aus: tuple[int, ...], emotions: tuple[str, ...]) -> None:
        """The first lane's data."""
        self.set_lane_series(self.lanes[0], times, au, emotion, aus, emotions)

    def set_lane_series(self, lane: Lane, times: np.ndarray, au: np.ndarray, emotion: np.ndarray,
                        aus: tuple[int, ...], emotions: tuple[str, ...]) -> None:
        lane.set_series(times, au, emotion, aus, emotions)
        legend = "&nbsp;&nbsp;".join(f'<span style="color:{EMOTION_COLORS[e]}">&#9473;&nbsp;{e}</span>'
                                     for e in emotions)
        if legend != self.legend.text:
            self.legend.setText(legend)
            self._refit()

    def _refit(self) -> None:
        """The layout fills the view again: a label's new text makes Qt shrink a top-level
        layout item to its least size, and the view only resizes it when it is resized itself."""
        self.ci.setGeometry(self.range)

    def set_duration(self, seconds: float) -> None:
        """Shows the whole video; called on open, before any data."""
        self.duration = max(seconds, 1e-3)
        for plot in [p for lane in self.lanes for p in lane.plots] + [self.segments_plot]:
            plot.getViewBox().setLimits(xMin=0, xMax=self.duration)
        self.segments_box.setXRange(0, self.duration, padding=0)
        self.hint.setPos(0.01 * self.duration, 0.5)

    def show_range(self, start: float, end: float) -> None:
        self.segments_box.setXRange(start, end, padding=0)

    def reset(self) -> None:
        """Empty the plots (named so: pyqtgraph binds ``clear`` on this widget to removing them)."""
        for lane in self.lanes:
            lane.reset()

    def set_time(self, seconds: float) -> None:
        self._time = seconds
        for line in self.playheads:
            if not line.moving:
                line.setValue(seconds)

    # --- segments -------------------------------------------------------------------------------
    def set_segments(self, segments: list[Segment], start_mark: float | None = None) -> None:
        for item in self._segment_items:
            self.segments_plot.removeItem(item)
        self._segment_items = []
        self.segments = list(segments)
        names = list(dict.fromkeys(s.name for s in segments))
        rows = segment_rows(self.segments)
        n_rows = max(rows, default=0) + 1
        for segment, row in zip(self.segments, rows):
            color = pg.mkColor(segment_color(segment.name, names))
            fill = pg.mkColor(color)
            fill.setAlpha(150)
            bar = pg.LinearRegionItem((segment.start, segment.end), movable=False, brush=pg.mkBrush(fill),
                                      pen=pg.mkPen(color), span=(row / n_rows + 0.04, (row + 1) / n_rows - 0.04))
            bar.setToolTip(f"{segment.name}: {segment.start:.2f}–{segment.end:.2f} s (right-click: rename, remove)")
            label = pg.TextItem(segment.name, color="#ffffff", anchor=(0, 0.5))
            label.setPos(segment.start, (row + 0.5) / n_rows)
            for item in (bar, label):
                self.segments_plot.addItem(item, ignoreBounds=True)
                self._segment_items.append(item)
        self.segments_plot.setYRange(0, 1, padding=0)
        self.hint.setVisible(not segments and start_mark is None)
        self.start_mark.setVisible(start_mark is not None)
        if start_mark is not None:
            self.start_mark.setValue(start_mark)

    def segment_at(self, seconds: float, height: float) -> Segment | None:
        """The segment drawn at ``seconds`` at ``height`` (0..1 of the lane)."""
        rows = segment_rows(self.segments)
        n_rows = max(rows, default=0) + 1
        for segment, row in zip(self.segments, rows):
            if segment.start <= seconds < segment.end and row / n_rows <= height < (row + 1) / n_rows:
                return segment
        return None

    # --- mouse ----------------------------------------------------------------------------------
    def _clicked(self, event) -> None:
        box = self.segments_box
        if box.sceneBoundingRect().contains(event.scenePos()):
            point = box.mapSceneToView(event.scenePos())
            if event.button() == Qt.MouseButton.RightButton:
                segment = self.segment_at(point.x(), point.y())
                if segment is not None:
                    event.accept()
                    self.segment_menu.emit(segment, event.screenPos().toPoint())
                return
            if event.button() == Qt.MouseButton.LeftButton:
                self.seek_requested.emit(max(0.0, point.x()))
            return
        if event.button() != Qt.MouseButton.LeftButton:
            return
        for plot in [p for lane in self.lanes for p in lane.plots]:
            view = plot.getViewBox()
            if view.sceneBoundingRect().contains(event.scenePos()):
                self.seek_requested.emit(max(0.0, view.mapSceneToView(event.scenePos()).x()))
                return
