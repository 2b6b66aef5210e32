"""How small and how blurred a face can be before its AU readings stop holding: the labelled
frames of real clips (as `video_au_check.py` scores them) made smaller or blurred, read through
the whole analyse path with the face-quality cut switched off, AU F1 and false positives per step.

Sizes: each frame scaled down so that the person's eyes are ``--sizes`` pixels apart (median over
the clip), centred on a 640x480 canvas of the frame's mean colour, as a face far from a wide camera.
Blur: a Gaussian of ``--blurs`` times the eye distance at full size. Per step: the share of
labelled frames with a face, the median eye distance and sharpness (core.faces.quality) of those
faces, and for every face found, for those the shipped ramps of `core.faces.quality` leave readable
(and those of a ``--sharpness`` candidate), the share of labelled frames read and their AU mean F1 /
false positives. On the DEV clips it prints where the rule (fixed before any figure) puts the
sharpness ramp: its midpoint (quality 0.5) midway between the median sharpness of the blurriest
step that holds and that of the sharpest that does not, the ramp from 2/3 to 4/3 of it as before;
``--clips report`` measures a choice on the REPORT clips, once.

    .venv/bin/python scripts/quality_check.py [--clips dev|report] [--json OUT]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from video_au_check import DEV, REPORT, SHARED, clip_analysis, largest_face  # noqa: E402

from core.analysis import Analysis, run_analysis  # noqa: E402
from core.evaluate import frame_au_scores, load_frame_labels  # noqa: E402
from core.faces import FaceTracker  # noqa: E402
from core.faces.geometry import eye_distance  # noqa: E402
from core.faces.quality import EYE_PX, READABLE, SHARPNESS, ramp, face_quality, sharpness  # noqa: E402
from core.model import scorer as scorer_module  # noqa: E402
from core.model.scorer import FaceScorer  # noqa: E402
from core.model.shipped import default_model_dir  # noqa: E402
from core.model.transform import face_input  # noqa: E402
from core.quiet import silence_native_stderr  # noqa: E402
from core.video import Frame, Source, open_source  # noqa: E402

CANVAS = (480, 640)
# A step holds when its AU mean F1 is within TOLERANCE of the clean frames' and its false
# positives at most FP_MARGIN over theirs (fixed before any figure was seen)
TOLERANCE, FP_MARGIN = 0.10, 0.05


class Degraded(Source):
    """A clip's frames made smaller (eyes ``eye_px`` apart) or blurred (sigma ``blur`` eye distances)."""

    def __init__(self, path: Path, full_eye: float, eye_px: float | None = None, blur: float | None = None):
        self.inner = open_source(str(path))
        self.name, self.fps, self.frame_count = self.inner.name, self.inner.fps, self.inner.frame_count
        self.scale = None if eye_px is None else eye_px / full_eye
        self.sigma = None if blur is None else blur * full_eye

    def __iter__(self):
        for frame in self.inner:
            yield Frame(frame.index, frame.timestamp, self.degrade(frame.rgb))

    def degrade(self, rgb: np.ndarray) -> np.ndarray:
        if self.sigma:
            return cv2.GaussianBlur(rgb, (0, 0), self.sigma)
        if self.scale is None:
            return rgb
        small = cv2.resize(rgb, None, fx=self.scale, fy=self.scale, interpolation=cv2.INTER_AREA)
        canvas = np.empty((*CANVAS, 3), np.uint8)
        canvas[:] = rgb.reshape(-1, 3).mean(0).astype(np.uint8)
        h, w = small.shape[:2]
        y, x = (CANVAS[0] - h) // 2, (CANVAS[1] - w) // 2
        canvas[y:y + h, x:x + w] = small
        return canvas

    def close(self) -> None:
        self.inner.close()


def step(clips, truth, scorer: FaceScorer, full_eye: dict, **how) -> list[dict]:
    """One step's labelled frames with a face: what was read and the face's quality checks."""
    out = []
    for video in clips:
        frames = sorted(f for v, f in truth if v == video)
        with Degraded(SHARED / "videos" / video, full_eye[video], **how) as source, \
                FaceTracker(max_faces=1) as tracker:
            analysis = Analysis.for_scorer(scorer, source.frame_count, str(video))
            run_analysis(source, analysis, tracker, scorer)
        with Degraded(SHARED / "videos" / video, full_eye[video], **how) as source:
            images = {f.index: f.rgb for f in source if f.index in frames}
        for index in frames:
            face = largest_face(analysis, index)
            if face is not None:
                crop, _ = face_input(images[index], face.landmarks, scorer.cfg.input_size)
                out.append({"key": (video, index), "read": {n: p >= 0.5 for n, p in face.au.items()},
                            "eye_px": eye_distance(face.landmarks), "sharpness": sharpness(crop),
                            "pose": face_quality(face.landmarks, face.pose, crop)["pose"]})
    return out


def figures(records: list[dict], truth: dict, ramps: dict[str, tuple]) -> dict:
    """AU mean F1 and false positives over the faces that ``ramps`` (the size and sharpness ramps
    of core.faces.quality) leave readable, and the share of labelled frames they are."""
    kept = [r for r in records if min(ramp(r["eye_px"], *ramps["size"]), ramp(r["sharpness"], *ramps["sharpness"]),
                                      r["pose"]) >= READABLE]
    found = {r["key"]: truth[r["key"]] for r in kept}
    scores = frame_au_scores(found, {r["key"]: r["read"] for r in kept}) if kept else {"mean_f1": 0.0, "fp_rate": 0.0}
    return {"read": round(len(kept) / len(truth), 3), "mean_f1": round(scores["mean_f1"], 3),
            "fp": round(scores["fp_rate"], 3)}


def summary(records: list[dict], truth: dict, ramps: dict[str, dict]) -> dict:
    """A step's figures: faces found, their median size and sharpness, and per set of ramps (``all``
    reads every face found) what is read and how well."""
    med = lambda key: round(float(np.median([r[key] for r in records])), 4) if records else None  # noqa: E731
    return {"with_face": round(len(records) / len(truth), 3), "eye_px": med("eye_px"), "sharpness": med("sharpness"),
            **{name: figures(records, truth, r) for name, r in ramps.items()}}


def survey(ramps: dict[str, dict], every: int = 5) -> None:
    """Every shared clip as it is (every ``every``-th frame): its faces' median sharpness, and the
    share of them each set of ramps leaves unread for size or sharpness (pose left out)."""
    for video in sorted((SHARED / "videos").iterdir()):
        values = []
        with open_source(str(video)) as source, FaceTracker(max_faces=4) as tracker:
            for frame in source:
                faces = tracker.process(frame.rgb)  # every frame, so that tracking is as in analyse
                if frame.index % every == 0:
                    values += [(eye_distance(f.landmarks), sharpness(face_input(frame.rgb, f.landmarks, 48)[0]))
                               for f in faces]
        if values:
            eyes, sharp = np.array(values).T
            cut = {name: float(np.mean(np.minimum([ramp(e, *r["size"]) for e in eyes],
                                                  [ramp(v, *r["sharpness"]) for v in sharp]) < READABLE))
                   for name, r in ramps.items() if name != "all"}
            print(f"{video.name}: {len(values)} faces, eyes {np.median(eyes):.0f} px, sharpness median "
                  f"{np.median(sharp):.3f} (5th percentile {np.percentile(sharp, 5):.3f}); left unread: "
                  + ", ".join(f"{name} {v:.1%}" for name, v in cut.items()), flush=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clips", choices=("dev", "report"), default="dev")
    p.add_argument("--sizes", type=float, nargs="+", default=[40, 24, 18, 14, 11, 8])
    p.add_argument("--blurs", type=float, nargs="+", default=[0.03, 0.05, 0.07, 0.1, 0.14])
    p.add_argument("--sharpness", type=float, nargs=2, metavar=("BAD", "GOOD"),
                   help="also measure this sharpness ramp (unreadable .. fully readable)")
    p.add_argument("--survey", action="store_true", help="only the shared clips as they are: what each ramp leaves unread")
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    silence_native_stderr()
    scorer_module.READABLE = -1.0  # read every face, whatever its quality: the ramps are applied below
    clips = DEV if args.clips == "dev" else REPORT
    truth = {k: v for k, v in load_frame_labels(SHARED / "video_au" / "labels.csv").items() if k[0] in clips}
    model = default_model_dir()
    scorer = FaceScorer(model)
    full_eye = {}
    for video in clips:  # the person's eye distance at full size, from the cached clean analysis
        analysis = clip_analysis(SHARED / "videos" / video, scorer, model)
        full_eye[video] = float(np.median([eye_distance(largest_face(analysis, i).landmarks)
                                           for i in range(len(analysis)) if largest_face(analysis, i)]))
    print(f"{args.clips} clips, eye distance at full size: " + ", ".join(f"{v} {e:.0f} px" for v, e in full_eye.items()))
    ramps = {"all": {"size": (-2, -1), "sharpness": (-2, -1)}, "shipped": {"size": EYE_PX, "sharpness": SHARPNESS}}
    if args.sharpness:
        ramps["candidate"] = {"size": EYE_PX, "sharpness": tuple(args.sharpness)}
    steps = [("clean", {})] + [(f"eyes {v:g} px", {"eye_px": v}) for v in args.sizes] + \
            [(f"blur {v:g}", {"blur": v}) for v in args.blurs]
    if args.survey:
        survey(ramps)
        return 0
    rows, pooled, t0 = {}, [], time.perf_counter()
    for name, how in steps:
        records = step(clips, truth, scorer, full_eye, **how)
        pooled += [{**r, "key": (*r["key"], name)} for r in records]
        rows[name] = summary(records, truth, ramps)
        print(f"{name}: {rows[name]}  ({time.perf_counter() - t0:.0f} s)", flush=True)
    every = {(*k, name): v for name, _ in steps for k, v in truth.items()}
    rows["every step pooled"] = summary(pooled, every, ramps)
    print(f"every step pooled: {rows['every step pooled']}")
    clean = rows["clean"]["all"]
    holding = [rows[name] for name, how in steps if "blur" in how and rows[name]["all"]["mean_f1"] >= clean["mean_f1"] - TOLERANCE
               and rows[name]["all"]["fp"] <= clean["fp"] + FP_MARGIN and rows[name]["with_face"] > 0]
    failing = [rows[name] for name, how in steps if "blur" in how and rows[name] not in holding and rows[name]["with_face"] > 0]
    if args.clips == "dev" and holding and failing:
        cut = (min(r["sharpness"] for r in holding) + max(r["sharpness"] for r in failing)) / 2
        print(f"the rule's sharpness ramp: cut {cut:.4f} (midway between the blurriest step that holds and the "
              f"sharpest that does not), ramp {2 * cut / 3:.3f} .. {4 * cut / 3:.3f}")
    if args.json:
        args.json.write_text(json.dumps({"clips": args.clips, "full_eye": full_eye, "ramps": ramps, "rows": rows},
                                        indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
