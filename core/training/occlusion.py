"""Covered regions: synthetic occluders on real faces, to train the model's visibility head and
to measure it.

Training draws dark glasses as ellipses, skin-coloured blobs (a hand's colour or another
person's skin, without a hand's shape), hair strands and patches of other pictures. The measurement draws shapes never drawn in training:
framed rectangular sunglasses and a hand silhouette textured with another person's skin. A
region's label is the share of its polygons the occluder covers (over `COVERED`: covered; under
`CLEAR`: visible; between: not used), computed on the clean face's landmarks.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from ..faces import FaceTracker
from ..faces.regions import COVERED
from ..model.model import MF2
from ..model.transform import face_input, to_input
from ..video import open_source, read_image

CLEAR = 0.1  # a region this little hidden counts as visible; between it and COVERED, not used
RIGHT_EYE, LEFT_EYE, MOUTH = (33, 133, 159, 145), (362, 263, 386, 374), (61, 291, 0, 17)


@dataclass
class Shot:
    rgb: np.ndarray         # the face and its surroundings, cut from the frame
    landmarks: np.ndarray   # (478, 3) in ``rgb`` pixels
    person: str


def _cut(rgb: np.ndarray, landmarks: np.ndarray, person: str) -> Shot:
    x0, y0 = landmarks[:, :2].min(0)
    x1, y1 = landmarks[:, :2].max(0)
    side = 1.6 * max(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    left, top = int(max(cx - side / 2, 0)), int(max(cy - side / 2, 0))
    right, bottom = int(min(cx + side / 2, rgb.shape[1])), int(min(cy + side / 2, rgb.shape[0]))
    points = landmarks.copy()
    points[:, 0] -= left
    points[:, 1] -= top
    return Shot(np.ascontiguousarray(rgb[top:bottom, left:right]), points, person)


def video_shots(video: Path, every: int, person: str) -> list[Shot]:
    """The largest face of every ``every``-th frame."""
    shots = []
    with open_source(str(video)) as source, FaceTracker(max_faces=1, hands=False) as tracker:
        for frame in source:
            faces = tracker.process(frame.rgb)
            if faces and frame.index % every == 0:
                shots.append(_cut(frame.rgb, faces[0].landmarks, person))
    return shots


def image_shots(paths: list[Path], persons: list[str]) -> list[Shot]:
    shots = []
    with FaceTracker(max_faces=1, static=True, hands=False) as tracker:
        for path, person in zip(paths, persons):
            rgb = read_image(path)
            faces = tracker.process(rgb)
            if faces:
                shots.append(_cut(rgb, faces[0].landmarks, person))
    return shots


def labels_of(cover: np.ndarray) -> np.ndarray:
    """1 covered, 0 visible, NaN in between (not used to train or score)."""
    return np.where(cover >= COVERED, 1.0, np.where(cover <= CLEAR, 0.0, np.nan))


def _eye_box(points: np.ndarray, idx) -> tuple[np.ndarray, float]:
    p = points[list(idx), :2]
    return p.mean(0), float(np.linalg.norm(p[0] - p[1]))


def _skin(shot: Shot, rng) -> np.ndarray:
    """A colour from the face's own cheek, a little varied."""
    y, x = np.round(shot.landmarks[205, 1::-1]).astype(int)
    y, x = np.clip(y, 0, shot.rgb.shape[0] - 1), np.clip(x, 0, shot.rgb.shape[1] - 1)
    return np.clip(shot.rgb[y, x].astype(float) * rng.uniform(0.8, 1.2) + rng.normal(0, 10, 3), 0, 255)


def cheek_patch(shot: Shot, half: int = 12) -> np.ndarray:
    """A square of skin from the face's cheek: the texture of a hand held against a face."""
    x, y = np.round(shot.landmarks[205, :2]).astype(int)
    h, w = shot.rgb.shape[:2]
    x, y = np.clip(x, half, w - half), np.clip(y, half, h - half)
    return shot.rgb[y - half:y + half, x - half:x + half]


def training_occluder(shot: Shot, rng: np.random.Generator, other: Shot) -> tuple[np.ndarray, np.ndarray]:
    """(occluded rgb, mask) with one of the training occluders; ``other``: another person's face,
    for patches of a picture and of skin."""
    rgb, h, w = shot.rgb.copy(), *shot.rgb.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    pts = shot.landmarks
    kind = rng.choice(["glasses", "skin", "hair", "patch"])
    if kind == "glasses":
        colour = rng.uniform(5, 70, 3) * ([1, 1, 1] if rng.random() < 0.6 else rng.uniform(0.5, 1.5, 3))
        for idx in (RIGHT_EYE, LEFT_EYE):
            centre, width = _eye_box(pts, idx)
            axes = (int(width * rng.uniform(0.75, 1.0)), int(width * rng.uniform(0.5, 0.8)))
            cv2.ellipse(mask, tuple(np.round(centre).astype(int)), axes, rng.uniform(-10, 10), 0, 360, 1, -1)
        (cr, _), (cl, _) = _eye_box(pts, RIGHT_EYE), _eye_box(pts, LEFT_EYE)
        cv2.line(mask, tuple(np.round(cr).astype(int)), tuple(np.round(cl).astype(int)), 1, max(2, int(w / 80)))
        fill = np.broadcast_to(np.clip(colour, 0, 255), rgb.shape)
    else:
        # an ellipse or polygon over a random landmark, sized from a fifth to half of the face
        face = float(np.ptp(pts[:, 0]))
        centre = pts[rng.integers(len(pts)), :2] + rng.normal(0, 0.1 * face, 2)
        size = rng.uniform(0.2, 0.5) * face
        if kind == "hair":
            for _ in range(rng.integers(6, 16)):
                start = centre + rng.normal(0, size / 2, 2)
                bend = start + rng.normal(0, size / 2, 2)
                end = bend + rng.normal(0, size / 2, 2)
                curve = np.stack([(1 - t) ** 2 * start + 2 * (1 - t) * t * bend + t ** 2 * end
                                  for t in np.linspace(0, 1, 12)])
                cv2.polylines(mask, [np.round(curve).astype(np.int32)], False, 1, max(2, int(size / rng.uniform(6, 14))))
            fill = np.broadcast_to(rng.choice([[25, 20, 15], [70, 45, 25], [160, 130, 80], [10, 10, 10]])
                                   + rng.normal(0, 8, 3), rgb.shape)
        else:
            angles = np.sort(rng.uniform(0, 2 * np.pi, rng.integers(5, 9)))
            radii = size / 2 * rng.uniform(0.6, 1.0, len(angles))
            poly = centre + np.stack([np.cos(angles), np.sin(angles)], 1) * radii[:, None]
            cv2.fillPoly(mask, [np.round(poly).astype(np.int32)], 1)
            shade = np.linspace(rng.uniform(0.75, 1.0), rng.uniform(1.0, 1.2), h)[:, None, None]
            if kind == "skin" and rng.random() < 0.5:  # flat: the face's own colour
                fill = np.clip(_skin(shot, rng) * shade + rng.normal(0, 4, (h, w, 3)), 0, 255)
            elif kind == "skin":  # textured: another person's skin, stretched
                fill = np.clip(cv2.resize(cheek_patch(other), (w, h), interpolation=cv2.INTER_LINEAR) * shade, 0, 255)
            else:
                fill = cv2.resize(other.rgb, (w, h), interpolation=cv2.INTER_LINEAR)
    m = mask.astype(bool)
    rgb[m] = np.asarray(fill)[m]
    return rgb, m


def measurement_occluder(shot: Shot, kind: str, skin: np.ndarray, rng: np.random.Generator, over: str = "mouth"
                         ) -> tuple[np.ndarray, np.ndarray]:
    """(occluded rgb, mask) with a measurement occluder never drawn in training: ``sunglasses``
    (framed rectangles with dark lenses) or ``hand`` (palm and fingers textured with ``skin``,
    a patch of another person's face) ``over`` the mouth or an eye."""
    rgb, h, w = shot.rgb.copy(), *shot.rgb.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    pts = shot.landmarks
    if kind == "sunglasses":
        lens = np.zeros_like(mask)
        for idx in (RIGHT_EYE, LEFT_EYE):
            centre, width = _eye_box(pts, idx)
            half = np.array([width * 0.85, width * 0.6])
            box = np.round(np.concatenate([centre - half, centre + half])).astype(int)
            cv2.rectangle(lens, tuple(box[:2]), tuple(box[2:]), 1, -1)
            cv2.rectangle(mask, tuple(box[:2] - 3), tuple(box[2:] + 3), 1, -1)
        frame_colour = rng.uniform(0, 60, 3)
        rgb[mask.astype(bool)] = frame_colour
        tint = rng.uniform(0.1, 0.3)
        rgb[lens.astype(bool)] = (rgb[lens.astype(bool)] * tint).astype(np.uint8)  # dark lenses: the eye barely shows
    else:
        face = float(np.ptp(pts[:, 0]))
        target = pts[list(MOUTH), :2].mean(0) if over == "mouth" else _eye_box(pts, RIGHT_EYE)[0]
        palm = (target + rng.normal(0, 0.05 * face, 2), (int(0.28 * face), int(0.2 * face)))
        cv2.ellipse(mask, tuple(np.round(palm[0]).astype(int)), palm[1], rng.uniform(-30, 30), 0, 360, 1, -1)
        angle = rng.uniform(-0.6, 0.6) - np.pi / 2
        for k in range(4):
            base = palm[0] + np.array([(k - 1.5) * 0.12 * face, -0.1 * face])
            tip = base + 0.35 * face * np.array([np.cos(angle), np.sin(angle)])
            cv2.line(mask, tuple(np.round(base).astype(int)), tuple(np.round(tip).astype(int)), 1, int(0.09 * face))
        texture = cv2.resize(skin, (w, h), interpolation=cv2.INTER_LINEAR)
        m = mask.astype(bool)
        rgb[m] = texture[m]
    return rgb, mask.astype(bool)


def region_embeddings(model: MF2, shots_rgb: list[tuple[np.ndarray, np.ndarray]], batch: int = 256) -> torch.Tensor:
    """Frozen region embeddings (N, R, E) of (rgb, landmarks) faces, as the analyse path crops them."""
    size = model.cfg.input_size
    crops, centres = zip(*(face_input(rgb, points, size) for rgb, points in shots_rgb))
    out = []
    with torch.no_grad():
        for i in range(0, len(crops), batch):
            feats = model.encoder(to_input(np.stack(crops[i:i + batch]), "cpu"),
                                  torch.as_tensor(np.stack(centres[i:i + batch])))
            out.append(feats["regions"])
    return torch.cat(out)


def train_visibility(model: MF2, regions: torch.Tensor, labels: np.ndarray, steps: int = 600, seed: int = 0) -> None:
    """Fit the visibility head (``visible_logits`` > 0: visible) on frozen region embeddings;
    ``labels`` (N, R): 1 covered, 0 visible, NaN unused. Visible regions outnumber covered ones,
    as on real faces; the decision point is set afterwards (`set_false_alarms`)."""
    torch.manual_seed(seed)
    target = torch.as_tensor(1 - labels, dtype=torch.float32)  # the head says "visible"
    known = ~torch.isnan(target)
    with torch.no_grad():
        model.visibility.normal_(0, 0.01)
        model.visibility_bias.fill_(2.0)
    optimizer = torch.optim.Adam([model.visibility, model.visibility_bias], lr=3e-3, weight_decay=1e-4)
    for _ in range(steps):
        optimizer.zero_grad()
        logits = model.visible_logits(regions)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits[known], target[known])
        loss.backward()
        optimizer.step()


def set_false_alarms(model: MF2, clean_regions: torch.Tensor, rate: float) -> float:
    """Shift the head's bias so that ``rate`` of the regions of clean faces (not trained on) read
    as covered; returns the shift. A covered region costs its AU; a false alarm costs a real one."""
    with torch.no_grad():
        logits = model.visible_logits(clean_regions).flatten()
        cut = float(torch.quantile(logits, rate))
        model.visibility_bias -= cut
    return cut
