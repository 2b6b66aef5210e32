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
from ..taxonomy import AU_BY_NUMBER, EMOTIONS, parse_au

CROP_MARGIN = 1.6   # crop side = this times the face box's longer side
CROP_MAX = 256      # crops are scaled down to at most this many pixels a side
MAX_AU_VALUE = 5.0  # 0/1 occurrence, or FACS intensity A..E as 1..5


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
    return Captions.from_description(describe(active, emotion, seed=seed))


def parse_au_marks(text: str) -> dict[int, float | None]:
    """``"6 AU12, ?26"`` -> {6: 1.0, 12: 1.0, 26: None}: AUs present, and with ``?`` not scorable
    (left unlabelled). ValueError naming a token that is not an AU."""
    return {parse_au(t.lstrip("?")).number: None if t.startswith("?") else 1.0 for t in text.replace(",", " ").split()}


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
        if self.landmarks.ndim != 2 or self.landmarks.shape[1] != 2 or not np.isfinite(self.landmarks).all():
            raise ValueError("landmarks must be finite (N, 2) points")

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
