"""Face geometry in the terms FACS defines Action Units by, measured on the 478-point mesh.

Every feature is a distance or height in a face-centred frame: origin between the eye centres,
x along the eye line, y perpendicular to it (towards the mouth), unit = the distance between the
eye centres. So the figures do not change with the face's size, position or head roll, and the
AU side networks can read "the inner brows are 0.05 eye-distances higher than this person's
neutral face" directly. Bilateral features average both sides (a mirrored face reads the same).
Signs are chosen so that the AU the feature stands for makes it larger.
"""
from __future__ import annotations

import numpy as np

# (name, what it measures, the AUs it speaks for)
FEATURES: tuple[tuple[str, str, str], ...] = (
    ("inner_brow_height", "inner brow ends above the eye line", "AU1"),
    ("outer_brow_height", "outer brow ends above the eye line", "AU2"),
    ("mid_brow_height", "brow middle above the eye line", "AU1 AU2 (AU4 lowers)"),
    ("brow_gap", "distance between the inner brow ends", "AU4 narrows it"),
    ("brow_lid_gap", "brow above the upper eyelid", "AU1 AU2 (AU4 lowers)"),
    ("eye_opening", "eyelid aperture / eye width", "AU5 (AU7 AU43 AU45 lower)"),
    ("lower_lid_height", "lower eyelid above the eye line", "AU6 AU7"),
    ("cheek_height", "cheek above the eye line", "AU6"),
    ("nostril_height", "nostril wings above the eye line", "AU9 AU10"),
    ("upper_lip_height", "upper lip above the eye line", "AU10"),
    ("lip_corner_raise", "lip corners above the middle of the lips", "AU12 (AU15 lowers)"),
    ("mouth_width", "lip corner to lip corner", "AU12 AU20 (AU18 AU22 narrow)"),
    ("lips_part", "inner lip gap", "AU25"),
    ("jaw_drop", "chin below the eye line", "AU26 AU27"),
    ("lip_thickness", "red of the lips, upper + lower", "AU18 (AU23 AU24 thin)"),
    ("mouth_height", "outer lip gap, top to bottom", "AU25 AU26 AU18"),
    ("chin_lip_gap", "lower lip to chin", "AU17 narrows it"),
)
NAMES = tuple(f[0] for f in FEATURES)
N_FEATURES = len(FEATURES)

# Which features each AU may read (FACS: the movement that defines the AU), so that an AU's
# geometry weights cannot latch on to an unrelated feature that merely co-occurred in training.
AU_FEATURES: dict[int, tuple[str, ...]] = {
    1: ("inner_brow_height", "mid_brow_height", "brow_lid_gap"),
    2: ("outer_brow_height", "mid_brow_height", "brow_lid_gap"),
    4: ("brow_gap", "brow_lid_gap", "mid_brow_height", "inner_brow_height"),
    5: ("eye_opening",),
    6: ("lower_lid_height", "cheek_height", "eye_opening"),
    7: ("lower_lid_height", "eye_opening"),
    9: ("nostril_height", "upper_lip_height"),
    10: ("upper_lip_height", "nostril_height"),
    11: ("upper_lip_height",),
    12: ("lip_corner_raise", "mouth_width"),
    14: ("mouth_width", "lip_corner_raise"),
    15: ("lip_corner_raise",),
    16: ("lips_part", "mouth_height"),
    17: ("chin_lip_gap", "lip_thickness"),
    18: ("mouth_width", "lip_thickness"),
    20: ("mouth_width", "lip_corner_raise"),
    22: ("mouth_width", "lips_part"),
    23: ("lip_thickness", "mouth_width"),
    24: ("lip_thickness", "lips_part"),
    25: ("lips_part", "mouth_height"),
    26: ("jaw_drop", "lips_part", "mouth_height"),
    27: ("jaw_drop", "mouth_height"),
    43: ("eye_opening",),
    45: ("eye_opening",),
}


def facs_mask(aus) -> np.ndarray:
    """(len(aus), N_FEATURES) 1 where the AU may read the feature, else 0."""
    return np.array([[float(name in AU_FEATURES.get(n, ())) for name in NAMES] for n in aus], np.float32)

_R_EYE, _L_EYE = (33, 133), (362, 263)          # outer/inner corners of each eye
_LIDS = ((159, 145, 33, 133), (386, 374, 362, 263))  # upper, lower, corner, corner


def _eye_centres(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(right, left) eye centres: the midpoints of each eye's corners, of one face's (478, 2)
    points or of F faces' (F, 478, 2). Sums over counts: np.mean's own arithmetic, without its
    overhead (a face at a time, live)."""
    return xy[..., list(_R_EYE), :].sum(-2) / 2, xy[..., list(_L_EYE), :].sum(-2) / 2


def eye_distance(landmarks: np.ndarray) -> float:
    """Pixels between the eye centres: the unit the geometry is measured in."""
    right, left = _eye_centres(np.asarray(landmarks)[:, :2])
    return float(np.linalg.norm(left - right))


# the mesh points the features below are measured on, and each one's column among them
_USED = [0, 13, 14, 17, 46, 50, 52, 55, 61, 64, 70, 105, 107, 145, 152, 159, 276, 280, 282, 285, 291, 294,
         300, 334, 336, 374, 386]
_COLUMN = {point: i for i, point in enumerate(_USED)}


def _norm(v: np.ndarray) -> np.ndarray:
    """Length of each vector along the last axis."""
    return np.sqrt((v * v).sum(-1))


def _eye_openings(xy: np.ndarray) -> np.ndarray:
    """(F, 2) (right, left) eyelid aperture over eye width of (F, 478, 2) float64 points."""
    return np.stack([_norm(xy[:, u] - xy[:, lo]) / np.maximum(_norm(xy[:, a] - xy[:, b]), 1e-6)
                     for u, lo, a, b in _LIDS], 1)


def eye_openings(landmarks: np.ndarray) -> np.ndarray:
    """(right, left) eyelid aperture over eye width: what blinks and closed eyes are read from;
    (F, 2) for F faces' (F, 478, 2+) meshes."""
    xy = np.asarray(landmarks, np.float64)[..., :2]
    return _eye_openings(xy) if xy.ndim == 3 else _eye_openings(xy[None])[0]


def face_geometry(landmarks: np.ndarray) -> np.ndarray:
    """(N_FEATURES,) float32 geometry of one face from its (478, 2+) mesh in any pixel frame."""
    return face_geometries(np.asarray(landmarks)[None])[0]


def face_geometries(landmarks: np.ndarray) -> np.ndarray:
    """(F, N_FEATURES) float32 geometry of F faces' (F, 478, 2+) meshes, all at once (a whole
    person read again: `core.model.scorer.FaceScorer.recalibrate`); each face's row is what
    `face_geometry` gives it, bit for bit."""
    xy = np.asarray(landmarks, np.float64)[..., :2]
    right, left = _eye_centres(xy)
    origin = (right + left) / 2
    d = np.maximum(_norm(left - right), 1e-6)[:, None]
    ex = (left - right) / d
    ey = np.stack([-ex[:, 1], ex[:, 0]], 1)
    mouth = xy[:, [61, 291]].sum(1) / 2 - origin  # (as np.mean, above)
    ey[(mouth * ey).sum(1) < 0] *= -1  # mirrored input: keep y pointing to the mouth
    rel = xy[:, _USED] - origin[:, None]  # only the points the features use
    u = (rel[..., 0] * ex[:, None, 0] + rel[..., 1] * ex[:, None, 1]) / d  # x along the eyes
    v = (rel[..., 0] * ey[:, None, 0] + rel[..., 1] * ey[:, None, 1]) / d  # y down towards the mouth

    def at(*points):  # columns of u and v of these mesh points
        return [_COLUMN[p] for p in points]

    def up(*points):  # mean height above the eye line
        return -v[:, at(*points)].sum(1) / len(points)

    def dist(a, b):
        (i, j) = at(a, b)
        return np.hypot(u[:, i] - u[:, j], v[:, i] - v[:, j])

    def height(point):
        return v[:, _COLUMN[point]]

    lip_mid = (height(0) + height(17)) / 2
    columns = (
        up(107, 55, 336, 285),
        up(70, 46, 300, 276),
        up(105, 52, 334, 282),
        dist(55, 285),
        (height(159) - height(52) + height(386) - height(282)) / 2,
        _eye_openings(xy).sum(1) / 2,
        up(145, 374),
        up(50, 280),
        up(64, 294),
        up(0),
        lip_mid - (height(61) + height(291)) / 2,
        dist(61, 291),
        dist(13, 14),
        height(152),
        dist(0, 13) + dist(14, 17),
        dist(0, 17),
        dist(17, 152),
    )
    return np.stack(columns, 1).astype(np.float32)
