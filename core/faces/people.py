"""People, not tracks: a face that leaves and comes back (turned away, covered, cut away) is a
new track (core.faces.tracker ends tracks at cuts and where someone else takes a face's place),
and gets the person of the earlier tracks whose look (core.faces.appearance) it matches.

Each person keeps a small gallery of mean looks: a new track's first `SETTLE` frames averaged,
then the mean of every `WINDOW` frames of theirs, at most `GALLERY` of them, as varied as they
come (a new one replaces the one most like it). A new track is compared with every person not on
screen beside it (one person is never two faces of one frame) and takes the nearest, when that
one is nearer than `appearance.SAME`; otherwise it is someone new. Person ids count from 0 in
order of first appearance. A wrong join mixes two people's data, a wrong split only asks for a
merge in the studio, so `SAME` leans to splitting (scripts/people_check.py has the figures).

The decision is made once, from the track's first frames, and never revised: rows are written
as they come (a CSV, a live view), so frames are held back until every new track in them has
been seen `settle` frames (at most that delay, rows kept in order; live, `assign` decides from
the first frame). Where tracks are joined from chunks (core.chunks) the same happens in the
parent, so one pass and a chunked pass see the same frames in the same order. Corrections
(merge two people, split a track, names) belong to the studio's analysis (core.analysis).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from .appearance import SAME, Appearance, distance, mean_appearance

SETTLE = 8     # frames a new track is seen before its person is decided (file analysis)
WINDOW = 25    # a person's gallery gains the mean look of every this many frames of theirs
GALLERY = 24   # mean looks kept per person
MIN_LOOKS = 5  # looks a window needs to become a gallery entry


@dataclass
class _NewTrack:
    first: int                                     # the frame count at which it was first seen
    looks: list[Appearance] = field(default_factory=list)
    beside: set[int] = field(default_factory=set)  # tracks seen in the same frames


class People:
    """Person ids for the tracks of one video, frame after frame (not thread-safe)."""

    def __init__(self, settle: int = SETTLE):
        self.settle = settle
        self._frames = 0
        self._person: dict[int, int] = {}               # track -> person
        self._new: dict[int, _NewTrack] = {}            # tracks whose person is not decided yet
        self._gallery: dict[int, list[Appearance]] = {}  # person -> mean looks
        self._window: dict[int, list[Appearance]] = {}   # track -> its looks since its last gallery entry
        self._held: deque = deque()

    def assign(self, faces: list) -> None:
        """Set the person of one frame's faces now (live): a new track's first look decides."""
        self._see(faces)
        for track in sorted(self._new):
            self._decide(track)
        self._label(faces)

    def frames(self, items: Iterable[tuple]) -> Iterator[tuple]:
        """``items`` ((index, timestamp, faces, ...) in frame order) with their faces' persons
        set, each held back until its new tracks are decided. An error from ``items`` comes
        after the frames before it."""
        try:
            for item in items:
                self._see(item[2])
                for track in sorted(t for t, new in self._new.items() if self._frames - new.first >= self.settle - 1):
                    self._decide(track)
                self._held.append(item)
                while self._held and all(f.track_id in self._person for f in self._held[0][2]):
                    yield self._release()
        except Exception:
            yield from self._flush()
            raise
        yield from self._flush()

    def _flush(self) -> Iterator[tuple]:
        for track in sorted(self._new):
            self._decide(track)
        while self._held:
            yield self._release()

    def _release(self) -> tuple:
        item = self._held.popleft()
        self._label(item[2])
        return item

    def _label(self, faces: list) -> None:
        for face in faces:
            face.person = self._person[face.track_id]

    def _see(self, faces: list) -> None:
        """Gather one frame's evidence: new tracks' looks and who is beside them, known tracks'
        windows (closed when full or when their track is not in the frame)."""
        self._frames += 1
        present = {f.track_id for f in faces}
        for track in [t for t in self._window if t not in present]:
            self._close_window(track)
        for face in faces:
            track = face.track_id
            if track in self._person:
                if face.appearance is not None:
                    self._window.setdefault(track, []).append(face.appearance)
                    if len(self._window[track]) >= WINDOW:
                        self._close_window(track)
                continue
            new = self._new.setdefault(track, _NewTrack(self._frames))
            new.beside |= present - {track}
            if face.appearance is not None:
                new.looks.append(face.appearance)

    def _decide(self, track: int) -> None:
        new = self._new.pop(track)
        beside = {self._person[t] for t in new.beside if t in self._person}
        person = None
        if new.looks:
            look = mean_appearance(new.looks)
            nearest = {p: min(distance(look, seen) for seen in gallery)
                       for p, gallery in self._gallery.items() if p not in beside and gallery}
            best = min(nearest, key=nearest.get, default=None)
            if best is not None and nearest[best] < SAME:
                person = best
        if person is None:
            person = len(self._gallery)
            self._gallery[person] = []
        self._person[track] = person
        if new.looks:
            self._remember(person, look)

    def _close_window(self, track: int) -> None:
        looks = self._window.pop(track)
        if len(looks) >= MIN_LOOKS:
            self._remember(self._person[track], mean_appearance(looks))

    def _remember(self, person: int, look: Appearance) -> None:
        gallery = self._gallery[person]
        if len(gallery) >= GALLERY:
            del gallery[min(range(len(gallery)), key=lambda i: distance(look, gallery[i]))]
        gallery.append(look)
