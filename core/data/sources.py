"""Loaders for the dataset layouts the model trains and is evaluated on.

Every loader returns `Sample`s: where the pixels are (a file, or 48x48 pixels from a CSV), the
emotion (our name, through the taxonomy's synonyms) and the AU labels where the dataset has
them. Bad rows raise InputError naming the file and the row, never a bare traceback.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..taxonomy import EMOTIONS, canonical_emotion, parse_au
from ..video import IMAGE_SUFFIXES

FER_CSV_EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")  # FER2013's 0..6


@dataclass
class Sample:
    source: str                          # file path, or "<csv>:<row>" for pixels from a CSV
    emotion: str | None = None           # one of taxonomy.EMOTIONS
    aus: dict[int, float] | None = None  # AU number -> 0/1 (or strength); None: no AU labels
    subject: str | None = None           # for subject-disjoint splits
    pixels: np.ndarray | None = None     # grey uint8 when the dataset stores pixels, not files
    text: str | None = None              # the face's description, when the dataset has one (MFA)
    landmarks: np.ndarray | None = None  # (N, 2) face mesh in the image's pixels, when known (MFA)


def load_emotion_folder(root: Path) -> list[Sample]:
    """``root/<emotion>/*.png``: one subfolder per emotion, any synonym (``anger``, ``sadness``...)."""
    root = Path(root).resolve()  # absolute, so the preparation cache is found from any working folder
    if not root.is_dir():
        raise InputError(f"{root}: no such folder")
    samples = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        try:
            emotion = canonical_emotion(folder.name)
        except ValueError:
            raise InputError(f"{folder}: folder name is not an emotion ({', '.join(EMOTIONS)})") from None
        samples += [Sample(str(p), emotion) for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]
    if not samples:
        raise InputError(f"{root}: no images in emotion subfolders")
    return samples


def load_fer_csv(path: Path, usage: str | None = None) -> list[Sample]:
    """The original FER2013 CSV (``emotion,pixels,Usage``); ``usage`` keeps one split (``Training``...)."""
    path = Path(path).resolve()
    samples = []
    with _open_csv(path) as (reader, rows):
        _require(path, reader.fieldnames, ("emotion", "pixels"))
        for i, row in rows:
            if usage and row.get("Usage") != usage:
                continue
            try:
                pixels = np.array(row["pixels"].split(), dtype=np.uint8)
                label = int(row["emotion"])
                emotion = FER_CSV_EMOTIONS[label]
            except (ValueError, IndexError, AttributeError):
                raise InputError(f"{path}: row {i}: bad emotion or pixels") from None
            if pixels.size != 48 * 48:
                raise InputError(f"{path}: row {i}: {pixels.size} pixels, expected 2304 (48x48)")
            samples.append(Sample(f"{path}:{i}", emotion, pixels=pixels.reshape(48, 48)))
    return samples


def load_au_csv(path: Path) -> list[Sample]:
    """CK+-style: a ``path`` column (relative to the CSV), 0/1 ``AUn`` columns, optional ``emotion``
    and ``subject`` columns."""
    path = Path(path).resolve()
    samples = []
    with _open_csv(path) as (reader, rows):
        _require(path, reader.fieldnames, ("path",))
        au_columns = {}
        for name in reader.fieldnames:
            if name.upper().startswith("AU"):
                try:
                    au_columns[name] = parse_au(name).number
                except ValueError:
                    raise InputError(f"{path}: column {name!r} is not a known Action Unit") from None
        for i, row in rows:
            try:
                aus = {n: float(row[name]) for name, n in au_columns.items()}
                emotion = canonical_emotion(row["emotion"]) if row.get("emotion") else None
            except ValueError as e:
                raise InputError(f"{path}: row {i}: {e}") from None
            if any(not 0.0 <= v <= 5.0 for v in aus.values()):
                raise InputError(f"{path}: row {i}: AU value out of range 0..5")
            samples.append(Sample(str(path.parent / row["path"]), emotion, aus or None, row.get("subject") or None))
    return samples


def load_mfa_jsonl(path: Path) -> list[Sample]:
    """MFA-style JSONL (what `mf2 dataset export` writes): every row checked; any bad row is an
    error naming its line, so a model never trains on half a file by surprise."""
    from ..dataset.mfa import read_jsonl

    rows, errors = read_jsonl(Path(path).resolve())
    if errors:
        raise InputError(errors[0] + (f" (and {len(errors) - 1} more bad rows)" if len(errors) > 1 else ""))
    if not rows:
        raise InputError(f"{path}: no rows")
    return [Sample(str(r.image), r.emotion, r.aus or None, r.source.get("video") or None,
                   text=(r.captions if r.captions.text else r.generated).text or None, landmarks=r.landmarks)
            for r in rows]


class _open_csv:
    """Context manager giving (DictReader, numbered rows), with unreadable files as InputError."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self):
        try:
            self._file = open(self.path, newline="", encoding="utf-8")
        except OSError as e:
            raise InputError(f"{self.path}: cannot open ({e.strerror})") from None
        reader = csv.DictReader(self._file)
        return reader, enumerate(reader, start=2)  # row numbers as a spreadsheet shows them

    def __exit__(self, *exc):
        self._file.close()


def _require(path: Path, fieldnames, needed: tuple[str, ...]) -> None:
    missing = [n for n in needed if n not in (fieldnames or ())]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}")
