"""A video's analysis as data: per analysed frame, its faces with landmarks, pose and model scores.

This is the studio's data model (it never imports Qt): workers fill it frame by frame, the
overlays read one frame from it, the timelines read one face's series, the CSV export writes it
in `mf2 analyze`'s exact format, and it saves to a single ``.npz`` (plain arrays, no pickle) so
the per-video cache can reload it without executing anything.
"""
from __future__ import annotations

import json
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .baseline import BaselineMode, baseline_key
from .errors import InputError
from .export import OpenFaceWriter, model_values
from .faces import Face, FaceTracker
from .faces.people import People
from .faces.pose import HeadPose
from .landmark_store import BLOCK, LandmarkStore
from .outputs import durable_file
from .taxonomy import AU_BY_NUMBER
from .video import Frame

FORMAT = "mf2-analysis-6"  # 2: appearance AU logits and the baseline mode; 3: face quality, covered regions;
# 4: columns as kept in memory (which faces came with readings: ``flags``); 5: each face's person, people's names;
# 6: face embeddings


@dataclass
class FaceResult:
    track_id: int
    box: np.ndarray          # x0, y0, x1, y1 in pixels
    confidence: float
    landmarks: np.ndarray    # (478, 2) float32 pixels: what overlays and the CSV need
    pose: HeadPose
    au: dict[int, float]     # AU number -> occurrence probability (empty without a model)
    emotion: dict[str, float]
    raw: np.ndarray | None = None  # what the pixels said (FaceScorer.read_faces), to read the face again with another baseline
    quality: float = float("nan")  # 0..1, core.faces.quality (NaN without a model)
    person: int = -1               # who the face is across tracks (core.faces.people); -1: not decided
    embedding: np.ndarray | None = None  # float16 unit face embedding (FaceScores.embedding): free-text search
    calibrating: bool = False      # read against the population's face, the person's own not yet known (shown
                                   # live; not stored: a stored face reads False)

    def face(self) -> Face:
        """As the tracker's `Face` (depth dropped), for the CSV writer."""
        points = np.zeros((len(self.landmarks), 3), np.float32)
        points[:, :2] = self.landmarks
        return Face(self.track_id, self.box, self.confidence, points, self.pose, person=self.person)

    def top_emotion(self) -> tuple[str, float] | None:
        """The likeliest emotion; None without a model or when the face cannot be read."""
        readable = {e: p for e, p in self.emotion.items() if p == p}
        return max(readable.items(), key=lambda kv: kv[1]) if readable else None


@dataclass
class FrameResult:
    index: int
    timestamp: float
    faces: list[FaceResult]

    def face(self, track_id: int) -> FaceResult | None:
        return next((f for f in self.faces if f.track_id == track_id), None)


def analyze_frame(frame: Frame, tracker: FaceTracker, scorer=None, live: bool = False, people: People | None = None
                  ) -> FrameResult:
    """Faces of one frame, scored by the model when there is one (``scorer``: a FaceScorer);
    ``people``: gives each face its person at once (live)."""
    faces = tracker.process(frame.rgb)
    if people is not None:
        people.assign(faces)
    return score_faces(frame, faces, scorer, live)


def score_faces(frame: Frame, faces: list, scorer=None, live: bool = False) -> FrameResult:
    """The frame's result from the faces the tracker found in it, scored by ``scorer`` if any.
    ``live``: the model reads just these faces, unpadded (`FaceScorer.read`): faster for one
    frame, equal to what a file analysis reads up to float rounding."""
    if not scorer:
        scores = None
    elif live:
        scores = scorer.score(frame.rgb, faces, frame.timestamp, batch=None)
    else:
        scores = scorer.score(frame.rgb, faces, frame.timestamp)
    return frame_result(frame.index, frame.timestamp, faces, scores)


def frame_result(index: int, timestamp: float, faces: list, scores: list | None = None) -> FrameResult:
    """A frame's result from its tracked faces and their `FaceScores` (None without a model)."""
    return FrameResult(index, timestamp, [
        FaceResult(f.track_id, f.box.astype(np.float32), float(f.confidence), f.landmarks[:, :2].astype(np.float32),
                   f.pose, s.au if s else {}, s.emotion if s else {}, s.raw if s else None,
                   s.quality if s else float("nan"), f.person, s.embedding if s else None,
                   bool(s and s.calibrating))
        for f, s in zip(faces, scores or [None] * len(faces))])


def csv_writer(path: Path, aus: tuple[int, ...], emotions: tuple[str, ...], baseline: str | None = None,
               model: str | None = None) -> OpenFaceWriter:
    """The per-frame CSV, with a column pair per AU, a column per emotion, the ``baseline`` mode the
    readings are relative to and the ``model`` version that read them (none of these without a model)."""
    return OpenFaceWriter(path, tuple(AU_BY_NUMBER[n].column for n in aus), emotions, baseline if aus else None,
                          model or "")


def write_result(writer: OpenFaceWriter, result: FrameResult, aus: tuple[int, ...], emotions: tuple[str, ...],
                 in_segment: set[int] | None = None) -> None:
    """One frame's rows: the one path by which `mf2 analyze`, the bench and the studio write CSVs.
    ``in_segment``: with a neutral segment, the people (`baseline_key`) seen in it; the others are
    read against their running estimate, and their rows say ``auto``."""
    extra = [model_values(f.au, f.emotion, aus, emotions, f.quality) for f in result.faces] if aus else None
    baselines = None if in_segment is None or not aus else \
        [None if baseline_key(f.person, f.track_id) in in_segment else "auto" for f in result.faces]
    writer.write(result.index, result.timestamp, [f.face() for f in result.faces], extra, baselines)


_AU, _EMOTION, _RAW = 1, 2, 4  # per face: what it came with (model readings, the pixels' raw reading)
_POINTS = 478                   # landmarks per face until a face says otherwise


def _values(readings: dict, keys: tuple) -> list[float]:
    """``readings``' values in the order of ``keys`` (NaN for one it lacks)."""
    try:
        return [readings[k] for k in keys]
    except KeyError:
        return [readings.get(k, np.nan) for k in keys]


class Analysis:
    """Every analysed frame of one source, in frame order, plus what produced them.

    Stored as columns (numpy arrays), not as objects: per frame its index, time and first face;
    per face its frame, track, person, box, confidence, pose, landmarks, AU and emotion
    probabilities, quality and raw reading. People can be merged, split and named afterwards
    (`merge_people`, `split_person`, `name_person`): the names are saved with the analysis. The
    landmarks, 413 MB of an hour at 30 fps (108,000 faces), are kept out of memory but for the
    newest (core.landmark_store), so that hour takes about 126 MB, and a face's series is a few
    vectorised operations. `add` is O(1) amortised: the small columns double their capacity when
    full, the landmarks grow by fixed blocks. `at` builds the `FrameResult` of one frame on
    demand; `frames` builds them all (for tests and exports, never for drawing).

    One thread may add frames while others read: every method takes the analysis's lock.
    """

    def __init__(self, aus: tuple[int, ...] = (), emotions: tuple[str, ...] = (), model_version: str | None = None,
                 frame_count: int | None = None, source: str = "", baseline: str = "none"):
        self.aus = tuple(aus)
        self.baseline = baseline         # how readings were made relative to each person (core.baseline)
        self.emotions = tuple(emotions)
        self.model_version = model_version
        self.frame_count = frame_count   # frames in the source, when known
        self.source = source
        self.complete = False            # every frame analysed (set by whoever ran it)
        self.names: dict[int, str] = {}  # person -> the name someone gave them
        self._lock = threading.RLock()
        self._n_frames = self._n_rows = 0
        self._ordered = True             # frame indices strictly increasing (else sorted before reading)
        self._version = 0                # changes with every frame added and every reading changed
        self._people: tuple[int, list[int]] | None = None  # (version, people()) last given
        self._series: dict[int, tuple[int, tuple]] = {}  # track -> (version, arrays)
        self._counts: dict[int, int] = {}                # track -> faces
        self._f = {"index": np.zeros(0, np.int64), "time": np.zeros(0, np.float64), "start": np.zeros(0, np.int64)}
        self._r = self._empty_rows(0, 0)
        self._landmarks = LandmarkStore()  # out of memory but for the newest blocks (core.landmark_store)

    def _empty_rows(self, n: int, raw_width: int, embedding_width: int = 0) -> dict[str, np.ndarray]:
        return {"frame": np.zeros(n, np.int64), "track": np.zeros(n, np.int64), "person": np.zeros(n, np.int64),
                "box": np.zeros((n, 4), np.float32), "confidence": np.zeros(n, np.float64),
                "pose": np.zeros((n, 3), np.float64),
                "au": np.zeros((n, len(self.aus)), np.float32), "emotion": np.zeros((n, len(self.emotions)), np.float32),
                "quality": np.zeros(n, np.float32), "raw": np.zeros((n, raw_width), np.float64),
                "embedding": np.zeros((n, embedding_width), np.float16), "flags": np.zeros(n, np.uint8)}

    @classmethod
    def for_scorer(cls, scorer, frame_count: int | None = None, source: str = "") -> "Analysis":
        if scorer is None:
            return cls(frame_count=frame_count, source=source)
        return cls(scorer.aus, scorer.emotions, scorer.version, frame_count, source, str(scorer.baseline))

    # --- filling ------------------------------------------------------------------------------

    @staticmethod
    def _reserve(columns: dict[str, np.ndarray], n: int) -> None:
        """Room for ``n`` entries in every column: capacity doubles, so appending is O(1) amortised."""
        capacity = len(next(iter(columns.values())))
        if n <= capacity:
            return
        capacity = max(n, 2 * capacity, 256)
        for name, old in columns.items():
            new = np.empty((capacity,) + old.shape[1:], old.dtype)
            new[:len(old)] = old
            columns[name] = new

    def add(self, result: FrameResult) -> None:
        """Append one frame (a frame already present is replaced, as a later reading of it)."""
        with self._lock:
            f = self._n_frames
            if f and result.index <= self._f["index"][f - 1]:
                self._ordered = False
            self._reserve(self._f, f + 1)
            self._f["index"][f], self._f["time"][f], self._f["start"][f] = result.index, result.timestamp, self._n_rows
            first = self._n_rows
            try:
                for face in result.faces:
                    self._add_face(face, f)
            except BaseException:  # a face that does not fit (e.g. another landmark count): the frame is not added
                for track in self._r["track"][first:self._n_rows].tolist():
                    self._counts[track] -= 1
                    if not self._counts[track]:
                        del self._counts[track]
                self._n_rows = first
                self._landmarks.truncate(first)
                raise
            self._n_frames = f + 1
            self._version += 1

    def _add_face(self, face: FaceResult, frame: int) -> None:
        r, rows = self._n_rows, self._r
        self._reserve(rows, r + 1)
        rows = self._r
        flags = 0
        rows["frame"][r], rows["track"][r], rows["person"][r] = frame, face.track_id, face.person
        rows["box"][r] = face.box
        rows["confidence"][r], rows["quality"][r] = face.confidence, face.quality
        rows["pose"][r] = (face.pose.pitch, face.pose.yaw, face.pose.roll)
        if face.au:
            rows["au"][r] = _values(face.au, self.aus)
            flags |= _AU
        else:
            rows["au"][r] = np.nan
        if face.emotion:
            rows["emotion"][r] = _values(face.emotion, self.emotions)
            flags |= _EMOTION
        else:
            rows["emotion"][r] = np.nan
        if face.raw is not None:
            raw = np.asarray(face.raw, np.float64).reshape(-1)
            if rows["raw"].shape[1] != len(raw):
                if r and (rows["flags"][:r] & _RAW).any():
                    raise ValueError(f"raw readings of {len(raw)} values in an analysis of {rows['raw'].shape[1]}")
                rows["raw"] = np.full((len(rows["raw"]), len(raw)), np.nan)
            rows["raw"][r] = raw
            flags |= _RAW
        else:
            rows["raw"][r] = np.nan
        self._put_embedding(r, face.embedding)
        rows["flags"][r] = flags
        self._landmarks.put(r, face.landmarks)
        self._counts[face.track_id] = self._counts.get(face.track_id, 0) + 1
        self._n_rows = r + 1

    def _put_embedding(self, r: int, embedding: np.ndarray | None) -> None:
        """The face embedding (float16) of row ``r``: the column takes the width of the first one."""
        rows = self._r
        if embedding is not None and rows["embedding"].shape[1] != len(embedding):
            if r and np.isfinite(rows["embedding"][:r]).any():
                raise ValueError(f"face embeddings of {len(embedding)} values in an analysis of {rows['embedding'].shape[1]}")
            rows["embedding"] = np.full((len(rows["embedding"]), len(embedding)), np.nan, np.float16)
        rows["embedding"][r] = np.nan if embedding is None else embedding

    def face_people(self) -> np.ndarray:
        """Every face's person in frame order (-1 - track for a face with no person)."""
        with self._lock:
            self._ensure_order()
            n, rows = self._n_rows, self._r
            return np.where(rows["person"][:n] >= 0, rows["person"][:n], -1 - rows["track"][:n])

    def key_rows(self, key: int, with_raw: bool = False) -> np.ndarray:
        """The rows (in frame order) of one person's faces, or of one track's where faces have no
        person (``key`` as `face_people` gives it); ``with_raw``: only those that can be read again."""
        with self._lock:
            mask = self.face_people() == key
            if with_raw:
                mask &= (self._r["flags"][:self._n_rows] & _RAW) != 0
            return np.flatnonzero(mask)

    def has_embeddings(self) -> bool:
        """Whether any face kept an embedding (read with a model): text search needs them."""
        with self._lock:
            column = self._r["embedding"][:self._n_rows]
            return bool(column.shape[1]) and bool(np.isfinite(column[:, 0]).any())

    def face_embeddings(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Every face in frame order: (frame index, time, person (`face_people`), (N, E) float32
        unit embedding, NaN for a face read without a model)."""
        with self._lock:
            self._ensure_order()
            n, rows = self._n_rows, self._r
            frames = rows["frame"][:n]
            return (self._f["index"][frames], self._f["time"][frames], self.face_people(),
                    rows["embedding"][:n].astype(np.float32))

    def set_readings(self, rows: np.ndarray, au: np.ndarray, emotion: np.ndarray) -> None:
        """Replace the AU (len(rows), A) and emotion (len(rows), E) probabilities of these faces
        (rows as `track_rows` gives them): a face read again, e.g. against another baseline."""
        with self._lock:
            self._ensure_order()
            rows = np.asarray(rows, np.int64)
            self._r["au"][rows] = au
            self._r["emotion"][rows] = emotion
            self._r["flags"][rows] |= _AU | _EMOTION
            self._changed()

    def _changed(self) -> None:
        self._version += 1
        self._series.clear()

    def invalidate(self) -> None:
        """Forget cached series (kept for callers that changed readings by other means)."""
        with self._lock:
            self._changed()

    def _ensure_order(self) -> None:
        """Frames added out of order or twice: put them in index order, the last reading of each
        frame kept (a rare path; a video's analysis adds frames in order)."""
        if self._ordered:
            return
        n, f = self._n_rows, self._n_frames
        index = self._f["index"][:f]
        order = np.lexsort((np.arange(f), index))
        keep = order[np.r_[index[order][1:] != index[order][:-1], True]]
        starts = self._f["start"][:f]
        counts = np.diff(np.r_[starts, n])[keep]
        new_starts = np.r_[0, np.cumsum(counts)[:-1]].astype(np.int64)
        take = np.repeat(starts[keep] - new_starts, counts) + np.arange(int(counts.sum()))
        landmarks = self._landmarks.gather(take)
        self._f = {"index": index[keep].copy(), "time": self._f["time"][:f][keep].copy(), "start": new_starts}
        self._r = {name: column[:n][take].copy() for name, column in self._r.items()}
        self._r["frame"] = np.repeat(np.arange(len(keep)), counts)
        self._landmarks = LandmarkStore.holding(landmarks)  # the old one closes when no save reads it
        self._n_frames, self._n_rows = len(keep), len(take)
        tracks, track_counts = np.unique(self._r["track"], return_counts=True)
        self._counts = dict(zip(map(int, tracks), map(int, track_counts)))
        self._ordered = True
        self._changed()

    # --- reading ------------------------------------------------------------------------------

    def __len__(self) -> int:
        with self._lock:
            self._ensure_order()
            return self._n_frames

    def _face(self, r: int) -> FaceResult:
        rows = self._r
        flags = int(rows["flags"][r])
        return FaceResult(
            int(rows["track"][r]), rows["box"][r].copy(), float(rows["confidence"][r]), self._landmarks.one(r),
            HeadPose(*rows["pose"][r].tolist()),
            dict(zip(self.aus, rows["au"][r].tolist())) if flags & _AU else {},
            dict(zip(self.emotions, rows["emotion"][r].tolist())) if flags & _EMOTION else {},
            rows["raw"][r].copy() if flags & _RAW else None, float(rows["quality"][r]), int(rows["person"][r]))

    def _frame(self, position: int) -> FrameResult:
        start = int(self._f["start"][position])
        end = int(self._f["start"][position + 1]) if position + 1 < self._n_frames else self._n_rows
        return FrameResult(int(self._f["index"][position]), float(self._f["time"][position]),
                           [self._face(r) for r in range(start, end)])

    def at(self, index: int) -> FrameResult | None:
        """The frame with this index, built now (later changes to it do not reach the analysis)."""
        with self._lock:
            self._ensure_order()
            indices = self._f["index"][:self._n_frames]
            position = int(np.searchsorted(indices, index))
            if position < len(indices) and indices[position] == index:
                return self._frame(position)
            return None

    def frames(self) -> list[FrameResult]:
        """Every frame, built now: for tests and exports, not for anything drawn often."""
        with self._lock:
            self._ensure_order()
            return [self._frame(p) for p in range(self._n_frames)]

    def track_ids(self) -> list[int]:
        """Faces seen, the one present in most frames first (the usual subject of a session video)."""
        with self._lock:
            self._ensure_order()
            return sorted(self._counts, key=lambda t: (-self._counts[t], t))

    def track_rows(self, track_id: int, with_raw: bool = False) -> np.ndarray:
        """The rows (face indices, in frame order) of one track's faces; ``with_raw``: only those
        with a raw reading (that can be read again)."""
        with self._lock:
            self._ensure_order()
            mask = self._r["track"][:self._n_rows] == track_id
            if with_raw:
                mask &= (self._r["flags"][:self._n_rows] & _RAW) != 0
            return np.flatnonzero(mask)

    # --- people: who each face is across tracks, as found (core.faces.people) and as corrected.
    # Corrections change the faces analysed so far: make them once the analysis is complete.

    def people(self) -> list[int]:
        """People seen, the one present in most frames first (photos' faces, person -1, are none).
        Kept until the analysis changes: views ask for every face they paint."""
        with self._lock:
            cached = self._people
            if cached is not None and cached[0] == self._version:
                return list(cached[1])
            self._ensure_order()
            persons, counts = np.unique(self._r["person"][:self._n_rows], return_counts=True)
            people = [int(p) for c, p in sorted(zip(-counts, persons)) if p >= 0]
            self._people = (self._version, people)
            return list(people)

    def person_tracks(self, person: int) -> list[int]:
        """The tracks that are this person, in whole or in part."""
        with self._lock:
            self._ensure_order()
            n = self._n_rows
            return [int(t) for t in np.unique(self._r["track"][:n][self._r["person"][:n] == person])]

    def merge_people(self, keep: int, other: int) -> None:
        """``other`` is ``keep``: all of their faces become ``keep``'s (``other``'s name is kept
        only where ``keep`` has none). ValueError where both are faces of one frame."""
        with self._lock:
            self._ensure_order()
            if keep == other:
                return
            person, frame = self._r["person"][:self._n_rows], self._r["frame"][:self._n_rows]
            both = np.intersect1d(frame[person == keep], frame[person == other])
            if len(both):
                raise ValueError(f"people {keep} and {other} are both in frame {self._f['index'][both[0]]}")
            person[person == other] = keep
            name = self.names.pop(other, None)
            if name is not None:
                self.names.setdefault(keep, name)
            self._changed()

    def split_person(self, track_id: int, index: int) -> int:
        """From frame ``index`` on, the track's faces are someone new (a change of person the
        tracker missed); returns the new person's id. ValueError when the track has no face there."""
        with self._lock:
            self._ensure_order()
            n = self._n_rows
            later = self._f["index"][self._r["frame"][:n]] >= index
            rows = np.flatnonzero((self._r["track"][:n] == track_id) & later)
            if not len(rows):
                raise ValueError(f"track {track_id} has no face from frame {index} on")
            rows = rows[self._r["person"][rows] == self._r["person"][rows[0]]]  # up to a later split, not past it
            new = max(int(self._r["person"][:n].max()), max(self.names, default=-1)) + 1
            self._r["person"][rows] = new
            self._changed()
            return new

    def people_state(self) -> tuple[np.ndarray, dict[int, str]]:
        """(each face's person, the names): what merges, splits and names change, for `restore_people`."""
        with self._lock:
            self._ensure_order()
            return self._r["person"][:self._n_rows].copy(), dict(self.names)

    def restore_people(self, state: tuple[np.ndarray, dict[int, str]]) -> None:
        """Put back what `people_state` gave (an undo). ValueError when faces were added since."""
        person, names = state
        with self._lock:
            self._ensure_order()
            if len(person) != self._n_rows:
                raise ValueError(f"the analysis has {self._n_rows} faces, the people were saved with {len(person)}")
            self._r["person"][:self._n_rows] = person
            self.names = dict(names)
            self._changed()

    def name_person(self, person: int, name: str) -> None:
        """Call a person ``name`` (blank: no name); saved with the analysis."""
        with self._lock:
            if name.strip():
                self.names[person] = name.strip()
            else:
                self.names.pop(person, None)
            self._changed()

    def row_times(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows),) the times of these faces' frames."""
        with self._lock:
            self._ensure_order()
            return self._f["time"][self._r["frame"][np.asarray(rows, np.int64)]]

    def raw(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows), K) these faces' raw readings (NaN for a face without one)."""
        with self._lock:
            self._ensure_order()
            return self._r["raw"][np.asarray(rows, np.int64)]

    def landmarks(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows), points, 2) these faces' landmarks (a copy: ask for a few thousand at a time)."""
        with self._lock:
            self._ensure_order()
            return self._landmarks.gather(np.asarray(rows, np.int64))

    def _track_frames(self, track_id: int) -> tuple[np.ndarray, np.ndarray]:
        """(frame positions, rows) of the track's first face in each frame it is in."""
        rows = np.flatnonzero(self._r["track"][:self._n_rows] == track_id)
        frames = self._r["frame"][rows]
        first = np.r_[True, frames[1:] != frames[:-1]] if len(rows) else np.zeros(0, bool)
        return frames[first], rows[first]

    def series(self, track_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(times (F,), AU probabilities (F, A), emotion probabilities (F, E)) over the analysed
        frames, NaN where that face is absent, so timelines show gaps rather than invented values.
        Cached until frames are added or readings change (read-only arrays)."""
        with self._lock:
            self._ensure_order()
            cached = self._series.get(track_id)
            if cached and cached[0] == self._version:
                return cached[1]
            f = self._n_frames
            times = self._f["time"][:f].copy()
            au = np.full((f, len(self.aus)), np.nan, np.float32)
            emotion = np.full((f, len(self.emotions)), np.nan, np.float32)
            frames, rows = self._track_frames(track_id)
            scored = (self._r["flags"][rows] & _AU) != 0  # as before: a face without AUs shows nothing
            frames, rows = frames[scored], rows[scored]
            if len(rows) and rows[-1] - rows[0] + 1 == len(rows):  # one face a frame: the rows are a slice
                rows = slice(int(rows[0]), int(rows[-1]) + 1)
            if len(frames) == f:  # the face in every frame
                frames = slice(None)
            au[frames] = self._r["au"][rows]
            emotion[frames] = self._r["emotion"][rows]
            for a in (times, au, emotion):
                a.flags.writeable = False
            out = (times, au, emotion)
            self._series[track_id] = (self._version, out)
            return out

    def segments(self, track_id: int, min_frames: int = 5) -> list[int]:
        """Frame indices where a face's expression changes: the face appears, or its top emotion
        changes and holds for ``min_frames`` frames (flicker shorter than that is not a segment).
        What an annotator steps through to check each change once."""
        with self._lock:
            self._ensure_order()
            f, n_emotions = self._n_frames, len(self.emotions)
            labels = np.full(f, -1, np.int64)  # per frame: -1 face absent, an emotion, or n_emotions: a face
            frames, rows = self._track_frames(track_id)
            labels[frames] = n_emotions
            if n_emotions and len(rows):
                emotion = self._r["emotion"][rows]
                readable = ((self._r["flags"][rows] & _EMOTION) != 0) & np.isfinite(emotion).any(1)
                top = np.argmax(np.where(np.isnan(emotion), -np.inf, emotion), 1)  # the first of equals
                labels[frames[readable]] = top[readable]
            index = self._f["index"][:f].copy()
        if not f:
            return []
        # runs of one label; a run starts a segment when it lasts min_frames and its label is not
        # the one of the last run that did since the face was last absent
        starts = np.r_[0, np.flatnonzero(np.diff(labels)) + 1]
        run_labels, lengths = labels[starts], np.diff(np.r_[starts, f])
        absences = np.cumsum(run_labels == -1)
        held = np.flatnonzero((run_labels != -1) & (lengths >= min_frames))
        new = np.r_[True, (run_labels[held][1:] != run_labels[held][:-1])
                    | (absences[held][1:] != absences[held][:-1])] if len(held) else np.zeros(0, bool)
        return [int(i) for i in index[starts[held[new]]]]

    def in_segment(self) -> set[int] | None:
        """With a neutral segment as the baseline, the people (`face_people` keys) with a readable
        face in it, whom it was read against (`FaceScorer.recalibrate`); None otherwise."""
        mode = BaselineMode.parse(self.baseline) if self.baseline else None
        if mode is None or mode.kind != "segment":
            return None
        with self._lock:
            rows = np.flatnonzero((self._r["flags"][:self._n_rows] & _RAW) != 0)
        times = self.row_times(rows)
        return set(self.face_people()[rows[mode.covers(times)]].tolist())

    def write_csv(self, path: Path) -> None:
        """The per-frame CSV, byte for byte what `mf2 analyze` writes for the same frames."""
        writer = csv_writer(path, self.aus, self.emotions, self.baseline, self.model_version)
        in_segment = self.in_segment()
        try:
            with self._lock:
                self._ensure_order()
                n = self._n_frames
            for position in range(n):  # one frame at a time: whoever adds frames meanwhile is not held up
                with self._lock:
                    result = self._frame(position)
                write_result(writer, result, self.aus, self.emotions, in_segment)
        except BaseException:
            writer.discard()
            raise
        writer.close()

    # --- persistence: plain arrays + JSON, loaded with allow_pickle=False ---------------------

    def save(self, path: Path) -> None:
        """Write to ``path`` atomically (a temporary file renamed into place): an ``.npz`` of the
        columns, the landmarks streamed block by block (never copied whole) and not compressed."""
        with self._lock:  # a snapshot: frames added meanwhile are not in it
            self._ensure_order()
            f, n = self._n_frames, self._n_rows
            meta = {"format": FORMAT, "aus": list(self.aus), "emotions": list(self.emotions),
                    "model_version": self.model_version, "frame_count": self.frame_count, "source": self.source,
                    "complete": self.complete, "baseline": self.baseline,
                    "names": {str(person): name for person, name in self.names.items()}}
            starts = self._f["start"][:f]
            arrays = {"meta": np.array(json.dumps(meta)), "frame_index": self._f["index"][:f].copy(),
                      "frame_time": self._f["time"][:f].copy(), "faces_per_frame": np.diff(np.r_[starts, n])}
            arrays.update({name: column[:n].copy() for name, column in self._r.items() if name != "frame"})
            store, points = self._landmarks, self._landmarks.points or _POINTS  # rows < n never change in it
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with durable_file(path) as file, \
                zipfile.ZipFile(file, "w", compression=zipfile.ZIP_DEFLATED) as z:  # what np.savez_compressed writes
            for name, array in arrays.items():
                with z.open(f"{name}.npy", "w", force_zip64=True) as out:
                    np.lib.format.write_array(out, array, allow_pickle=False)
            stored = zipfile.ZipInfo("landmarks.npy", time.localtime()[:6])
            stored.compress_type = zipfile.ZIP_STORED  # they deflate by 15% only, at 10-15 s an hour
            with z.open(stored, "w", force_zip64=True) as out:
                np.lib.format.write_array_header_1_0(out, {"descr": np.lib.format.dtype_to_descr(np.dtype("<f4")),
                                                           "fortran_order": False, "shape": (n, points, 2)})
                for start in range(0, n, BLOCK):  # a block at a time: frames are added meanwhile, after row n
                    with self._lock:
                        block = store.gather(np.arange(start, min(n, start + BLOCK)))
                    out.write(block.tobytes())

    @classmethod
    def load(cls, path: Path) -> "Analysis":
        """InputError for a file that is not a complete analysis of ours (one of an earlier
        version included: it is analysed again)."""
        try:
            file = open(path, "rb")  # once: the columns and the landmarks of one version of the file
        except OSError as e:
            raise InputError(f"{path}: not a readable MF² analysis ({e})") from None
        try:
            with np.load(file, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                if meta.get("format") != FORMAT:
                    raise ValueError(f"format {meta.get('format')}, this version reads {FORMAT}")
                arrays = {k: data[k] for k in data.files if k != "landmarks"}
            out = cls(tuple(meta["aus"]), tuple(meta["emotions"]), meta["model_version"], meta["frame_count"],
                      meta["source"], meta["baseline"])
            out.complete = bool(meta["complete"])
            out.names = {int(person): str(name) for person, name in meta["names"].items()}
            out._fill(arrays, file)
        except (OSError, ValueError, KeyError, EOFError, TypeError, zipfile.BadZipFile) as e:
            file.close()
            raise InputError(f"{path}: not a readable MF² analysis ({e})") from None
        return out

    def _fill(self, arrays: dict[str, np.ndarray], file) -> None:
        """Take a saved analysis's columns as they are, its landmarks left in its open ``file``;
        ValueError if they do not fit together."""
        per_frame = np.asarray(arrays["faces_per_frame"], np.int64)
        f, n = len(per_frame), int(per_frame.sum())
        template = self._empty_rows(0, arrays["raw"].shape[1] if arrays["raw"].ndim == 2 else 0,
                                    arrays["embedding"].shape[1] if arrays["embedding"].ndim == 2 else 0)
        rows = {}
        for name, empty in template.items():
            if name == "frame":
                continue
            column = np.asarray(arrays[name], empty.dtype)
            if column.shape[1:] != empty.shape[1:] or len(column) != n:
                raise ValueError(f"{name} of shape {column.shape}, expected {(n,) + empty.shape[1:]}")
            rows[name] = column
        rows["frame"] = np.repeat(np.arange(f), per_frame)
        index, times = np.asarray(arrays["frame_index"], np.int64), np.asarray(arrays["frame_time"], np.float64)
        if len(index) != f or len(times) != f or (per_frame < 0).any():
            raise ValueError("columns of different lengths")
        self._landmarks = LandmarkStore.saved(file, "landmarks.npy", n)  # checks their shape
        self._f = {"index": index, "time": times, "start": np.r_[0, np.cumsum(per_frame)[:-1]].astype(np.int64)}
        self._r = rows
        self._n_frames, self._n_rows = f, n
        self._ordered = bool((np.diff(index) > 0).all())
        tracks, counts = np.unique(rows["track"], return_counts=True)
        self._counts = dict(zip(map(int, tracks), map(int, counts)))
        self._changed()


def run_analysis(source, analysis: Analysis, tracker: FaceTracker, scorer=None,
                 on_frame: Callable[[FrameResult], None] | None = None,
                 cancelled: Callable[[], bool] = lambda: False) -> str | None:
    """Analyse every frame of ``source`` into ``analysis``. Returns None when it ran to the end
    (``analysis.complete`` is then set), else a one-line reason: cancelled, or the damage that
    stopped decoding (the frames before it are kept). A scorer with a neutral segment has every
    face read against it at the end, as `mf2 analyze --baseline START-END` writes them."""
    from contextlib import closing

    from .pipeline import analysed_frames  # it builds on this module

    if scorer is not None:
        scorer.reset()
    try:
        with closing(analysed_frames(source, tracker, scorer)) as results:
            for result in results:
                if cancelled():
                    return f"{source.name}: analysis cancelled after {len(analysis)} frames"
                analysis.add(result)
                if on_frame:
                    on_frame(result)
    except InputError as e:
        return str(e)
    if scorer is not None and scorer.baseline.kind == "segment":  # as `mf2 analyze` reads it
        scorer.recalibrate(analysis, scorer.baseline)
    analysis.complete = True
    return None
