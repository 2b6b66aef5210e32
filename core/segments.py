"""Named time ranges of a recording (a task, a condition, an interview question), so statistics
can be given per part of a session, from a small CSV or from an ELAN annotation file.

CSV: one ``name,start,end`` row per segment, with or without that header line; times in seconds
(``12.5``) or as ``[HH:]MM:SS[.mmm]`` (``01:02.5``, ``1:00:02.500``). Cells may be separated by
commas, semicolons or tabs; in the last two, as Excel writes them in much of Europe, a decimal
comma is read as a point (``12,5``). A first line whose start and end hold no digit is a header
of names this module does not know and is left out; one with digits is checked as a row. A header naming the columns (``name``,
``start``, ``end``, or ``segment``/``label``, ``begin``/``onset``, ``stop``/``offset``) may put them
in any order among others (notes), which are left out. ELAN (``.eaf``): every
annotation of the tiers asked for becomes a segment named by its value, or by its tier's name
when the value is empty; with none asked for, the file's segment tiers (linguistic type
``segment``, as `mf2 elan` writes them) where it has any, else every tier.
"""
from __future__ import annotations

import csv
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from pympi.Elan import Eaf

from .errors import InputError

WHOLE_RECORDING = "whole recording"  # the statistics' name for the whole recording: no segment may take it
SEGMENT_TYPE = "segment"  # the ELAN linguistic type of user segment tiers (core.export.elan writes it)
# the column names a segments CSV's header may use, and the column each one is
HEADER_NAMES = {"name": "name", "segment": "name", "label": "name", "start": "start", "begin": "start",
                "onset": "start", "end": "end", "stop": "end", "offset": "end"}
SEGMENT_COLOURS = ("#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#edc948", "#76b7b2", "#ff9da7", "#9c755f",
                   "#e15759", "#bab0ac")  # segments take these in turn, alike in the report and the studio


@dataclass(frozen=True)
class Segment:
    """``name`` from ``start`` to ``end`` seconds (a frame at ``start`` is in it, one at ``end`` not)."""
    name: str
    start: float
    end: float


def parse_time(text: str) -> float:
    """Seconds from ``12.5``, ``MM:SS[.mmm]`` or ``HH:MM:SS[.mmm]``; ValueError otherwise."""
    parts = text.strip().split(":")
    if len(parts) > 3 or not all(parts):
        raise ValueError(text)
    values = [float(p) for p in parts]
    if any(v < 0 or v != v or v == float("inf") for v in values) or any(v >= 60 for v in values[1:]):
        raise ValueError(text)
    seconds = 0.0
    for v in values:
        seconds = seconds * 60 + v
    return seconds


def read_segments(path: Path, tiers: Sequence[str] | None = None) -> list[Segment]:
    """The segments in a ``.csv`` or ``.eaf`` file, by start time. ``tiers``: for ELAN, only
    these tiers. InputError (one line naming the file) for anything else or anything wrong."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".eaf":
        segments = _read_eaf(path, tiers)
    elif suffix in (".csv", ".txt"):
        if tiers:
            raise InputError(f"{path}: tiers are chosen in ELAN files only, not in a CSV")
        segments = _read_csv(path)
    else:
        raise InputError(f"{path}: unknown segments format (give a .csv of name,start,end or an ELAN .eaf)")
    return in_order(segments)


def outside(segments: Sequence[Segment], duration: float) -> list[str]:
    """One line for each segment that lies wholly outside a recording ``duration`` seconds long
    (a typo, or minutes given as seconds): its figures would be empty."""
    return [f"segment {s.name!r} ({s.start:g}-{s.end:g} s) lies outside the recording (0-{duration:.1f} s): "
            "it has no frames" for s in segments if s.start >= duration or s.end <= 0]


def in_order(segments: Iterable[Segment]) -> list[Segment]:
    """By start, then end, then name: the one order lists of segments are kept in."""
    return sorted(segments, key=lambda s: (s.start, s.end, s.name))


def overlap_rows(segments: Sequence[Segment], tolerance: float = 0.0) -> list[int]:
    """Per segment (in the order given), the row it goes on: as few rows as keep each free of
    overlaps (first fit by start; an end within ``tolerance`` of the next start does not overlap).
    The studio draws them so; an ELAN file, whose tiers allow no overlaps, writes a tier a row."""
    ends: list[float] = []
    rows = [0] * len(segments)
    for i in sorted(range(len(segments)), key=lambda i: (segments[i].start, segments[i].end)):
        s = segments[i]
        row = next((r for r, end in enumerate(ends) if end <= s.start + tolerance), len(ends))
        if row == len(ends):
            ends.append(s.end)
        else:
            ends[row] = s.end
        rows[i] = row
    return rows


def _header(row: list[str]) -> list[int] | None:
    """The cells of name, start and end when ``row`` is a header naming all three, else None."""
    found = {}
    for i, cell in enumerate(row):
        found.setdefault(HEADER_NAMES.get(cell.strip().lower()), i)
    return [found[k] for k in ("name", "start", "end")] if {"name", "start", "end"} <= found.keys() else None


def _is_time(text: str) -> bool:
    try:
        parse_time(text)
    except ValueError:
        return False
    return True


def _delimiter(lines: list[str]) -> str:
    """Semicolons or tabs where every line has two or more (then a comma is a decimal comma, as
    Excel writes in much of Europe), else commas."""
    lines = [line for line in lines if line.strip()]
    for delimiter in (";", "\t"):
        if lines and all(line.count(delimiter) >= 2 for line in lines):
            return delimiter
    return ","


def _read_csv(path: Path) -> list[Segment]:
    try:
        text = path.read_text(encoding="utf-8-sig")
        delimiter = _delimiter(text.splitlines())
        rows = list(csv.reader(text.splitlines(), delimiter=delimiter))
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror or e})") from None
    except (UnicodeDecodeError, csv.Error) as e:
        raise InputError(f"{path}: not a segments CSV ({e})") from None
    segments, columns = [], None
    for line, row in enumerate(rows, start=1):
        row = [cell.strip() for cell in row]
        if not any(row):
            continue
        if not segments and columns is None and (columns := _header(row)) is not None:
            continue
        if columns is None and len(row) != 3:
            raise InputError(f"{path}: line {line} has {len(row)} cells; segments are name,start,end "
                             "(or give a header line naming the columns)")
        if columns is not None and len(row) <= max(columns):
            raise InputError(f"{path}: line {line} has {len(row)} cells, fewer than its header names")
        name, start, end = row if columns is None else (row[i] for i in columns)
        if delimiter != ",":  # Excel's decimal comma
            start, end = start.replace(",", "."), end.replace(",", ".")
        try:
            times = parse_time(start), parse_time(end)
        except ValueError:
            if line == 1 and not any(c.isdigit() for c in start + end):  # a header of other names
                continue
            bad = [t for t in (start, end) if not _is_time(t)]
            raise InputError(f"{path}: line {line}: {' and '.join(map(repr, bad))} "
                             f"{'is' if len(bad) == 1 else 'are'} not a time (seconds from 0, MM:SS.mmm or "
                             "HH:MM:SS.mmm)") from None
        segments.append(_segment(path, f"line {line}", name, *times))
    if not segments:
        raise InputError(f"{path}: no segments in it (rows of name,start,end)")
    return segments


def _read_eaf(path: Path, tiers: Sequence[str] | None) -> list[Segment]:
    if not path.is_file():
        raise InputError(f"{path}: cannot read (no such file)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            eaf = Eaf(str(path), suppress_version_warning=True)
    except Exception as e:  # pympi raises bare Exception, KeyError, ValueError... for what it cannot parse
        raise InputError(f"{path}: not a readable ELAN file ({type(e).__name__}: {e})") from None
    names = list(eaf.get_tier_names())
    unknown = [t for t in tiers or () if t not in names]
    if unknown:
        raise InputError(f"{path}: no tier {unknown[0]!r} (tiers: {', '.join(names) or 'none'})")
    if not tiers:  # a file with segment tiers (as `mf2 elan` writes them): those, not its emotion and AU runs
        typed = [t for t in names if eaf.tiers[t][2].get("LINGUISTIC_TYPE_REF") == SEGMENT_TYPE]
        tiers = typed or None
    segments = []
    for tier in tiers or names:
        for start, end, value, *_ in eaf.get_annotation_data_for_tier(tier):
            if start is None or end is None:
                raise InputError(f"{path}: tier {tier!r} has an annotation without a time ({value!r}); "
                                 "choose time-aligned tiers")
            segments.append(_segment(path, f"tier {tier!r}", value.strip() or tier, start / 1000, end / 1000))
    if not segments:
        raise InputError(f"{path}: no annotations in " + (f"tiers {', '.join(tiers)}" if tiers else "any tier"))
    return segments


def _segment(path: Path, where: str, name: str, start: float, end: float) -> Segment:
    return checked_segment(f"{path}: {where}", name, start, end)


def checked_segment(where: str, name: str, start: float, end: float) -> Segment:
    """The segment, or InputError (one line starting with ``where``) for one no file may hold: the
    statistics' own name, a start before 0 or an end not after the start."""
    if not name.strip():
        raise InputError(f"{where}: the segment has no name")
    if name.strip().lower() == WHOLE_RECORDING:
        raise InputError(f"{where}: a segment may not be named {WHOLE_RECORDING!r} (the statistics use it)")
    if not start >= 0:
        raise InputError(f"{where}: segment {name!r} starts at {start:g} s, before the recording")
    if not end > start:
        raise InputError(f"{where}: segment {name!r} ends at {end:g} s, not after its start {start:g} s")
    return Segment(name, start, end)
