"""One sample of an MFA-style dataset: a face crop, its landmarks, labels, the edited and the
generated multilevel descriptions, and where it came from.

The crop keeps a margin around the face and the landmarks are stored in its coordinates, so the
model's input is rebuilt exactly as the studio built it (no second face search), and the crop
can be shown to a person as it is.
"""
from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

import cv2
import numpy as np

from ..describe import Description, describe
from ..faces.landmarks import five_points
from ..taxonomy import AU_BY_NUMBER, EMOTIONS, parse_au

CROP_MARGIN = 1.6   # crop side = this times the face box's longer side
CROP_MAX = 256      # crops are scaled down to at most this many pixels a side
MAX_AU_VALUE = 5.0  # 0/1 occurrence, or FACS intensity A..E as 1..5
MAX_ID_BYTES = 128  # an id names its crop file
MIN_SPREAD = 1.0    # pixels: the narrower spread of a face's landmarks is far above this


@dataclass(frozen=True)
class Captions:
    """The three levels of an MFA description."""
    global_text: str = ""
    au_text: str = ""
    emotion_text: str = ""

    LEVELS = ("global_text", "au_text", "emotion_text")

    @classmethod
    def from_description(cls, d: Description) -> "Captions":
        return cls(d.global_text, " ".join(d.au_texts[n] for n in sorted(d.au_texts)), d.emotion_text)

    @property
    def text(self) -> str:
        return " ".join(t for t in (self.global_text, self.au_text, self.emotion_text) if t).strip()

    def as_dict(self) -> dict[str, str]:
        return {"global": self.global_text, "au": self.au_text, "emotion": self.emotion_text}


def captions_for(aus: dict[int, float], emotion: str | None, strengths: dict[int, float] | None = None,
                 seed: int = 0) -> Captions:
    """The generated description of labels: active AUs (value > 0) worded with ``strengths``
    (the model's probabilities, at least "moderately" for an AU labelled present) where given,
    else by their value scaled to 0..1."""
    strengths = strengths or {}
    active = {n: max(0.5, strengths[n]) if n in strengths else min(1.0, v) for n, v in aus.items() if v > 0}
    return Captions.from_description(describe(active, emotion, seed=seed, vary=False))


def parse_au_marks(text: str) -> dict[int, float | None]:
    """``"6 AU12, ?26"`` -> {6: 1.0, 12: 1.0, 26: None}: AUs present, and with ``?`` not scorable
    (left unlabelled). ValueError naming a token that is not an AU."""
    return {parse_au(t.lstrip("?")).number: None if t.startswith("?") else 1.0 for t in text.replace(",", " ").split()}


def valid_id(sid) -> bool:
    """Letters and digits only, short: an id is a file name and must not name a path."""
    return isinstance(sid, str) and sid.isalnum() and len(sid.encode("utf-8", "replace")) <= MAX_ID_BYTES


def landmarks_problem(points: np.ndarray, side: int = 0) -> str | None:
    """Why ``points`` cannot be a face mesh, or None. Alignment divides by the spread of the
    points and by the distance between the eyes, so a mesh collapsed to a point or a line would
    train the model on NaN. ``side``: the crop's longer side, when known (points stay near it)."""
    if points.ndim != 2 or points.shape[1] != 2 or len(points) not in (468, 478):
        return "landmarks must be 468 or 478 [x, y] points"
    xy = points.astype(np.float64)
    if not np.isfinite(xy).all():
        return "landmarks must be finite numbers"
    limit = 2 * side if side else 1e6
    if (np.abs(xy - side / 2) > limit).any():
        return "landmarks lie far outside the image"
    spread = np.linalg.svd(xy - xy.mean(axis=0), compute_uv=False) / math.sqrt(len(xy))
    eyes = five_points(xy)
    if spread[1] < max(MIN_SPREAD, 0.05 * spread[0]) or np.linalg.norm(eyes[0] - eyes[1]) < 0.01:
        return "landmarks collapse to a point or a line: not a face"
    return None


def encodable(text: str) -> bool:
    """False for text holding a lone surrogate (from a JSON escape): SQLite and file names refuse it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@dataclass
class DatasetSample:
    crop: np.ndarray                     # RGB uint8 face crop with margin
    landmarks: np.ndarray                # (478, 2) float32, crop pixels
    emotion: str | None                  # one of taxonomy.EMOTIONS, or None: not labelled
    aus: dict[int, float]                # AU number -> 0..5; AUs absent here are not labelled
    captions: Captions                   # as the annotator left them
    generated: Captions                  # as the model first wrote them
    video: str = ""                      # provenance
    frame: int = -1
    timestamp: float = float("nan")
    face: int = -1
    model: str = ""                      # model version that wrote `generated`
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created: str = field(default_factory=now)
    updated: str = field(default_factory=now)

    def check(self) -> None:
        """ValueError naming the first thing wrong with the labels."""
        if self.emotion is not None and self.emotion not in EMOTIONS:
            raise ValueError(f"unknown emotion {self.emotion!r}")
        for n, v in self.aus.items():
            if n not in AU_BY_NUMBER:
                raise ValueError(f"unknown Action Unit {n!r}")
            if not (isinstance(v, (int, float)) and math.isfinite(v) and 0 <= v <= MAX_AU_VALUE):
                raise ValueError(f"AU{n} value {v!r} out of range 0..{MAX_AU_VALUE:g}")
        if self.crop.ndim != 3 or self.crop.shape[2] != 3 or self.crop.dtype != np.uint8:
            raise ValueError("crop must be an RGB uint8 image")
        problem = landmarks_problem(self.landmarks, max(self.crop.shape[:2]) if self.crop.size else 0)
        if problem:
            raise ValueError(problem)
        if not valid_id(self.id):
            raise ValueError(f"id {self.id!r} must be letters and digits (at most {MAX_ID_BYTES} bytes)")
        if not all(isinstance(v, (int, np.integer)) and -2**63 <= int(v) < 2**63 for v in (self.frame, self.face)) \
                or math.isinf(self.timestamp):
            raise ValueError("frame and face must be whole numbers, timestamp finite")
        texts = (self.video, self.model, self.created, self.updated, *vars(self.captions).values(),
                 *vars(self.generated).values())
        if not all(isinstance(t, str) and encodable(t) for t in texts):
            raise ValueError("texts must be valid Unicode")

    def edited(self) -> bool:
        return self.captions != self.generated

    def touched(self) -> "DatasetSample":
        return replace(self, updated=now())


def crop_face(rgb: np.ndarray, box: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(crop, landmarks in crop pixels): a square around the face box with a margin, edges
    replicated where it leaves the frame, scaled down to `CROP_MAX`."""
    x0, y0, x1, y1 = (float(v) for v in box[:4])
    side = max(x1 - x0, y1 - y0) * CROP_MARGIN
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    out = int(round(min(CROP_MAX, max(16.0, side))))
    scale = out / side
    matrix = np.array([[scale, 0, out / 2 - cx * scale], [0, scale, out / 2 - cy * scale]], np.float32)
    crop = cv2.warpAffine(rgb, matrix, (out, out), flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
    points = landmarks[:, :2].astype(np.float32) * scale + matrix[:, 2]
    return crop, points.astype(np.float32)
