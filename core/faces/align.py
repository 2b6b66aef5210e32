"""Alignment of a face to the canonical crop the model sees.

A similarity transform (rotation, uniform scale, translation: no shear, so the face keeps its
shape) maps five landmarks onto fixed positions in a unit square. The template frames the face
from the forehead to the chin, close to how FER2013 and CK+ crops are framed, so that training
crops and video crops look alike.
"""
from __future__ import annotations

import cv2
import numpy as np

from .landmarks import five_points

# Right eye, left eye, nose tip, right and left mouth corner, as fractions of the crop side: the
# median of MediaPipe's points over 351 faces of the development clips (eyes fixed), scaled so
# that the crop runs from mid-forehead to just under the chin.
TEMPLATE = np.array([
    [0.333, 0.370],
    [0.667, 0.370],
    [0.500, 0.582],
    [0.360, 0.739],
    [0.640, 0.739],
], dtype=np.float32)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (Umeyama, 2-D) taking ``src`` points onto ``dst``: a 2x3 matrix."""
    src = src.astype(np.float64)
    dst = dst.astype(np.float64)
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.sign(np.linalg.det(u @ vt)) or 1.0
    fix = np.diag([1.0, sign])
    rot = u @ fix @ vt
    scale = np.trace(np.diag(sig) @ fix) / s.var(axis=0).sum()
    m = np.empty((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - m[:, :2] @ mu_s
    return m


def alignment_matrix(landmarks: np.ndarray, size: int) -> np.ndarray:
    """2x3 matrix taking image pixels to the ``size`` x ``size`` canonical crop."""
    return similarity_transform(five_points(landmarks), TEMPLATE * size)


def align_face(image: np.ndarray, landmarks: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The canonical ``size`` x ``size`` crop of one face and the 2x3 matrix that made it."""
    m = alignment_matrix(landmarks, size)
    crop = cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return crop, m


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine matrix to (N, 2) points."""
    return points[:, :2] @ matrix[:, :2].T + matrix[:, 2]
