"""How far each AU reading holds on real video: the figures of the model's own check, shipped
beside its weights (``validation.json``) and shown where people read the AUs (the session report,
the studio's AU tooltips and heatmaps, `core.api.au_checks`).

`scripts/video_au_check.py --validation` writes it from frames labelled by eye of people the
model's AU side never trained on (the REPORT and EXTRA clips): per AU the F1 and the false alarms where it
was judged, and for every AU the model reports, how often it is read on faces judged at rest. An
AU nobody labelled there is "not checked", not "good". Fine-tuned weights are another model: the
figures hold for the ``model`` version they were measured on only.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError
from .outputs import write_durably
from .plural import counted
from .taxonomy import canonical_emotion

FILE = "validation.json"
GOOD = (0.75, 0.05)    # F1 at least, false alarms at most: the product's targets for real video
FAIR = (0.5, 0.25)
FEW = 5                # fewer labelled examples of the AU than this: its F1 says little
LIT_AT_REST = 0.2      # an AU read on this share of resting faces or more is flagged


@dataclass(frozen=True)
class AuCheck:
    present: int                    # labelled frames showing the AU
    absent: int                     # labelled frames without it (both 0: not labelled, not checked)
    f1: float | None                # None: no labelled frame shows it
    false_alarms: float | None      # share of ``absent`` frames read as present (None: none labelled absent)
    at_rest: float | None           # share of resting faces it is read on (None: not counted)

    @property
    def labelled(self) -> bool:
        return self.present + self.absent > 0

    @property
    def rating(self) -> str:
        """good / fair / weak on video, "too few examples" or "not checked" (words for the report)."""
        if not self.labelled:
            return "not checked"
        if self.present < FEW or self.f1 is None or self.false_alarms is None:
            return "too few examples"
        for word, (f1, alarms) in (("good", GOOD), ("fair", FAIR)):
            if self.f1 >= f1 and self.false_alarms <= alarms:
                return word
        return "weak"

    @property
    def lit_at_rest(self) -> bool:
        return self.at_rest is not None and self.at_rest >= LIT_AT_REST

    @property
    def summary(self) -> str:
        """One line for a tooltip: the rating, its figures, and resting faces where it lights up."""
        text = self.rating
        if self.f1 is not None and self.false_alarms is not None:
            text += (f" (F1 {self.f1:.2f}, {share(self.false_alarms)} false alarms, "
                     f"{counted(self.present, 'frame')} showing it)")
        return text + (f"; read on {share(self.at_rest)} of resting faces" if self.lit_at_rest else "")


def share(value: float | None) -> str:
    """A share as a whole percentage, ``<1%`` and ``>99%`` for what would round to 0 or 100 (the
    report's tables and the studio's tooltips say a figure alike); ``–`` for none."""
    if value is None or not math.isfinite(value):
        return "–"
    if 0 < value < 0.005:
        return "<1%"
    if 0.995 <= value < 1:
        return ">99%"
    return f"{value:.0%}"


@dataclass(frozen=True)
class Validation:
    model: str                      # the model version the figures were measured on
    people: int
    frames: int
    rest_frames: int
    aus: dict[int, AuCheck]
    emotions: dict[str, tuple[int, int]]  # emotion judged obvious -> (frames, frames whose top emotion it was)

    def check(self, number: int) -> AuCheck:
        return self.aus.get(number, AuCheck(0, 0, None, None, None))

    def held(self, number: int) -> bool:
        """Whether the AU's readings held on real video (rated good or fair); the others are marked
        where their readings are shown."""
        return self.check(number).rating in ("good", "fair")


def validation_record(model: str, people: int, held_out: dict) -> dict:
    """The ``validation.json`` content from `video_au_check`'s figures of the held-out clips
    (``frame_au_scores`` plus ``at_rest`` and ``emotions``), read with the automatic baseline as
    `mf2 analyze` reads by default."""
    rest = held_out["at_rest"]
    numbers = sorted({int(code[2:]) for code in [*held_out["counts"], *rest.get("per_au", {})]})
    aus = {}
    for n in numbers:
        code = f"AU{n}"
        present, absent = held_out["counts"].get(code, (0, 0))
        aus[code] = {"present": present, "absent": absent, "f1": held_out["per_au_f1"].get(code),
                     "false_alarms": held_out["per_au_fp"].get(code), "at_rest": _rounded(rest.get("per_au", {}).get(code))}
    return {"model": model, "people": people, "frames": held_out["frames"], "rest_frames": rest["frames"],
            "emotions": held_out.get("emotions", {}), "aus": aus}


def write_validation(path: Path, record: dict) -> None:
    """One line per AU, so that a model's new figures read as a diff."""
    head = ", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in record.items() if k != "aus")
    aus = ",\n".join(f"  {json.dumps(code)}: {json.dumps(v)}" for code, v in record["aus"].items())
    write_durably(Path(path), ("{" + head + ', "aus": {\n' + aus + "\n}}\n").encode())


def load_validation(folder: Path) -> Validation | None:
    """The figures shipped in a model folder; None when it has none; InputError (one line naming
    the file) when they cannot be read."""
    path = Path(folder) / FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_bytes())
        aus = {int(code.removeprefix("AU")): AuCheck(int(v["present"]), int(v["absent"]), _share(v["f1"]),
                                                      _share(v["false_alarms"]), _share(v["at_rest"]))
               for code, v in data["aus"].items()}
        emotions = {canonical_emotion(e): (int(n), int(m)) for e, (n, m) in data.get("emotions", {}).items()}
        if any(not 0 <= m <= n for n, m in emotions.values()):
            raise ValueError("an emotion matched on more frames than were judged")
        return Validation(str(data["model"]), int(data["people"]), int(data["frames"]), int(data["rest_frames"]), aus,
                          emotions)
    except OSError as e:
        raise InputError(f"{path}: cannot read it ({e.strerror or e})") from None
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as e:
        raise InputError(f"{path}: not a model's check figures ({type(e).__name__}: {e})") from None


def model_validation(folder: Path, version: str | None = None) -> Validation | None:
    """The check figures for the model in ``folder``: its own, or else the shipped model's (which
    a report then says are not its own, by their version). With ``version``, the figures measured
    on that model version, whichever of the two folders holds them (None when neither does)."""
    from .model.shipped import default_model_dir

    found = [c for c in (load_validation(folder), load_validation(default_model_dir())) if c is not None]
    return next((c for c in found if version in (None, c.model)), None)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)


def _share(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    if not (math.isfinite(value) and 0 <= value <= 1):
        raise ValueError(f"{value} is not a share between 0 and 1")
    return value
