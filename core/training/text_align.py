"""Language alignment on frozen face features: the text projection learns where many wordings of
a face's description belong in the face space.

This is DFN's "text" task (the studio's own fine-tuning trains the same projection on users'
captions): the face encoder, its region embeddings and every head stay as they are, so no
reading in a CSV changes; only what free text means to the model does. Faces are pulled towards
a freshly drawn paraphrase of their description at every step (CLIP loss, faces with the same
labels counted as positives), and each AU's region embedding towards a paraphrase of that AU
exactly when the AU is labelled present (sigmoid loss, as in pre-training).

Evaluation prompts never reach training: every generated text that contains one of them is
dropped and another wording drawn (`TextTable`), as test sets are kept out of training corpora.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from ..describe import Description, au_sentence, describe
from ..model.loss import contrastive_loss, region_alignment_loss
from ..model.model import MF2
from .frozen import fit_parts


def text_view(d: Description, rng: random.Random) -> str:
    """One level or mix of levels of a description, so that short texts (as users type them) train too."""
    return rng.choice([d.text, d.global_text, f"{d.global_text} {d.emotion_text}".strip(), d.emotion_text or d.global_text])


def evaluation_prompts(*more: Path) -> list[str]:
    """Every shipped evaluation prompt (core/model/default_prompts.json), and those of the prompt
    files ``more``: what no training text may hold."""
    from ..model.zero_shot import load_prompts

    return [t for path in (None, *more) for kind in ("emotions", "aus")
            for texts in load_prompts(path, kind).values() for t in texts]


class TextTable:
    """The unique training texts and their ids; texts containing a banned phrase (an evaluation
    prompt, lower case) are never added: the generators draw another wording instead. Every path
    that trains the text side writes its descriptions through one (pre-training, DFN, this module)."""

    def __init__(self, banned: list[str]):
        self.ids: dict[str, int] = {}
        self.banned = [b.lower().rstrip(".") for b in banned]
        self.dropped = 0

    def allowed(self, text: str) -> bool:
        lower = text.lower()
        ok = not any(b in lower for b in self.banned)
        self.dropped += not ok
        return ok

    def add(self, text: str) -> int:
        return self.ids.setdefault(text, len(self.ids))

    def paraphrases(self, aus: dict[int, float] | None, emotion: str | None, n: int, seed: int,
                    whole: bool = False) -> list[int]:
        """Ids of ``n`` allowed descriptions of a face with these labels (some may repeat); each
        one level or mix of levels (`text_view`), or every level (``whole``, as pre-training reads)."""
        rng, out, k = random.Random(seed), [], 0
        while len(out) < n and k < 50 * n:
            d = describe(aus, emotion, seed=seed * 100_003 + k)
            text = d.text if whole else text_view(d, rng)
            k += 1
            if self.allowed(text):
                out.append(self.add(text))
        return out

    def written(self, texts: list[str]) -> list[int]:
        """Ids of the allowed ones of these hand-written descriptions (each kept once)."""
        return list(dict.fromkeys(self.add(t) for t in texts if self.allowed(t)))

    def au_paraphrases(self, number: int, n: int, seed: int) -> list[int]:
        """Ids of ``n`` allowed sentences about one active AU, of random strength."""
        rng, out = random.Random(seed), []
        for _ in range(50 * n):
            text = au_sentence(number, rng.uniform(0.3, 1.0), rng)
            if self.allowed(text):
                out.append(self.add(text))
                if len(out) == n:
                    break
        return out

    @property
    def texts(self) -> list[str]:
        return list(self.ids)


@dataclass
class TextData:
    faces: torch.Tensor         # (N, V, E) frozen face embeddings, V views (the face, its mirror image)
    keys: np.ndarray            # (N,) int: faces with equal keys have equal labels
    choices: np.ndarray         # (N, K) int: indices into ``text_emb`` of K paraphrases of each face's description
    text_emb: torch.Tensor      # (T, text_dim) sentence embeddings of every text
    regions: torch.Tensor       # (M, A, E) frozen region embeddings of each AU's region, faces with AU labels
    au_labels: torch.Tensor     # (M, A) 1 present, 0 absent, NaN unlabelled, in the model's AU order
    au_choices: np.ndarray      # (A, K2) int: indices into ``text_emb`` of paraphrases of each AU


    def subset(self, rows: np.ndarray) -> "TextData":
        """The same texts and regions with only these faces."""
        return TextData(self.faces[torch.as_tensor(rows)], self.keys[rows], self.choices[rows], self.text_emb,
                        self.regions, self.au_labels, self.au_choices)


@dataclass
class TextSettings:
    epochs: int = 6
    batch_size: int = 256
    lr: float = 3e-3
    weight_decay: float = 0.0
    region_weight: float = 0.5
    region_batch: int = 64
    seed: int = 0
    hidden: int = 0             # text_hidden of the model trained (0: the linear projection alone)


def with_text_adapter(model: MF2, hidden: int) -> MF2:
    """``model`` with a text adapter of width ``hidden`` (initially adding nothing); itself when 0."""
    if not hidden or model.cfg.text_hidden == hidden:
        return model
    out = MF2(replace(model.cfg, text_hidden=hidden))
    missing, unexpected = out.load_state_dict(model.state_dict(), strict=False)
    assert not unexpected and all(k.startswith("text_adapter.") for k in missing), (missing, unexpected)
    return out.eval()


def train_text(model: MF2, data: TextData, settings: TextSettings) -> list[float]:
    """Train the text side of ``model`` (``text_proj``, and ``text_adapter`` where the config has
    one) in place; returns the mean loss of each epoch."""
    keys = torch.as_tensor(data.keys)
    choices = torch.as_tensor(data.choices)
    au_choices = torch.as_tensor(data.au_choices)
    n_views, k, k_au = data.faces.shape[1], data.choices.shape[1], data.au_choices.shape[1]

    def loss_of(idx: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        view = torch.as_tensor(rng.integers(0, n_views, len(idx)))
        face = torch.nn.functional.normalize(data.faces[idx, view], dim=-1)
        text = data.text_emb[choices[idx, torch.as_tensor(rng.integers(0, k, len(idx)))]]
        same = keys[idx][:, None] == keys[idx][None, :]
        loss = contrastive_loss(face, model.embed_text(text), same, model.logit_scale.detach())
        if settings.region_weight and len(data.regions):
            r = torch.as_tensor(rng.integers(0, len(data.regions), settings.region_batch))
            au_text = data.text_emb[au_choices[torch.arange(len(au_choices)),
                                               torch.as_tensor(rng.integers(0, k_au, len(au_choices)))]]
            loss = loss + settings.region_weight * region_alignment_loss(
                data.regions[r], model.embed_text(au_text), data.au_labels[r], model.logit_scale.detach())
        return loss

    params = [p for name, p in model.named_parameters() if name.startswith("text_")]
    return fit_parts(model, params, len(data.keys), loss_of, settings.epochs, settings.batch_size,
                     settings.lr, settings.weight_decay, settings.seed)
