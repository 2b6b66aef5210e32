"""Which torch device the model runs on: ``auto`` picks CUDA when there is one, else the CPU."""
from __future__ import annotations

from .errors import InputError

CHOICES = ("auto", "cpu", "cuda")


def resolve_device(name: str) -> str:
    """``"cpu"`` or ``"cuda"``; InputError when CUDA is asked for but absent."""
    if name not in CHOICES:
        raise InputError(f"--device {name}: choose one of {', '.join(CHOICES)}")
    if name == "cpu":
        return "cpu"
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if name == "cuda":
        raise InputError(f"--device cuda: no CUDA GPU is available to torch {torch.__version__}")
    return "cpu"
