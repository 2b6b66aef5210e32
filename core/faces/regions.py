"""Facial regions where Action Units show, as landmark sets of the MediaPipe mesh.

Each region is one or two convex patches (bilateral regions have one per side). A patch is the
convex hull of its landmarks, so the polygons follow the face as it moves and turns. The model's
local branch pools features inside these patches and the studio paints them, so an AU score
always points at the skin it was read from. ``core.taxonomy`` names each AU's region.
"""
from __future__ import annotations

import cv2
import numpy as np

REGIONS: dict[str, tuple[tuple[int, ...], ...]] = {
    "inner_brows": ((107, 66, 55, 65, 108, 69), (336, 296, 285, 295, 337, 299)),
    "outer_brows": ((105, 63, 70, 52, 53, 46, 104, 68, 71), (334, 293, 300, 282, 283, 276, 333, 298, 301)),
    "glabella": ((107, 55, 8, 9, 336, 285, 151, 108, 337, 168),),
    "upper_eyelids": ((33, 246, 161, 160, 159, 158, 157, 173, 133, 190, 56, 28, 27, 29, 30, 247, 130),
                      (263, 466, 388, 387, 386, 385, 384, 398, 362, 414, 286, 258, 257, 259, 260, 467, 359)),
    "lower_eyelids": ((33, 7, 163, 144, 145, 153, 154, 155, 133, 112, 26, 22, 23, 24, 110, 25),
                      (263, 249, 390, 373, 374, 380, 381, 382, 362, 341, 256, 252, 253, 254, 339, 255)),
    "cheeks": ((117, 118, 101, 50, 123, 116, 111, 36, 205, 187),
               (346, 347, 330, 280, 352, 345, 340, 266, 425, 411)),
    "nose": ((168, 6, 122, 351, 196, 419, 3, 248, 236, 456, 198, 420, 5, 195, 197),),
    "nasolabial_folds": ((129, 203, 206, 216, 98, 64), (358, 423, 426, 436, 327, 294)),
    "upper_lip": ((61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 2, 97, 98, 326, 327, 164),),
    "lip_corners": ((61, 185, 40, 91, 146, 57, 186, 43, 212, 202),
                    (291, 409, 270, 321, 375, 287, 410, 273, 432, 422)),
    "lips": ((61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146),),
    "lower_lip": ((61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 287, 273, 335, 406, 313, 18, 83, 182,
                   106, 43, 57),),
    "chin": ((18, 83, 313, 200, 199, 175, 152, 148, 377, 208, 428, 201, 421, 32, 262, 171, 396),),
    "jaw": ((57, 287, 172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397, 288, 58),),
}
COVERED = 0.5  # share of a region hidden from which it counts as covered (the visibility head's labels, hands)
# The eyes one at a time, as each side's eyelid patches: a hand can hide one eye and leave the
# other to read eye closure from (core.faces.hands, core.model.scorer); (right, left) as
# core.faces.geometry.eye_openings orders them.
EYES = ("right_eye", "left_eye")


def region_polygons(points: np.ndarray, region: str) -> list[np.ndarray]:
    """Convex polygons (each (K, 2) float32, in the coordinates of ``points``) of one region."""
    xy = np.ascontiguousarray(points[:, :2], dtype=np.float32)
    return [cv2.convexHull(xy[list(patch)]).reshape(-1, 2) for patch in REGIONS[region]]


def region_cover(mask: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(n_regions,) share of each region's patches (``points`` in the mask's pixels) that
    ``mask`` (H, W bool) covers."""
    return np.array([_share(mask, region_polygons(points, name)) for name in REGIONS])


def eye_cover(mask: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(2,) share of each eye's (`EYES`) eyelid patches that ``mask`` covers, as `region_cover`:
    the eyelid regions' patches, one per side."""
    upper, lower = region_polygons(points, "upper_eyelids"), region_polygons(points, "lower_eyelids")
    return np.array([_share(mask, [upper[side], lower[side]]) for side in (0, 1)])


def _share(mask: np.ndarray, polygons: list[np.ndarray]) -> float:
    """Share of the union of ``polygons`` that ``mask`` (H, W bool) covers."""
    area = np.zeros(mask.shape, np.uint8)
    for polygon in polygons:
        cv2.fillConvexPoly(area, np.round(polygon).astype(np.int32), 1)
    inside = area.astype(bool)
    return float((mask & inside).sum() / max(inside.sum(), 1))


_PATCHES = [patch for patches in REGIONS.values() for patch in patches]
_SPLITS = np.cumsum([len(patches) for patches in REGIONS.values()])[:-1]
# (patch numbers, (n, size) their landmarks) for each patch size
_BY_SIZE = [(np.array([i for i, p in enumerate(_PATCHES) if len(p) == size]),
             np.array([p for p in _PATCHES if len(p) == size])) for size in sorted({len(p) for p in _PATCHES})]


def region_centers(points: np.ndarray) -> dict[str, np.ndarray]:
    """Centre of every patch of every region, (P, 2) per region: where the local branch samples.
    The patches of one size are averaged in one call (a third of the time of a mean per patch,
    paid on every face of every frame), bit for bit what a mean per patch gives."""
    xy = points[:, :2]
    means = [xy[landmarks].mean(axis=1) for _, landmarks in _BY_SIZE]
    centers = np.empty((len(_PATCHES), 2), means[0].dtype)
    for (rows, _), mean in zip(_BY_SIZE, means):
        centers[rows] = mean
    return dict(zip(REGIONS, np.split(centers, _SPLITS)))
