"""Head pose from the mesh's 3-D landmarks: rotation of a generic face fitted to six points.

MediaPipe gives every landmark a depth on the same scale as x and y, so the rotation comes from
a 3-D to 3-D least-squares fit (Umeyama) of a generic adult face, with no guess at the camera's
focal length. Conventions, camera frame (x right, y down, z away from the camera), degrees:
pitch > 0 head tilted up, yaw > 0 head turned towards the image's right, roll > 0 head tilted
clockwise in the image.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .landmarks import CHIN, LEFT_EYE_CORNERS, MOUTH_CORNERS, NOSE_TIP, RIGHT_EYE_CORNERS

# Generic adult face in millimetres, camera-style axes, origin at the nose tip.
_MODEL_POINTS = np.array([
    (0.0, 0.0, 0.0),        # nose tip
    (0.0, 66.0, 13.0),      # chin
    (-45.0, -34.0, 27.0),   # right eye, outer corner (image left)
    (45.0, -34.0, 27.0),    # left eye, outer corner
    (-30.0, 30.0, 25.0),    # right mouth corner
    (30.0, 30.0, 25.0),     # left mouth corner
])
_MESH_POINTS = [NOSE_TIP, CHIN, RIGHT_EYE_CORNERS[0], LEFT_EYE_CORNERS[1], MOUTH_CORNERS[0], MOUTH_CORNERS[1]]


@dataclass(frozen=True)
class HeadPose:
    pitch: float  # degrees
    yaw: float
    roll: float

    def radians(self) -> tuple[float, float, float]:
        return math.radians(self.pitch), math.radians(self.yaw), math.radians(self.roll)


def estimate_pose(landmarks: np.ndarray) -> HeadPose:
    """Pitch, yaw and roll in degrees of one face from its (478, 3) landmarks."""
    observed = landmarks[_MESH_POINTS].astype(np.float64)
    src = _MODEL_POINTS - _MODEL_POINTS.mean(axis=0)
    dst = observed - observed.mean(axis=0)
    u, _, vt = np.linalg.svd(dst.T @ src)
    fix = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt)) or 1.0])
    r = u @ fix @ vt  # model -> camera rotation
    pitch = math.degrees(math.atan2(-r[2, 1], r[2, 2]))
    yaw = math.degrees(math.atan2(r[2, 0], math.hypot(r[2, 1], r[2, 2])))
    roll = math.degrees(math.atan2(r[1, 0], r[0, 0]))
    return HeadPose(pitch, yaw, roll)
