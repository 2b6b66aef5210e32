"""The Python API, for notebooks and scripts: per-frame tables and statistics as pandas DataFrames.

    from core import api

    df = api.analyze("session1.mp4")                  # what `mf2 analyze` writes, as a DataFrame
    df = api.read_csv("results/session1.csv")         # a CSV of `mf2 analyze` or of OpenFace 2.x
    stats = api.statistics(df, "parts.csv")           # `mf2 stats`: one row per person and segment
    checks = api.au_checks()                          # how far each AU held on real video (the report's table)

Nothing here computes a figure of its own. `analyze` runs `core.analyze.analyze_input`, the path
of `mf2 analyze`, into a temporary CSV and reads it back with `read_csv`, so its values are the
CSV's to the last digit. `read_csv` parses with `core.results.read_result` (the reader of `mf2
stats` and `mf2 elan`), and `statistics` runs `core.stats.compute_statistics` and lays its figures
out as a table. Every error about an input is one `core.errors.InputError` line naming it.

Column types, the same for either kind of CSV: ``frame``, ``face_id`` and ``success`` int64;
``person`` int64 where every cell is a whole number (what `mf2 analyze` writes: -1 where no person
matched), else text; ``baseline`` text; everything else float64, empty cells NaN. Column names are
the header's, spaces stripped; columns are not added or dropped (an OpenFace file without
``face_id`` has none here either). A frame without a face is one row with ``success`` 0 and zeros
elsewhere, as in the files: keep ``df[df.success == 1]`` before averaging a column.

Not imported by ``core/__init__.py``: pandas is loaded only by those who ask for this module.
"""
from __future__ import annotations

import re
import tempfile
import warnings
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from .analyze import AnalyzeOptions, analyze_input, plan_jobs
from .baseline import BaselineMode
from .errors import InputError
from .faces.tracker import DETECT_EVERY
from .model.shipped import default_model_dir
from .quiet import native_stderr_silenced
from .results import REQUIRED, TEXT_COLUMNS, Result, read_result
from .segments import Segment, checked_segment, in_order, read_segments
from .stats import MAX_GAP_S, MIN_EPISODE_S, WHOLE_RECORDING, Statistics, compute_statistics

__all__ = ["analyze", "read_csv", "statistics", "statistics_table", "to_result", "au_checks", "read_segments",
           "Segment", "WHOLE_RECORDING"]

INT_COLUMNS = ("frame", "face_id", "success")
SOURCE = "source"  # DataFrame.attrs key: the file (or video) a table came from


def analyze(video: str | Path, model: str | Path | None = default_model_dir(),
            baseline: str | tuple[float, float] = "auto", max_faces: int = 8, every: int = 1,
            detect_every: int = DETECT_EVERY, device: str = "auto", threads: int = 2, duration: float | None = None,
            progress: Callable[[int, int | None], None] | None = None) -> pd.DataFrame:
    """Analyse one input as `mf2 analyze` does (one worker, no chunks) and return its per-frame
    table, as `read_csv` would read the CSV that command writes.

    ``video``: a video file, an image, a folder of images (one sequence) or ``cam:N`` (with
    ``duration`` seconds, or until the kernel is interrupted). ``model``: a model folder (by
    default the shipped one); None: faces only, no AU or emotion columns. ``baseline``:
    ``"auto"``, ``"none"``, ``"START-END"`` or ``(start, end)`` in seconds (README, Person
    baseline). ``max_faces``, ``every``, ``detect_every``, ``device`` (auto, cpu, cuda) and
    ``threads`` are the options of the same names of `mf2 analyze`. ``progress(done, expected)``
    is called every few frames (``expected``: None when unknown).

    InputError when nothing could be analysed. A video damaged part way gives the rows before the
    damage, with a `UserWarning` saying where it broke; so do the notes `mf2 analyze` prints
    (images skipped in a folder and similar), and a folder's videos and other files, which are not
    read here (`mf2 analyze FOLDER` reads each video; here, call this on each). Interrupting the
    kernel raises KeyboardInterrupt (a camera: ends the recording and returns its table).
    """
    from .device import resolve_device

    if threads not in (1, 2):
        raise InputError(f"threads={threads!r}: 1 (one thread) or 2 (faces and model side by side)")
    if isinstance(baseline, (tuple, list)):
        baseline = "-".join(f"{float(t):.3f}" for t in baseline)
    options = AnalyzeOptions(every=_positive(every, "every"), max_faces=_positive(max_faces, "max_faces"),
                             device=resolve_device(device, "device={!r}"), duration=duration,
                             model=None if model is None else str(model), baseline=str(BaselineMode.parse(baseline)),
                             detect_every=_positive(detect_every, "detect_every"), chunk_s=0, threads=threads)
    if Path(video).is_dir():
        jobs, _, skipped = plan_jobs([str(video)])
        videos = [job for job in jobs if job != str(video)]
        for line in skipped + ([f"{video}: its {len(videos)} video(s) are not read here, only its images as one "
                                f"sequence (e.g. {Path(videos[0]).name}): call api.analyze on each video"]
                               if videos else []):
            warnings.warn(line, stacklevel=2)
        if videos and str(video) not in jobs:
            raise InputError(f"{video}: a folder of videos and no images: call api.analyze on each video "
                             f"(e.g. {videos[0]})")
    with tempfile.TemporaryDirectory(prefix="mf2-api-") as folder:
        with native_stderr_silenced():  # MediaPipe's C++ log lines, which would fill the cell
            result = analyze_input(str(video), Path(folder) / "analysis.csv", options, progress)
        if result.interrupted:  # the kernel interrupted: stop the caller's loop too, as any call would
            raise KeyboardInterrupt(result.error)
        for line in result.notes + ([result.error] if result.error and result.output else []):
            warnings.warn(line, stacklevel=2)
        if result.output is None:
            raise InputError(result.error or f"{video}: nothing analysed")
        table = read_csv(result.output)
    table.attrs[SOURCE] = str(video)
    return table


def read_csv(path: str | Path) -> pd.DataFrame:
    """A per-frame CSV of `mf2 analyze` or OpenFace 2.x as a DataFrame, one row per file row
    (column types in the module docstring); InputError (one line naming the file) when the file
    is not one."""
    result = read_result(Path(path))
    columns = {}
    for name in result.names:
        values = result.columns[name]
        if name in INT_COLUMNS or (name == "person" and _whole_numbers(values)):
            values = _integers(result.path, name, values)
        columns[name] = values
    table = pd.DataFrame(columns, columns=list(result.names))
    table.attrs[SOURCE] = str(result.path)
    return table


def to_result(table: pd.DataFrame) -> Result:
    """The `core.results.Result` of a per-frame DataFrame (from `read_csv` or `analyze`, perhaps
    filtered or edited), for the core modules that read one; InputError when it lacks
    ``frame``, ``timestamp`` or ``success``, or its rows are not in frame order."""
    where = f"the DataFrame of {table.attrs[SOURCE]}" if SOURCE in table.attrs else "the DataFrame"
    names = tuple(str(n) for n in table.columns)
    missing = [n for n in REQUIRED if n not in names]
    if missing:
        raise InputError(f"{where}: not a per-frame table of mf2 or OpenFace (no {missing[0]!r} column)")
    if len(set(names)) != len(names):
        raise InputError(f"{where}: column {next(n for n in names if names.count(n) > 1)!r} appears twice")
    if not len(table):
        raise InputError(f"{where}: no rows")
    columns = {}
    for name in names:
        series = table[name]
        if name in TEXT_COLUMNS:
            columns[name] = np.array(["" if _missing(v) else _text(v) for v in series.tolist()], dtype=str)
            continue
        try:
            columns[name] = series.to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError):
            raise InputError(f"{where}: column {name!r} is not numbers") from None
    frames, times = columns["frame"], columns["timestamp"]
    if not (np.isfinite(frames).all() and np.isfinite(times).all()):
        row = table.index[int(np.flatnonzero(~np.isfinite(frames) | ~np.isfinite(times))[0])]
        raise InputError(f"{where}: row {row!r} has no frame number or timestamp")
    back = np.flatnonzero((np.diff(frames) < 0) | (np.diff(times) < 0))
    if len(back):
        raise InputError(f"{where}: row {table.index[int(back[0]) + 1]!r} goes back in time "
                         "(rows must be in frame order)")
    return Result(Path(table.attrs.get(SOURCE, "DataFrame")), names, columns)


def statistics(data: pd.DataFrame | str | Path, segments: str | Path | Sequence[Segment | tuple] | None = None,
               tiers: Sequence[str] | None = None, min_episode: float = MIN_EPISODE_S,
               max_gap: float = MAX_GAP_S) -> pd.DataFrame:
    """The figures of `mf2 stats` (`core.stats.compute_statistics`; definitions in its docstring
    and the README) as one row per person and range: the whole recording first, then each segment
    name, for each person (the one seen in most frames first).

    ``data``: a per-frame DataFrame (`read_csv`, `analyze`) or a CSV's path. ``segments``: a
    ``.csv`` or ELAN ``.eaf`` file (``tiers``: for ELAN, only these), or `Segment`s or
    ``(name, start, end)`` tuples in seconds. ``min_episode``, ``max_gap``: the episode settings.

    Columns: ``person``, ``segment``, ``frames``, ``face_frames``, ``face_share``, ``seconds``,
    then one per figure and key, named ``<figure>_<key>``: ``emotion_share_<emotion>``,
    ``emotion_mean_<emotion>``, ``au_occurrence_AUxx``, ``au_activation_AUxx``,
    ``episodes_<emotion>_count``, ``episodes_<emotion>_mean_seconds``, ``blinks_per_minute``,
    ``head_pose_range_<pitch|yaw|roll>``. Counts are int64, the rest float64 with NaN for a
    figure that cannot be computed. ``attrs``: the recording's ``source``, ``fps``, ``frames``,
    ``seconds``, ``people`` and ``segments``.
    """
    result = to_result(data) if isinstance(data, pd.DataFrame) else read_result(Path(data))
    stats = compute_statistics(result, _segments(segments, tiers), min_episode, max_gap)
    return statistics_table(stats)


def au_checks(model: str | Path = default_model_dir()) -> pd.DataFrame:
    """The model's own check on real video (`core.validation`, the session report's table): one row
    per AU it reports, indexed by ``AUxx`` as the CSV's columns are named (``AU01``), with
    ``rating`` (good, fair, weak, too few examples, not checked), ``f1``, ``false_alarms``,
    ``present`` and ``absent`` (labelled frames with and without it) and ``at_rest`` (the share of
    resting faces it is read on); NaN where not measured. ``attrs``: ``model`` (the version
    measured), ``people``, ``frames``, ``rest_frames``. InputError where the folder's model has
    no check of its own (fine-tuned weights)."""
    from .report import model_version
    from .validation import model_validation

    version = model_version(Path(model))
    checks = model_validation(Path(model), version)
    if checks is None:
        raise InputError(f"{model}: the model {version} has no check on real video of its own")
    rows = {f"AU{n:02d}": {"rating": c.rating, "f1": c.f1, "false_alarms": c.false_alarms, "present": c.present,
                           "absent": c.absent, "at_rest": c.at_rest} for n, c in sorted(checks.aus.items())}
    table = pd.DataFrame.from_dict(rows, orient="index").astype(
        {"f1": np.float64, "false_alarms": np.float64, "at_rest": np.float64, "present": np.int64, "absent": np.int64})
    table.attrs.update(model=checks.model, people=checks.people, frames=checks.frames, rest_frames=checks.rest_frames)
    return table


def statistics_table(stats: Statistics) -> pd.DataFrame:
    """`Statistics` (core.stats) as the table `statistics` returns."""
    plain = stats.to_dict()
    rows = [_flat({k: v for k, v in r.items() if k != "spans"}) for r in plain["ranges"]]
    names = list(dict.fromkeys(n for row in rows for n in row)) or \
        ["person", "segment", "frames", "face_frames", "face_share", "seconds"]
    table = pd.DataFrame(rows, columns=names)
    for name in names:
        if name in ("person", "segment"):
            table[name] = table[name].astype(object)
        elif name in ("frames", "face_frames") or name.endswith("_count"):
            table[name] = table[name].astype(np.int64)
        else:
            table[name] = table[name].astype(np.float64)  # None: NaN
    table.attrs.update({k: plain[k] for k in ("source", "fps", "frames", "seconds", "people", "segments")})
    return table


def _segments(segments, tiers) -> list[Segment]:
    if segments is None:
        if tiers:
            raise InputError("tiers are chosen in an ELAN file: give segments as a .eaf file too")
        return []
    if isinstance(segments, (str, Path)):
        return read_segments(Path(segments), tiers)
    out = []
    for s in segments:
        try:
            name, start, end = (s.name, s.start, s.end) if isinstance(s, Segment) else s
            name, start, end = str(name), float(start), float(end)
        except (TypeError, ValueError):
            raise InputError(f"segment {s!r}: give a Segment or (name, start, end) in seconds") from None
        out.append(checked_segment(f"segment {s!r}", name, start, end))  # what a segments file may not hold either
    return in_order(out)


def _flat(values: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in values.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}_"))
        else:
            out[prefix + key] = value
    return out


def _whole_numbers(values: np.ndarray) -> bool:
    return bool(len(values)) and all(re.fullmatch(r"-?\d+", v) for v in values.tolist())


def _integers(path: Path, name: str, values: np.ndarray) -> np.ndarray:
    """int64 of a column that must hold whole numbers; InputError naming the first cell that does not."""
    if values.dtype.kind in "US":
        return values.astype(np.int64)
    bad = np.flatnonzero(~np.isfinite(values) | (values != np.round(values)))
    if len(bad):
        cell = "empty" if np.isnan(values[bad[0]]) else f"{values[bad[0]]:g}, not a whole number"
        raise InputError(f"{path}: line {int(bad[0]) + 2}, column {name}: {cell}")
    return values.astype(np.int64)


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _text(value) -> str:
    """A text cell as the CSV would hold it: whole numbers without a decimal point."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def _positive(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InputError(f"{name}={value!r}: must be a whole number of 1 or more")
    return int(value)
