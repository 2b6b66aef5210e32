"""Model checkpoints as safetensors + JSON config: loading never unpickles code.

A model folder holds ``model.safetensors`` and ``config.json``; a training run adds
``train_state.pt`` (optimizer and progress, read with ``torch.load(weights_only=True)``) to resume.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from ..errors import InputError
from ..model.config import ModelConfig
from ..model.model import MF2
from ..model.shipped import model_files
from ..outputs import durable_file, write_durably


def save_model(model: MF2, folder: Path, metadata: dict | None = None) -> None:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    write_durably(folder / "model.safetensors",
                  save(tensors, metadata={k: json.dumps(v) for k, v in (metadata or {}).items()}))
    model.cfg.save(folder / "config.json")


def load_model(folder: Path, device: str = "cpu") -> MF2:
    """An MF² model from a folder (or its model.safetensors); InputError with one line otherwise."""
    folder, weights, config = model_files(folder)
    cfg = ModelConfig.load(config)
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError, TypeError) as e:
        raise InputError(f"{folder}: unreadable model ({e})") from None
    bad = non_finite(state.items())
    if bad is not None:  # such a model runs and writes NaN
        raise InputError(f"{weights}: non-finite values in {bad}")
    model = MF2(cfg)
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        first = str(e).splitlines()[1].strip() if len(str(e).splitlines()) > 1 else str(e)
        raise InputError(f"{folder}: weights do not fit the MF² architecture ({first})") from None
    return model.to(device).eval()


def non_finite(tensors) -> str | None:
    """The name of the first of the (name, tensor) pairs whose floats hold NaN or Inf, or None.
    A sum is NaN or Inf whenever a value is, so each tensor's sum screens it and only a flagged
    one is checked value by value (a huge finite sum is no fault): 1 ms, not 5, for the shipped model."""
    named = [(k, v) for k, v in tensors if v.is_floating_point()]
    if not named:
        return None
    sums = torch.stack([v.detach().sum(dtype=torch.float32) for _, v in named]).isfinite().tolist()
    return next((k for (k, v), finite in zip(named, sums) if not finite and not torch.isfinite(v).all()), None)


def save_train_state(state: dict, path: Path) -> None:
    """Write the resume state whole or not at all: a kill mid-write leaves the previous one."""
    with durable_file(Path(path)) as f:
        torch.save(state, f)


def load_train_state(path: Path, device: str, keys: tuple[str, ...], way_out: str) -> dict:
    """The state a run resumes from (``torch.load(weights_only=True)``: no code is unpickled);
    InputError with one line naming the file, the reason and ``way_out`` if it is torn or foreign."""
    try:
        state = torch.load(path, weights_only=True, map_location=device)
    except Exception as e:  # a torn zip, a refused pickle, an unreadable file: each raises its own type
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0].split(". ")[0][:120]  # torch's first sentence
        raise InputError(f"{path}: unreadable training state ({reason}); {way_out}") from None
    missing = [k for k in keys if k not in state] if isinstance(state, dict) else list(keys)
    if missing:
        raise InputError(f"{path}: not a training state (no {missing[0]!r}); {way_out}")
    return state


def model_metadata(folder: Path) -> dict:
    from safetensors import safe_open

    with safe_open(str(Path(folder) / "model.safetensors"), "pt") as f:
        return {k: json.loads(v) for k, v in (f.metadata() or {}).items()}


def restore_optimizer(state: dict, optimizer, schedule, path: Path, way_out: str, count: str, series: str
                      ) -> tuple[int, list]:
    """Load the optimizer and schedule of a saved run; (``state[count]``, ``state[series]``): where
    it stopped and what it logged. InputError with one line if the state does not fit this run."""
    try:
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        return int(state[count]), list(state[series])
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise InputError(f"{path}: does not fit this run ({e}); {way_out}") from None
