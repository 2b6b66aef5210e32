"""One long video on several workers: analysed in time chunks, joined into what one pass writes.

When there are more workers than inputs, each video long enough is split into chunks at keyframes
(`plan_chunks`). A worker analyses a chunk from ``LEAD_S`` before its start (`analyze_chunk`):
those lead frames start its tracker (detectors, meshes) on the faces already there, and overlap
the end of the chunk before. Where the chunks are joined (`ChunkFeed`, in the process that writes
the CSV), each chunk's tracks take the ids of the previous chunk's tracks they overlap (mean box
IoU over the lead frames), new faces the next ids, and every face is scored against its person's
baseline in frame order: the model only reads pixels in the workers, so the person's baseline
runs on across chunks exactly as in one pass (also a neutral segment given with ``--baseline``).
People (core.faces.people) are found there too, from the looks the workers measured, on the
joined frames in order: a chunked pass decides them as one pass does.

What can differ from one pass (tested in tests/test_chunks.py): frame numbers, timestamps and
rows per frame are the same; the tracker restarts in each chunk's lead, so in a chunk's first
frames the detectors run on other frames than in one pass and the landmarks there differ by the
mesh's jitter (a median of about 1.6 px, at most 7 to 11 px on the shared clips; the readings by
as much as that moves them); a face that first appears right at a boundary, or is lost across
one, can get another id number than one pass gives.
"""
from __future__ import annotations

import itertools
import math
import threading
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator

import numpy as np

from .analysis import FrameResult
from .errors import InputError
from .faces.people import People
from .faces.tracking import box_iou
from .model.settle import settled_frames

CHUNK_S = 120.0   # default chunk length: bounds what a worker holds (an hour: 30 chunks)
LEAD_S = 1.0      # analysed before a chunk's start: the tracker settles, the tracks are matched
KEYFRAME_S = 2.0  # a boundary moves to a keyframe this close to where it would fall
MATCH_IOU = 0.5   # mean box IoU over the shared lead frames for two tracks to be one face
PART = 256        # frames a worker hands over at a time (about 3 MB)
# A process ends after analysing this many chunks and a fresh one takes over: every chunk opens a
# new tracker, and MediaPipe's graphs leave memory behind when closed (12 trackers opened, used
# and closed one after another: RSS 189 -> 333 MB; 171 -> 224 MB now that a closed tracker gives
# the heap back), so a worker that went on through an hour's 15 chunks kept growing. With 3 chunks
# a process the largest worker of an hour still peaked at 524 MB; with 1, at 479 MB, against 455
# for a minute in one process, and a 20-minute video took as long (321 and 343 s against 350 and
# 338 s: a worker starts in about 2 s, a chunk takes a minute).
CHUNKS_PER_PROCESS = 1


@dataclass(frozen=True)
class Chunk:
    number: int        # 0, 1, ... in time order
    first: int         # first frame it analyses (LEAD_S before ``start``; ``start`` for the first chunk)
    start: int         # first frame it reports
    end: int | None    # first frame of the next chunk; None: to the end of the video


@dataclass
class ChunkResult:
    frames: list = field(default_factory=list)  # (index, timestamp, faces, model readings or None), from ``first`` on
    notes: list[str] = field(default_factory=list)
    error: str | None = None                    # damage met in the chunk; ``frames`` holds those before it


class WorkerLost(Exception):
    """The worker analysing a chunk died: the video's CSV is not written."""


def plan_chunks(times: list[float], keyframes: list[int], pieces: int) -> list[Chunk]:
    """``pieces`` chunks of about equal length (fewer for a short video), each starting at a
    keyframe when one is within KEYFRAME_S of where it would start."""
    n = len(times)
    fps = (n - 1) / times[-1] if n > 1 and times[-1] > 0 else 30.0
    starts = [0]
    for k in range(1, pieces):
        ideal = round(k * n / pieces)
        near = [i for i in keyframes if abs(times[i] - times[ideal]) <= KEYFRAME_S]
        start = min(near, key=lambda i: abs(i - ideal)) if near else ideal
        if start - starts[-1] > 2 * LEAD_S * fps and n - start > 2 * LEAD_S * fps:
            starts.append(start)
    ends = starts[1:] + [None]
    lead = math.ceil(LEAD_S * fps)
    return [Chunk(k, max(0, s - lead) if k else 0, s, e) for k, (s, e) in enumerate(zip(starts, ends))]


def pieces_for(duration: float, share: int, chunk_s: float) -> int:
    """Chunks for a video of ``duration`` s given ``share`` workers: at least one a worker, none
    longer than ``chunk_s`` (so a worker's memory stays bounded), none shorter than a quarter of it."""
    if chunk_s <= 0 or duration < chunk_s / 2:
        return 1
    return max(1, min(max(share, math.ceil(duration / chunk_s)), int(duration // (chunk_s / 4))))


def video_chunks(spec: str, chunk_s: float, share: int) -> tuple[list[Chunk], int]:
    """(the chunks to analyse ``spec`` in, given ``share`` workers, or [] when it is no video
    long enough; its frame count). A video that cannot be read is left to the whole-input path,
    which reports it."""
    from .video import VIDEO_SUFFIXES, VideoFile

    if chunk_s <= 0 or share < 2 or Path(spec).suffix.lower() not in VIDEO_SUFFIXES:
        return [], 0
    try:
        with VideoFile(Path(spec)) as video:
            times = video.frame_times()
            pieces = pieces_for(times[-1], share, chunk_s)
            chunks = plan_chunks(times, video.keyframes, pieces) if pieces > 1 else []
    except InputError:
        return [], 0
    return (chunks if len(chunks) > 1 else []), len(times)


_scorers: dict = {}  # a worker keeps its model between chunks


def analyze_chunk(spec: str, chunk: Chunk, options, progress=None, deliver=None) -> ChunkResult:
    """Faces found and read by the model in one chunk of a video (``options``: AnalyzeOptions;
    ``progress``: called with the frames reported so far). ``deliver``: called with the frames in
    order, PART at a time, as they are read (the result then holds only the last ones), so a
    worker does not hold a whole chunk (120 s of faces: about 40 MB) until its end.
    Damage in the video ends the chunk with ``error`` set; the frames before it are kept. Threads
    left to the run are those of workers side by side (core.analyze.with_threads)."""
    from .faces import FaceTracker
    from .pipeline import read_frames
    from .video import VideoFile

    from .analyze import with_threads

    options = with_threads(options, 2)
    scorer = None
    if options.model:
        from .model_server import scorer_for

        key = (options.model, options.device)
        scorer = _scorers.get(key) or _scorers.setdefault(key, scorer_for(options.model, options.device))
    out, reported = ChunkResult(), 0
    with VideoFile(Path(spec)) as video, FaceTracker(max_faces=options.max_faces, detect_every=options.detect_every,
                                                     threads=options.threads) as tracker:
        try:
            for item in read_frames(_Span(video, chunk), tracker, scorer, options.every, options.threads):
                out.frames.append(item)
                if deliver and len(out.frames) == PART:
                    deliver(out.frames)
                    out.frames = []
                reported += item[0] >= chunk.start
                if progress and reported % 8 == 0:
                    progress(reported)
        except InputError as e:
            out.error = str(e)
        out.notes = tracker.notes
    return out


class _Span:
    """The frames of a video from a chunk's ``first`` to its ``end``."""

    def __init__(self, video, chunk: Chunk):
        self.video, self.chunk = video, chunk

    def __iter__(self):
        for frame in self.video.frames(self.video.frame_times()[self.chunk.first]):
            if self.chunk.end is not None and frame.index >= self.chunk.end:
                return
            yield frame


class ChunkFeed:
    """The frames of one video's chunks, handed in as workers read them (any order of chunks, any
    thread), read back as the frames of one pass (`frames`). Frames are dropped once read, so
    what is held is the chunks ahead of the one being joined."""

    def __init__(self, chunks: list[Chunk], frame_count: int):
        self.chunks = chunks
        self.frame_count = frame_count  # frames in the video
        self.notes: list[str] = []
        self._frames: dict[int, deque] = {}        # chunk number -> its frames handed in, not yet read
        self._ends: dict[int, ChunkResult] = {}    # chunk number -> its notes and error, once all its frames are in
        self._failure: BaseException | None = None
        self._closed = False
        self._ready = threading.Condition()

    def add(self, number: int, frames: list) -> None:
        """Frames of a chunk, in order, that more will follow."""
        with self._ready:
            if not self._closed:
                self._frames.setdefault(number, deque()).extend(frames)
                self._ready.notify_all()

    def put(self, number: int, result: ChunkResult) -> None:
        """A chunk's last frames (all of them, when none was added), notes and error."""
        with self._ready:
            if not self._closed:
                self._frames.setdefault(number, deque()).extend(result.frames)
                self._ends[number] = ChunkResult(notes=result.notes, error=result.error)
                self._ready.notify_all()

    def close(self) -> None:
        """The join is over (written, or ended early): what is held and what still comes is dropped."""
        with self._ready:
            self._closed = True
            self._frames.clear()
            self._ends.clear()

    def held(self) -> int:
        """Chunks with frames handed in and not read yet, or not finished."""
        with self._ready:
            return len(set(self._frames) | set(self._ends))

    def fail(self, error: BaseException) -> None:
        """``error`` is raised in the reader where it next waits for frames (WorkerLost, or a
        KeyboardInterrupt for a stop signal)."""
        with self._ready:
            self._failure = self._failure or error
            self._ready.notify_all()

    def _read(self, number: int, end: list) -> Iterator[tuple]:
        """A chunk's frames as they come; its end (ChunkResult without frames) appended to ``end``."""
        while True:
            with self._ready:
                self._ready.wait_for(lambda: self._frames.get(number) or number in self._ends or self._failure)
                if self._failure is not None:
                    raise self._failure
                waiting = self._frames.get(number)
                if not waiting:
                    self._frames.pop(number, None)
                    end.append(self._ends.pop(number))
                    return
                frames = list(waiting)
                waiting.clear()
            yield from frames

    def frames(self, scorer=None) -> Iterator[FrameResult]:
        """Every chunk's frames in order, its tracks under the ids of the chunk before, given
        their person and scored by ``scorer`` in frame order (its baselines follow each person
        across chunks)."""
        yield from settled_frames(People().frames(self._joined()), scorer)

    def _joined(self) -> Iterator[tuple]:
        """(index, timestamp, faces, model readings or None) of every chunk's frames in order,
        its tracks under the ids of the chunk before, its faces in id order."""
        tail: list = []       # (index, [(id, box)]) of the frames the next chunk's lead overlaps
        next_id = 0
        for k, chunk in enumerate(self.chunks):
            end: list[ChunkResult] = []
            frames = self._read(chunk.number, end)
            lead, first = [], []  # the frames before the chunk's start; the first one from it
            for item in frames:
                (lead if item[0] < chunk.start else first).append(item)
                if first:
                    break
            ids = _matched(tail, lead) if k else {}
            upcoming = self.chunks[k + 1].first if k + 1 < len(self.chunks) else None
            tail = []
            for index, timestamp, faces, raw in itertools.chain(first, frames):
                for face in faces:
                    if face.track_id not in ids:
                        ids[face.track_id] = next_id if k else face.track_id
                        next_id = max(next_id, ids[face.track_id] + 1)
                order = sorted(range(len(faces)), key=lambda i: ids[faces[i].track_id])
                faces = [replace(faces[i], track_id=ids[faces[i].track_id]) for i in order]
                if upcoming is not None and index >= upcoming:
                    tail.append((index, [(f.track_id, f.box) for f in faces]))
                yield index, timestamp, faces, None if raw is None else raw[order]
            self.notes += [n for n in end[0].notes if n not in self.notes]
            if end[0].error:
                raise InputError(end[0].error)


def _matched(tail: list, lead: list) -> dict[int, int]:
    """{the chunk's track id: the id it continues} for tracks seen on the same lead frames as one
    of the chunk before, in the same place (mean IoU at least MATCH_IOU, greedy, best first)."""
    before = dict(tail)
    overlap: dict[tuple[int, int], list[float]] = {}
    for index, _, faces, _ in lead:
        earlier = before.get(index)
        if not earlier or not faces:
            continue
        iou = box_iou(np.array([f.box for f in faces], np.float64), np.array([b for _, b in earlier], np.float64))
        for i, face in enumerate(faces):
            for j, (tid, _) in enumerate(earlier):
                overlap.setdefault((face.track_id, tid), []).append(float(iou[i, j]))
    pairs = sorted(((np.mean(v), local, tid) for (local, tid), v in overlap.items()), reverse=True)
    ids: dict[int, int] = {}
    for mean, local, tid in pairs:
        if mean >= MATCH_IOU and local not in ids and tid not in ids.values():
            ids[local] = tid
    return ids
