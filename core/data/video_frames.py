"""Labelled frames of real video as model-ready faces: the crop, region centres and the geometry
relative to the person's rest, exactly as the analyse path would see them (the whole clip is
tracked so that the automatic baseline of each labelled frame uses the frames before it, and
those of the first seconds the estimate they are settled on: `core.model.settle`)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..baseline import BaselineMode, track_baselines
from ..faces import FaceTracker
from ..faces.geometry import N_FEATURES
from ..model.scorer import POPULATION_REST, face_values
from ..model.transform import face_input
from ..video import open_source


@dataclass
class VideoFaces:
    frames: list[int]        # 0-based frame index of each face found
    images: np.ndarray       # (N, S, S) uint8 aligned grey crops
    centers: np.ndarray      # (N, P, 2)
    deviation: np.ndarray    # (N, N_FEATURES) geometry minus the automatic rest estimate at that frame


def video_faces(video: Path, wanted: set[int], size: int, baseline: BaselineMode = BaselineMode("auto")) -> VideoFaces:
    """The largest face of each ``wanted`` frame of a one-person clip (frames without a face are left out)."""
    times, values, kept = [], [], {}
    with open_source(str(video)) as source, FaceTracker(max_faces=1, hands=False) as tracker:
        for frame in source:
            faces = tracker.process(frame.rgb)
            if not faces:
                continue
            face = faces[0]
            times.append(frame.timestamp)
            values.append(face_values(face.landmarks))
            if frame.index in wanted:
                kept[frame.index] = (len(values) - 1, face_input(frame.rgb, face.landmarks, size))
    if not values:
        return VideoFaces([], np.zeros((0, size, size), np.uint8), np.zeros((0, 0, 2), np.float32),
                          np.zeros((0, N_FEATURES)))
    values = np.stack(values)
    rest, _ = track_baselines(np.array(times), values, baseline, POPULATION_REST)
    frames = sorted(kept)
    rows = [kept[f][0] for f in frames]
    return VideoFaces(frames, np.stack([kept[f][1][0] for f in frames]), np.stack([kept[f][1][1] for f in frames]),
                      (values[rows] - rest[rows])[:, :N_FEATURES])
