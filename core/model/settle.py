"""A person's first seconds in a file, read against their own rest.

The automatic baseline (`core.baseline`) needs about 2 s of a person before it is theirs; until
then it leans on the population's neutral face and the FACS brow gates stay off, so a man whose
brows sit high at rest reads as raising them (`scripts/video_au_extra.md`, ``single_face.mp4``).
Live there is nothing to wait for. In a file the rows can wait: a person's first rows are held
until their estimate is their own, or ``SETTLE_S`` has passed, or the video ends, then read again
against the estimate of that moment; `core.baseline.track_baselines` gives the same for a
whole analysis (`FaceScorer.recalibrate`). At most ``SETTLE_S`` of frames wait.
"""
from __future__ import annotations

from collections import deque
from typing import Iterator

from ..analysis import FrameResult, frame_result
from ..baseline import SETTLE_S, baseline_key
from ..errors import InputError


def settled_frames(items: Iterator[tuple], scorer=None, settle: bool = True, photos: bool = False
                   ) -> Iterator[FrameResult]:
    """(index, timestamp, faces, model readings or None) items in frame order, scored by
    ``scorer``, each person's first rows settled when its baseline is automatic and ``settle``
    (a file: a camera's rows are read as they come). ``photos``: each frame an unrelated photo,
    read as one alone is (nothing of one photo's faces is any other's rest). A damaged input's
    error comes out after the frames before it, settled on what was seen."""
    if scorer is None or scorer.baseline.kind != "auto" or not settle or photos:
        for index, timestamp, faces, raw in items:
            if photos and scorer:
                scorer.reset()
            yield frame_result(index, timestamp, faces, scorer.score_read(faces, raw, timestamp) if scorer and faces else None)
        return
    held: deque = deque()   # (index, timestamp, faces, scores) not given out yet
    pending: dict = {}      # key -> (first time, first index, [(time, face, scores)]) read against an unsettled rest
    settled: set = set()
    try:
        for index, timestamp, faces, raw in items:
            for key in [k for k, (t0, _, _) in pending.items() if timestamp >= t0 + SETTLE_S]:
                scorer.reread(key, pending.pop(key)[2])
                settled.add(key)
            scores = scorer.score_read(faces, raw, timestamp) if faces else None
            held.append((index, timestamp, faces, scores))
            seen = set()
            for face, s in zip(faces, scores or ()):
                key = baseline_key(face.person, face.track_id)
                if key not in settled:
                    pending.setdefault(key, (timestamp, index, []))[2].append((timestamp, face, s))
                    seen.add(key)
            for key in seen:
                if scorer.rest(key)[1]:
                    scorer.reread(key, pending.pop(key)[2])
                    settled.add(key)
            first = min((i for _, i, _ in pending.values()), default=None)
            while held and (first is None or held[0][0] < first):
                yield frame_result(*held.popleft())
    except InputError:
        yield from _rest_of(held, pending, scorer)
        raise
    yield from _rest_of(held, pending, scorer)


def _rest_of(held: deque, pending: dict, scorer) -> Iterator[FrameResult]:
    """The frames still held, each waiting person settled on what was seen of them."""
    for key, (_, _, faces) in pending.items():
        scorer.reread(key, faces)
    pending.clear()
    while held:
        yield frame_result(*held.popleft())
