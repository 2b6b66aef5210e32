"""Zero-shot readings and free-text scoring: faces compared with descriptions, no heads.

A face's embedding (whole face) or an AU region's embedding is compared with the projected
sentence embeddings of descriptions. It checks that the language alignment learned something,
and it is how a user's own words become usable without training a head (the studio's text
search builds on `score_text`). Zero-shot figures are honest only with prompts that were never
training sentences: the default prompts (``default_prompts.json``) are hand-written free
descriptions, checked by a test to be disjoint from every sentence the model trained on; users
bring their own with ``--prompts``.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError
from ..taxonomy import EMOTIONS, canonical_emotion, parse_au
from .model import MF2
from .text import TextEncoder

DEFAULT_PROMPTS = Path(__file__).with_name("default_prompts.json")
REGION_BIAS = 5.0  # the bias of the AU-region alignment loss: sigmoid(scale * cos - bias)


def load_prompts(path: Path | None, kind: str) -> dict:
    """``kind`` "emotions" ({emotion: [texts]}) or "aus" ({AU number: [texts]}) from a JSON
    object (names or codes to lists of descriptions); the defaults when ``path`` is None. A file
    holding both kinds under "emotions" / "aus" keys works too. InputError, one line, otherwise."""
    path = Path(path) if path else DEFAULT_PROMPTS
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"{path}: not a readable prompts file ({e})") from None
    if isinstance(data, dict) and kind in data:
        data = data[kind]
    if not isinstance(data, dict) or not data:
        raise InputError(f"{path}: prompts must be a JSON object of names to lists of descriptions")
    out = {}
    for key, texts in data.items():
        if key.startswith("_"):
            continue
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) and t.strip() for t in texts):
            raise InputError(f"{path}: {key!r} needs a non-empty list of descriptions")
        try:
            name = canonical_emotion(key) if kind == "emotions" else parse_au(key).number
        except ValueError as e:
            raise InputError(f"{path}: {e}") from None
        out[name] = [t.strip() for t in texts]
    return out


@torch.no_grad()
def text_embeddings(model: MF2, encoder: TextEncoder, texts: list[str]) -> torch.Tensor:
    """(T, E) unit embeddings of ``texts`` in the model's shared face-text space."""
    device = next(model.parameters()).device
    return model.embed_text(encoder.encode(texts).to(device)).cpu()


@torch.no_grad()
def class_embeddings(model: MF2, encoder: TextEncoder, prompts: dict) -> torch.Tensor:
    """(n_classes, E): each class the normalised mean of its descriptions' embeddings."""
    return torch.stack([torch.nn.functional.normalize(text_embeddings(model, encoder, texts).mean(0), dim=-1)
                        for texts in prompts.values()])


def score_text(model: MF2, encoder: TextEncoder, face_embeddings: np.ndarray, descriptions: list[str]) -> np.ndarray:
    """(N, D) cosine similarity of each face (unit embeddings, as `predict` returns in ``global``)
    to each free-text description: higher means the description fits the face better."""
    return torch.as_tensor(face_embeddings, dtype=torch.float32).matmul(
        text_embeddings(model, encoder, descriptions).T).numpy()


def zero_shot_emotion(model: MF2, face_embeddings: np.ndarray, classifier: torch.Tensor) -> np.ndarray:
    """(N, n_emotions) probabilities from (N, E) unit face embeddings."""
    logits = model.logit_scale.exp().clamp(max=100).item() * torch.as_tensor(face_embeddings) @ classifier.cpu().T
    return torch.softmax(logits, -1).numpy()


def zero_shot_au(model: MF2, regions: np.ndarray, aus: list[int], classifier: torch.Tensor) -> np.ndarray:
    """(N, len(aus)) probabilities that each AU is present, from the (N, R, E) region embeddings:
    each AU's own region against its descriptions, as the AU-region alignment was trained."""
    index = [model.cfg.regions.index(model.cfg.au_regions[model.cfg.aus.index(n)]) for n in aus]
    r = torch.nn.functional.normalize(torch.as_tensor(regions)[:, index], dim=-1)
    cos = (r * classifier[None]).sum(-1)
    return torch.sigmoid(model.logit_scale.exp().clamp(max=100).item() * cos - REGION_BIAS).numpy()


def emotion_names(prompts: dict) -> tuple[str, ...]:
    return tuple(e for e in EMOTIONS if e in prompts)
