"""The analyse path on two threads: the faces of the next frames are found (decoding, detectors,
mesh: MediaPipe) and their crops prepared while the model reads the faces of the frames before
(torch), so both cores work.

The model reads faces ``scorer.batch`` (8) at a time, gathered over consecutive frames (a call
for 8 faces costs 4.8 ms a face against 8.5 for one alone); as `FaceScorer.read` pads every call
to that size, the figures do not depend on how frames happen to be grouped. Both libraries release the
GIL in their native code. The results come out in frame order, exactly what the one-thread path
gives (the scorer keeps each person's baseline in that order). An error in the face thread (a
damaged video) comes out where that frame would have, after the frames before it; leaving the
loop early (an error, Ctrl-C) stops the face thread before the tracker is closed.

In video each face is given its person (core.faces.people) before it is scored: frames wait
there until each new track has been seen a few frames, and come out in order.
"""
from __future__ import annotations

import queue
import threading
from typing import Iterator

from .analysis import FrameResult
from .errors import InputError
from .faces import FaceTracker
from .faces.people import People
from .model.settle import settled_frames
from .video import Source

DEPTH = 16  # frames found ahead of the model at most: two batches of one face each, little memory
_END = object()


def analysed_frames(source: Source, tracker: FaceTracker, scorer=None, every: int = 1, threads: int = 2
                    ) -> Iterator[FrameResult]:
    """Every ``every``-th frame of ``source``, with its faces found, given their person (video)
    and scored, each person's first rows settled in a video file (`core.model.settle`)."""
    frames = read_frames(source, tracker, scorer, every, threads)
    try:
        # a camera is read as it comes; photos have no person to wait for, and no rest of their own
        yield from settled_frames(frames if tracker.static else People().frames(frames), scorer,
                                  not source.live, photos=tracker.static)
    finally:
        frames.close()  # its face thread stops here, whoever holds the frames between


def read_frames(source: Source, tracker: FaceTracker, scorer=None, every: int = 1, threads: int = 2
                ) -> Iterator[tuple]:
    """(index, timestamp, tracked faces, what the model read of them or None) for every
    ``every``-th frame of ``source``: all but the scoring against each person's baseline, which
    a chunked analysis does where the chunks are joined (core.chunks). ``threads=1``: faces and
    model on the caller's thread alone (the same figures, for machines shared with other work)."""
    found = _found_faces(source, tracker, scorer, every)
    waiting, batch = [], scorer.batch if scorer else 1
    try:
        for item in (_ahead(found) if threads > 1 else found):
            waiting.append(item)
            if sum(len(faces) for _, _, faces, _ in waiting) >= batch:
                yield from _read(waiting, scorer)
                waiting = []
    except InputError:
        yield from _read(waiting, scorer)  # the frames before the damage, then the damage
        raise
    yield from _read(waiting, scorer)


def _found_faces(source: Source, tracker: FaceTracker, scorer, every: int) -> Iterator[tuple]:
    """(index, timestamp, faces, their model inputs or None) of every ``every``-th frame."""
    for frame in source:
        if frame.index % every == 0:
            faces = tracker.process(frame.rgb)
            yield frame.index, frame.timestamp, faces, scorer.prepare(frame.rgb, faces) if scorer and faces else None


def _ahead(items: Iterator) -> Iterator:
    """``items`` produced on a thread of their own, at most DEPTH ahead of the consumer. An error
    there is raised here, in its place; leaving early stops the thread."""
    ahead: queue.Queue = queue.Queue(maxsize=DEPTH)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                ahead.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as error:  # noqa: BLE001 - handed to the consumer, raised there
            put(error)
            return
        put(_END)

    worker = threading.Thread(target=produce, name="faces", daemon=True)
    worker.start()
    try:
        while (item := ahead.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


def _read(frames: list, scorer) -> Iterator[tuple]:
    """The gathered frames, their faces read by the model together."""
    if not frames:
        return
    inputs = [inputs for _, _, _, inputs in frames if inputs is not None]
    raw = scorer.read(inputs) if inputs else None
    start = 0
    for index, timestamp, faces, inputs in frames:
        if inputs is None:
            yield index, timestamp, faces, None
        else:
            yield index, timestamp, faces, raw[start:start + len(faces)]
            start += len(faces)
