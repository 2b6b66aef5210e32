"""Faces in a frame: a face detector finds them, a face mesh on each face's crop places 478 points.

Both models ship inside the mediapipe 0.10.21 wheel; nothing is downloaded. Two detectors run on
every frame and their boxes are merged: the short-range one finds close-ups (also half hidden
behind a hand), the full-range one finds the small faces of group shots that the mesh's own
built-in detector misses. The detector's score is each face's confidence. In video a face must
score at least ``start_confidence`` to start a track and ``min_confidence`` to keep it, which
keeps one-frame false alarms (score just over 0.5 on textures) out of the output. Each face is then cut out square around its detection and
meshed: in video mode one mesh instance per track, so MediaPipe's landmark tracking (which skips
re-detection and smooths jitter) works inside a crop that follows the face.

A track is one face in one shot: at a shot cut (`cuts.py`) every track ends, and a track whose
face changes colour at once between two frames (`FACE_JUMP`: someone else now sits where the
face was) ends there, the face going on under a new id. Each face carries its look
(`appearance.py`), from which core.faces.people tells whether a new track is someone seen before,
and the regions a hand covers (`hands.py`).
"""
from __future__ import annotations

import ctypes
import functools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import cv2
import numpy as np

from .appearance import Appearance, appearance, chi_square
from .cuts import CutDetector
from .hands import HandFinder, hand_cover
from .landmarks import ibug68
from .pose import HeadPose, estimate_pose
from .tracking import IdAssigner, box_iou

CROP_SIZE = 256      # side of the square crop the mesh runs on
CROP_MARGIN = 1.8    # crop side / longest side of the detection box
DETECT_SIDE = 2048   # larger frames are scaled down to this for detection (MediaPipe crashes on huge ones)
TILE_FROM = 2000     # photos larger than this are also searched tile by tile, for faces too small for one pass
TILE_STEP = 1500     # about one tile per this many pixels of the photo's longer side
TILE_VIEW = 512      # tiles are scaled down to at most this before detection
DETECT_EVERY = 5     # video: the detectors run on every 5th frame, and at once when a followed face is lost
# colour histogram distance of a face's aligned crop between consecutive frames at which its
# track ends: within a shot of the development clips at most 0.024 (grimaces, a hand over the
# face), from one of their people to another at least 0.073 (scripts/people_check.py)
FACE_JUMP = 0.04


@dataclass
class Face:
    track_id: int
    box: np.ndarray          # x0, y0, x1, y1 in pixels (extent of the landmarks)
    confidence: float        # face detector score, 0..1
    landmarks: np.ndarray    # (478, 3) float32: x, y in pixels, z relative depth in pixel units
    pose: HeadPose
    appearance: Appearance | None = None  # its look in this frame (video), evidence of who it is
    person: int = -1         # who it is, across tracks (core.faces.people); -1: not decided
    covered: tuple[str, ...] = ()  # regions and eyes a hand covers (core.faces.hands): their AUs are not read

    @property
    def points68(self) -> np.ndarray:
        return ibug68(self.landmarks)


class FaceTracker:
    """Finds and tracks faces frame after frame. Not thread-safe; one per worker."""

    def __init__(self, max_faces: int = 8, static: bool = False, min_confidence: float = 0.5,
                 start_confidence: float = 0.7, detect_every: int = DETECT_EVERY, hands: bool = True,
                 threads: int = 2):
        """``static=True`` treats every frame as an unrelated photo (image folders, stills): each
        face found is a track of its own, numbered on from the photos before, left to right. In
        video the detectors run every ``detect_every`` frames; in between each tracked face is
        followed by its own mesh in a crop moved with its landmarks (as MediaPipe's face mesh
        does), and a new face is picked up at the next detection (1: detect on every frame).
        ``hands``: say which regions of each face a hand covers (`Face.covered`); training data,
        which never reads that, leaves it out. ``threads`` 1: in video the hands are looked for on
        the calling thread too (one thread in all, as `mf2 analyze --threads 1` asks), not beside
        the faces; the same hands either way."""
        import mediapipe as mp  # heavy import kept out of `core` import time

        self._mp = mp
        self.max_faces = max_faces
        self.static = static
        self.start_confidence = start_confidence
        self._detectors = [mp.solutions.face_detection.FaceDetection(
            model_selection=selection, min_detection_confidence=min_confidence) for selection in (0, 1)]
        self._ids = IdAssigner()
        self._meshes: dict[int, object] = {}  # track id -> FaceMesh (video mode) or -1 -> shared static one
        self.notes: list[str] = []  # one line each, said once: frames scaled down for detection
        self.detect_every = detect_every
        self._followed: dict[int, tuple[np.ndarray, np.ndarray, float]] = {}  # id -> detection box, its landmark extent, score
        self._since_detection = 0
        self._cuts = CutDetector()
        self._colours: dict[int, np.ndarray] = {}  # track id -> its face's colours when last seen
        self._hands = HandFinder(static) if hands else None
        # video, two threads: a frame's hands are looked for on a thread of their own while its faces
        # are found (MediaPipe lets go of Python's lock), next to the faces of the frame before
        self._hand_thread = ThreadPoolExecutor(1, "hands") if hands and not static and threads > 1 else None
        self._boxes: list[np.ndarray] = []  # the faces of the frame before
        self._photo_faces = 0  # static: faces numbered so far

    def _mesh_for(self, track_id: int):
        key = -1 if self.static else track_id
        if key not in self._meshes:
            self._meshes[key] = self._mp.solutions.face_mesh.FaceMesh(
                static_image_mode=self.static, max_num_faces=1, refine_landmarks=True,
                min_detection_confidence=0.5, min_tracking_confidence=0.5)
        return self._meshes[key]

    def process(self, rgb: np.ndarray) -> list[Face]:
        """Faces in one RGB uint8 frame, sorted by track id; in video each with its look."""
        rgb = np.ascontiguousarray(rgb)
        if self.static:
            faces = self._found(rgb)
            return self._with_hands(faces, self._hands.find(rgb, [f.box for f in faces]) if self._hands else [])
        # hands next to the faces of the frame before (`_boxes`): found beside this frame's faces, or after them
        if self._hand_thread is not None:
            hands = self._hand_thread.submit(self._hands.find, rgb, self._boxes).result
        else:
            hands = functools.partial(self._hands.find, rgb, self._boxes) if self._hands else list
        if self._cuts.cut(rgb):
            self._end(self._ids.active_ids)
        faces = [replace(f, appearance=appearance(rgb, f.landmarks)) for f in self._found(rgb)]
        for i, face in enumerate(faces):
            before = self._colours.get(face.track_id)
            if before is not None and chi_square(before, face.appearance.colours) > FACE_JUMP:
                faces[i] = replace(face, track_id=self._renew(face.track_id))
            self._colours[faces[i].track_id] = faces[i].appearance.colours
        self._boxes = [f.box for f in faces]
        return sorted(self._with_hands(faces, hands()), key=lambda f: f.track_id)

    @staticmethod
    def _with_hands(faces: list[Face], hands: list[np.ndarray]) -> list[Face]:
        """The faces, each with the regions the hands cover."""
        return [replace(f, covered=hand_cover(f.landmarks, hands)) for f in faces] if hands else faces

    def _end(self, track_ids) -> None:
        """End these tracks now: the next detection starts new ones for their faces."""
        track_ids = list(track_ids)
        self._ids.end(track_ids)
        for tid in track_ids:
            self._forget(tid)
            self._followed.pop(tid, None)
        self._since_detection = self.detect_every
        if track_ids:
            _give_back_memory()

    def _renew(self, track_id: int) -> int:
        """The face of ``track_id`` goes on under a new id (someone else, in the same place)."""
        new = self._ids.renew(track_id)
        self._forget(track_id)
        if track_id in self._followed:
            self._followed[new] = self._followed.pop(track_id)
        return new

    def _forget(self, track_id: int) -> None:
        if track_id in self._meshes:
            self._meshes.pop(track_id).close()
        self._colours.pop(track_id, None)

    def _found(self, rgb: np.ndarray) -> list[Face]:
        """The frame's faces: followed from the frame before, or detected."""
        if not self.static and self._followed and self._since_detection + 1 < self.detect_every:
            followed = self._follow(rgb)
            if followed is not None:
                self._since_detection += 1
                return followed
        previous = set(self._followed)
        faces = self._detect_and_mesh(rgb)
        self._followed = {f.track_id: (box, f.box, f.confidence) for f, box in faces}
        # a face the detectors missed (a blink of theirs, a hand): they look again on the next frame
        self._since_detection = 0 if previous <= set(self._followed) else self.detect_every
        return [f for f, _ in faces]

    def _follow(self, rgb: np.ndarray) -> list[Face] | None:
        """Each tracked face meshed in a crop moved and scaled with its landmarks since the last
        detection; None when one of them is lost (then the frame goes to the detectors)."""
        faces, boxes = [], []
        for tid, (box, extent, score) in sorted(self._followed.items()):
            points = self._mesh_crop(rgb, box, self._mesh_for(tid))
            if points is None:
                return None
            now = _extent(points)
            faces.append(Face(tid, now, score, points, estimate_pose(points)))
            boxes.append(_moved(box, extent, now))
        if self._ids.assign(np.array(boxes), [False] * len(boxes)) != sorted(self._followed):
            return None  # the boxes no longer match their tracks (faces crossing): detect
        self._followed = {f.track_id: (b, f.box, f.confidence) for f, b in zip(faces, boxes)}
        return faces

    def _detect_and_mesh(self, rgb: np.ndarray) -> list[tuple[Face, np.ndarray]]:
        """(face, its detection box) for every face the detectors find and the mesh confirms."""
        boxes, scores = self._detect(rgb)
        if self.static:  # photos are unrelated: a face is one shot, never another photo's face 0
            ids = list(range(self._photo_faces, self._photo_faces + len(boxes)))
            self._photo_faces += len(boxes)
        else:
            ids = self._ids.assign(boxes, [score >= self.start_confidence for score in scores])
            gone = set(self._meshes) - self._ids.active_ids
            for tid in gone:
                self._forget(tid)
            if gone:
                _give_back_memory()
        faces = []
        for tid, box, score in zip(ids, boxes, scores):
            if tid < 0:
                continue
            points = self._mesh_crop(rgb, box, self._mesh_for(tid))
            if points is not None:
                extent = _extent(points)
                faces.append((Face(tid, extent, score, points, estimate_pose(points)), np.asarray(box, float)))
        return sorted(faces, key=lambda fb: fb[0].track_id)

    def _detect(self, rgb: np.ndarray) -> tuple[np.ndarray, list[float]]:
        """Detection boxes (N, 4) in pixels, best first, at most ``max_faces``, and their scores.
        The detectors see a frame at a few hundred pixels, so a face under about 5% of a large
        photo's side is found only in tiles of it."""
        h, w = rgb.shape[:2]
        candidates = self._candidates(rgb, 0, 0, DETECT_SIDE)
        if max(h, w) > DETECT_SIDE and not self.notes:
            f = DETECT_SIDE / max(h, w)
            self.notes.append(f"frames of {w}x{h} pixels were scaled down to {round(w * f)}x{round(h * f)} "
                              "for face detection")
        tiled = self.static and max(h, w) > TILE_FROM
        if tiled:
            n = -(-max(h, w) // TILE_STEP)
            side = 2 * max(h, w) // (n + 1)
            for y0 in range(0, max(h - side, 0) + side // 2, side // 2):
                for x0 in range(0, max(w - side, 0) + side // 2, side // 2):
                    candidates += self._candidates(rgb[y0:y0 + side, x0:x0 + side], x0, y0, TILE_VIEW)
        candidates.sort(key=lambda item: -item[0])
        found = []  # non-maximum suppression across both detectors (and tiles: a face cut by a tile's edge)
        for score, box in candidates:
            if len(found) < self.max_faces and not any(_same_face(box, kept, tiled) for _, kept in found):
                found.append((score, box))
        order = sorted(range(len(found)), key=lambda i: found[i][1][0])  # left to right
        return np.array([found[i][1] for i in order]).reshape(-1, 4), [found[i][0] for i in order]

    def _candidates(self, rgb: np.ndarray, x0: int, y0: int, side: int) -> list[tuple[float, list[float]]]:
        """(score, box in frame pixels) from both detectors on ``rgb`` (a view at x0, y0), which
        is scaled down first to at most ``side`` pixels."""
        h, w = rgb.shape[:2]
        if max(h, w) > side:
            f = side / max(h, w)
            rgb = cv2.resize(rgb, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
        rgb = np.ascontiguousarray(rgb)
        found = []
        for detector in self._detectors:
            for d in detector.process(rgb).detections or []:
                b = d.location_data.relative_bounding_box
                found.append((float(d.score[0]), [x0 + b.xmin * w, y0 + b.ymin * h,
                                                  x0 + (b.xmin + b.width) * w, y0 + (b.ymin + b.height) * h]))
        return found

    @staticmethod
    def _mesh_crop(rgb: np.ndarray, box: np.ndarray, mesh) -> np.ndarray | None:
        """Mesh one face inside a square crop around its box; landmarks in frame pixels or None."""
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        side = CROP_MARGIN * max(box[2] - box[0], box[3] - box[1])
        scale = CROP_SIZE / side
        to_crop = np.array([[scale, 0, CROP_SIZE / 2 - scale * cx], [0, scale, CROP_SIZE / 2 - scale * cy]])
        crop = cv2.warpAffine(rgb, to_crop, (CROP_SIZE, CROP_SIZE), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT)
        found = mesh.process(crop).multi_face_landmarks
        if not found:
            return None
        pts = np.array([(p.x, p.y, p.z) for p in found[0].landmark], dtype=np.float32) * CROP_SIZE
        pts[:, 0] = (pts[:, 0] - to_crop[0, 2]) / scale
        pts[:, 1] = (pts[:, 1] - to_crop[1, 2]) / scale
        pts[:, 2] /= scale
        return pts

    def close(self) -> None:
        for detector in self._detectors:
            detector.close()
        if self._hand_thread is not None:
            self._hand_thread.shutdown()
        if self._hands is not None:
            self._hands.close()
        for mesh in self._meshes.values():
            mesh.close()
        self._meshes.clear()
        _give_back_memory()  # a worker closes a tracker every chunk (core.chunks)

    def __enter__(self) -> "FaceTracker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _give_back_memory() -> None:
    """Return the heap a closed mesh freed to the system (glibc). Each MediaPipe graph leaves its
    memory scattered, so an hour of video with hundreds of faces coming and going grew the
    process by about 50 MB (measured: 300 meshes opened and closed, +52 MB; with this, +17 MB)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim():
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to give back this way
        return None


def _same_face(box, kept, contained: bool) -> bool:
    """Boxes that overlap (IoU over 0.3), or with ``contained``, one lying mostly inside the other."""
    a, b = np.array([box]), np.array([kept])
    if box_iou(a, b)[0, 0] > 0.3:
        return True
    if not contained:
        return False
    iw = max(0.0, min(box[2], kept[2]) - max(box[0], kept[0]))
    ih = max(0.0, min(box[3], kept[3]) - max(box[1], kept[1]))
    smaller = min((box[2] - box[0]) * (box[3] - box[1]), (kept[2] - kept[0]) * (kept[3] - kept[1]))
    return smaller > 0 and iw * ih / smaller > 0.6


def _extent(points: np.ndarray) -> np.ndarray:
    """x0, y0, x1, y1 of the landmarks: a face's box."""
    return np.array([points[:, 0].min(), points[:, 1].min(), points[:, 0].max(), points[:, 1].max()])


def _moved(box: np.ndarray, extent: np.ndarray, now: np.ndarray) -> np.ndarray:
    """The detection ``box`` carried along as the face's landmark extent went from ``extent`` to
    ``now``: shifted with its centre, scaled with its size."""
    scale = max(now[2] - now[0], now[3] - now[1]) / max(extent[2] - extent[0], extent[3] - extent[1], 1e-6)
    centre = (box[:2] + box[2:]) / 2 + ((now[:2] + now[2:]) - (extent[:2] + extent[2:])) / 2
    half = (box[2:] - box[:2]) / 2 * scale
    return np.concatenate([centre - half, centre + half])
