"""Per person and per segment figures of a per-frame CSV, as a clinical review reads a session.

Definitions (a *range* is the whole recording, or every segment sharing one name pooled; a
person's *face frames* are the analysed frames of the range with that person's face):

- A frame belongs to a range when its timestamp ``t`` is in ``[start, end)``. It stands for the
  time until the next analysed frame (the last one: the median interval), its *duration*.
- ``frames``: analysed frames in the range; ``face_frames``: the person's face frames;
  ``face_share``: face_frames / frames; ``seconds``: the summed durations of the face frames.
- Top emotion of a face: the ``emotion_*`` column with the highest probability (empty cells
  ignored; a face with none readable has no top emotion). ``emotion_share``: each emotion's share
  of the time (durations) of the face frames that have a top emotion; ``emotion_mean``: the mean
  probability of each emotion over the face frames.
- ``au_occurrence``: mean of ``AUxx_c`` over the face frames (the share of frames with the AU
  present; empty cells ignored); ``au_activation``: mean of ``AUxx_r`` / 5 (0..1).
- Expression episodes: for each emotion but neutral, its face frames joined into one episode while
  the gap between them (other emotions or no face) lasts at most ``max_gap`` seconds (default 0.2),
  kept when the episode, from its first frame's start to its last frame's end, lasts at least
  ``min_episode`` seconds (default 0.5). ``episodes``: count and mean duration per emotion.
- ``blinks_per_minute``: blinks per minute of ``seconds``, a blink being a run of ``AU45_c = 1``
  that starts from an open eye (0 in one analysed frame, 1 in the next, the face in both) and in
  which ``AU43_c`` (eyes held closed) stays 0; only when the CSV has ``AU45_c``.
- ``head_pose_range``: per axis (pitch ``pose_Rx``, yaw ``pose_Ry``, roll ``pose_Rz``), the
  span from the 5th to the 95th percentile of the face frames' angle, in degrees: how far the head
  turned, a few outlying frames ignored.

Episodes and blinks never join frames across the edges of a range (pooled segments are apart).
Figures that cannot be computed (no face frames, a missing column) are None, so the result
serialises to JSON as is.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from .outputs import AtomicOutput
from .plural import counted
from .results import Result, images_path, rate_words
from .segments import WHOLE_RECORDING, Segment

NEUTRAL = "neutral"
MIN_EPISODE_S = 0.5
MAX_GAP_S = 0.2
POSE_AXES = (("pitch", "pose_Rx"), ("yaw", "pose_Ry"), ("roll", "pose_Rz"))
_EPS = 1e-6  # seconds: timestamps are written to the millisecond


@dataclass
class Episodes:
    count: int
    mean_seconds: float | None


@dataclass
class RangeStats:
    """One person's figures over one range (see the module docstring for each definition)."""
    person: str
    segment: str
    spans: list[tuple[float, float]]
    frames: int
    face_frames: int
    face_share: float | None
    seconds: float
    emotion_share: dict[str, float | None] = field(default_factory=dict)
    emotion_mean: dict[str, float | None] = field(default_factory=dict)
    au_occurrence: dict[str, float | None] = field(default_factory=dict)
    au_activation: dict[str, float | None] = field(default_factory=dict)
    episodes: dict[str, Episodes] = field(default_factory=dict)
    blinks_per_minute: float | None = None
    head_pose_range: dict[str, float | None] = field(default_factory=dict)


@dataclass
class Statistics:
    source: str
    fps: float | None
    frames: int
    seconds: float
    people: list[str]
    segments: list[Segment]
    ranges: list[RangeStats]
    every: int = 1  # every how many source frames one was analysed (`mf2 analyze --every`)
    photos: bool = False  # a folder of photos (its `.images.csv` listing beside the CSV) or one photo (one
    # analysed frame): no time figures

    def to_dict(self) -> dict:
        """Plain JSON types (None for NaN)."""
        return _plain(asdict(self))

    def write_json(self, path: Path) -> None:
        """`to_dict` as JSON in ``path``, complete or not at all (OutputError on failure)."""
        out = AtomicOutput(path)
        try:
            out.write(json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n")
        except BaseException:
            out.discard()
            raise
        out.commit()

    def get(self, person: str, segment: str = WHOLE_RECORDING) -> RangeStats:
        return next(r for r in self.ranges if r.person == person and r.segment == segment)


def compute_statistics(result: Result, segments: Sequence[Segment] = (), min_episode: float = MIN_EPISODE_S,
                       max_gap: float = MAX_GAP_S) -> Statistics:
    """Every person's figures over the whole recording, then over each segment name."""
    n = len(result.frames)
    # per range: its spans, and each frame's duration within it (NaN: the frame is not in it)
    ranges: list[tuple[str, list[tuple[float, float]], np.ndarray]] = [
        (WHOLE_RECORDING, [(float(result.frame_times[0]), float(result.frame_times[-1] + result.step))],
         result.frame_durations)]
    for name in dict.fromkeys(s.name for s in segments):
        spans = [(s.start, s.end) for s in segments if s.name == name]
        ranges.append((name, spans, _durations_within(result, spans)))
    people = result.people()
    out = [_range_stats(result, person, name, spans, durations, min_episode, max_gap)
           for person in people for name, spans, durations in ranges]
    return Statistics(str(result.path), None if math.isnan(result.fps) else result.fps, n, result.duration,
                      people, list(segments), out, result.every, is_photos(result))


def is_photos(result: Result) -> bool:
    """Whether the CSV holds photos, between which no time passes: a folder's (its `.images.csv`
    listing beside it) or a single one (one analysed frame)."""
    return len(result.frames) == 1 or images_path(result.path).is_file()


def _durations_within(result: Result, spans: list[tuple[float, float]]) -> np.ndarray:
    """Per analysed frame, the time it stands for (until the next one) cut at the end of the
    stretch of ``spans`` its time lies in; NaN for a frame in none of them."""
    out = np.full(len(result.frames), np.nan)
    for start, end in _merged(spans):
        here = (result.frame_times >= start - _EPS) & (result.frame_times < end - _EPS)
        out[here] = np.minimum(result.frame_durations[here], end - result.frame_times[here])
    return out


def _range_stats(result: Result, person: str, name: str, spans: list[tuple[float, float]], within: np.ndarray,
                 min_episode: float, max_gap: float) -> RangeStats:
    inside = ~np.isnan(within)
    positions, rows = result.face_rows(person)
    keep = inside[positions]
    positions, rows = positions[keep], rows[keep]
    times = result.frame_times[positions]
    durations = within[positions]
    seconds = float(durations.sum())
    frames = int(inside.sum())
    stats = RangeStats(person, name, spans, frames, len(rows), len(rows) / frames if frames else None, seconds)
    top = result.top_emotion[rows]
    weights = durations if seconds > 0 else np.ones(len(rows))  # one frame (a photo) lasts no time: it counts once
    readable_time = weights[top >= 0].sum()
    for j, emotion in enumerate(result.emotions):
        stats.emotion_share[emotion] = float(weights[top == j].sum() / readable_time) if readable_time else None
        stats.emotion_mean[emotion] = _mean(result.column(f"emotion_{emotion}")[rows])
    for number in result.au_numbers:
        stem = f"AU{number:02d}"
        if f"{stem}_c" in result:
            stats.au_occurrence[stem] = _mean(result.column(f"{stem}_c")[rows])
        if f"{stem}_r" in result:
            activation = _mean(result.column(f"{stem}_r")[rows])
            stats.au_activation[stem] = None if activation is None else activation / 5
    block = _blocks(inside)[positions]  # frames are joined only within one contiguous part of the range
    for j, emotion in enumerate(result.emotions):
        if emotion != NEUTRAL:
            lengths = _episodes(times, durations, block, top == j, min_episode, max_gap)
            stats.episodes[emotion] = Episodes(len(lengths), float(np.mean(lengths)) if lengths else None)
    if "AU45_c" in result and seconds > 0:
        held = result.column("AU43_c")[rows] >= 0.5 if "AU43_c" in result else None
        stats.blinks_per_minute = _blinks(result.column("AU45_c")[rows], held, positions) / (seconds / 60)
    for axis, column in POSE_AXES:
        if column in result:
            degrees = np.degrees(result.column(column)[rows])
            degrees = degrees[np.isfinite(degrees)]
            stats.head_pose_range[axis] = float(np.percentile(degrees, 95) - np.percentile(degrees, 5)) \
                if len(degrees) else None
    return stats


def _merged(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The stretches of time the spans cover (overlapping or touching ones joined)."""
    out: list[tuple[float, float]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1] + _EPS:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def _blocks(inside: np.ndarray) -> np.ndarray:
    """Per frame: the number of the contiguous run of ``inside`` frames it belongs to."""
    return np.cumsum(np.r_[inside[:1], inside[1:] & ~inside[:-1]])


def _blinks(closed: np.ndarray, held: np.ndarray | None, positions: np.ndarray) -> int:
    """Blinks: runs of ``AU45_c = 1`` over consecutive analysed frames that start from an open
    eye and in which the eyes are never held closed (``AU43_c``, the same closure held 0.5 s)."""
    shut, open_ = closed >= 0.5, closed < 0.5  # an unreadable eye (NaN) is neither
    follows = np.diff(positions) == 1  # the next analysed frame (so within the same part of the range)
    starts = np.flatnonzero(follows & open_[:-1] & shut[1:]) + 1
    run = np.cumsum(~np.r_[False, follows & shut[:-1] & shut[1:]])  # each row: the run it belongs to
    long_runs = set(run[shut & held].tolist()) if held is not None else set()
    return sum(int(run[i]) not in long_runs for i in starts)


def _episodes(times: np.ndarray, durations: np.ndarray, block: np.ndarray, shown: np.ndarray, min_episode: float,
              max_gap: float) -> list[float]:
    """Durations of the episodes of one emotion (``shown``: the face frames where it is the top)."""
    starts, ends, blocks = times[shown], times[shown] + durations[shown], block[shown]
    if not len(starts):
        return []
    breaks = np.flatnonzero((starts[1:] - ends[:-1] > max_gap + _EPS) | (blocks[1:] != blocks[:-1]))
    first = np.r_[0, breaks + 1]
    last = np.r_[breaks, len(starts) - 1]
    lengths = ends[last] - starts[first]
    return [float(v) for v in lengths if v >= min_episode - _EPS]


def _mean(values: np.ndarray) -> float | None:
    values = values[np.isfinite(values)]
    return float(values.mean()) if len(values) else None


def _plain(value):
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.generic):
        return _plain(value.item())
    return value


def summary_cells(r: RangeStats, missing: str = "-") -> dict[str, str]:
    """One range's summary as the tables show it (this module's text, the studio's dock): its top
    three emotions by share of time, the episodes, blinks a minute and the head-pose ranges
    pitch/yaw/roll in degrees; ``missing`` where there is no figure."""
    shares = sorted(((v, e) for e, v in r.emotion_share.items() if v), key=lambda ve: (-round(ve[0], 6), ve[1]))
    pose = "/".join(missing if r.head_pose_range.get(axis) is None else f"{r.head_pose_range[axis]:.0f}"
                    for axis, _ in POSE_AXES)
    return {"emotions": " ".join(f"{e} {v:.0%}" for v, e in shares[:3]) or missing,
            "episodes": str(sum(e.count for e in r.episodes.values())) if r.episodes else missing,
            "blinks": missing if r.blinks_per_minute is None else f"{r.blinks_per_minute:.1f}",
            "head": pose if r.head_pose_range else missing}


def format_table(stats: Statistics) -> str:
    """The figures as text: one line per person and range, then the AUs present in any of them."""
    if stats.photos:  # unrelated photos: each face its own 'person', and no time passes between them
        lines = [f"{stats.source}: {counted(stats.frames, 'photo')}, {counted(len(stats.people), 'face')}"]
    else:
        lines = [f"{stats.source}: {stats.frames} frames{rate_words(stats.fps, stats.every)} ({stats.seconds:.2f} s), "
                 + counted(len(stats.people), "person", "people")]
    if not stats.ranges:
        return "\n".join(lines + ["no face in any frame"])
    header = ("person", "segment", "face frames", "seconds", "top emotions (share of time)", "episodes",
              "blinks/min", "head range p/y/r (deg)")
    rows = []
    for r in stats.ranges:
        cells = summary_cells(r)
        rows.append((r.person, r.segment,
                     f"{r.face_frames}/{r.frames}" + (f" {r.face_share:.0%}" if r.face_share is not None else ""),
                     f"{r.seconds:.2f}", cells["emotions"], cells["episodes"], cells["blinks"], cells["head"]))
    if stats.photos:
        keep = (0, 2, 4)  # face, photos, top emotion
        header, rows = ("face", "photos", "top emotion"), [tuple(row[i] for i in keep) for row in rows]
    lines += _columns(header, rows)
    aus = sorted({au for r in stats.ranges for au, v in r.au_occurrence.items() if v and v >= 0.05})
    if aus:
        lines += ["", "AU occurrence (share of face frames with the AU present; AUs at 5% or more somewhere)"]
        lines += _columns(("person", "segment", *aus), [
            (r.person, r.segment, *("-" if r.au_occurrence.get(au) is None else f"{r.au_occurrence[au]:.0%}"
                                    for au in aus)) for r in stats.ranges])
    return "\n".join(lines)


def _columns(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows)]
    return ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in (header, *rows)]
