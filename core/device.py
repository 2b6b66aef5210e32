"""Which torch device the model runs on: ``auto`` picks CUDA when there is one, else the CPU."""
from __future__ import annotations

from .errors import InputError

CHOICES = ("auto", "cpu", "cuda")


def resolve_device(name: str, asked_as: str = "--device {}") -> str:
    """``"cpu"`` or ``"cuda"``; InputError when CUDA is asked for but absent. ``asked_as``: how the
    caller's user wrote the choice (the CLI's flag; the Python API's ``device='...'``)."""
    if name not in CHOICES:
        raise InputError(f"{asked_as.format(name)}: choose one of {', '.join(CHOICES)}")
    if name == "cpu":
        return "cpu"
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if name == "cuda":
        raise InputError(f"{asked_as.format(name)}: no CUDA GPU is available to torch {torch.__version__}")
    return "cpu"
