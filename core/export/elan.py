"""An ELAN annotation file (``.eaf``) of a per-frame CSV, so a clinician reviews and corrects the
readings in ELAN against the video, beside their own annotations.

Per person: a tier of top-emotion intervals, one tier per AU with the intervals where it is
present (``AUxx_c`` 1), and a tier of the stretches where some AUs could not be read (covered, or
the face too poor), valued with those AUs: in an AU's own tier such a stretch is a gap, as an
absent one is; the user's segments in a tier of their own (more when they overlap, as an
ELAN tier holds no overlapping annotations). An interval runs over consecutive analysed frames
with the same reading, from its first frame's time to the next analysed frame's (the last frame
of the recording: the median frame interval). Written with pympi-ling, the maintained EAF library,
and installed complete or not at all (`AtomicOutput`).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
from pympi.Elan import Eaf, to_string

from ..outputs import AtomicOutput
from ..results import Result
from ..segments import SEGMENT_TYPE, Segment, overlap_rows
from ..video import VIDEO_SUFFIXES

EMOTION_TYPE, AU_TYPE, UNREAD_TYPE = "emotion", "action unit", "not readable"
SEGMENTS_TIER = "segments"
AUDIO_SUFFIXES = {".wav", ".mp3", ".m4a", ".aif", ".aiff"}
MEDIA_SUFFIXES = VIDEO_SUFFIXES | AUDIO_SUFFIXES  # what may be linked as the media
# the MIME types ELAN's players know by name; other media as ELAN's generic video or audio type
# (not the host's MIME database, which calls .ts a Qt translation file)
MIME_TYPES = {".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime", ".mpg": "video/mpeg",
              ".mpeg": "video/mpeg", ".wav": "audio/x-wav"}


def emotion_tier(person: str) -> str:
    return f"{person}: emotion"


def au_tier(person: str, number: int) -> str:
    return f"{person}: AU{number:02d}"


def unread_tier(person: str) -> str:
    return f"{person}: not readable"


def _unread(result: Result, rows: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """(per row: an index into the values, -1 where every AU was read; the values: the AUs not
    read, as "AU10 AU12", one per distinct set)."""
    columns = [f"AU{n:02d}_c" for n in result.au_numbers if f"AU{n:02d}_c" in result]
    if not columns:
        return np.full(len(rows), -1), []
    missing = np.column_stack([np.isnan(result.column(c)[rows]) for c in columns])
    texts = [" ".join(c[:4] for c, m in zip(columns, row) if m) for row in missing]
    values = sorted(set(texts) - {""})
    index = {text: i for i, text in enumerate(values)}
    return np.array([index.get(t, -1) for t in texts], int), values


def media_descriptor(media: Path, eaf_path: Path) -> dict[str, str]:
    """The MEDIA_DESCRIPTOR attributes linking ``media``: its absolute file URL, its path relative
    to the ``.eaf`` (ELAN looks there when the absolute one is gone) and its MIME type. The URL is
    written as ELAN writes it, ``file:///`` and the path as it is: ELAN opens ``file:`` URLs as
    plain paths and never decodes ``%20``, so a percent-encoded name would not be found."""
    media = Path(media).resolve()
    relative = Path(os.path.relpath(media, Path(eaf_path).resolve().parent)).as_posix()
    suffix = media.suffix.lower()
    mime = MIME_TYPES.get(suffix) or ("audio/*" if suffix in AUDIO_SUFFIXES else "video/*")
    return {"MEDIA_URL": "file:///" + media.as_posix().lstrip("/"),
            "RELATIVE_MEDIA_URL": relative if relative.startswith("../") else f"./{relative}", "MIME_TYPE": mime}


def write_elan(result: Result, path: Path, media: Path | None = None, segments: Sequence[Segment] = ()) -> dict:
    """Write ``path``; returns what is in it (``tiers``, ``annotations``). OutputError on failure."""
    eaf = Eaf(author="MF² Studio")
    eaf.remove_tier("default")
    eaf.remove_linguistic_type("default-lt")
    for name in (EMOTION_TYPE, AU_TYPE, UNREAD_TYPE, SEGMENT_TYPE):
        eaf.add_linguistic_type(name)
    eaf.header = {"MEDIA_FILE": "", "TIME_UNITS": "milliseconds"}
    if media is not None:
        eaf.media_descriptors.append(media_descriptor(media, path))
    for person in result.people():
        positions, rows = result.face_rows(person)
        tiers = [(emotion_tier(person), EMOTION_TYPE, result.top_emotion[rows], list(result.emotions))]
        tiers += [(au_tier(person, n), AU_TYPE, np.where(result.column(f"AU{n:02d}_c")[rows] >= 0.5, 0, -1),
                   [f"AU{n:02d}"]) for n in result.au_numbers if f"AU{n:02d}_c" in result]
        tiers.append((unread_tier(person), UNREAD_TYPE, *_unread(result, rows)))
        for tier, kind, labels, values in tiers:
            eaf.add_tier(tier, ling=kind, part=person)
            for first, last, label in _runs(positions, labels):
                end = result.frame_times[last] + result.frame_durations[last]
                _annotate(eaf, tier, result.frame_times[first], end, values[label])
    rows = overlap_rows(segments)  # an ELAN tier holds no overlaps: a tier a row
    for i in range(max(rows, default=-1) + 1):
        tier = SEGMENTS_TIER if i == 0 else f"{SEGMENTS_TIER} {i + 1}"
        eaf.add_tier(tier, ling=SEGMENT_TYPE)
        for s in sorted((s for s, row in zip(segments, rows) if row == i), key=lambda s: (s.start, s.end)):
            _annotate(eaf, tier, s.start, s.end, s.name)
    eaf.properties = [("lastUsedAnnotationId", eaf.maxaid)]
    out = AtomicOutput(path)
    try:
        out.write('<?xml version="1.0" encoding="UTF-8"?>\n' + to_string(eaf) + "\n")
    except BaseException:
        out.discard()
        raise
    out.commit()
    return {"tiers": len(eaf.tiers), "annotations": len(eaf.annotations)}


def _runs(positions: np.ndarray, labels: np.ndarray) -> list[tuple[int, int, int]]:
    """(first frame position, last frame position, label) of each run of one label (not -1) over
    consecutive analysed frames."""
    if not len(positions):
        return []
    breaks = np.flatnonzero((np.diff(positions) != 1) | (np.diff(labels) != 0))
    firsts, lasts = np.r_[0, breaks + 1], np.r_[breaks, len(positions) - 1]
    return [(int(positions[a]), int(positions[b]), int(labels[a])) for a, b in zip(firsts, lasts) if labels[a] >= 0]


def _annotate(eaf, tier: str, start: float, end: float, value: str) -> None:
    """One annotation in whole milliseconds (at least one long, as ELAN requires)."""
    start_ms = round(start * 1000)
    eaf.add_annotation(tier, start_ms, max(round(end * 1000), start_ms + 1), value)
