"""Train MF²'s AU side (local branch, AU heads, geometry weights, per-AU thresholds) on CK+ and the
labelled frames of the DEV clips, after measuring it by subject-disjoint cross-validation on CK+.

Faces at rest (``--rest-faces``: FER+ training photos at least 9 of 10 voters called neutral;
``--rest-labels``: DEV frames judged at rest by eye) are a negative for every AU; with
``--rest-epochs`` the AU heads are trained again with them, the local branch kept
(`core.training.au_local`); ``--rest-only`` does that stage alone on ``--base``'s trained AU side.

Every CK+ figure printed is on held-out subjects: for each outer fold the local branch, heads and
geometry weights are trained on the other folds' subjects only, and the thresholds are chosen on
out-of-fold predictions inside those training subjects (an inner 2-fold split). The backbone was
pre-trained on FER2013 alone, so it has never seen CK+. The REPORT clips are not touched.

    .venv/bin/python scripts/train_au.py [--base DIR] [-o DIR] [--variants V,...] [--rest-epochs N --rest-only]
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from core.baseline import BaselineMode
from core.cli import default_model_dir
from core.data.sources import load_au_csv
from core.data.video_frames import video_faces
from core.evaluate import load_frame_labels
from core.model.model import MF2
from core.model.scorer import GEOMETRIC_AUS
from core.model.text import TextEncoder
from core.quiet import silence_native_stderr
from core.faces.geometry import NAMES
from core.training.au_local import (REST, AuData, AuSettings, at_rest, backbone_maps, ckplus_au_data, cross_validate,
                                    ferplus_rest_faces, fit_thresholds, gate_rise, train_au, untrained_au_side)
from core.training.checkpoint import load_model, save_model
from core.training.loop import au_texts

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "data"
sys.path.insert(0, str(HERE))
from video_au_check import DEV, frames_at_rest  # noqa: E402


def clips(model: MF2, labels_csv: Path, videos: Path, names, rest_csv: Path | None = None) -> AuData:
    """The labelled frames of the clips ``names``; with ``rest_csv`` (``video,frame,rest``), the
    frames judged at rest once more as faces at rest (every AU absent)."""
    truth = load_frame_labels(labels_csv)
    resting = frames_at_rest(rest_csv) if rest_csv else set()
    eyelid = np.array([n in GEOMETRIC_AUS for n in model.cfg.aus])
    parts = []
    for name in names:
        wanted = {f for v, f in truth if v == name}
        faces = video_faces(videos / name, wanted, model.cfg.input_size, BaselineMode("auto"))
        labels = np.full((len(faces.frames), len(model.cfg.aus)), np.nan)
        for i, f in enumerate(faces.frames):
            for n, v in truth[(name, f)].items():
                if n in model.cfg.aus and n not in GEOMETRIC_AUS:  # eye closure is read from the eyelids
                    labels[i, model.cfg.aus.index(n)] = v
        data = AuData(backbone_maps(model, faces.images), faces.centers, faces.deviation, labels,
                      np.array([name] * len(faces.frames)))
        parts.append(data)
        rows = [i for i, f in enumerate(faces.frames) if (name, f) in resting]
        if rows:
            still = data.subset(rows)
            still.labels = np.where(np.isnan(labels[rows]) & ~eyelid[None], 0.0, labels[rows])
            still.groups = np.array([REST + name] * len(rows))
            parts.append(still)
    return AuData.join(parts)


def show(name: str, figures: dict, t0: float) -> None:
    print(f"{name}: mean F1 {figures['at_0.5']['mean_f1']:.3f} at 0.5, {figures['thresholded']['mean_f1']:.3f} "
          f"with fold thresholds; {figures['thresholded']['per_au_f1']}  ({time.perf_counter() - t0:.0f} s)", flush=True)
    if "rest_read" in figures:
        print(f"  read on held-out faces at rest ({figures['rest_faces']}): "
              f"{ {a: r for a, r in figures['rest_read'].items() if r} }", flush=True)


BROW_GATES = ((1, "inner_brow_height"), (2, "outer_brow_height"))
# FACS: an upper lid raiser (AU5) needs the eyes open wider than at the person's rest; no margin, nothing tuned
REST_GATES = ((5, "eye_opening", 0.0),)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, default=default_model_dir(), help="model whose backbone is kept")
    parser.add_argument("-o", "--output", type=Path, default=None, help="model folder to write (default: none)")
    parser.add_argument("--ckplus", type=Path, default=SHARED / "ckplus" / "labels.csv")
    parser.add_argument("--video-labels", type=Path, default=SHARED / "video_au" / "labels.csv")
    parser.add_argument("--videos", type=Path, default=SHARED / "videos")
    parser.add_argument("--clips", default=",".join(DEV), help="labelled clips trained on (default: the DEV clips)")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--variants", default="local,local+geometry", help="CV variants to measure")
    parser.add_argument("--rest-faces", type=int, default=0, help="FER+ training photos voted neutral, as faces at rest")
    parser.add_argument("--rest-labels", type=Path, default=None, help="video,frame,rest: DEV frames judged at rest")
    parser.add_argument("--rest-epochs", type=int, default=0, help="epochs of the heads with the faces at rest")
    parser.add_argument("--rest-weight", type=float, default=1.0, help="loss weight of a face at rest")
    parser.add_argument("--photo-thresholds", action="store_true",
                        help="choose the thresholds on the labelled faces only, the faces at rest left out")
    parser.add_argument("--no-ablation", action="store_true", help="skip the CV with the region embeddings zeroed")
    parser.add_argument("--rest-only", action="store_true",
                        help="keep --base's trained AU side and run the faces-at-rest stage alone")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    silence_native_stderr()
    t0 = time.perf_counter()
    base = load_model(args.base)
    ck = ckplus_au_data(base, load_au_csv(args.ckplus))
    scale = np.maximum(np.std(ck.geometry, 0), 1e-3)
    au_text = TextEncoder().encode(au_texts(base))
    settings = AuSettings(epochs=args.epochs, rest_epochs=args.rest_epochs, rest_weight=args.rest_weight,
                          rest_thresholds=not args.photo_thresholds)
    print(f"CK+: {len(ck)} faces; {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    if args.rest_faces:
        rest = ferplus_rest_faces(base, SHARED / "fer2013" / "train", SHARED / "fer2013" / "ferplus_votes.csv", args.rest_faces)
        print(f"faces at rest: {len(rest)} FER+ photos; {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        ck = AuData.join([ck, rest])  # split across the CV folds like the subjects; trained on in the rest stage only
    report = {}
    for variant in filter(None, args.variants.split(",")):
        geo = "geometry" in variant
        s = AuSettings(**{**settings.__dict__, "use_geometry": geo, "align_weight": 0.0 if "noalign" in variant else 0.5})
        report[variant] = cross_validate(lambda: untrained_au_side(args.base, scale), ck, s, au_text)
        show(variant, report[variant], t0)
        if geo and not args.no_ablation:
            name = variant + " (regions zeroed)"
            report[name] = cross_validate(lambda: untrained_au_side(args.base, scale), ck, s, au_text, zero_regions=True)
            show(name, report[name], t0)
    if args.output:
        names = [c for c in args.clips.split(",") if c]
        dev = clips(base, args.video_labels, args.videos, names, args.rest_labels) if names else None
        data = AuData.join([ck, dev]) if dev else ck
        make = lambda: untrained_au_side(args.base, scale)  # noqa: E731
        thresholds = fit_thresholds(make, data, settings, au_text, folds=5, seed=0)
        if args.rest_only:  # the local branch and everything reading it stay bit for bit the base's
            model = base
            train_au(model, data, AuSettings(**{**settings.__dict__, "epochs": 0}), au_text)
        else:
            model = make()
            train_au(model, data, settings, au_text)
        model.cfg.au_thresholds = tuple(float(t) for t in thresholds)
        if dev and not args.rest_only:  # FACS: a brow raiser needs the brow to rise over the person's rest; where, from the clips
            labelled = dev.subset(np.flatnonzero(~at_rest(dev.groups)))
            model.cfg.au_gates = tuple((au, feature, gate_rise(labelled, model.cfg.aus.index(au), NAMES.index(feature)))
                                       for au, feature in BROW_GATES) + REST_GATES
        model.cfg.version = "mf2-default-" + time.strftime("%Y-%m-%d")
        args.output.mkdir(parents=True, exist_ok=True)
        for extra in ("MODEL_CARD.md", "replay.safetensors"):
            if (args.base / extra).is_file() and args.base.resolve() != args.output.resolve():
                shutil.copy2(args.base / extra, args.output / extra)
        save_model(model, args.output, {"au_training": {"faces": len(data), "ckplus": len(ck), "clips": names,
                                                         "clip_frames": len(dev) if dev else 0,
                                                         "at_rest": int(at_rest(data.groups).sum()),
                                                         "settings": settings.__dict__}})
        report["thresholds"] = dict(zip(map(str, model.cfg.aus), model.cfg.au_thresholds))
        report["gates"] = model.cfg.au_gates
        print(f"wrote {args.output} ({len(ck)} CK+ faces and faces at rest + {len(dev) if dev else 0} clip frames); thresholds "
              f"{report['thresholds']}; gates {model.cfg.au_gates}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    print(f"{time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
