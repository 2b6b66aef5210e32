"""What a face looks like, as evidence of who it is: no face-recognition network ships offline
(MediaPipe 0.10.21 has no face embedder), so identity rests on two classic descriptors of the
aligned face crop (`align.py`'s template, mid-forehead to chin, 64 pixels):

- ``texture``: local binary patterns (8 neighbours, the 58 uniform codes plus one for the rest)
  counted in a 6 x 6 grid of cells of the equalised grey crop (Ahonen et al., 2006): the
  structure of eyes, brows, nose and mouth, little moved by lighting;
- ``colours``: a hue / saturation / value histogram (8 x 4 x 4) of the same crop: skin, eye,
  brow, beard and glasses colours.

Measured on pairs of tracks cut from the shared clips (scripts/people_check.py, development
clips), each alone tells one person from two with an AUC of 0.975 (texture) and 0.9985 (colours),
both together 0.9986; the shape of the mesh (ratios of distances between points expression moves
little) only 0.94, and weighed in it lowered the AUC, so it is not used. `distance` puts both on
one scale, where `SAME` (chosen on the development clips) divides one person from two.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .align import alignment_matrix

SIDE = 64         # aligned crop, pixels
GRID = 6          # texture cells per side
N_CODES = 59      # uniform LBP codes (58) plus one for every other code
BINS = (8, 4, 4)  # hue, saturation, value
# Each distance over its median between two tracks of one person (development clips), so that
# the two weigh alike; their mean under SAME is one person: a fifth under where two of the
# development clips' people were first taken for one (7.75).
TEXTURE_SCALE = 3.18
COLOUR_SCALE = 0.0078
SAME = 6.0


@dataclass
class Appearance:
    texture: np.ndarray  # (GRID * GRID * N_CODES,) LBP counts per cell (uint8 for one frame, float for a mean)
    colours: np.ndarray  # (prod(BINS),) float32, sums to 1


def _uniform_codes() -> np.ndarray:
    """Each 8-bit LBP code's bin: the 58 codes with at most two 0/1 transitions around the
    circle in order, every other code in the last."""
    table = np.full(256, N_CODES - 1, np.int64)
    uniform = [v for v in range(256) if sum(((v >> i) & 1) != ((v >> (i + 1) % 8) & 1) for i in range(8)) <= 2]
    table[uniform] = np.arange(len(uniform))
    return table


_CODES = _uniform_codes()
_NEIGHBOURS = ((-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1))
_CELL = (np.arange(SIDE - 2) * GRID // (SIDE - 2))
_CELL_OF = (_CELL[:, None] * GRID + _CELL[None, :]).ravel()       # each LBP pixel's cell
_CELL_PIXELS = np.bincount(_CELL_OF, minlength=GRID * GRID).astype(np.float32)


def face_crop(rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The face's aligned SIDE x SIDE RGB crop."""
    return cv2.warpAffine(rgb, alignment_matrix(landmarks, SIDE), (SIDE, SIDE), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def colour_histogram(rgb: np.ndarray) -> np.ndarray:
    """(prod(BINS),) float32 hue / saturation / value histogram of an RGB image, summing to 1."""
    hist = cv2.calcHist([cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2HSV)], [0, 1, 2], None, list(BINS),
                        [0, 180, 0, 256, 0, 256]).ravel()
    return hist / max(float(hist.sum()), 1.0)


def texture(crop: np.ndarray) -> np.ndarray:
    """(GRID * GRID * N_CODES,) uint8: the uniform LBP codes of the equalised grey crop counted per cell."""
    grey = cv2.equalizeHist(cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY))
    centre = grey[1:-1, 1:-1]
    code = np.zeros(centre.shape, np.uint8)
    for bit, (dy, dx) in enumerate(_NEIGHBOURS):
        code |= (grey[1 + dy:SIDE - 1 + dy, 1 + dx:SIDE - 1 + dx] >= centre).view(np.uint8) << bit
    counts = np.bincount(_CELL_OF * N_CODES + _CODES[code.ravel()], minlength=GRID * GRID * N_CODES)
    return counts.astype(np.uint8)  # a cell holds at most 121 pixels


def appearance(rgb: np.ndarray, landmarks: np.ndarray) -> Appearance:
    """One face's look in one frame."""
    crop = face_crop(rgb, landmarks)
    return Appearance(texture(crop), colour_histogram(crop))


def mean_appearance(looks: list[Appearance]) -> Appearance:
    """The mean look over several frames: steadier than any one of them."""
    return Appearance(np.mean([a.texture for a in looks], 0, np.float32),
                      np.mean([a.colours for a in looks], 0, np.float32))


def chi_square(a: np.ndarray, b: np.ndarray) -> float:
    """Chi-square distance between histograms (0: equal)."""
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    return float(0.5 * np.sum((a - b) ** 2 / (a + b + 1e-9)))


def distances(a: Appearance, b: Appearance) -> tuple[float, float]:
    """(texture, colour) chi-square distances between two looks, each cell's codes as shares."""
    cells = (GRID * GRID, N_CODES)
    ta = np.asarray(a.texture, np.float32).reshape(cells) / _CELL_PIXELS[:, None]
    tb = np.asarray(b.texture, np.float32).reshape(cells) / _CELL_PIXELS[:, None]
    return chi_square(ta, tb), chi_square(a.colours, b.colours)


def distance(a: Appearance, b: Appearance) -> float:
    """How unlike two looks are, on a scale where under `SAME` they are one person's."""
    texture_distance, colour_distance = distances(a, b)
    return (texture_distance / TEXTURE_SCALE + colour_distance / COLOUR_SCALE) / 2
