"""The studio's state as a Qt-free model: what is open, its analysis, who the people in it are
(their names, the user's merges and splits), the user's segments, what is selected and shown,
the model and the baseline. The window observes it (napari's ``ViewerModel`` pattern): every
change goes through a method here and is announced on an `Event`, which the views connect to. A
test or a notebook drives the same state without a window.

**User work is never lost.** Names, merges, splits and segments are written, durably
(`core.outputs.write_durably`) after each change, to a small JSON *sidecar* per video, keyed by
the video's content digest (`core.cache.content_digest`): ``<cache>/sessions/<digest>.json``.
It is not the analysis cache, which is dropped whenever its format or the model changes: when
the video is opened again, or analysed again for any reason, the work is re-applied to the new
analysis: the names as given, the merges and splits replayed in the order they were made (a
split's new person is matched to the id it got then). A sidecar that cannot be read is moved
aside (``.json.unreadable-<time>``), never overwritten.
Each of these changes can be undone and redone (`undo_work`, `redo_work`, `core.work_history`)
while the analysis it was made on is shown; the sidecar is written again after each.

People: each face of a video has a person (core.faces.people); the corrections are the
analysis's own (`Analysis.merge_people`, `split_person`, `name_person`). Where an analysis has
no people (a photo) its faces' tracks stand in for them (`by_track`), and cannot be corrected.
Which track is whom, from which frame on, is kept here too (`PersonMap`), so a person's time
series can be put together from their tracks' (`person_series`).

Text search (`core.search`): a description scored against every face of the analysis
(`search_faces`, which may run on a worker thread), its smoothed similarity per face and the best
moments are kept here (`search`, `search_text`, `search_scores`, `moments`), announced on
``search``; going to a moment (`go_to_moment`, `step_moment`: F3) selects its person and is
announced on ``moment`` for the player to seek. Results follow merges and splits; they are dropped
when another analysis or model comes.
"""
from __future__ import annotations

import copy
import csv
import io
import json
import re
import tempfile
import time as _time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .analysis import Analysis, FaceResult, FrameResult
from .baseline import BaselineMode
from .cache import cache_dir
from .errors import InputError
from .outputs import AtomicOutput, OutputError, write_durably
from .search import Moment, pick_moments, smoothed, text_scores
from .segments import WHOLE_RECORDING, Segment, in_order, read_segments
from .work_history import WorkHistory

FORMAT = "mf2-session-1"
_EPS = 1e-6  # seconds: frame times compared across arrays


class Event:
    """Callbacks called in the order they were connected, with what `emit` is given."""

    def __init__(self, name: str = ""):
        self.name = name
        self._callbacks: list[Callable] = []

    def connect(self, callback: Callable) -> Callable:
        self._callbacks.append(callback)
        return callback

    def disconnect(self, callback: Callable) -> None:
        self._callbacks.remove(callback)

    def emit(self, *args) -> None:
        for callback in list(self._callbacks):
            callback(*args)


class Events:
    """What a `Session` announces (each an `Event`; arguments in brackets)."""

    def __init__(self):
        self.source = Event("source")            # a video or camera was opened (spec)
        self.analysis = Event("analysis")        # another analysis object is shown (analysis or None)
        self.frames = Event("frames")            # frames were added to the analysis ([FrameResult])
        self.finished = Event("finished")        # the analysis ended (complete: bool)
        self.people = Event("people")            # names, merges or splits changed ()
        self.segments = Event("segments")        # the segments or the marked start changed ()
        self.selection = Event("selection")      # the selected person changed (key or None)
        self.lanes = Event("lanes")              # the people shown on the timelines changed ([keys])
        self.time = Event("time")                # the frame on screen changed (seconds, frame index)
        self.model = Event("model")              # another model is in use (scorer or None)
        self.baseline = Event("baseline")        # readings are relative to another baseline (BaselineMode)
        self.saved = Event("saved")              # the user's work was written (path)
        self.notes = Event("notes")              # something the user should read (one line)
        self.search = Event("search")            # text search results came or went (text, '' when none)
        self.moment = Event("moment")            # a best moment was chosen (its rank from 0, Moment)


# --- the user's work and its sidecar ------------------------------------------------------

@dataclass
class UserWork:
    """What the user did on one video: names (person -> name), merges and splits (in order, as
    `operations`: ``{"op": "merge", "keep", "other"}``, ``{"op": "split", "track", "frame",
    "time", "person"}``), segments and the baseline the readings are relative to (a neutral
    segment marked, `BaselineMode` as text)."""
    names: dict[int, str] = field(default_factory=dict)
    operations: list[dict] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    baseline: str = "auto"

    def empty(self) -> bool:
        return not (self.names or self.operations or self.segments) and self.baseline == "auto"

    def to_json(self, video: str = "") -> bytes:
        data = {"format": FORMAT, "video": video, "saved": _time.strftime("%Y-%m-%dT%H:%M:%S"),
                "names": {str(p): n for p, n in sorted(self.names.items())},
                "operations": self.operations,
                "segments": [{"name": s.name, "start": s.start, "end": s.end} for s in self.segments],
                "baseline": self.baseline}
        return (json.dumps(data, indent=1, ensure_ascii=False) + "\n").encode()

    @classmethod
    def from_json(cls, text: bytes) -> "UserWork":
        """ValueError (or KeyError, TypeError) when it is not a sidecar of ours."""
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"format {data.get('format') if isinstance(data, dict) else None!r}, "
                             f"this version reads {FORMAT}")
        names = {int(p): check_name(str(n)) for p, n in data["names"].items()}
        operations = []
        for op in data["operations"]:
            if op["op"] == "merge":
                operations.append({"op": "merge", "keep": int(op["keep"]), "other": int(op["other"])})
            elif op["op"] == "split":
                operations.append({"op": "split", "track": int(op["track"]), "frame": int(op["frame"]),
                                   "time": float(op["time"]), "person": int(op["person"])})
            else:
                raise ValueError(f"unknown operation {op['op']!r}")
        segments = [Segment(str(s["name"]), float(s["start"]), float(s["end"])) for s in data["segments"]]
        baseline = str(BaselineMode.parse(data.get("baseline", "auto")))  # none before 2026-12-03: auto
        return cls(names, operations, in_order(segments), baseline)


class WorkStore:
    """The sidecars: ``<root>/<digest>.json`` (root: ``<cache>/sessions``, read when asked, so
    ``$MF2_CACHE`` set later still counts)."""

    def __init__(self, root: Path | None = None):
        self._root = Path(root) if root else None
        self.unreadable: set[str] = set()  # videos whose sidecar could not be read: never written over

    @property
    def root(self) -> Path:
        return self._root or cache_dir() / "sessions"

    def path(self, digest: str) -> Path:
        if not re.fullmatch(r"[0-9a-f]{8,128}", digest):
            raise ValueError(f"{digest!r} is not a content digest")
        return self.root / f"{digest}.json"

    def load(self, digest: str) -> tuple[UserWork, str | None]:
        """The work saved for this video (empty when none), and a note when a sidecar was there
        but could not be read (it is moved aside, kept for a person to look at)."""
        path = self.path(digest)
        try:
            text = path.read_bytes()
        except FileNotFoundError:
            return UserWork(), None
        except OSError as e:  # left where it is: this session saves nothing over it (see `save`)
            self.unreadable.add(digest)
            return UserWork(), f"{path}: cannot read your saved work ({e.strerror or e}); changes will not be saved"
        try:
            return UserWork.from_json(text), None
        except (InputError, ValueError, KeyError, TypeError, AttributeError) as e:
            aside = path.with_name(f"{path.name}.unreadable-{_time.strftime('%Y%m%d-%H%M%S')}")
            try:
                path.rename(aside)
            except OSError:
                aside = path
            return UserWork(), f"{path}: saved work unreadable ({e}); kept as {aside.name}, starting without it"

    def save(self, digest: str, work: UserWork, video: str = "") -> Path:
        """Write the work whole, on disk when this returns (OutputError on failure, and for a video
        whose saved work could not be read: it is never written over)."""
        path = self.path(digest)
        if digest in self.unreadable:
            raise OutputError(f"{path}: your saved work there could not be read; not written over")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_durably(path, work.to_json(video))
        except OSError as e:
            from .outputs import cannot_write
            raise cannot_write(path, e) from None
        return path


# --- who each track is, frame range by frame range ----------------------------------------

class PersonMap:
    """Per track, the person it is from each time on: the tracker's choice (one person a track)
    changed by the same merges and splits made on the analysis."""

    def __init__(self, analysis: Analysis):
        self.pieces: dict[int, list[tuple[float, int]]] = {}
        for person in analysis.people():
            for track in analysis.person_tracks(person):
                self.pieces.setdefault(track, [(-np.inf, person)])

    def merge(self, keep: int, other: int) -> None:
        for track, pieces in self.pieces.items():
            self.pieces[track] = [(start, keep if p == other else p) for start, p in pieces]

    def split(self, track: int, start: float, new: int) -> None:
        """The track is ``new`` from ``start`` up to its next piece (a later split stays as it is)."""
        pieces = self.pieces.get(track, [])
        before = [pc for pc in pieces if pc[0] < start - _EPS]
        after = [pc for pc in pieces if pc[0] > start + _EPS]
        self.pieces[track] = before + [(start, new)] + after

    def spans(self, person: int) -> dict[int, list[tuple[float, float]]]:
        """track -> the [start, end) times it is this person."""
        out: dict[int, list[tuple[float, float]]] = {}
        for track, pieces in self.pieces.items():
            for i, (start, p) in enumerate(pieces):
                if p == person:
                    end = pieces[i + 1][0] if i + 1 < len(pieces) else np.inf
                    out.setdefault(track, []).append((start, end))
        return out


def _within(times: np.ndarray, spans: list[tuple[float, float]]) -> np.ndarray:
    mask = np.zeros(len(times), bool)
    for start, end in spans:
        mask |= (times >= start - _EPS) & (times < end - _EPS)
    return mask


NAME_MAX = 60
_RESERVED = re.compile(r"-?\d+|(person|face)\s+-?\d+", re.IGNORECASE)


def check_name(name: str) -> str:
    """A person's name as it will be written (stripped); InputError for one a CSV's ``person``
    column could not hold, or that would read as an unnamed person's id."""
    name = " ".join(name.split())
    if any(c in name for c in ',"'):
        raise InputError(f"{name!r}: a name can't hold commas or double quotes (it goes into CSV cells)")
    if _RESERVED.fullmatch(name):
        raise InputError(f"{name!r}: reads as an unnamed person's number; give a name (Patient, Therapist, Ana)")
    if len(name) > NAME_MAX:
        raise InputError(f"a name of {len(name)} characters: at most {NAME_MAX}")
    return name


# --- text search ---------------------------------------------------------------------------

TOP_MOMENTS = 10


@dataclass
class SearchResult:
    """A description scored against every face of one analysis (face order: `Analysis.face_embeddings`).
    ``keys``: each face's person as the session names them (`Session.key_of`: a track where the
    analysis has no people); ``smoothed``: `core.search.smoothed` of ``scores`` per key; ``moments``:
    the best, best first, their ``person`` a key."""
    text: str
    analysis: Analysis
    frames: np.ndarray
    times: np.ndarray
    keys: np.ndarray
    scores: np.ndarray
    smoothed: np.ndarray
    moments: list[Moment]
    analysed: int = 0         # frames the analysis held when searched
    complete: bool = True     # it was complete then

    def __len__(self) -> int:
        return len(self.frames)


def face_keys(people: np.ndarray, by_track: bool) -> np.ndarray:
    """`Analysis.face_embeddings`'s people as session keys: persons, or tracks where ``by_track``."""
    return np.where(people < 0, -1 - people, people) if by_track else people.copy()


def embeddings_state(analysis: Analysis | None) -> str:
    """"ok": faces with embeddings to search; "none": no face yet; "missing": faces, none of which
    kept an embedding (read without a model, or an analysis made before they were kept)."""
    if analysis is None or not len(analysis):
        return "none"
    if not len(analysis.face_people()):
        return "none"
    return "ok" if analysis.has_embeddings() else "missing"


def rank_moments(frames, times, keys, scores, wanted, top: int = TOP_MOMENTS) -> tuple[np.ndarray, list[Moment]]:
    """(smoothed scores, the best moments of the people ``wanted``)."""
    smooth = smoothed(times, keys, scores)
    return smooth, pick_moments(frames, times, keys, smooth, top, only=set(wanted))


def search_faces(analysis: Analysis, model, encoder, text: str, by_track: bool, people: Sequence[int],
                 top: int = TOP_MOMENTS) -> SearchResult:
    """Score ``text`` against every face of ``analysis`` (the MF² ``model``'s text side, a
    `core.model.text.TextEncoder`); ``people``: the keys moments may be of. Changes nothing:
    safe on a worker thread while the analysis fills."""
    text = " ".join(text.split())
    if not text:
        raise InputError("Type what to look for: a description of a face (\"a big smile\", \"brows raised\")")
    complete, analysed = analysis.complete, len(analysis)
    frames, times, persons, embeddings = analysis.face_embeddings()
    if embeddings.shape[1] == 0 or not np.isfinite(embeddings).all(1).any():
        raise InputError("This analysis kept no face embeddings to search: analyse the video again (Ctrl+R)")
    keys = face_keys(persons, by_track)
    scores = text_scores(model, encoder, embeddings, text)
    smooth, moments = rank_moments(frames, times, keys, scores, people, top)
    return SearchResult(text, analysis, frames, times, keys, scores, smooth, moments, analysed, complete)


# --- the session --------------------------------------------------------------------------


def _segment_name(name: str) -> str:
    """A segment's name as typed, spaces tidied; InputError for one the statistics could not use."""
    name = " ".join(name.split())
    if not name:
        raise InputError("A segment needs a name")
    if name.lower() == WHOLE_RECORDING:
        raise InputError(f"A segment may not be named {WHOLE_RECORDING!r}: the statistics use that name")
    return name


class Session:
    """Everything the studio shows and the user changes, for one open video or camera."""

    def __init__(self, store: WorkStore | None = None, model_dir: Path | None = None):
        self.events = Events()
        self.store = store or WorkStore()
        self.autosave = True       # False: the user's work is kept in memory only (snapshot mode)
        # the model
        self.base_model_dir = Path(model_dir) if model_dir else None
        self.model_dir = self.base_model_dir
        self.scorer = None
        self.model_key = "faces"
        # what is open
        self.source: str | None = None
        self.live = False
        self.digest: str | None = None
        self.analysis: Analysis | None = None
        self.work = UserWork()
        self.segment_start: float | None = None   # a segment's start marked at the playhead
        self._map: PersonMap | None = None         # set once the user's corrections apply
        self._corrected: Analysis | None = None    # the analysis the saved corrections were made on
        self.history = WorkHistory()               # undo / redo of names, merges, splits and segments
        # what is looked at
        self.selected: int | None = None           # a person (a track where `by_track`)
        self.shown: set[int] = set()               # people whose lanes show beside the selected one
        self.time = 0.0
        self.frame_index = -1
        # text search
        self.search_text = ""                      # the last description searched for
        self.search: SearchResult | None = None    # its results on the analysis shown
        self.moment_index = -1                     # the moment last gone to (rank, from 0)
        self._embeddings_checked: tuple = (None, "none")  # (frames of the analysis checked, embeddings_state)
        self.events.people.connect(self._search_people_changed)

    # --- the model ----------------------------------------------------------------------------
    def set_model(self, scorer, key: str = "faces", model_dir: Path | None = None) -> None:
        self.scorer, self.model_key = scorer, key
        if model_dir is not None:
            self.model_dir = Path(model_dir)
        self._drop_search()  # another model's text side: the similarities no longer hold
        self.events.model.emit(scorer)

    @property
    def baseline(self) -> BaselineMode | None:
        """What the readings are relative to (None without an analysis)."""
        return BaselineMode.parse(self.analysis.baseline) if self.analysis else None

    def settle_live(self) -> bool:
        """The camera stopped. Live, each person's first seconds were read against the population's
        neutral face, as nothing could wait for their own (`core.model.settle`); they are now read
        again against it, as a file's first seconds are. The later rows read as they were shown.
        Returns whether anything was read again."""
        if not self.live or not self._can_read_again() or not self.people() or self.analysis.baseline != "auto":
            return False
        self.scorer.recalibrate(self.analysis, BaselineMode("auto"))
        self.events.baseline.emit(BaselineMode("auto"))
        return True

    def set_baseline(self, mode: BaselineMode) -> None:
        """Read every face again relative to ``mode`` (a finished analysis of a video only)."""
        if not self.analysis or not self.analysis.complete or self.live or self.scorer is None:
            raise InputError("A baseline can be set on a finished analysis of a video (wait for it, or open one)")
        self.scorer.recalibrate(self.analysis, mode)
        self.events.baseline.emit(mode)
        if self.work.baseline != str(mode):  # kept with the work: a reopened or re-analysed video reads the same
            self.work.baseline = str(mode)
            self._save()
        covered = self.analysis.in_segment()
        everyone = set(self.analysis.face_people().tolist())
        if covered is not None and everyone - covered:
            self.events.notes.emit(f"{len(everyone - covered)} of {len(everyone)} people had no face in the neutral "
                                   f"segment {mode} s: read against their own running estimate, as with the "
                                   "automatic baseline")

    # --- opening and analysing ----------------------------------------------------------------
    def open_source(self, spec: str, live: bool = False) -> None:
        """A new video or camera: its analysis, work and selection start empty (the work comes
        back with `attach_digest`)."""
        self.source, self.live = spec, live
        self.digest = None
        self.work = UserWork()
        self.segment_start = None
        self.selected, self.shown = None, set()
        self.time, self.frame_index = 0.0, -1
        self.search_text = ""
        self._set_analysis(None)
        self.events.source.emit(spec)
        self.events.segments.emit()

    def attach_digest(self, digest: str) -> None:
        """The open file's content digest is known: bring back the work saved for it (anything
        done meanwhile is kept too)."""
        if digest == self.digest:
            return
        self.digest = digest
        saved, note = self.store.load(digest)
        if note:
            self.events.notes.emit(note)
        if saved.empty():
            if not self.work.empty():
                self._save()
            return
        known = set(saved.segments)
        saved.segments = in_order(saved.segments + [s for s in self.work.segments if s not in known])
        saved.names.update(self.work.names)
        saved.operations += self.work.operations
        self.work = saved
        if self.analysis is not None and self.analysis.complete:
            self._replay()
            self._restore_baseline()
        self.events.segments.emit()
        self.events.people.emit()

    def start_analysis(self, analysis: Analysis) -> None:
        """An analysis begins to fill (or is about to be loaded from the cache): shown from now."""
        self._set_analysis(analysis)

    def frames_added(self, results: list[FrameResult]) -> None:
        self.events.frames.emit(results)

    def finish_analysis(self, analysis: Analysis) -> list[str]:
        """The analysis ended (complete or not): the user's corrections are made on it. Returns
        the operations that could no longer be made (also announced on ``notes``)."""
        if analysis is not self.analysis:
            self._set_analysis(analysis)
        skipped = self._replay() if analysis.complete else []
        if analysis.complete:
            self._restore_baseline()
        elif self.work.operations and not self.live:
            self.events.notes.emit("Your merges, splits and names wait for a complete analysis (Ctrl+R): "
                                   "people are shown as the tracker numbered them")
        self.events.finished.emit(analysis.complete)
        self.events.people.emit()
        return skipped

    def _set_analysis(self, analysis: Analysis | None) -> None:
        self.analysis = analysis
        self._map = None
        if self.selected is not None and analysis is None:
            self.selected = None
        self._embeddings_checked = (None, "none")
        self._drop_search()
        self.history.clear()  # its people steps were made on the analysis that went
        self.events.analysis.emit(analysis)

    def _restore_baseline(self) -> None:
        """The neutral segment the user marked on this video before (kept with the work), made on
        an analysis read from the cache or made again, which comes with the automatic baseline."""
        mode = BaselineMode.parse(self.work.baseline)
        if self.live or self.analysis is None or self.analysis.baseline == str(mode) or not self._can_read_again():
            return
        self.scorer.recalibrate(self.analysis, mode)
        self.events.baseline.emit(mode)
        self.events.notes.emit(f"Readings relative to your neutral segment {mode} s, as you marked it "
                               "(Analysis > Automatic Baseline goes back)")

    def _replay(self) -> list[str]:
        """Make the saved merges and splits on the analysis (one just made, or read from the
        cache, never corrected before), then give the names."""
        analysis = self.analysis
        if analysis is self._corrected or self.by_track:
            return []
        self._map = PersonMap(analysis)
        if not (self.work.operations or self.work.names):
            return []
        self._corrected = analysis
        remap: dict[int, int] = {}
        skipped = []
        before = analysis.people_state()[0] if self.work.operations else None
        for op in self.work.operations:
            if op["op"] == "merge":
                keep, other = remap.get(op["keep"], op["keep"]), remap.get(op["other"], op["other"])
                try:
                    analysis.merge_people(keep, other)
                except ValueError as e:  # both on screen in one frame of this analysis
                    skipped.append(f"merge of person {other} into {keep}: {e}")
                    continue
                self._map.merge(keep, other)
            else:
                try:
                    new = analysis.split_person(op["track"], op["frame"])
                except ValueError as e:
                    skipped.append(f"split of track {op['track']} at frame {op['frame'] + 1}: {e}")
                    continue
                self._map.split(op["track"], op["time"], new)
                if new != op["person"]:
                    remap[op["person"]] = new
        if remap:
            self.work.names = {remap.get(p, p): n for p, n in self.work.names.items()}
            for op in self.work.operations:  # the ids as they are now, for the next replay
                for key in ("keep", "other", "person"):
                    if key in op:
                        op[key] = remap.get(op[key], op[key])
        if before is not None:
            self._read_again(before)
        for person, name in self.work.names.items():
            analysis.name_person(person, name)
        for line in skipped:
            self.events.notes.emit(f"Could not redo your {line}")
        if self.selected is not None and self.selected not in self.people():
            self.selected = None
        return skipped

    # --- people -----------------------------------------------------------------------------
    @property
    def by_track(self) -> bool:
        """The analysis has no people (a photo): its tracks stand in for them."""
        return bool(self.analysis) and not self.analysis.people()

    def people(self) -> list[int]:
        """The keys of the people seen (tracks where `by_track`), most seen first."""
        if not self.analysis:
            return []
        return self.analysis.people() or self.analysis.track_ids()

    def _names_hold(self) -> bool:
        """Names belong to the people the user's merges and splits made: on an analysis those are
        not made on yet (still running, or stopped before its end, where they wait), a person's
        number may be another's, so no name holds there."""
        return not self.work.operations or self._corrected is self.analysis

    @property
    def names(self) -> dict[int, str]:
        """person -> name, where names hold (`_names_hold`)."""
        return dict(self.work.names) if self._names_hold() and not self.by_track else {}

    def label(self, key: int | None) -> str:
        if key is None:
            return ""
        if self.by_track:
            return f"face {key}"
        return (self.work.names.get(key) if self._names_hold() else None) or f"person {key}"

    def key_of(self, face: FaceResult) -> int | None:
        """The person a face is (its track where `by_track`); None: not decided."""
        if self.by_track:
            return face.track_id
        return face.person if face.person >= 0 else None

    def face_of(self, result: FrameResult | None, key: int | None) -> FaceResult | None:
        if result is None or key is None:
            return None
        return next((f for f in result.faces if self.key_of(f) == key), None)

    def person_of(self, track: int, index: int) -> int | None:
        """The person the track's face in frame ``index`` is (the track where `by_track`)."""
        result = self.analysis.at(index) if self.analysis else None
        face = result.face(track) if result else None
        return self.key_of(face) if face else None

    def tracks_of(self, key: int) -> dict[int, list[tuple[float, float]]]:
        """The tracks that are this person, with the [start, end) times they are."""
        if not self.analysis:
            return {}
        if self.by_track:
            return {key: [(-np.inf, np.inf)]}
        if self._map is not None:
            return self._map.spans(key)
        return {t: [(-np.inf, np.inf)] for t in self.analysis.person_tracks(key)}

    def person_series(self, key: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(times (F,), AU (F, A), emotion (F, E)) of one person over the analysed frames, as
        `Analysis.series` gives a track's: NaN where the person is absent (where two of their
        tracks share a frame, the first track's face)."""
        analysis = self.analysis
        times, au, emotion = None, None, None
        filled = None
        for track, spans in sorted(self.tracks_of(key).items()):
            t, a, e = analysis.series(track)
            if times is None:
                times = t
                au = np.full(a.shape, np.nan, np.float32)
                emotion = np.full(e.shape, np.nan, np.float32)
                filled = np.zeros(len(t), bool)
            n = min(len(t), len(times))  # frames may be added between the reads
            mask = _within(t[:n], spans) & ~filled[:n] & (np.isfinite(a[:n]).any(1) | np.isfinite(e[:n]).any(1))
            au[:n][mask], emotion[:n][mask] = a[:n][mask], e[:n][mask]
            filled[:n] |= mask
        if times is None:
            empty = np.zeros(0)
            return empty, np.zeros((0, len(analysis.aus)), np.float32), np.zeros((0, len(analysis.emotions)),
                                                                                   np.float32)
        return times, au, emotion

    def person_times(self, key: int) -> np.ndarray:
        """The times of the frames the person is in (sorted)."""
        out = []
        for track, spans in self.tracks_of(key).items():
            times = self.analysis.row_times(self.analysis.track_rows(track))
            out.append(times[_within(times, spans)])
        return np.unique(np.concatenate(out)) if out else np.zeros(0)

    def _check_correctable(self) -> Analysis:
        analysis = self.analysis
        if analysis is None or not len(analysis):
            raise InputError("Nothing analysed yet: open a video first")
        if self.live or not analysis.complete:
            raise InputError("People can be merged or split once the analysis of a video has finished")
        if self.by_track:
            raise InputError("This analysis has no people to correct (a photo's faces are not matched)")
        return analysis

    def rename(self, person: int, name: str) -> None:
        """Call a person ``name`` (blank: no name again). InputError for a name that cannot be used."""
        if not self.analysis or person not in self.people() or self.by_track:
            raise InputError(f"{self.label(person) or 'nobody'}: no such person to name")
        if not self._names_hold():  # the numbers are the tracker's here
            raise InputError("Names wait, with your merges and splits, for a complete analysis (Ctrl+R): "
                             "a number here may be another person's there")
        name = check_name(name)
        if name:
            for other, given in self.work.names.items():
                if other != person and given.casefold() == name.casefold():
                    raise InputError(f"{name!r} is already {self.label(other)}'s name: merge the two people "
                                     "if they are one, or choose another name")
        self.history.record(f"Naming of {self.label(person)}", self._state())
        if name:
            self.work.names[person] = name
        else:
            self.work.names.pop(person, None)
        self.analysis.name_person(person, name)
        self._save()
        self.events.people.emit()

    def merge(self, keep: int, other: int) -> None:
        """``other`` is ``keep``: their faces become ``keep``'s (``keep``'s name wins; ``other``'s
        is kept where ``keep`` had none). InputError where they are both in one frame."""
        analysis = self._check_correctable()
        people = self.people()
        if keep not in people or other not in people or keep == other:
            raise InputError("Choose two different people to merge")
        both = np.intersect1d(np.round(self.person_times(keep), 4), np.round(self.person_times(other), 4))
        if len(both):
            raise InputError(f"{self.label(keep)} and {self.label(other)} are both on screen at {both[0]:.2f} s: "
                             "two faces of one frame can't be one person")
        self.history.record(f"Merge of {self.label(other)} into {self.label(keep)}", self._state())
        self._ensure_map()
        before = analysis.people_state()[0]
        try:
            analysis.merge_people(keep, other)
        except ValueError as e:
            self.history.drop_last()
            raise InputError(f"{self.label(keep)} and {self.label(other)}: {e}") from None
        self._read_again(before)
        self._map.merge(keep, other)
        name = self.work.names.pop(other, None)
        if name is not None:
            self.work.names.setdefault(keep, name)
        self.work.operations.append({"op": "merge", "keep": keep, "other": other})
        if other in self.shown:
            self.shown.discard(other)
            self.shown.add(keep)
        if self.selected == other:
            self.selected = keep
            self.events.selection.emit(keep)
        self._save()
        self.events.people.emit()

    def split(self, person: int, index: int) -> int:
        """From frame ``index`` on, the track that is ``person`` in that frame is someone new;
        returns the new person (selected, and shown on the timelines)."""
        analysis = self._check_correctable()
        result = analysis.at(index)
        face = self.face_of(result, person)
        if face is None:
            raise InputError(f"{self.label(person)} is not in this frame: go to a frame they are in, then split")
        first = self.person_times(person)
        if len(first) and first[0] >= result.timestamp - _EPS and \
                len(self.tracks_of(person)) == 1:
            raise InputError(f"{self.label(person)} starts here: split at a later frame")
        self.history.record(f"Split of {self.label(person)} at frame {index + 1}", self._state())
        self._ensure_map()
        before = analysis.people_state()[0]
        new = analysis.split_person(face.track_id, index)
        self._read_again(before)
        self._map.split(face.track_id, result.timestamp, new)
        self.work.operations.append({"op": "split", "track": face.track_id, "frame": index,
                                     "time": result.timestamp, "person": new})
        self.shown.add(person)
        self._save()
        self.events.people.emit()
        self.select(new)
        return new

    # --- undo and redo of the user's work --------------------------------------------------------
    def undo_work(self) -> str:
        """Undo the last name, merge, split or segment change; returns what it was. InputError
        when there is nothing to undo."""
        return self._go_back(self.history.undo(self._state()), "undo")

    def redo_work(self) -> str:
        return self._go_back(self.history.redo(self._state()), "redo")

    def _state(self) -> tuple:
        """All that the user's work changes: the work, each face's person, the track map."""
        analysis = self.analysis
        people = analysis.people_state() if analysis is not None and analysis.complete else None
        return copy.deepcopy(self.work), people, copy.deepcopy(self._map), self._corrected

    def _go_back(self, step: tuple | None, verb: str) -> str:
        if step is None:
            raise InputError(f"Nothing to {verb} (names, merges, splits and segments)")
        what, (work, people, person_map, corrected) = step
        # the neutral segment is not a step of this history (marking it reads every face again):
        # going back over names, merges and segments keeps the baseline on screen, and saved
        work = replace(work, baseline=self.work.baseline)
        if people is not None and self.analysis is not None:
            before = self.analysis.people_state()[0]
            self.analysis.restore_people(people)
            self._read_again(before)
        self.work, self._map, self._corrected = work, person_map, corrected
        self.shown &= set(self.people())
        self._save()
        self.events.segments.emit()
        self.events.people.emit()
        if self.selected is not None and self.selected not in self.people():
            self.select(None)
            self.ensure_selection()
        return what

    def _read_again(self, before: np.ndarray) -> None:
        """The faces whose person changed since ``before`` (`Analysis.people_state`), and the rest of
        those people's, read again against each person's baseline as it is now: a baseline is kept
        per person (core.baseline), so merged people share one and a split-off one gets their own,
        as an analysis that had them so from the start reads them."""
        if not self._can_read_again():
            return  # the stored readings stay as they were made
        analysis = self.analysis
        after = analysis.people_state()[0]
        changed = before != after
        keys = {int(k) for k in np.concatenate([before[changed], after[changed]]) if k >= 0}
        if keys:
            self.scorer.recalibrate(analysis, BaselineMode.parse(analysis.baseline), keys)

    def _can_read_again(self) -> bool:
        """Whether the faces shown can be read again from what they keep: this session's model read them."""
        return self.scorer is not None and self.analysis is not None and self.analysis.model_version == self.scorer.version

    def _ensure_map(self) -> None:
        if self._map is None:
            self._map = PersonMap(self.analysis)
        self._corrected = self.analysis

    # --- selection and lanes ------------------------------------------------------------------
    def select(self, key: int | None) -> None:
        if key == self.selected:
            return
        self.selected = key
        self.events.selection.emit(key)
        self.events.lanes.emit(self.lanes())

    def ensure_selection(self) -> int | None:
        """With nobody chosen yet, the person seen in most frames."""
        if self.selected is None or self.selected not in self.people():
            people = self.people()
            if people or self.selected is not None:
                self.selected = people[0] if people else None
                self.events.selection.emit(self.selected)
        return self.selected

    def set_shown(self, keys) -> None:
        """The people whose lanes show on the timelines (the selected person's always does)."""
        self.shown = set(keys)
        self.events.lanes.emit(self.lanes())

    def toggle_shown(self, key: int, on: bool) -> None:
        self.set_shown(self.shown | {key} if on else self.shown - {key})

    def lanes(self) -> list[int]:
        """The people shown on the timelines, in `people` order."""
        wanted = self.shown | ({self.selected} if self.selected is not None else set())
        return [p for p in self.people() if p in wanted]

    def set_time(self, seconds: float, index: int) -> None:
        self.time, self.frame_index = seconds, index
        self.events.time.emit(seconds, index)

    # --- text search --------------------------------------------------------------------------
    def search_unavailable(self) -> str:
        """Why a text search can't be made now ('' when it can)."""
        if self.scorer is None or getattr(self.scorer, "model", None) is None:
            return "Search needs the MF² model; none is loaded (faces only)"
        if self.analysis is None or not len(self.analysis):
            return "Nothing analysed yet: open a video, then search its faces"
        seen = len(self.analysis)
        if self._embeddings_checked[0] != seen:  # (reading every embedding once per analysis state)
            self._embeddings_checked = (seen, embeddings_state(self.analysis))
        if self._embeddings_checked[1] == "none":
            return "No faces to search " + ("in this video" if self.analysis.complete else "analysed yet")
        if self._embeddings_checked[1] == "missing":
            return ("This analysis kept no face embeddings (made without the model, or by an older version): "
                    "analyse the video again (Ctrl+R) to search it")
        return ""

    def search_faces(self, text: str, encoder) -> SearchResult:
        """The results of ``text`` on the analysis shown (nothing changes: `set_search` shows them)."""
        why = self.search_unavailable()
        if why:
            raise InputError(why)
        return search_faces(self.analysis, self.scorer.model, encoder, text, self.by_track, self.people())

    def run_search(self, text: str, encoder) -> SearchResult:
        """Search and show the results (at once, on this thread)."""
        self.search_text = " ".join(text.split())
        result = self.search_faces(text, encoder)
        self.set_search(result)
        return result

    def set_search(self, result: SearchResult) -> bool:
        """Show these results (made by `search_faces`, perhaps on a worker thread); False, and
        nothing changes, when they are of an analysis no longer shown."""
        if result.analysis is not self.analysis:
            return False
        self.search_text, self.search, self.moment_index = result.text, result, -1
        self.events.search.emit(result.text)
        return True

    def clear_search(self) -> None:
        self.search_text = ""
        self._drop_search()

    def _drop_search(self) -> None:
        if self.search is not None:
            self.search, self.moment_index = None, -1
            self.events.search.emit("")

    @property
    def search_scores(self) -> np.ndarray | None:
        """(N,) each face's smoothed similarity to the search text (`search`'s face order)."""
        return self.search.smoothed if self.search else None

    @property
    def moments(self) -> list[Moment]:
        """The best moments of the search, best first (their ``person`` a key)."""
        return list(self.search.moments) if self.search else []

    @property
    def search_partial(self) -> bool:
        """The search covers fewer faces than the analysis now holds (it was made while it filled)."""
        result = self.search
        return result is not None and not result.complete and len(result.analysis) > result.analysed

    def search_series(self, key: int) -> tuple[np.ndarray, np.ndarray]:
        """(times, smoothed similarity) of one person's faces, in time order (empty without a search)."""
        if self.search is None:
            return np.zeros(0), np.zeros(0)
        mine = self.search.keys == key
        return self.search.times[mine], self.search.smoothed[mine]

    def go_to_moment(self, rank: int) -> Moment | None:
        """Go to the moment of this rank (0: the best): its person is selected and ``moment`` announced."""
        moments = self.moments
        if not 0 <= rank < len(moments):
            return None
        self.moment_index = rank
        moment = moments[rank]
        self.select(moment.person)
        self.events.moment.emit(rank, moment)
        return moment

    def step_moment(self, step: int = 1) -> Moment | None:
        """The next (``step`` 1) or previous (-1) best moment in rank order, going round: the first
        F3 after a search goes to the best."""
        n = len(self.moments)
        if not n:
            return None
        rank = (step - 1 if step > 0 else step) % n if self.moment_index < 0 else (self.moment_index + step) % n
        return self.go_to_moment(rank)

    def _search_people_changed(self) -> None:
        """Merges and splits move faces between people: the smoothing and the moments follow."""
        result = self.search
        if result is None or result.analysis is not self.analysis:
            return
        persons = self.analysis.face_people()[:len(result)]
        keys = face_keys(persons, self.by_track)
        if np.array_equal(keys, result.keys):
            return
        smooth, moments = rank_moments(result.frames, result.times, keys, result.scores, self.people())
        self.search = SearchResult(result.text, result.analysis, result.frames, result.times, keys,
                                   result.scores, smooth, moments, result.analysed, result.complete)
        self.moment_index = -1
        self.events.search.emit(result.text)

    # --- segments -----------------------------------------------------------------------------
    @property
    def segments(self) -> list[Segment]:
        return list(self.work.segments)

    def add_segment(self, name: str, start: float, end: float) -> Segment:
        name = _segment_name(name)
        start, end = sorted((max(0.0, float(start)), max(0.0, float(end))))
        if end - start < 1e-3:
            raise InputError(f"A segment needs an end after its start ({start:.2f} s)")
        segment = Segment(name, round(start, 3), round(end, 3))
        self.history.record(f"New Segment “{name}”", self._state())
        self.work.segments = in_order(self.work.segments + [segment])
        self.segment_start = None
        self._save()
        self.events.segments.emit()
        return segment

    def add_segments(self, segments: Sequence[Segment]) -> int:
        """Add these (an imported file's); those already here are not added twice. Returns how
        many were new."""
        known = set(self.work.segments)
        new = [s for s in dict.fromkeys(segments) if s not in known]
        if new:
            self.history.record(f"Import of {len(new)} Segment{'s' * (len(new) > 1)}", self._state())
            self.work.segments = in_order(self.work.segments + new)
            self._save()
            self.events.segments.emit()
        return len(new)

    def import_segments(self, path: Path, tiers: Sequence[str] | None = None) -> int:
        """The segments of a CSV of ``name,start,end`` or an ELAN ``.eaf`` (core.segments)."""
        return self.add_segments(read_segments(Path(path), tiers))

    def remove_segment(self, segment: Segment) -> None:
        if segment in self.work.segments:
            self.history.record(f"Removal of Segment “{segment.name}”", self._state())
        self.work.segments = [s for s in self.work.segments if s != segment]
        self._save()
        self.events.segments.emit()

    def rename_segment(self, segment: Segment, name: str) -> Segment:
        name = _segment_name(name)
        renamed = Segment(name, segment.start, segment.end)
        self.history.record(f"Renaming of Segment “{segment.name}”", self._state())
        self.work.segments = in_order(renamed if s == segment else s for s in self.work.segments)
        self._save()
        self.events.segments.emit()
        return renamed

    def segments_at(self, seconds: float) -> list[Segment]:
        return [s for s in self.work.segments if s.start - _EPS <= seconds < s.end - _EPS]

    def mark_segment_start(self, seconds: float | None = None) -> float:
        self.segment_start = self.time if seconds is None else seconds
        self.events.segments.emit()
        return self.segment_start

    def end_segment(self, name: str, seconds: float | None = None) -> Segment:
        """The segment from the marked start to ``seconds`` (default: the playhead)."""
        if self.segment_start is None:
            raise InputError("Mark where the segment starts first (I at its first frame)")
        return self.add_segment(name, self.segment_start, self.time if seconds is None else seconds)

    def write_segments_csv(self, path: Path) -> None:
        """The segments as a ``name,start,end`` CSV (what `mf2 stats --segments` reads)."""
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(("name", "start", "end"))
        for s in self.work.segments:
            writer.writerow((s.name, f"{s.start:.3f}", f"{s.end:.3f}"))
        out = AtomicOutput(Path(path))
        try:
            out.write(text.getvalue())
        except BaseException:
            out.discard()
            raise
        out.commit()

    # --- persistence --------------------------------------------------------------------------
    def _save(self) -> None:
        if not self.autosave or self.digest is None:
            return
        try:
            path = self.store.save(self.digest, self.work, Path(self.source).name if self.source else "")
        except OutputError as e:  # the change stays in this session; the user reads why it is not on disk
            self.events.notes.emit(str(e))
            return
        self.events.saved.emit(path)

    # --- exports: the analysis with the people's names ----------------------------------------
    def snapshot(self) -> "Snapshot":
        """What exports read, fixed now: a background export of it stays about this video even
        if another is opened meanwhile."""
        names = self.names
        return Snapshot(self.analysis, self.source, names, tuple(self.work.segments), self.model_dir)

    def write_csv(self, path: Path) -> None:
        self.snapshot().write_csv(path)

    def result(self, keep: Callable[[str], bool] | None = None):
        return self.snapshot().result(keep)

    def statistics(self):
        return self.snapshot().statistics()

    def write_report(self, path: Path) -> None:
        self.snapshot().write_report(path)

    def write_elan(self, path: Path) -> dict:
        return self.snapshot().write_elan(path)


@dataclass(frozen=True)
class Snapshot:
    """The session as exports read it: the analysis, the video, people's names, the segments, and
    the folder of the model in use (the report shows its check figures where they are this analysis's)."""
    analysis: Analysis | None
    source: str | None
    names: dict[int, str]
    segments: tuple[Segment, ...]
    model_dir: Path | None = None

    def write_csv(self, path: Path) -> None:
        """The per-frame CSV, each named person's name in the ``person`` column (with no names,
        byte for byte what `mf2 analyze` writes)."""
        analysis = self.analysis
        if not analysis or not len(analysis):
            raise InputError("Nothing analysed yet to export")
        names = {str(p): n for p, n in self.names.items()}
        if not names:
            analysis.write_csv(Path(path))
            return
        with tempfile.TemporaryDirectory(prefix="mf2-export-") as folder:
            plain = Path(folder) / "plain.csv"
            analysis.write_csv(plain)
            out = AtomicOutput(Path(path))
            try:
                with open(plain, encoding="utf-8", newline="") as f:
                    out.write(f.readline())  # the header
                    for line in f:
                        frame, face, person, rest = line.split(",", 3)
                        name = names.get(person)
                        out.write(line if name is None else f"{frame},{face},{name},{rest}")
            except BaseException:
                out.discard()
                raise
            out.commit()

    def result(self, keep: Callable[[str], bool] | None = None):
        """The analysis as a `core.results.Result`: the CSV `write_csv` writes, read back, so its
        figures are those of the CLI on the exported file. Its ``path`` names the video."""
        from .results import read_result

        with tempfile.TemporaryDirectory(prefix="mf2-result-") as folder:
            path = Path(folder) / f"{Path(self.source or 'analysis').stem}.csv"
            self.write_csv(path)
            result = read_result(path, keep=keep)
        if self.source and ":" not in self.source:
            result.path = Path(self.source)
        return result

    def statistics(self):
        """`core.stats.compute_statistics` per person and segment (`mf2 stats` of the exported CSV)."""
        from .report import report_column
        from .stats import compute_statistics

        return compute_statistics(self.result(keep=report_column), list(self.segments))

    def write_report(self, path: Path) -> None:
        from .model.shipped import default_model_dir
        from .report import report_column, write_report
        from .validation import model_validation

        write_report(self.result(keep=report_column), Path(path), list(self.segments),
                     model_version=self.analysis.model_version,
                     validation=model_validation(self.model_dir or default_model_dir(), self.analysis.model_version))

    def write_elan(self, path: Path) -> dict:
        from .export.elan import write_elan
        from .report import report_column

        media = Path(self.source) if self.source and Path(self.source).is_file() else None
        return write_elan(self.result(keep=report_column), Path(path), media, list(self.segments))
