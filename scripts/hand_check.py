"""How well covered regions are found with the hand finder (core.faces.hands) beside the
visibility head: on the real hand of WolfgangLanger_Pexels.mp4 against regions labelled by eye
(`scripts/hand_labels.csv`: 1 the hand hides at least half of the outlined region, 0 at most a
tenth, blank in between), on every other shared clip (no hand in any: regions flagged there are
false alarms), and on the pasted hand silhouettes of the visibility head's measurement (REPORT
clips). Each figure for the head alone, the hands alone and both, as `analyze` reads them.

    .venv/bin/python scripts/hand_check.py [--json FILE]
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

HERE = Path(__file__).resolve().parent
VIDEOS = HERE.parent.parent / "shared" / "data" / "videos"
REAL = "WolfgangLanger_Pexels.mp4"
WAYS = ("head", "hands", "both")


def covered(scorer, rgb, face) -> dict[str, np.ndarray]:
    """(n_regions,) bool per way of finding covered regions, in the model's region order."""
    head = scorer._covered(scorer.read_faces(rgb, [replace(face, covered=())])[0])
    hands = np.array([r in face.covered for r in scorer._regions])
    return {"head": head, "hands": hands, "both": scorer._covered(scorer.read_faces(rgb, [face])[0])}


def rates(found: dict[str, list], labels: list[np.ndarray], names: list[str]) -> dict:
    """Share of covered-labelled regions found and of visible-labelled ones flagged, per way;
    per region for the covered ones (5 or more)."""
    y = np.stack(labels)
    out = {"covered_regions": int((y == 1).sum()), "visible_regions": int((y == 0).sum())}
    for way in WAYS:
        f = np.stack(found[way])
        per = {n: round(float(f[:, r][y[:, r] == 1].mean()), 3) for r, n in enumerate(names) if (y[:, r] == 1).sum() >= 5}
        out[way] = {"covered_found": round(float(f[y == 1].mean()), 3), "visible_flagged": round(float(f[y == 0].mean()), 4),
                    "covered_found_per_region": per}
    return out


def main() -> int:
    from core.cli import default_model_dir
    from core.faces import FaceTracker
    from core.faces.regions import region_cover
    from core.model.scorer import FaceScorer
    from core.quiet import silence_native_stderr
    from core.training.occlusion import cheek_patch, labels_of, measurement_occluder, video_shots
    from core.video import open_source
    from video_au_check import REPORT

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=Path, default=HERE / "hand_labels.csv")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    silence_native_stderr()
    scorer = FaceScorer(default_model_dir())
    names = list(scorer._regions)
    figures = {}

    with open(args.labels, newline="", encoding="utf-8") as f:
        rows = {int(r["frame"]): r for r in csv.DictReader(f)}
    found, labels = {w: [] for w in WAYS}, []
    with open_source(str(VIDEOS / REAL)) as source, FaceTracker(max_faces=1) as tracker:
        for frame in source:
            faces = tracker.process(frame.rgb)
            if frame.index in rows and faces:
                for way, c in covered(scorer, frame.rgb, faces[0]).items():
                    found[way].append(c)
                labels.append(np.array([float(rows[frame.index][n]) if rows[frame.index][n] else np.nan for n in names]))
    figures["real_hand"] = {"frames": len(labels), **rates(found, labels, names)}
    print("real hand,", REAL, json.dumps(figures["real_hand"]), flush=True)

    flagged, faces_seen = {w: 0 for w in WAYS}, 0
    for clip in sorted(p for p in VIDEOS.iterdir() if p.name != REAL and p.suffix in (".mp4", ".mov")):
        with open_source(str(clip)) as source, FaceTracker(max_faces=1) as tracker:
            for frame in source:
                faces = tracker.process(frame.rgb)
                if faces:
                    faces_seen += 1
                    for way, c in covered(scorer, frame.rgb, faces[0]).items():
                        flagged[way] += int(c.sum())
    total = faces_seen * len(names)
    figures["no_hand_clips"] = {"faces": faces_seen, **{w: {"visible_flagged": round(flagged[w] / total, 5)} for w in WAYS}}
    print("clips without a hand", json.dumps(figures["no_hand_clips"]), flush=True)

    rng = np.random.default_rng(0)
    report = {clip: video_shots(VIDEOS / clip, 10, clip) for clip in REPORT}
    skins = {clip: cheek_patch(shots[0]) for clip, shots in report.items()}
    found, labels, lost = {w: [] for w in WAYS}, [], 0
    with FaceTracker(max_faces=1, static=True) as tracker:
        for clip, shots in report.items():
            other = skins[REPORT[(REPORT.index(clip) + 1) % len(REPORT)]]
            for shot in shots:
                rgb, mask = measurement_occluder(shot, "hand", other, rng, rng.choice(["mouth", "eye"]))
                faces = tracker.process(rgb)
                if not faces:
                    lost += 1
                    continue
                for way, c in covered(scorer, rgb, faces[0]).items():
                    found[way].append(c)
                labels.append(labels_of(region_cover(mask, shot.landmarks)))
    figures["pasted_hand"] = {"faces": len(labels), "face_not_found": lost, **rates(found, labels, names)}
    print("pasted hand silhouettes, REPORT clips", json.dumps(figures["pasted_hand"]), flush=True)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
