"""Named subsets of MediaPipe's 478-point face mesh.

The mesh is what we track; these tables translate it into the conventions other tools speak:
the 68-point iBUG/dlib layout that OpenFace's ``x_0..x_67`` columns use, and the five points a
similarity alignment needs. "Right" and "left" are the subject's, as in FACS.
"""
import numpy as np

N_MESH_POINTS = 478  # 468 mesh points + 10 iris points (refine_landmarks=True)

# MediaPipe mesh index for each of the 68 iBUG points, in iBUG order: jaw 0-16, right brow 17-21,
# left brow 22-26, nose bridge 27-30, nostrils 31-35, right eye 36-41, left eye 42-47,
# outer lip 48-59, inner lip 60-67.
IBUG68_FROM_MESH = np.array([
    127, 234, 93, 132, 58, 136, 150, 176, 152, 400, 379, 365, 288, 361, 323, 454, 356,
    70, 63, 105, 66, 107,
    336, 296, 334, 293, 300,
    168, 197, 5, 4,
    75, 97, 2, 326, 305,
    33, 160, 158, 133, 153, 144,
    362, 385, 387, 263, 373, 380,
    61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181,
    78, 82, 13, 312, 308, 317, 14, 87,
])

RIGHT_EYE_CORNERS = (33, 133)
LEFT_EYE_CORNERS = (362, 263)
NOSE_TIP = 1
CHIN = 152
MOUTH_CORNERS = (61, 291)  # subject's right, left
FOREHEAD_TOP = 10


def five_points(landmarks: np.ndarray) -> np.ndarray:
    """Right eye centre, left eye centre, nose tip, right and left mouth corner: (5, 2)."""
    xy = landmarks[:, :2]
    return np.stack([
        xy[list(RIGHT_EYE_CORNERS)].mean(axis=0),
        xy[list(LEFT_EYE_CORNERS)].mean(axis=0),
        xy[NOSE_TIP],
        xy[MOUTH_CORNERS[0]],
        xy[MOUTH_CORNERS[1]],
    ]).astype(np.float32)


def ibug68(landmarks: np.ndarray) -> np.ndarray:
    """The 68 iBUG points (x, y) taken from the mesh: (68, 2)."""
    return landmarks[IBUG68_FROM_MESH, :2]
