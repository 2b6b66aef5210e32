"""Whether a face can be read at all: big enough, sharp enough, turned towards the camera.

AU readings on a face 10 pixels wide, motion-blurred or seen in profile are noise that looks like
numbers; each check here is a 0..1 ramp and the face's quality is the weakest of them (and of
the share of its regions that are not covered, from the model). Below `READABLE` the scorer
reports no AUs or emotions for the face, and the CSV says why in its ``quality`` column.
"""
from __future__ import annotations

import cv2
import numpy as np

from .geometry import eye_distance
from .pose import HeadPose

READABLE = 0.5
EYE_PX = (10.0, 20.0)       # distance between the eye centres, pixels: unreadable .. fully readable
# high-frequency share of the aligned crop (`sharpness`): a blur of about 0.07 .. 0.03 eye distances;
# readings held within 0.1 F1 of sharp faces at 0.03 and not at 0.05 (scripts/quality_check.py)
SHARPNESS = (0.064, 0.128)
YAW_DEG = (50.0, 35.0)      # head turned this far: unreadable .. fully readable
PITCH_DEG = (40.0, 25.0)


def ramp(value: float, bad: float, good: float) -> float:
    return float(np.clip((value - bad) / (good - bad), 0.0, 1.0))


def sharpness(crop: np.ndarray) -> float:
    """Share of the aligned grey crop's contrast in its finest detail: the spread of a Laplacian
    over the spread of the pixels. Scale-free, so lighting and skin tone matter little."""
    grey = crop.astype(np.float32)
    spread = float(grey.std())
    if spread < 1.0:  # a flat crop (a face covered whole, a black frame): nothing to read
        return 0.0
    return float(cv2.Laplacian(grey, cv2.CV_32F, ksize=1)[2:-2, 2:-2].std()) / spread / 4.0


def face_quality(landmarks: np.ndarray, pose: HeadPose, crop: np.ndarray) -> dict[str, float]:
    """Each check's 0..1 score: ``size``, ``sharpness``, ``pose``."""
    return {"size": ramp(eye_distance(landmarks), *EYE_PX),
            "sharpness": ramp(sharpness(crop), *SHARPNESS),
            "pose": min(ramp(abs(pose.yaw), *YAW_DEG), ramp(abs(pose.pitch), *PITCH_DEG))}
