"""Model checkpoints as safetensors + JSON config: loading never unpickles code.

A model folder holds ``model.safetensors`` and ``config.json``; a training run adds
``train_state.pt`` (optimizer and progress, read with ``torch.load(weights_only=True)``) to resume.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..errors import InputError
from ..model.config import ModelConfig
from ..model.model import MF2


def save_model(model: MF2, folder: Path, metadata: dict | None = None) -> None:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(tensors, str(folder / "model.safetensors.tmp"),
              metadata={k: json.dumps(v) for k, v in (metadata or {}).items()})
    (folder / "model.safetensors.tmp").replace(folder / "model.safetensors")
    model.cfg.save(folder / "config.json")


def load_model(folder: Path, device: str = "cpu") -> MF2:
    """An MF² model from a folder (or its model.safetensors); InputError with one line otherwise."""
    folder = Path(folder)
    if folder.is_file():
        folder = folder.parent
    weights, config = folder / "model.safetensors", folder / "config.json"
    if not weights.is_file() or not config.is_file():
        raise InputError(f"{folder}: not an MF² model folder (needs model.safetensors and config.json)")
    try:
        cfg = ModelConfig.load(config)
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError, TypeError) as e:
        raise InputError(f"{folder}: unreadable model ({e})") from None
    model = MF2(cfg)
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        first = str(e).splitlines()[1].strip() if len(str(e).splitlines()) > 1 else str(e)
        raise InputError(f"{folder}: weights do not fit the MF² architecture ({first})") from None
    return model.to(device).eval()


def model_metadata(folder: Path) -> dict:
    from safetensors import safe_open

    with safe_open(str(Path(folder) / "model.safetensors"), "pt") as f:
        return {k: json.loads(v) for k, v in (f.metadata() or {}).items()}
