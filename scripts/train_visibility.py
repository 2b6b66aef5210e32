"""Train the shipped model's visibility head (which regions are covered) and measure it.

Training faces: the DEV clips, two other shared clips and CK+ subjects, each with synthetic
occluders (`core.training.occlusion.training_occluder`). Figures: on held-out CK+ subjects, then
through the whole analyse path (the face re-tracked on the occluded frame) on the REPORT clips'
people, clean and with occluders never drawn in training (framed sunglasses, a hand textured with
another person's skin). Writes the head into the model folder (-o, default: the shipped one).

    .venv/bin/python scripts/train_visibility.py [-o MODEL_DIR]
"""
from __future__ import annotations

import argparse
import csv
import datetime
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
VIDEOS = ROOT.parent / "shared" / "data" / "videos"
CKPLUS = ROOT.parent / "shared" / "data" / "ckplus"


def main() -> None:
    from core.cli import default_model_dir
    from core.faces import FaceTracker
    from core.faces.regions import REGIONS, region_cover
    from core.model.model import MF2
    from core.model.transform import face_input, to_input
    from core.quiet import silence_native_stderr
    from core.training.checkpoint import load_model, save_model
    from core.training.occlusion import (cheek_patch, image_shots, labels_of, measurement_occluder,
                                         region_embeddings, set_false_alarms, train_visibility, training_occluder,
                                         video_shots)
    from video_au_check import DEV, REPORT

    parser = argparse.ArgumentParser()
    parser.add_argument("-o", "--output", type=Path, default=default_model_dir())
    parser.add_argument("--copies", type=int, default=4, help="occluded copies of each training face")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--false-alarms", type=float, default=0.01,
                        help="share of the regions of clean faces not trained on read as covered (sets the cut)")
    args = parser.parse_args()
    silence_native_stderr()
    torch.set_num_threads(2)
    rng = np.random.default_rng(0)
    base = load_model(default_model_dir())
    model = MF2(replace(base.cfg, region_visibility=True, version=f"mf2-default-{datetime.date.today().isoformat()}"))
    model.load_state_dict(base.state_dict(), strict=False)
    model.eval()

    with open(CKPLUS / "labels.csv") as f:
        rows = list(csv.DictReader(f))
    first = {}
    for r in rows:  # one peak image per sequence, at most two per subject
        if sum(k == r["subject"] for k, _ in first) < 2:
            first.setdefault((r["subject"], r["sequence"]), r["path"])
    subjects = sorted({s for s, _ in first})
    held_out = set(subjects[::4])
    ck = image_shots([CKPLUS / p for p in first.values()], [s for s, _ in first])
    train = [s for s in ck if s.person not in held_out]
    val = [s for s in ck if s.person in held_out]
    for clip, every in [(c, 8) for c in DEV[:2]] + [("WolfgangLanger_Pexels.mp4", 12), ("face_noface.mov", 6)]:
        train += video_shots(VIDEOS / clip, every, clip)
    val += video_shots(VIDEOS / DEV[2], 8, DEV[2])  # the decision point is chosen on faces not trained on
    print(f"training faces {len(train)} ({len(set(s.person for s in train))} people), "
          f"CK+ held-out faces {len(val)} ({len(held_out)} subjects)", flush=True)

    def occluded(shots, copies):
        faces, labels = [], []
        for shot in shots:
            faces.append((shot.rgb, shot.landmarks))
            labels.append(np.zeros(len(REGIONS)))
            for _ in range(copies):
                other = shots[rng.integers(len(shots))]
                rgb, mask = training_occluder(shot, rng, other if other.person != shot.person else shots[0])
                faces.append((rgb, shot.landmarks))
                labels.append(labels_of(region_cover(mask, shot.landmarks)))
        return region_embeddings(model, faces), np.stack(labels)

    x, y = occluded(train, args.copies)
    train_visibility(model, x, y, args.steps)
    names = list(REGIONS)

    def rates(prob_visible, labels):
        """(share of covered regions flagged, share of visible regions flagged), over all regions."""
        flagged = prob_visible < 0.5
        cov, vis = labels == 1, labels == 0
        return flagged[cov].mean() if cov.any() else float("nan"), flagged[vis].mean()

    clean = region_embeddings(model, [(s.rgb, s.landmarks) for s in val])
    shift = set_false_alarms(model, clean, args.false_alarms)
    vx, vy = occluded(val, 4)
    with torch.no_grad():
        vp = torch.sigmoid(model.visible_logits(vx)).numpy()
    figures = {"choice_set": {"bias_shift": shift, **dict(zip(("covered_flagged", "visible_flagged"), rates(vp, vy)))}}
    print(f"choice set (CK+ held-out subjects, {DEV[2]}), training occluders:", figures["choice_set"], flush=True)

    # the REPORT clips' people, through the analyse path: the face is found again on the occluded picture
    report = {clip: video_shots(VIDEOS / clip, 10, clip) for clip in REPORT}
    skins = {clip: cheek_patch(shots[0]) for clip, shots in report.items()}
    results = {}
    with FaceTracker(max_faces=1, static=True, hands=False) as tracker:
        for kind in ("clean", "sunglasses", "hand"):
            probs, labels, lost = [], [], 0
            for clip, shots in report.items():
                other = skins[REPORT[(REPORT.index(clip) + 1) % len(REPORT)]]
                for shot in shots:
                    if kind == "clean":
                        rgb, mask = shot.rgb, np.zeros(shot.rgb.shape[:2], bool)
                    else:
                        rgb, mask = measurement_occluder(shot, kind, other, rng, rng.choice(["mouth", "eye"]))
                    faces = tracker.process(rgb)
                    if not faces:
                        lost += 1
                        continue
                    crop, centres = face_input(rgb, faces[0].landmarks, model.cfg.input_size)
                    with torch.no_grad():
                        logits = model(to_input(crop[None], "cpu"), torch.as_tensor(centres[None]))["visible_logits"]
                    probs.append(torch.sigmoid(logits)[0].numpy())
                    labels.append(labels_of(region_cover(mask, shot.landmarks)))
            probs, labels = np.stack(probs), np.stack(labels)
            cov, vis = rates(probs, labels)
            per_region = {n: round(float((probs[:, r] < 0.5)[labels[:, r] == 1].mean()), 3)
                          for r, n in enumerate(names) if (labels[:, r] == 1).sum() >= 5}
            results[kind] = {"faces": len(probs), "face_not_found": lost, "covered_flagged": round(float(cov), 3),
                             "visible_flagged": round(float(vis), 3), "covered_flagged_per_region": per_region}
            print(kind, json.dumps(results[kind]), flush=True)
    figures["report_clips"] = results
    save_model(model, args.output)
    (args.output / "visibility_figures.json").write_text(json.dumps(figures, indent=2))
    print(f"{args.output}: visibility head written")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
