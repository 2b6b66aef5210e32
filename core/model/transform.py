"""From pixels to the model's input: the aligned grey crop and where its AU regions are.

One path for video frames (align with the tracked landmarks) and one for images that already are
small face crops (FER2013, CK+: upscale and pad so the mesh can find the face, then align the
same way). When no landmarks can be found in such a crop, the whole crop is used with the
canonical region positions, which is how well-framed dataset crops sit anyway.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

from ..faces import FaceTracker, alignment_matrix, region_centers, transform_points
from ..faces.regions import REGIONS

if TYPE_CHECKING:
    import torch

# Median region-patch centres in the aligned crop (fractions of its side), over 351 faces of the
# development clips; order: REGIONS, patch by patch.
CANONICAL_CENTERS = np.array([
    (0.381, 0.217), (0.619, 0.219),   # inner_brows
    (0.234, 0.240), (0.766, 0.241),   # outer_brows
    (0.497, 0.239),                   # glabella
    (0.322, 0.345), (0.678, 0.340),   # upper_eyelids
    (0.333, 0.390), (0.666, 0.386),   # lower_eyelids
    (0.243, 0.515), (0.757, 0.516),   # cheeks
    (0.495, 0.443),                   # nose
    (0.366, 0.608), (0.629, 0.609),   # nasolabial_folds
    (0.497, 0.676),                   # upper_lip
    (0.359, 0.743), (0.641, 0.746),   # lip_corners
    (0.498, 0.747),                   # lips
    (0.499, 0.796),                   # lower_lip
    (0.499, 0.904),                   # chin
    (0.501, 0.851),                   # jaw
], dtype=np.float32)
N_PATCHES = len(CANONICAL_CENTERS)
# Which region each patch belongs to (index into the REGIONS order).
PATCH_REGION = np.array([r for r, patches in enumerate(REGIONS.values()) for _ in patches])
SMALL_CROP = 160  # a face crop smaller than this is upscaled before meshing
PIXEL_MEAN, PIXEL_STD = 0.5, 0.25


def _grey(image: np.ndarray) -> np.ndarray:
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def face_input(image: np.ndarray, landmarks: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(grey ``size`` x ``size`` crop, (N_PATCHES, 2) patch centres in 0..1) for one tracked face."""
    matrix = alignment_matrix(landmarks, size)
    # warp first, then grey: both are linear, and this way only the small crop is converted
    crop = _grey(cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE))
    centers = region_centers(landmarks)
    patches = np.concatenate([transform_points(centers[name], matrix) for name in REGIONS]) / size
    return crop, patches.astype(np.float32)


def crop_input(image: np.ndarray, tracker: FaceTracker, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Model input for an image that is already (roughly) a face crop: (crop, centres, landmarks
    of the face found or None).

    ``tracker`` must be a static one. The biggest face found is aligned; with none, the whole
    image is used with `CANONICAL_CENTERS`.
    """
    grey = _grey(image)
    scale = max(1.0, SMALL_CROP / max(grey.shape))
    big = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC) if scale > 1 else grey
    pad = max(big.shape) // 2
    padded = cv2.copyMakeBorder(big, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    faces = tracker.process(cv2.cvtColor(padded, cv2.COLOR_GRAY2RGB))
    if faces:
        face = max(faces, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))
        crop, centers = face_input(padded, face.landmarks, size)
        return crop, centers, face.landmarks
    return cv2.resize(grey, (size, size), interpolation=cv2.INTER_AREA), CANONICAL_CENTERS.copy(), None


def to_input(images: np.ndarray | torch.Tensor, device: str) -> torch.Tensor:
    """uint8 (B, S, S) grey crops -> normalised float (B, 1, S, S)."""
    import torch  # here: a process that only scores what others read never loads it

    x = torch.as_tensor(images, device=device).float().unsqueeze(1) / 255.0
    return (x - PIXEL_MEAN) / PIXEL_STD
