"""The replay bank: frozen-encoder features of a sample of the base training data, shipped beside
the model, so DFN fine-tuning on a user's few dozen faces can keep rehearsing what the heads
learned, on any machine, without the base data (which may not be redistributed) being present.

Only features are kept (no pixels): the global embedding and each region's embedding, in half
precision, with the emotion label. They are valid for exactly one encoder, named by its digest.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..model.model import MF2
from ..model.transform import to_input

REPLAY_FILE = "replay.safetensors"


def encoder_digest(model: MF2) -> str:
    """Names the frozen encoder (weights and BatchNorm statistics): DFN runs never change it."""
    h = hashlib.blake2b(digest_size=12)
    for name, t in sorted(model.encoder.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().float().numpy().tobytes())
    return h.hexdigest()


@torch.no_grad()
def encode(model: MF2, images: np.ndarray, centers: np.ndarray, batch: int = 256,
           augment_with: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """Frozen-encoder features (``global`` (N, E), ``regions`` (N, R, E)) of aligned crops; with a
    generator, of one randomly augmented view of each."""
    from .augment import augment

    model.eval()
    device = next(model.parameters()).device
    parts: dict[str, list] = {"global": [], "regions": []}
    for start in range(0, len(images), batch):
        x = to_input(images[start:start + batch], device)
        c = torch.as_tensor(centers[start:start + batch], device=device)
        if augment_with is not None:
            x, c = augment(x, c, augment_with)
        f = model.encoder(x, c)
        for k in parts:
            parts[k].append(f[k].float().cpu())
    return {k: torch.cat(v) if v else torch.zeros(0) for k, v in parts.items()}


@dataclass
class ReplayBank:
    features: dict[str, torch.Tensor]   # float32 global (M, E), regions (M, R, E)
    emotions: torch.Tensor              # (M,) index into the model's emotions
    source: str

    def __len__(self) -> int:
        return len(self.emotions)

    def split(self, every: int = 5) -> tuple["ReplayBank", "ReplayBank"]:
        """(rehearsed, probe): every ``every``-th face is kept out of training, to measure what
        fine-tuning costs on the base data."""
        probe = torch.arange(len(self)) % every == 0
        return self._part(~probe), self._part(probe)

    def _part(self, keep: torch.Tensor) -> "ReplayBank":
        return ReplayBank({k: v[keep] for k, v in self.features.items()}, self.emotions[keep], self.source)


def save_replay(path: Path, model: MF2, features: dict[str, torch.Tensor], emotions: np.ndarray, source: str) -> None:
    save_file({"global": features["global"].half().contiguous(), "regions": features["regions"].half().contiguous(),
               "emotions": torch.as_tensor(emotions, dtype=torch.int64)}, str(path),
              metadata={"encoder": encoder_digest(model), "source": source})


def load_replay(model: MF2, *folders: Path) -> ReplayBank | None:
    """The first replay bank in ``folders`` made with this model's encoder, or None."""
    from safetensors import safe_open

    digest = encoder_digest(model)
    for folder in folders:
        path = Path(folder) / REPLAY_FILE
        if not path.is_file():
            continue
        try:
            with safe_open(str(path), "pt") as f:
                meta = f.metadata() or {}
            if meta.get("encoder") != digest:
                continue
            t = load_file(str(path))
        except (SafetensorError, OSError):
            continue
        return ReplayBank({"global": t["global"].float(), "regions": t["regions"].float()}, t["emotions"],
                          meta.get("source", str(path)))
    return None
