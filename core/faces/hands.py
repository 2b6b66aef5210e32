"""Hands over faces: which of a face's regions a hand covers, from MediaPipe's hand landmarks.

The visibility head learnt covered skin from synthetic occluders, and it misses most real hands:
the woman of WolfgangLanger_Pexels.mp4 holds a hand over her mouth for 7 s and her mouth AUs were
read through it. MediaPipe's hand model (in the 0.10.21 wheel; nothing is downloaded) finds real
hands, but its palm detector also takes parts of faces for hands, "hands" that lie inside the
face. A hand in front of a face reaches it from outside, so a hand counts only when its wrist
lies outside the face's outline (`REACH`). The hand is drawn as its palm and each finger
as a band a finger wide; a region is covered when that hides at least half of it, as the
visibility head's labels count it (core.training.occlusion). An eye (`EYES`) is counted alone
too: fingers over one eye (her right, WolfgangLanger frames 96-97 and 130) hide half of it but
not of the eyelid regions, which span both eyes, and eye closure is then read from the other eye.
"""
from __future__ import annotations

import cv2
import numpy as np

from .geometry import eye_distance
from .regions import COVERED, EYES, REGIONS, eye_cover, region_cover

MAX_HANDS = 2
WRIST, MIDDLE_KNUCKLE = 0, 9
PALM = (0, 1, 2, 5, 9, 13, 17)
FINGERS = ((1, 2, 3, 4), (5, 6, 7, 8), (9, 10, 11, 12), (13, 14, 15, 16), (17, 18, 19, 20))
FINGER_WIDTH = 0.2  # of the wrist-to-middle-knuckle length (about 2 of 10 cm)
# eye distances outside the face's outline the wrist must be: hands the palm detector found in
# faces (liveportrait_d3) had it inside or within 0.05, real hands over a face 0.46 or more out
REACH = 0.25
# video: a look for hands every 10th frame (a third of a second at 30 fps): a look costs 6 to 10 ms
# on this project's 2-core machine, about what both face detectors cost together; following a hand
# from frame to frame about 3 ms
LOOK_EVERY = 10
FOLLOW_MARGIN, FOLLOW_SIZE = 2.5, 256  # the square a hand is followed in: faces' size, pixels
CANVAS_EYES = 32.0  # pixels between the eye centres on the canvas the coverage is counted on


class HandFinder:
    """Hands over faces in frames, as (21, 2) landmark arrays in pixels. A look runs the palm
    detector and the hand landmarks on the whole frame, up to `MAX_HANDS` hands; photos get one
    each. In video the looks come every `LOOK_EVERY` frames, and a hand a look finds over a face
    is followed on every frame in between (MediaPipe's tracking, one hand, in a square around the
    faces it is over) until it is lost or leaves them. Not thread-safe; one per face tracker."""

    def __init__(self, static: bool):
        import mediapipe as mp  # heavy import kept out of `core` import time

        self._mp = mp
        self._look = mp.solutions.hands.Hands(static_image_mode=True, max_num_hands=MAX_HANDS,
                                              model_complexity=0, min_detection_confidence=0.5)
        self.static = static
        self._follow = None  # made when a hand is first found over a face: a graph is about 55 MB
        self._frame = 0
        self._following = False

    def find(self, rgb: np.ndarray, boxes: list[np.ndarray]) -> list[np.ndarray]:
        """The hands in this frame (RGB uint8) whose landmarks overlap one of the faces' ``boxes``
        (x0, y0, x1, y1; in video those of the frame before, so that hands and faces can be found
        side by side)."""
        look = self.static or self._frame % LOOK_EVERY == 0
        self._frame += 1
        if not boxes:
            self._following = False
            return []
        found = []
        if self._following:
            found = [hand for hand in _landmarks(self._follow, rgb, _around(boxes)) if _over(hand, boxes)]
            self._following = bool(found)
        if look:
            looked = [hand for hand in _landmarks(self._look, rgb) if _over(hand, boxes)]
            found += looked
            if looked and not self.static:
                self._following = True
                self._follow = self._follow or self._mp.solutions.hands.Hands(
                    static_image_mode=False, max_num_hands=1, model_complexity=0, min_detection_confidence=0.5,
                    min_tracking_confidence=0.5)
        return found

    def close(self) -> None:
        self._look.close()
        if self._follow is not None:
            self._follow.close()


def _landmarks(graph, rgb: np.ndarray, square: np.ndarray | None = None) -> list[np.ndarray]:
    """Each hand ``graph`` finds in the frame, or in the ``square`` (x, y, side) of it scaled to
    `FOLLOW_SIZE`, as (21, 2) frame pixels."""
    if square is None:
        h, w = rgb.shape[:2]
        found = graph.process(rgb).multi_hand_landmarks or []
        return [np.array([(p.x * w, p.y * h) for p in hand.landmark], np.float32) for hand in found]
    x, y, side = square
    scale = FOLLOW_SIZE / side
    crop = cv2.warpAffine(rgb, np.array([[scale, 0, -scale * x], [0, scale, -scale * y]]), (FOLLOW_SIZE, FOLLOW_SIZE),
                          flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    found = graph.process(crop).multi_hand_landmarks or []
    return [np.array([(x + p.x * side, y + p.y * side) for p in hand.landmark], np.float32) for hand in found]


def _around(boxes: list[np.ndarray]) -> np.ndarray:
    """(x, y, side): the square `FOLLOW_MARGIN` times the size of the faces' boxes, on their centre."""
    b = np.array(boxes, np.float64)
    low, high = b[:, :2].min(0), b[:, 2:].max(0)
    side = FOLLOW_MARGIN * float((high - low).max())
    centre = (low + high) / 2
    return np.array([centre[0] - side / 2, centre[1] - side / 2, side])


def _over(hand: np.ndarray, boxes: list[np.ndarray]) -> bool:
    """Whether the hand's landmarks reach into one of the boxes (x0, y0, x1, y1)."""
    low, high = hand.min(0), hand.max(0)
    return any(bool((high > box[:2]).all() and (low < box[2:]).all()) for box in boxes)


def hand_cover(landmarks: np.ndarray, hands: list[np.ndarray]) -> tuple[str, ...]:
    """Names of the face's regions (core.faces.regions), then of its eyes (`EYES`), that the hands
    cover at least half of; ``landmarks`` the face's (478, 2+) mesh points in the hands' pixels."""
    if not hands:
        return ()
    xy = np.ascontiguousarray(landmarks[:, :2], np.float32)
    low, high = xy.min(0), xy.max(0)
    unit = max(eye_distance(landmarks), 1e-6)
    outline = cv2.convexHull(xy)
    over = [h for h in hands if _over(h, [np.concatenate([low, high])])
            and cv2.pointPolygonTest(outline, (float(h[WRIST, 0]), float(h[WRIST, 1])), True) < -REACH * unit]
    if not over:
        return ()
    scale = CANVAS_EYES / unit
    width, height = np.ceil((high - low) * scale).astype(int) + 2
    mask = np.zeros((height, width), np.uint8)
    for hand in over:
        p = (hand - low) * scale
        band = max(1, round(FINGER_WIDTH * float(np.linalg.norm(p[MIDDLE_KNUCKLE] - p[WRIST]))))
        cv2.fillConvexPoly(mask, np.round(cv2.convexHull(p[list(PALM)])).astype(np.int32), 1)
        cv2.polylines(mask, [np.round(p[list(finger)]).astype(np.int32) for finger in FINGERS], False, 1, band)
    mask, points = mask.astype(bool), (xy - low) * scale
    cover = np.concatenate([region_cover(mask, points), eye_cover(mask, points)])
    return tuple(name for name, share in zip((*REGIONS, *EYES), cover) if share >= COVERED)
