"""Shot cuts: where a video jumps from one shot to another, a face in the same place may be
someone else, so the tracker ends every track there and the faces after it start new ones
(core.faces.people gives a track its earlier person back when the look matches).

A cut is a jump in the colour histogram of the whole frame between consecutive analysed
frames. On the development clips (scripts/people_check.py), consecutive frames of one shot
(talking, grimacing, a hand over the face) differ by at most 0.011 (chi-square), and the two
sides of a cut from one of their people to another by at least 0.31; `CUT` lies between.
"""
from __future__ import annotations

import numpy as np

from .appearance import chi_square, colour_histogram

CUT = 0.1           # histogram distance between consecutive frames at which a shot is cut
SAMPLE_SIDE = 96    # the frame is sampled down to about this many pixels on its shorter side


def frame_colours(rgb: np.ndarray) -> np.ndarray:
    """The colour histogram of a frame, from every few pixels (a frame of any size costs alike)."""
    step = max(1, min(rgb.shape[:2]) // SAMPLE_SIDE)
    return colour_histogram(rgb[::step, ::step])


class CutDetector:
    """Says, frame after frame, whether the video cut between the previous frame and this one."""

    def __init__(self, threshold: float = CUT):
        self.threshold = threshold
        self._previous: np.ndarray | None = None

    def cut(self, rgb: np.ndarray) -> bool:
        colours = frame_colours(rgb)
        jumped = self._previous is not None and chi_square(self._previous, colours) > self.threshold
        self._previous = colours
        return jumped
