"""Where the shipped MF² model lives: ``resources/models/mf2-default`` beside the ``core`` package.

Core modules that need it import it from here, never from ``core.cli`` (the import contracts
in pyproject.toml, run by tests/test_imports.py, forbid core importing the command line)."""
from __future__ import annotations

from pathlib import Path


def default_model_dir() -> Path:
    return Path(__file__).resolve().parent.parent.parent / "resources" / "models" / "mf2-default"
