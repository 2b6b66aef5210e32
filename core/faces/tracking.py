"""Track ids that stay with a face from frame to frame.

MediaPipe returns faces in no stable order, so ids come from matching each frame's face boxes to
where the recently seen tracks should be now (last box moved on by the track's velocity, so a
fast-moving face is still matched), greedily, highest overlap first. A track survives a short
gap (a blink of the detector, a hand across the face) before its id is retired; ids are never
reused within one run. The tracker ends tracks early where the face may be someone else (`end`,
`renew`).
"""
from __future__ import annotations

import numpy as np


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix between boxes ``a`` (N, 4) and ``b`` (M, 4), as x0, y0, x1, y1."""
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


class IdAssigner:
    def __init__(self, min_iou: float = 0.2, max_gap: int = 15):
        self.min_iou = min_iou
        self.max_gap = max_gap  # frames a track may go unseen before its id is retired
        self._boxes: dict[int, np.ndarray] = {}
        self._last_seen: dict[int, int] = {}
        self._velocity: dict[int, np.ndarray] = {}  # box change per frame, smoothed
        self._next_id = 0
        self._step = 0

    @property
    def active_ids(self) -> set[int]:
        return set(self._boxes)

    def end(self, track_ids) -> None:
        """Retire these tracks now: a face where they were starts a new track."""
        for tid in track_ids:
            self._forget(tid)

    def renew(self, track_id: int) -> int:
        """The face last matched to ``track_id`` goes on under a new id (where it is, at rest)."""
        new = self._next_id
        self._next_id += 1
        self._boxes[new], self._last_seen[new] = self._boxes[track_id], self._last_seen[track_id]
        self._velocity[new] = np.zeros(4)
        self._forget(track_id)
        return new

    def _forget(self, track_id: int) -> None:
        for table in (self._boxes, self._last_seen, self._velocity):
            table.pop(track_id, None)

    def assign(self, boxes: np.ndarray, may_start: list[bool] | None = None) -> list[int]:
        """Track id for each row of ``boxes`` (N, 4) in this frame. A box that matches no track
        starts a new one only where ``may_start`` allows; otherwise its id is -1."""
        self._step += 1
        for tid in [t for t, seen in self._last_seen.items() if self._step - seen > self.max_gap]:
            self._forget(tid)
        ids = [-1] * len(boxes)
        track_ids = list(self._boxes)
        if track_ids and len(boxes):
            predicted = np.stack([self._boxes[t] + self._velocity[t] * (self._step - self._last_seen[t])
                                  for t in track_ids])
            iou = box_iou(np.asarray(boxes, dtype=np.float64), predicted)
            for flat in np.argsort(-iou, axis=None):
                i, j = divmod(int(flat), len(track_ids))
                if iou[i, j] < self.min_iou:
                    break
                if ids[i] == -1 and track_ids[j] is not None:
                    ids[i] = track_ids[j]
                    track_ids[j] = None
        for i, box in enumerate(boxes):
            if ids[i] == -1 and may_start is not None and not may_start[i]:
                continue
            box = np.asarray(box, dtype=np.float64)
            if ids[i] == -1:
                ids[i] = self._next_id
                self._next_id += 1
                self._velocity[ids[i]] = np.zeros(4)
            else:
                step = (box - self._boxes[ids[i]]) / (self._step - self._last_seen[ids[i]])
                self._velocity[ids[i]] = 0.5 * self._velocity[ids[i]] + 0.5 * step
            self._boxes[ids[i]] = box
            self._last_seen[ids[i]] = self._step
        return ids
