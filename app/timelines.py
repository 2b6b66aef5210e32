"""Emotion and AU timelines of the selected face, with a playhead synced to playback.

Top: one line per emotion probability. Bottom: AU activations as a heatmap (one row per AU,
colour as on the video overlay). Both share the time axis; the mouse wheel zooms and dragging
pans in time; clicking, or dragging the playhead, seeks. Frames where the face is absent are
gaps, not zeros.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal

from .overlay import COLORMAP

EMOTION_COLORS = {"neutral": "#9e9e9e", "happy": "#f2c12e", "sad": "#4a7bd0", "surprise": "#ff8c1a",
                  "fear": "#8e5bd0", "disgust": "#3aa655", "angry": "#e0403a", "contempt": "#b07a4a"}
MAX_COLUMNS = 4000  # heatmap columns: finer than any screen, bounded for hour-long videos
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


class Timelines(pg.GraphicsLayoutWidget):
    seek_requested = Signal(float)  # seconds

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setBackground("#18181c")
        self.setMinimumHeight(200)
        self.emotion_plot = self.addPlot(row=0, col=0)
        self.au_plot = self.addPlot(row=1, col=0)
        self.ci.layout.setRowStretchFactor(0, 2)
        self.ci.layout.setRowStretchFactor(1, 3)
        self.emotion_plot.setLabel("left", "emotion")
        self.emotion_plot.setYRange(0, 1, padding=0.02)
        self.emotion_plot.addLegend(offset=(-4, 4), labelTextSize="8pt", colCount=4, brush=(24, 24, 28, 240))
        # an hour is 108,000 points a curve: draw only those in view, a min and a max per few pixels
        self.emotion_plot.setDownsampling(auto=True, mode="peak")
        self.emotion_plot.setClipToView(True)
        self.au_plot.setLabel("bottom", "time", units="s")
        self.au_plot.setLabel("left", "AU")
        self.au_plot.setXLink(self.emotion_plot)
        for plot in (self.emotion_plot, self.au_plot):
            plot.setMouseEnabled(x=True, y=False)  # zoom and pan in time only
            plot.hideButtons()
            plot.getAxis("left").setWidth(64)  # equal axes keep both plots' time scales aligned
            plot.getViewBox().setLimits(xMin=0)
        self.heatmap = pg.ImageItem(axisOrder="row-major")
        self.au_plot.addItem(self.heatmap)
        self.playheads = [pg.InfiniteLine(0, movable=True, pen=pg.mkPen("#ff5a36", width=2)) for _ in range(2)]
        for line, plot in zip(self.playheads, (self.emotion_plot, self.au_plot)):
            plot.addItem(line)
            line.sigDragged.connect(lambda l: self.seek_requested.emit(max(0.0, l.value())))
        self.scene().sigMouseClicked.connect(self._clicked)
        self._curves: dict[str, pg.PlotDataItem] = {}
        self.duration = 0.0
        self.aus: tuple[int, ...] = ()
        self.emotions: tuple[str, ...] = ()

    def set_duration(self, seconds: float) -> None:
        """Shows the whole video; called on open, before any data."""
        self.duration = max(seconds, 1e-3)
        for plot in (self.emotion_plot, self.au_plot):
            plot.getViewBox().setLimits(xMin=0, xMax=self.duration)
        self.emotion_plot.setXRange(0, self.duration, padding=0)

    def set_series(self, times: np.ndarray, au: np.ndarray, emotion: np.ndarray,
                   aus: tuple[int, ...], emotions: tuple[str, ...]) -> None:
        if emotions != self.emotions:
            for curve in self._curves.values():
                self.emotion_plot.removeItem(curve)
            self._curves = {e: self.emotion_plot.plot([], [], name=e, pen=pg.mkPen(EMOTION_COLORS[e], width=1.6),
                                                      connect="finite") for e in emotions}
            for curve in self._curves.values():
                curve.opts["autoDownsampleFactor"] = 1.0  # peak: a min and a max per pixel is the whole envelope
            self.emotions = emotions
        for i, e in enumerate(emotions):
            self._curves[e].setData(times, emotion[:, i].astype(np.float64), connect="finite")
        if aus != self.aus:
            self.aus = aus
            ticks = [(i + 0.5, f"AU{n}") for i, n in enumerate(aus)]
            # two tick levels: pyqtgraph drops the second level's labels when rows get too thin
            self.au_plot.getAxis("left").setTicks([ticks[::2], ticks[1::2]])
            self.au_plot.setYRange(0, len(aus), padding=0)
        if len(times) and len(aus):
            grid, columns = uniform_columns(times, au)
            self.heatmap.setImage(heatmap_rgba(columns.T), autoLevels=False)  # rows: AUs
            self.heatmap.setRect(float(grid[0]), 0.0, float(grid[-1] - grid[0]) + float(grid[1] - grid[0]),
                                 float(len(aus)))
        else:
            self.heatmap.clear()

    def reset(self) -> None:
        """Empty the plots (named so: pyqtgraph binds ``clear`` on this widget to removing them)."""
        for curve in self._curves.values():
            curve.setData([], [])
        self.heatmap.clear()

    def set_time(self, seconds: float) -> None:
        for line in self.playheads:
            if not line.moving:
                line.setValue(seconds)

    def _clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        for plot in (self.emotion_plot, self.au_plot):
            box = plot.getViewBox()
            if box.sceneBoundingRect().contains(event.scenePos()):
                self.seek_requested.emit(max(0.0, box.mapSceneToView(event.scenePos()).x()))
                return
