"""Model configuration as plain data: saved as JSON beside the weights, read back without code.

`ModelConfig.load` checks every field, since a config is user input (``--model DIR``): a wrong
type or size would otherwise surface as a traceback deep in the network, or, worse, as a model
that runs and writes wrong numbers.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..baseline import N_VALUES
from ..errors import InputError
from ..faces.geometry import N_FEATURES, NAMES
from ..faces.regions import REGIONS
from ..outputs import write_durably
from ..taxonomy import ACTION_UNITS, AU_BY_NUMBER, EMOTIONS

EMBED_DIM = 384  # the sentence encoder's width (core.model.text)

LIMIT = 4096  # the largest size a config may ask for: beyond it a typo allocates gigabytes


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
    region_visibility: bool = False            # a head saying which regions are covered (glasses, a hand, hair)
    text_hidden: int = 0                       # width of a residual MLP beside the linear text projection (0: none)
    version: str = "untrained"

    def save(self, path: Path) -> None:
        """Write whole or not at all (a temporary file renamed into place): a torn config.json would
        make the model folder unloadable."""
        write_durably(Path(path), json.dumps(asdict(self), indent=2).encode())

    @classmethod
    def load(cls, path: Path) -> "ModelConfig":
        """The config in ``path``; InputError with one line naming the file (and the field) otherwise.
        Fields it lacks take their defaults; fields it does not know are ignored."""
        try:
            data = json.loads(Path(path).read_bytes())
        except OSError as e:
            raise InputError(f"{path}: cannot read it ({e.strerror})") from None
        except UnicodeDecodeError:
            raise InputError(f"{path}: not valid JSON (not UTF-8 text)") from None
        except (ValueError, RecursionError) as e:
            raise InputError(f"{path}: not valid JSON ({e})") from None
        if not isinstance(data, dict):
            raise InputError(f"{path}: must be a JSON object of model settings (got {_shown(data)})")
        fields = json.loads(json.dumps(asdict(cls()))) | {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        try:
            return cls(**_checked(fields))
        except ValueError as e:
            raise InputError(f"{path}: {e}") from None


def _shown(value) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _distinct(v, allowed, empty_ok: bool = True) -> bool:
    """``v`` a list of distinct members of ``allowed`` (ints as ints: 1.0 is no AU number)."""
    return (isinstance(v, list) and (empty_ok or bool(v)) and all(type(x) in (int, str) and x in allowed for x in v)
            and len(set(v)) == len(v))


def _checked(f: dict) -> dict:
    """The config's fields as the dataclass holds them; ValueError naming the first bad one."""
    def need(ok: bool, name: str, what: str) -> None:
        if not ok:
            raise ValueError(f'"{name}" must be {what} (got {_shown(f[name])})')

    for name in ("input_size", "embed_dim", "local_dim", "side_dim"):
        need(_is_int(f[name]) and f[name] >= 1, name, "a positive integer")
        need(f[name] <= LIMIT, name, f"at most {LIMIT}")
    need(_is_int(f["text_hidden"]) and 0 <= f["text_hidden"] <= LIMIT, "text_hidden", f"an integer from 0 to {LIMIT}")
    need(isinstance(f["widths"], list) and len(f["widths"]) == 4
         and all(_is_int(w) and 1 <= w <= LIMIT for w in f["widths"]), "widths", f"4 integers from 1 to {LIMIT}")
    need(_is_int(f["text_dim"]) and f["text_dim"] == EMBED_DIM, "text_dim", f"{EMBED_DIM}, the sentence encoder's width")
    need(_distinct(f["emotions"], EMOTIONS, empty_ok=False), "emotions",
         f"distinct emotion names from {', '.join(EMOTIONS)}")
    need(_distinct(f["aus"], AU_BY_NUMBER, empty_ok=False), "aus",
         f"distinct Action Unit numbers from {', '.join(map(str, AU_BY_NUMBER))}")
    need(f["regions"] == list(REGIONS), "regions", "the face regions in their order: " + ", ".join(REGIONS))
    need(isinstance(f["au_regions"], list) and len(f["au_regions"]) == len(f["aus"])
         and all(type(r) is str and r in REGIONS for r in f["au_regions"]), "au_regions",
         f'one region name for each of the {len(f["aus"])} "aus"')
    need(_distinct(f["trained_emotions"], f["emotions"]), "trained_emotions", 'distinct names from "emotions"')
    need(_distinct(f["trained_aus"], f["aus"]), "trained_aus", 'distinct numbers from "aus"')
    need(f["geometry_dim"] in (0, N_FEATURES) and _is_int(f["geometry_dim"]), "geometry_dim", f"0 or {N_FEATURES}")
    need(isinstance(f["geometry_rest"], list) and len(f["geometry_rest"]) in (0, N_VALUES)
         and all(map(_is_number, f["geometry_rest"])), "geometry_rest", f"empty or {N_VALUES} finite numbers")
    need(isinstance(f["geometry_scale"], list) and len(f["geometry_scale"]) == f["geometry_dim"]
         and all(_is_number(s) and s > 0 for s in f["geometry_scale"]), "geometry_scale",
         f'{f["geometry_dim"]} positive finite numbers, one per "geometry_dim" feature')
    need(isinstance(f["au_thresholds"], list) and len(f["au_thresholds"]) in (0, len(f["aus"]))
         and all(_is_number(t) and 0 < t < 1 for t in f["au_thresholds"]), "au_thresholds",
         f'empty or {len(f["aus"])} numbers between 0 and 1, one per AU in "aus"')
    need(isinstance(f["au_gates"], list) and all(
        isinstance(g, list) and len(g) == 3 and _is_int(g[0]) and g[0] in f["aus"] and type(g[1]) is str
        and g[1] in NAMES and _is_number(g[2]) for g in f["au_gates"]), "au_gates",
        '[AU from "aus", geometry feature name, least rise] triples')
    need(isinstance(f["region_visibility"], bool), "region_visibility", "true or false")
    need(isinstance(f["version"], str), "version", "a string")
    return {k: tuple(tuple(g) for g in v) if k == "au_gates" else tuple(v) if isinstance(v, list) else v
            for k, v in f.items()}
