"""Zero-shot emotion scores: similarity of the face embedding to emotion descriptions, no heads.

It checks that the language alignment learned something, and it is how a new description (a
user's own words) becomes usable without training a head. Each emotion's class embedding is the
mean of several paraphrased descriptions, some naming its prototypical Action Units (EMFACS).
"""
from __future__ import annotations

import numpy as np
import torch

from ..describe import describe
from .model import MF2
from .text import TextEncoder

# EMFACS prototypes: the AUs that typically make up each emotion.
PROTOTYPE_AUS: dict[str, dict[int, float]] = {
    "neutral": {}, "happy": {6: 1, 12: 1}, "sad": {1: 1, 4: 1, 15: 1}, "surprise": {1: 1, 2: 1, 5: 1, 26: 1},
    "fear": {1: 1, 2: 1, 4: 1, 5: 1, 7: 1, 20: 1, 26: 1}, "disgust": {9: 1, 15: 1, 16: 1},
    "angry": {4: 1, 5: 1, 7: 1, 23: 1}, "contempt": {12: 1, 14: 1},
}


def emotion_prompts(emotion: str, n: int = 6) -> list[str]:
    return [describe(None, emotion, seed=s).text for s in range(n)] + \
           [describe(PROTOTYPE_AUS[emotion], emotion, seed=s).text for s in range(n)]


@torch.no_grad()
def emotion_classifier(model: MF2, encoder: TextEncoder, emotions: tuple[str, ...]) -> torch.Tensor:
    """(n_emotions, E) unit class embeddings in the model's shared space."""
    device = next(model.parameters()).device
    rows = []
    for emotion in emotions:
        projected = model.embed_text(encoder.encode(emotion_prompts(emotion)).to(device))
        rows.append(torch.nn.functional.normalize(projected.mean(0), dim=-1))
    return torch.stack(rows)


def zero_shot_emotion(model: MF2, face_embeddings: np.ndarray, classifier: torch.Tensor) -> np.ndarray:
    """(N, n_emotions) probabilities from (N, E) unit face embeddings."""
    logits = model.logit_scale.exp().clamp(max=100).item() * torch.as_tensor(face_embeddings) @ classifier.cpu().T
    return torch.softmax(logits, -1).numpy()
