"""A per-frame CSV read back as columns: what statistics, ELAN export and reports build on.

Reads what `mf2 analyze` writes and what OpenFace 2.x writes (header names separated by ``", "``,
values by ``","``): every column becomes one numpy array (empty cells are NaN), except the text
columns ``person`` and ``baseline``. A row with ``success`` 0 is a frame without a face. Face rows
are grouped into people by the ``person`` column: a name as it is, a number ``n`` (what `mf2
analyze` writes, core.faces.people) as ``person n``. Where that cell is empty or -1 (no person
matched, or no such column) the face's track counts instead: ``face <face_id>`` (OpenFace's
single-face files have no ``face_id``: all ``face 0``).
No Qt, no pandas: a few numpy arrays, read in a few seconds for an hour of video.
"""
from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import InputError

TEXT_COLUMNS = ("person", "baseline", "model")
REQUIRED = ("frame", "timestamp", "success")
ALWAYS_READ = (*REQUIRED, "face_id", "person")  # what `read_result`'s ``keep`` cannot leave out
EMOTION_PREFIX = "emotion_"


def person_key(person: str, face_id: float) -> str:
    """A face row's grouping key from its ``person`` cell and its ``face_id`` (module docstring)."""
    if person in ("", "-1"):
        return f"face {int(face_id)}"
    return f"person {person}" if person.isdigit() else person


@dataclass(eq=False)
class Result:
    """One CSV's rows as columns, in frame order (see the module docstring); any column by name
    with `column`, the rest derived from them on construction."""

    path: Path
    names: tuple[str, ...]                 # the header (the columns read), in file order
    columns: dict[str, np.ndarray] = field(repr=False)
    # per row
    frame: np.ndarray = field(init=False, repr=False)        # frame number (int64)
    timestamp: np.ndarray = field(init=False, repr=False)    # seconds
    face: np.ndarray = field(init=False, repr=False)         # a face in this row (``success`` 1)
    person: np.ndarray = field(init=False, repr=False)       # grouping key (str), "" without a face
    top_emotion: np.ndarray = field(init=False, repr=False)  # index into `emotions`, -1: none readable
    # per analysed frame: the recording's timeline
    frames: np.ndarray = field(init=False, repr=False)           # frame numbers
    frame_times: np.ndarray = field(init=False, repr=False)      # their timestamps
    frame_durations: np.ndarray = field(init=False, repr=False)  # until the next one (the last: `step`)
    step: float = field(init=False)       # median seconds between analysed frames (0 with one frame)
    fps: float = field(init=False)        # source frames per second (NaN with one frame)
    au_numbers: tuple[int, ...] = field(init=False)  # AUs with an ``AUxx_r`` or ``AUxx_c`` column
    emotions: tuple[str, ...] = field(init=False)    # the ``emotion_<name>`` columns' names

    def __post_init__(self):
        self.frame = self.columns["frame"].astype(np.int64)
        self.timestamp = self.columns["timestamp"]
        self.face = self.columns["success"] > 0.5
        self.person = _people_keys(self.columns, self.face)
        first = np.r_[True, self.frame[1:] != self.frame[:-1]] if len(self.frame) else np.zeros(0, bool)
        self.frames = self.frame[first]
        self.frame_times = self.timestamp[first]
        self._position = np.cumsum(first) - 1  # per row: its frame's position in `frames`
        gaps = np.diff(self.frame_times)
        self.step = float(np.median(gaps)) if len(gaps) else 0.0
        self.frame_durations = np.r_[gaps, self.step] if len(self.frames) else np.zeros(0)
        span = self.frame_times[-1] - self.frame_times[0] if len(gaps) else 0.0
        # source frames per second over the whole span: single intervals are rounded to the millisecond
        self.fps = round(float((self.frames[-1] - self.frames[0]) / span), 3) if span > 0 else float("nan")
        self.au_numbers = tuple(sorted({int(n[2:-2]) for n in self.names
                                        if n.startswith("AU") and n[-2:] in ("_r", "_c") and n[2:-2].isdigit()}))
        self.emotions = tuple(n[len(EMOTION_PREFIX):] for n in self.names if n.startswith(EMOTION_PREFIX))
        self.top_emotion = _top_emotion(np.column_stack([self.columns[EMOTION_PREFIX + e] for e in self.emotions])
                                        if self.emotions else np.zeros((len(self), 0)), self.face)

    def __len__(self) -> int:
        return len(self.frame)

    def __contains__(self, name: str) -> bool:
        return name in self.columns

    def column(self, name: str) -> np.ndarray:
        """The column's values, one per row (float64; str for ``person`` and ``baseline``)."""
        try:
            return self.columns[name]
        except KeyError:
            raise KeyError(f"{self.path}: no column {name!r}") from None

    @property
    def every(self) -> int:
        """Every how many source frames one was analysed (`mf2 analyze --every`; 1 when unknown)."""
        return max(int(np.median(np.diff(self.frames))), 1) if len(self.frames) > 1 else 1

    @property
    def duration(self) -> float:
        """Seconds the analysed frames stand for (each until the next one; see `frame_durations`)."""
        return float(self.frame_durations.sum())

    def people(self) -> list[str]:
        """Every person's key, the one seen in most frames first (ties: the first seen first)."""
        keys, first, counts = np.unique(self.person[self.face], return_index=True, return_counts=True)
        return [str(k) for _, _, k in sorted(zip(-counts, first, keys))]

    def face_rows(self, person: str) -> tuple[np.ndarray, np.ndarray]:
        """(positions in `frames`, rows) of the person's face in each frame it is in: the first
        of its rows where a frame has two."""
        rows = np.flatnonzero(self.face & (self.person == person))
        positions = self._position[rows]
        first = np.r_[True, positions[1:] != positions[:-1]] if len(rows) else np.zeros(0, bool)
        return positions[first], rows[first]


def read_result(path: Path, keep: Callable[[str], bool] | None = None) -> Result:
    """Read a per-frame CSV; InputError (one line naming the file) when it is not one.
    ``keep``: read only the columns whose name it accepts (and `ALWAYS_READ`); the others are
    skipped unparsed, as if absent (the landmarks are most of a file, and of the reading time)."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror or e})") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a per-frame CSV (not UTF-8 text)") from None
    text = text.replace("\r\n", "\n")
    head, _, body = text.partition("\n")
    names = tuple(n.strip() for n in next(csv.reader([head]), []))
    missing = [n for n in REQUIRED if n not in names]
    if missing:
        raise InputError(f"{path}: not a per-frame CSV of mf2 or OpenFace (no {missing[0]!r} column)")
    if len(set(names)) != len(names):
        raise InputError(f"{path}: column {next(n for n in names if names.count(n) > 1)!r} appears twice")
    if not body.strip():
        raise InputError(f"{path}: no rows under the header")
    _check_cell_counts(path, body, len(names))
    columns = _parse(path, body, names, keep)
    frames = columns["frame"]
    if not np.isfinite(columns["timestamp"]).all() or not np.isfinite(frames).all():
        line = 2 + int(np.flatnonzero(~np.isfinite(columns["timestamp"]) | ~np.isfinite(frames))[0])
        raise InputError(f"{path}: line {line} has no frame number or timestamp")
    back = np.flatnonzero((np.diff(frames) < 0) | (np.diff(columns["timestamp"]) < 0))
    if len(back):
        raise InputError(f"{path}: line {int(back[0]) + 3} goes back in time (rows must be in frame order)")
    return Result(path, tuple(n for n in names if n in columns), columns)


def _check_cell_counts(path: Path, body: str, width: int) -> None:
    """Every row has the header's number of cells (loadtxt would silently take a longer row)."""
    lines = body.split("\n")
    if '"' in body:  # quoted text may hold commas: count with the csv module
        counts = [len(row) for row in csv.reader(lines)]
    else:
        counts = [line.count(",") + 1 if line else 0 for line in lines]
    for i, count in enumerate(counts):
        if count not in (width, 0):
            raise InputError(f"{path}: line {i + 2} has {count} cells, the header {width}")


def _parse(path: Path, body: str, names: tuple[str, ...], keep: Callable[[str], bool] | None = None
           ) -> dict[str, np.ndarray]:
    """Columns by name: text columns as str arrays, the others float64 with NaN for empty cells
    (only those ``keep`` accepts, when given, and `ALWAYS_READ`)."""
    read = [keep is None or n in ALWAYS_READ or keep(n) for n in names]
    numeric = [i for i, n in enumerate(names) if n not in TEXT_COLUMNS and read[i]]
    text = [i for i, n in enumerate(names) if n in TEXT_COLUMNS and read[i]]
    filled = body
    for a, b in ((",,", ",nan,"), (",,", ",nan,"), (",\n", ",nan\n"), ("\n,", "\nnan,")):
        filled = filled.replace(a, b)
    filled = ("nan" + filled if filled.startswith(",") else filled)
    filled = filled + "nan" if filled.endswith(",") else filled
    try:
        values = np.loadtxt(io.StringIO(filled), delimiter=",", usecols=numeric, quotechar='"', ndmin=2,
                            dtype=np.float64, comments=None)
    except ValueError:
        raise _bad_cell(path, body, names, numeric) from None
    columns = {names[i]: values[:, j] for j, i in enumerate(numeric)}
    if text:  # in one pass: each pass over the text costs as much as the numbers do
        cells = np.loadtxt(io.StringIO(body), delimiter=",", usecols=text, quotechar='"', ndmin=2, dtype=str,
                           comments=None)
        for j, i in enumerate(text):
            columns[names[i]] = np.char.strip(cells[:, j])
    return columns


def _bad_cell(path: Path, body: str, names: tuple[str, ...], numeric: list[int]) -> InputError:
    """Where loadtxt failed, found again cell by cell (slow; only on error)."""
    for line, row in enumerate(csv.reader(body.split("\n")), start=2):
        for i in numeric:
            cell = row[i].strip() if i < len(row) else ""
            try:
                float(cell or "nan")
            except ValueError:
                return InputError(f"{path}: line {line}, column {names[i]}: {cell[:40]!r} is not a number")
    return InputError(f"{path}: not a per-frame CSV of mf2 or OpenFace (unreadable numbers)")


def _people_keys(columns: dict[str, np.ndarray], face: np.ndarray) -> np.ndarray:
    """Per row: its `person_key`; ``""`` on rows without a face."""
    ids = np.nan_to_num(columns.get("face_id", np.zeros(len(face))), nan=0.0).tolist()
    people = columns["person"].tolist() if "person" in columns else [""] * len(face)
    return np.array([person_key(p, i) if f else "" for p, i, f in zip(people, ids, face.tolist())], dtype=str)


def _top_emotion(probabilities: np.ndarray, face: np.ndarray) -> np.ndarray:
    """Per row: the index of the likeliest emotion (the first of equals), -1 on rows without a
    face or whose emotions are all empty."""
    if not probabilities.shape[1]:
        return np.full(len(face), -1)
    readable = face & np.isfinite(probabilities).any(1)
    top = np.argmax(np.where(np.isnan(probabilities), -np.inf, probabilities), 1)
    return np.where(readable, top, -1)


def rate_words(fps: float | None, every: int) -> str:
    """`` at 25 fps``, or `` of a 25 fps video, every 5th`` for a CSV of every Nth frame (``every``);
    nothing when the rate is unknown. The statistics and the report say it alike."""
    if fps is None or not math.isfinite(fps) or not fps:
        return ""
    return f" at {fps:g} fps" if every == 1 else f" of a {fps:g} fps video, every {_ordinal(every)}"


def _ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, ..., 11th, 12th, 13th, 21st."""
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def images_path(csv: Path) -> Path:
    """Where the CSV of a folder of photos has its ``frame,image`` listing (`mf2 analyze`): beside it."""
    return Path(csv).with_suffix(".images.csv")
