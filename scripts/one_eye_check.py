"""A hand over one eye: blinks read from both eyes against the eyes no hand hides. Her real hand
over her right eye (WolfgangLanger_Pexels.mp4, 6 frames, and each mirrored over the left eye) is
pasted on other people's video, laid by the eye centres, 8 frames on and 8 off after the first
1.5 s; the hand is given to the face as the hand finder finds it on her frames (pasted, it lacks
her arm, and MediaPipe's palm detector does not find it). Truth is each frame's reading without
the hand: a frame read open there that reads a blink under the hand is a false blink.

    .venv/bin/python scripts/one_eye_check.py
"""
from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

VIDEOS = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "videos"
SOURCE, HAND_FRAMES = "WolfgangLanger_Pexels.mp4", (96, 97, 107, 118, 121, 130)  # her fingers over her right eye
TARGETS = ("liveportrait_d0", "liveportrait_d3", "liveportrait_d6", "liveportrait_d9", "liveportrait_d10",
           "liveportrait_d11", "liveportrait_d12", "single_face")
SETTLE, ON, OFF = 45, 8, 8  # frames: the person's rest first, then the hand on and off


def eye_centres(landmarks: np.ndarray) -> np.ndarray:
    return np.array([(landmarks[33, :2] + landmarks[133, :2]) / 2, (landmarks[362, :2] + landmarks[263, :2]) / 2],
                    np.float32)


def hand_pixels(shape: tuple, hand: np.ndarray) -> np.ndarray:
    """0..255 mask of the hand's pixels: its palm and fingers (a little wider than the hand finder
    draws them, so whole fingers come along), feathered."""
    from core.faces.hands import FINGER_WIDTH, FINGERS, MIDDLE_KNUCKLE, PALM, WRIST

    mask = np.zeros(shape[:2], np.uint8)
    band = max(1, round(1.6 * FINGER_WIDTH * float(np.linalg.norm(hand[MIDDLE_KNUCKLE] - hand[WRIST]))))
    cv2.fillConvexPoly(mask, np.round(cv2.convexHull(hand[list(PALM)])).astype(np.int32), 255)
    cv2.polylines(mask, [np.round(hand[list(f)]).astype(np.int32) for f in FINGERS], False, 255, band)
    return cv2.GaussianBlur(cv2.dilate(mask, np.ones((5, 5), np.uint8)), (7, 7), 0)


def her_hands() -> list[tuple]:
    """(frame, hand pixel mask, eye centres, hand landmarks) of each hand frame and its mirror image."""
    from core.faces import FaceTracker
    from core.faces.hands import HandFinder, hand_cover
    from core.video import open_source

    out = []
    finder = HandFinder(static=False)
    with open_source(str(VIDEOS / SOURCE)) as source, FaceTracker(max_faces=1, hands=False) as tracker:
        for frame in source:
            faces = tracker.process(frame.rgb)
            hands = finder.find(frame.rgb, [f.box for f in faces])
            if frame.index in HAND_FRAMES:
                hand = max(hands, key=lambda h: len(hand_cover(faces[0].landmarks, [h])))
                rgb, eyes = frame.rgb, eye_centres(faces[0].landmarks)
                out.append((rgb, hand_pixels(rgb.shape, hand), eyes, hand))
                w = rgb.shape[1] - 1
                flipped = hand.copy()
                flipped[:, 0] = w - flipped[:, 0]
                out.append((rgb[:, ::-1].copy(), out[-1][1][:, ::-1].copy(),
                            np.array([[w - eyes[1, 0], eyes[1, 1]], [w - eyes[0, 0], eyes[0, 1]]], np.float32), flipped))
            if frame.index >= max(HAND_FRAMES):
                break
    finder.close()
    return out


def paste(rgb: np.ndarray, landmarks: np.ndarray, hand: tuple) -> tuple[np.ndarray, np.ndarray]:
    """(the frame with her hand laid over it by the eye centres, the hand's landmarks there)."""
    source, mask, eyes, points = hand
    m, _ = cv2.estimateAffinePartial2D(eyes, eye_centres(landmarks))
    h, w = rgb.shape[:2]
    alpha = cv2.warpAffine(mask, m, (w, h)).astype(np.float32)[..., None] / 255
    out = rgb * (1 - alpha) + cv2.warpAffine(source, m, (w, h)) * alpha
    return out.astype(np.uint8), (points @ m[:, :2].T + m[:, 2]).astype(np.float32)


def main() -> int:
    from core.cli import default_model_dir
    from core.faces import FaceTracker
    from core.faces.hands import hand_cover
    from core.faces.regions import EYES
    from core.model.scorer import FaceScorer
    from core.quiet import silence_native_stderr
    from core.video import open_source

    silence_native_stderr()
    hands = her_hands()
    per_eye, both_eyes = FaceScorer(default_model_dir()), FaceScorer(default_model_dir())
    counts = {k: 0 for k in ("pasted", "eye_hidden", "open", "false_both", "false_per_eye", "closed", "kept_both",
                             "kept_per_eye", "unread")}
    for clip in TARGETS:
        path = str(VIDEOS / f"{clip}.mp4")
        clean = {}
        per_eye.reset()
        with open_source(path) as source, FaceTracker(max_faces=1, hands=False) as tracker:
            for frame in source:
                faces = tracker.process(frame.rgb)
                if faces:
                    clean[frame.index] = (faces[0].landmarks, per_eye.score(frame.rgb, faces, frame.timestamp)[0].au[45])
        per_eye.reset()
        both_eyes.reset()
        with open_source(path) as source, FaceTracker(max_faces=1, hands=False) as tracker:
            for frame in source:
                i = frame.index
                on = i >= SETTLE and (i - SETTLE) % (ON + OFF) < ON and i in clean
                rgb, hand = paste(frame.rgb, clean[i][0], hands[(i - SETTLE) // (ON + OFF) % len(hands)]) if on \
                    else (frame.rgb, None)
                faces = tracker.process(rgb)
                if on and faces:
                    faces = [replace(f, covered=hand_cover(f.landmarks, [hand])) for f in faces]
                if not faces:
                    continue
                read = per_eye.score(rgb, faces, frame.timestamp)[0].au[45]
                whole = [replace(f, covered=tuple(c for c in f.covered if c not in EYES)) for f in faces]
                both = both_eyes.score(rgb, whole, frame.timestamp)[0].au[45]
                if not on or not any(c in EYES for c in faces[0].covered):
                    counts["pasted"] += on
                    continue
                counts["pasted"] += 1
                counts["eye_hidden"] += 1
                counts["unread"] += bool(np.isnan(read))
                if clean[i][1] < 0.5:
                    counts["open"] += 1
                    counts["false_both"] += both >= 0.5
                    counts["false_per_eye"] += read >= 0.5
                else:
                    counts["closed"] += 1
                    counts["kept_both"] += both >= 0.5
                    counts["kept_per_eye"] += read >= 0.5
        print(clip, counts, flush=True)
    c = counts
    print(f"her hand over one eye on {len(TARGETS)} people: {c['pasted']} frames, the eye hidden on {c['eye_hidden']}; "
          f"of those read open without the hand ({c['open']}), false blinks from both eyes {c['false_both']}, "
          f"from the eyes no hand hides {c['false_per_eye']}; of those read as a blink ({c['closed']}), "
          f"kept {c['kept_both']} and {c['kept_per_eye']}; blink unread {c['unread']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
