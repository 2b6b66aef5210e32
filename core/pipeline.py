"""The analyse path on two threads: the faces of the next frames are found (decoding, detectors,
mesh: MediaPipe) while the model reads the faces of the frame before (torch), so both cores work.

Both libraries release the GIL in their native code. The results come out in frame order, exactly
what the one-thread path gives (the scorer keeps each person's baseline in that order). An error
in the face thread (a damaged video) comes out where that frame would have; leaving the loop
early (an error, Ctrl-C) stops the face thread before the tracker is closed.
"""
from __future__ import annotations

import queue
import threading
from typing import Iterator

from .analysis import FrameResult, score_faces
from .faces import FaceTracker
from .video import Source

DEPTH = 4  # frames found ahead of the model at most: enough to smooth their speeds, little memory
_END = object()


def analysed_frames(source: Source, tracker: FaceTracker, scorer=None, every: int = 1) -> Iterator[FrameResult]:
    """Every ``every``-th frame of ``source``, with its faces found and scored."""
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

    def find_faces() -> None:
        try:
            for frame in source:
                if frame.index % every == 0 and not put((frame, tracker.process(frame.rgb))):
                    return
        except BaseException as error:  # noqa: BLE001 - handed to the consumer, raised there
            put(error)
            return
        put(_END)

    worker = threading.Thread(target=find_faces, name="faces", daemon=True)
    worker.start()
    try:
        while (item := ahead.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            frame, faces = item
            yield score_faces(frame, faces, scorer)
    finally:
        stop.set()
        worker.join()
