"""Train MF²'s AU side (local branch, AU heads, geometry weights, per-AU thresholds) on CK+ and the
labelled frames of the DEV clips, after measuring it by subject-disjoint cross-validation on CK+.

Every CK+ figure printed is on held-out subjects: for each outer fold the local branch, heads and
geometry weights are trained on the other folds' subjects only, and the thresholds are chosen on
out-of-fold predictions inside those training subjects (an inner 2-fold split). The backbone was
pre-trained on FER2013 alone, so it has never seen CK+. The REPORT clips are not touched.

    .venv/bin/python scripts/train_au.py [--base DIR] [-o DIR] [--cv-only]
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
from core.training.au_local import (AuData, AuSettings, backbone_maps, ckplus_au_data, cross_validate,
                                    fit_thresholds, gate_rise, train_au, untrained_au_side)
from core.training.checkpoint import load_model, save_model
from core.training.loop import au_texts

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "data"
sys.path.insert(0, str(HERE))
from video_au_check import DEV  # noqa: E402


def clips(model: MF2, labels_csv: Path, videos: Path, names) -> AuData:
    truth = load_frame_labels(labels_csv)
    parts = []
    for name in names:
        wanted = {f for v, f in truth if v == name}
        faces = video_faces(videos / name, wanted, model.cfg.input_size, BaselineMode("auto"))
        labels = np.full((len(faces.frames), len(model.cfg.aus)), np.nan)
        for i, f in enumerate(faces.frames):
            for n, v in truth[(name, f)].items():
                if n in model.cfg.aus and n not in GEOMETRIC_AUS:  # eye closure is read from the eyelids
                    labels[i, model.cfg.aus.index(n)] = v
        parts.append(AuData(backbone_maps(model, faces.images), faces.centers, faces.deviation, labels,
                            np.array([name] * len(faces.frames))))
    return AuData.join(parts)


BROW_GATES = ((1, "inner_brow_height"), (2, "outer_brow_height"))


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
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    silence_native_stderr()
    t0 = time.perf_counter()
    base = load_model(args.base)
    ck = ckplus_au_data(base, load_au_csv(args.ckplus))
    scale = np.maximum(np.std(ck.geometry, 0), 1e-3)
    au_text = TextEncoder().encode(au_texts(base))
    settings = AuSettings(epochs=args.epochs)
    print(f"CK+: {len(ck)} faces; {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    report = {}
    for variant in filter(None, args.variants.split(",")):
        geo = "geometry" in variant
        s = AuSettings(**{**settings.__dict__, "use_geometry": geo, "align_weight": 0.0 if "noalign" in variant else 0.5})
        report[variant] = cross_validate(lambda: untrained_au_side(args.base, scale), ck, s, au_text)
        if geo:
            report[variant + " (regions zeroed)"] = cross_validate(lambda: untrained_au_side(args.base, scale), ck, s,
                                                                   au_text, zero_regions=True)
        for name in (variant, variant + " (regions zeroed)"):
            if name in report:
                f = report[name]
                print(f"{name}: mean F1 {f['at_0.5']['mean_f1']:.3f} at 0.5, {f['thresholded']['mean_f1']:.3f} "
                      f"with fold thresholds; {f['thresholded']['per_au_f1']}  ({time.perf_counter() - t0:.0f} s)",
                      flush=True)
    if args.output:
        names = [c for c in args.clips.split(",") if c]
        dev = clips(base, args.video_labels, args.videos, names) if names else None
        data = AuData.join([ck, dev]) if dev else ck
        make = lambda: untrained_au_side(args.base, scale)  # noqa: E731
        thresholds = fit_thresholds(make, data, settings, au_text, folds=5, seed=0)
        model = make()
        train_au(model, data, settings, au_text)
        model.cfg.au_thresholds = tuple(float(t) for t in thresholds)
        if dev:  # FACS: a brow raiser needs the brow to rise over the person's rest; where, from the clips
            model.cfg.au_gates = tuple((au, feature, gate_rise(dev, model.cfg.aus.index(au), NAMES.index(feature)))
                                       for au, feature in BROW_GATES)
        model.cfg.version = "mf2-default-" + time.strftime("%Y-%m-%d")
        args.output.mkdir(parents=True, exist_ok=True)
        for extra in ("MODEL_CARD.md", "replay.safetensors"):
            if (args.base / extra).is_file() and args.base.resolve() != args.output.resolve():
                shutil.copy2(args.base / extra, args.output / extra)
        save_model(model, args.output, {"au_training": {"faces": len(data), "ckplus": len(ck), "clips": names,
                                                         "clip_frames": len(dev) if dev else 0,
                                                         "settings": settings.__dict__}})
        report["thresholds"] = dict(zip(map(str, model.cfg.aus), model.cfg.au_thresholds))
        report["gates"] = model.cfg.au_gates
        print(f"wrote {args.output} ({len(ck)} CK+ faces + {len(dev) if dev else 0} clip frames); thresholds "
              f"{report['thresholds']}; gates {model.cfg.au_gates}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    print(f"{time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
