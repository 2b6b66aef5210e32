"""A person's neutral face, estimated per person (all of a person's tracks together, as
core.faces.people finds them; per track where no person is known), so that readings are
relative to that person.

FACS scores an Action Unit against the person's own face at rest: high brows, a wide mouth or
narrow eyes are not expressions. As OpenFace does for video and FaceReader calls participant
calibration, each face's geometry (`core.faces.geometry`) is compared with an estimate of that
person's neutral geometry:

- ``auto``: a running, robust estimate per person that uses only frames seen so far (so it works
  live): per feature a quantile of the person's history (the median; a low quantile for the
  mouth openings, since talking opens the mouth far more often than it closes it beyond rest),
  sampled at most every ``SAMPLE_S`` seconds and pulled towards the population's neutral face
  while the person is new. In a file a person's first rows are *settled*: read against the
  estimate of the moment it becomes their own (``known``, about 2 s in), or of ``SETTLE_S`` after
  they appeared if that comes first, instead of against the population's face
  (`core.model.settle` does it while streaming, `track_baselines` on a whole track).
- ``START-END``: the quantiles of the frames inside a segment the user marks as neutral; faces
  not seen in that segment fall back to the running estimate, unsettled.
- ``none``: the population's neutral face for everyone (readings as the model gives them).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import InputError
from .faces.geometry import N_FEATURES, NAMES

SAMPLE_S = 0.2       # at most one history sample per track this often
PRIOR_SAMPLES = 5    # the population prior weighs as much as this many of the person's samples (1 s)
KNOWN_SAMPLES = 10   # from this many samples (2 s) on, an automatic estimate counts as the person's own
SETTLE_S = 3.0       # a file's rows wait at most this long after a person appears for their own estimate
LOW_QUANTILE_FEATURES = ("lips_part", "jaw_drop", "mouth_height")
REST_QUANTILE = np.array([0.15 if n in LOW_QUANTILE_FEATURES else 0.5 for n in NAMES])
N_VALUES = N_FEATURES + 2  # the geometry, then the (right, left) eye openings (blinks)
QUANTILES = np.concatenate([REST_QUANTILE, [0.5, 0.5]])


@dataclass(frozen=True)
class BaselineMode:
    kind: str                     # "auto", "none" or "segment"
    start: float | None = None    # segment, seconds
    end: float | None = None

    def __str__(self) -> str:
        return f"{self.start:g}-{self.end:g}" if self.kind == "segment" else self.kind

    @classmethod
    def parse(cls, text: str) -> "BaselineMode":
        """``auto``, ``none`` or ``START-END``, each time in seconds or ``[HH:]MM:SS[.mmm]`` as in a
        segments file (``12.5-30``, ``1:05-1:20``); InputError otherwise."""
        from .segments import parse_time

        text = str(text).strip()
        if text in ("auto", "none"):
            return cls(text)
        try:
            start, end = (parse_time(t) for t in text.split("-"))
        except ValueError:  # not two times (a third part, a word, nothing)
            start = end = None
        if start is None or start >= end:
            raise InputError(f"baseline {text!r}: use auto, none or START-END with START < END, in seconds or "
                             "MM:SS (e.g. 0-20 or 1:05-1:20)")
        return cls("segment", start, end)

    def covers(self, times: np.ndarray) -> np.ndarray:
        """(N,) bool: which of these times (seconds) lie in the neutral segment (none for auto or none)."""
        times = np.asarray(times)
        if self.kind != "segment":
            return np.zeros(times.shape, bool)
        return (times >= self.start) & (times <= self.end)


def baseline_key(person: int, track: int) -> int:
    """Whose baseline a face is read against: its person's, else (no person decided: a photo)
    its track's, as ``-1 - track`` (the key `Analysis.face_people` gives such a face)."""
    return person if person >= 0 else -1 - track


class TrackBaseline:
    """Causal per-feature quantiles of one face's history, shrunk towards ``prior`` early on.
    The history is kept sorted per feature in one float64 array (8 bytes a value: as Python
    floats in lists it took 32, about 11 MB an hour of one face)."""

    def __init__(self, prior: np.ndarray):
        self.prior = np.asarray(prior, np.float64)
        self._sorted = np.empty((len(self.prior), 64))  # (feature, capacity); the first ``samples`` columns used
        self.samples = 0
        self._last_t = -np.inf

    @property
    def known(self) -> bool:
        """The estimate rests on enough of the person's own frames to judge movements against."""
        return self.samples >= KNOWN_SAMPLES

    def add(self, t: float, values: np.ndarray) -> None:
        if t - self._last_t < SAMPLE_S or not np.all(np.isfinite(values)):
            return
        self._last_t = t
        n = self.samples
        if n == self._sorted.shape[1]:
            self._sorted = np.concatenate([self._sorted, np.empty_like(self._sorted[:, :n // 2])], 1)
        for column, v in zip(self._sorted, np.asarray(values, np.float64)):
            at = int(np.searchsorted(column[:n], v, side="right"))  # where bisect.insort puts it
            column[at + 1:n + 1] = column[at:n]
            column[at] = v
        self.samples = n + 1

    def estimate(self) -> np.ndarray:
        n = self.samples
        if n == 0:
            return self.prior.copy()
        quantiles = QUANTILES[:len(self.prior)]
        q = self._sorted[np.arange(len(quantiles)), np.minimum(n - 1, np.round(quantiles * (n - 1)).astype(int))]
        w = n / (n + PRIOR_SAMPLES)
        return w * q + (1 - w) * self.prior


def segment_baseline(values: np.ndarray) -> np.ndarray:
    """(N_VALUES,) rest estimate from a track's (F, N_VALUES) values inside a neutral segment."""
    values = values[np.all(np.isfinite(values), axis=1)]
    return np.array([np.quantile(column, q) for column, q in zip(values.T, QUANTILES)])


def track_baselines(times: np.ndarray, values: np.ndarray, mode: BaselineMode, prior: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """((F, N_VALUES) baseline, (F,) whether it is the person's own) for each of one person's
    frames (in time order), as a file's streaming path computes them: auto is causal (each frame
    sees itself and the frames before it) after the first rows, which are settled (module
    docstring); a segment's people are read against it, the others causally from their first
    row; with ``none`` the baseline is the population's."""
    n = len(values)
    if mode.kind == "none":
        return np.repeat(np.asarray(prior, np.float64)[None], n, 0), np.zeros(n, bool)
    if mode.kind == "segment":
        inside = mode.covers(times)
        if inside.any():
            return np.repeat(segment_baseline(values[inside])[None], n, 0), np.ones(n, bool)
    running, out, known = TrackBaseline(prior), np.empty((n, len(prior))), np.zeros(n, bool)
    for i, (t, v) in enumerate(zip(times, values)):
        running.add(float(t), v)
        out[i], known[i] = running.estimate(), running.known
    if mode.kind == "auto" and n:
        # settled at the first row read against their own estimate, or the last before SETTLE_S
        at = min(int(np.argmax(known)) if known.any() else n - 1,
                 int(np.searchsorted(times, times[0] + SETTLE_S, side="left")) - 1)
        out[:at], known[:at] = out[at], known[at]
    return out, known
