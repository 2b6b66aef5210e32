"""Where the shipped MF² model lives: ``resources/models/mf2-default`` beside the ``core`` package.

Core modules that need it import it from here, never from ``core.cli`` (the import contracts
in pyproject.toml, run by tests/test_imports.py, forbid core importing the command line)."""
from __future__ import annotations

from pathlib import Path

from ..errors import InputError


def default_model_dir() -> Path:
    return Path(__file__).resolve().parent.parent.parent / "resources" / "models" / "mf2-default"


def model_files(folder: Path) -> tuple[Path, Path, Path]:
    """(folder, its model.safetensors, its config.json) of a model folder, or of the weights file
    inside one; InputError with one line when either file is missing."""
    folder = Path(folder)
    if folder.is_file():
        folder = folder.parent
    weights, config = folder / "model.safetensors", folder / "config.json"
    if not weights.is_file() or not config.is_file():
        raise InputError(f"{folder}: not an MF² model folder (needs model.safetensors and config.json)")
    return folder, weights, config
