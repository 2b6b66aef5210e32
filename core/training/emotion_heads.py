"""The emotion side of MF² on frozen features, trained on FER+ crowd votes (and CK+ where given).

FER+ gives each FER2013 image the votes of 10 annotators over 8 emotions (contempt included):
cleaner than the original single labels, and a distribution where people disagree. The heads
learn either the vote distribution (soft targets) or its majority; a dataset that lacks a class
(CK+ has no neutral) is trained with a softmax over the classes it has (masked loss).

What trains: the emotion side network and head on the whole-face embedding, plus (v2 models) a
head on the mean region embedding and weights on the geometry relative to the person's rest.
The backbone and the local branch stay frozen, so each face is encoded once (and mirrored).
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError
from ..model.model import MF2
from ..model.transform import to_input
from .frozen import fit_parts
from ..taxonomy import EMOTIONS

# FER+ vote columns -> our emotion names; "unknown" and "NF" (not a face) are not emotions
FERPLUS_EMOTIONS = {"neutral": "neutral", "happiness": "happy", "surprise": "surprise", "sadness": "sad",
                    "anger": "angry", "disgust": "disgust", "fear": "fear", "contempt": "contempt"}


def ferplus_votes(sources: list[str], votes_csv: Path) -> np.ndarray:
    """(N, len(EMOTIONS) + 1) vote counts per image in EMOTIONS order, then unknown + NF; NaN rows
    for images the file has no votes for. Rows are matched on the path relative to the CSV's folder."""
    votes_csv = Path(votes_csv)
    root = votes_csv.parent.resolve()
    table = {}
    try:
        with open(votes_csv, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                counts = [float(row[k]) for k in FERPLUS_EMOTIONS] + [float(row["unknown"]) + float(row["NF"])]
                order = [list(FERPLUS_EMOTIONS.values()).index(e) for e in EMOTIONS]
                table[row["path"]] = [counts[i] for i in order] + [counts[-1]]
    except (OSError, KeyError, ValueError) as e:
        raise InputError(f"{votes_csv}: not a FER+ votes file ({e})") from None
    out = np.full((len(sources), len(EMOTIONS) + 1), np.nan)
    for i, s in enumerate(sources):
        try:
            key = Path(s).resolve().relative_to(root).as_posix()
        except ValueError:
            continue
        if key in table:
            out[i] = table[key]
    return out


def majority(votes: np.ndarray) -> np.ndarray:
    """Index into EMOTIONS of each row's top vote; -1 where it is tied, unknown / not a face, or absent."""
    out = np.full(len(votes), -1)
    for i, v in enumerate(votes):
        if np.isnan(v).any():
            continue
        top = np.flatnonzero(v == v.max())
        if len(top) == 1 and top[0] < len(EMOTIONS):
            out[i] = top[0]
    return out


@dataclass
class EmotionData:
    face: torch.Tensor      # (N, 2, E) whole-face embeddings of the face and its mirror image
    local: torch.Tensor     # (N, 2, E) mean region embeddings
    geometry: np.ndarray    # (N, N_FEATURES) geometry minus the person's (or the population's) rest
    targets: np.ndarray     # (N, n_emotions) target distribution (rows sum to 1)
    allowed: np.ndarray     # (N, n_emotions) bool: classes the sample's dataset has

    def __len__(self) -> int:
        return len(self.targets)

    def subset(self, index) -> "EmotionData":
        t = torch.as_tensor(np.asarray(index))
        return EmotionData(self.face[t], self.local[t], self.geometry[index], self.targets[index], self.allowed[index])

    @staticmethod
    def join(parts: list["EmotionData"]) -> "EmotionData":
        return EmotionData(torch.cat([p.face for p in parts]), torch.cat([p.local for p in parts]),
                           *(np.concatenate([getattr(p, f) for p in parts]) for f in ("geometry", "targets", "allowed")))


def choice_hold_out(n: int) -> np.ndarray:
    """The 10% of FER2013's n training images (in folder order) that choices are made on: emotion
    head variants, and how long the encoder trains on FER+ (it is then left out of that training)."""
    return np.random.default_rng(0).random(n) < 0.1


@torch.no_grad()
def frozen_features(model: MF2, images: np.ndarray, centers: np.ndarray, batch: int = 256
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """((N, 2, E) face embeddings, (N, 2, E) mean region embeddings) of crops and their mirrors."""
    model.eval()
    faces, local = [], []
    for start in range(0, len(images), batch):
        x = to_input(images[start:start + batch], "cpu")
        c = torch.as_tensor(centers[start:start + batch])
        m = c.clone()
        m[..., 0] = 1 - m[..., 0]
        views = [model.encoder(x, c), model.encoder(x.flip(-1), m)]
        faces.append(torch.stack([v["global"] for v in views], 1))
        local.append(torch.stack([v["regions"].mean(1) for v in views], 1))
    return torch.cat(faces), torch.cat(local)


def emotion_parameters(model: MF2, inputs: bool = True) -> list[torch.nn.Parameter]:
    """The emotion side network and heads; ``inputs=False`` leaves out the region and geometry heads."""
    extra = {id(p) for n, p in model.named_parameters() if n.startswith(("emotion_local", "emotion_geometry"))}
    return [p for p in model.head_parameters(("emotion",)) if inputs or id(p) not in extra]


def _logits(model: MF2, face, local, geometry) -> torch.Tensor:
    logits = model.emotion_head(model.emotion_side(face))
    if model.cfg.geometry_dim:
        logits = logits + model.emotion_local(local) + (geometry / model.geometry_scale) @ model.emotion_geometry.T
    return logits


def train_emotion(model: MF2, data: EmotionData, epochs: int = 12, batch_size: int = 256, lr: float = 2e-3,
                  weight_decay: float = 1e-2, seed: int = 0, inputs: bool = True) -> list[float]:
    """Train the emotion heads in place on ``data.targets`` (cross-entropy against the target
    distribution, over each sample's allowed classes, classes weighted by inverse square-root
    frequency). Returns epoch losses."""
    mass = data.targets.sum(0)
    weight = torch.as_tensor(np.where(mass > 0, (mass.sum() / np.maximum(mass, 1e-9)) ** 0.5, 0.0), dtype=torch.float32)
    weight = weight / weight[mass > 0].mean()
    targets = torch.as_tensor(data.targets, dtype=torch.float32)
    allowed = torch.as_tensor(data.allowed)
    geometry = torch.as_tensor(np.nan_to_num(data.geometry), dtype=torch.float32)

    def loss_of(idx: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        view = torch.as_tensor(rng.integers(0, 2, len(idx)))
        logits = _logits(model, data.face[idx, view], data.local[idx, view], geometry[idx])
        logits = logits.masked_fill(~allowed[idx], -1e4)
        return -(targets[idx] * weight[None] * F.log_softmax(logits, -1)).sum(1).mean()

    return fit_parts(model, emotion_parameters(model, inputs), len(data), loss_of, epochs, batch_size, lr,
                     weight_decay, seed)


@torch.no_grad()
def predict_emotion(model: MF2, data: EmotionData) -> np.ndarray:
    """(N, n_emotions) probabilities, face and mirror image averaged."""
    geometry = torch.as_tensor(np.nan_to_num(data.geometry), dtype=torch.float32)
    probs = [torch.softmax(_logits(model, data.face[:, v], data.local[:, v], geometry), -1) for v in (0, 1)]
    return ((probs[0] + probs[1]) / 2).numpy()
