"""Model configuration as plain data: saved as JSON beside the weights, read back without code."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..faces.regions import REGIONS
from ..taxonomy import ACTION_UNITS, EMOTIONS


@dataclass
class ModelConfig:
    input_size: int = 48                       # aligned grey crop side, pixels
    widths: tuple[int, ...] = (24, 48, 96, 192)  # CNN stage widths; stage 3 feeds the local branch
    embed_dim: int = 256                       # shared image-text space
    text_dim: int = 384                        # all-MiniLM-L6-v2
    local_dim: int = 128                       # per-region feature width
    side_dim: int = 128                        # DFN side-network width
    emotions: tuple[str, ...] = EMOTIONS
    aus: tuple[int, ...] = tuple(au.number for au in ACTION_UNITS)
    regions: tuple[str, ...] = tuple(REGIONS)
    au_regions: tuple[str, ...] = field(default_factory=lambda: tuple(au.region for au in ACTION_UNITS))
    trained_emotions: tuple[str, ...] = ()     # emotions whose head saw labelled examples
    trained_aus: tuple[int, ...] = ()          # AUs whose head saw labels: the only ones reported
    geometry_dim: int = 0                      # face-geometry features the AU heads read (0: none)
    geometry_rest: tuple[float, ...] = ()      # population neutral geometry + eye openings (core.baseline)
    geometry_scale: tuple[float, ...] = ()     # spread of each geometry feature, its unit for the heads
    au_thresholds: tuple[float, ...] = ()      # per AU (``aus`` order) probability at which it is present
    au_gates: tuple = ()                       # (AU, geometry feature, least rise over the person's rest) the AU needs
    version: str = "untrained"

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, path: Path) -> "ModelConfig":
        data = json.loads(Path(path).read_text())
        known = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)
