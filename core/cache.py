"""The on-disk cache (``~/.cache/mf2``, or ``$MF2_CACHE``): prepared training crops and per-video
analyses. A video's analysis is keyed by the file's content (not its name or date, so a renamed
copy hits and an edited file misses), the model's weights and the analysis settings (the face
tracker's: how many faces, how often the detectors run) and how readings are made of the model's
output (``READINGS``: bumped when that changes, so that older entries are analysed again)."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from .analysis import Analysis
from .errors import InputError
from .faces.tracker import DETECT_EVERY

READINGS = 5  # 2: a person's first rows in a file are settled (core.model.settle); 3: hands cover regions;
# 4: photos are read each alone, a track each; 5: eyes a hand hides, kept with the raw readings


def cache_dir() -> Path:
    return Path(os.environ.get("MF2_CACHE") or Path.home() / ".cache" / "mf2")


def content_digest(*paths: Path, chunk: int = 1 << 20) -> str:
    """BLAKE2b of the files' bytes, in order (a 1 GB video hashes in about two seconds)."""
    h = hashlib.blake2b(digest_size=16)
    for path in paths:
        with open(path, "rb") as f:
            while block := f.read(chunk):
                h.update(block)
    return h.hexdigest()


def model_digest(model_dir: Path | None) -> str:
    """Identifies a model by its weights and config; "faces" when there is no model."""
    if model_dir is None:
        return "faces"
    return content_digest(Path(model_dir) / "config.json", Path(model_dir) / "model.safetensors")[:12]


class AnalysisCache:
    """Complete analyses only: a cancelled or damaged run is never cached, so it is redone."""

    def __init__(self, root: Path | None = None):
        self.root = Path(root) if root else cache_dir() / "analyses"

    def path(self, video_digest: str, model: str, max_faces: int, detect_every: int = DETECT_EVERY) -> Path:
        """The entry of a video analysed by ``model`` with these tracker settings."""
        return self.root / f"{video_digest}-{model}-f{max_faces}-d{detect_every}-r{READINGS}.npz"

    def load(self, path: Path) -> Analysis | None:
        """The cached analysis, or None; an unreadable entry is deleted (it will be redone)."""
        if not path.is_file():
            return None
        try:
            analysis = Analysis.load(path)
        except InputError:
            path.unlink(missing_ok=True)
            return None
        return analysis if analysis.complete else None

    def save(self, path: Path, analysis: Analysis) -> None:
        """Keep a complete analysis, in place of the entries of the same video and settings that
        older readings (``READINGS``) made."""
        if analysis.complete:
            analysis.save(path)
            stem = path.name.rsplit("-r", 1)[0]
            for old in [path.with_name(f"{stem}.npz"), *path.parent.glob(f"{stem}-r*.npz")]:
                if old != path:
                    old.unlink(missing_ok=True)
