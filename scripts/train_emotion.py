"""Train MF²'s emotion heads (8 emotions, contempt included) on FER+ crowd votes and CK+, on the
frozen backbone and local branch of ``--base`` (run scripts/train_au.py first), and measure them.

Choices (soft vote targets or majority labels; with or without the region and geometry inputs)
are made on a 10% hold-out of the FER2013 *training* images. Reported: FER+ majority accuracy
on FER2013 PublicTest (``val``; rows whose top vote is tied, unknown or not-a-face left out),
contempt's F1 there, the original-label FER2013 accuracy, and CK+ 7-class accuracy (contempt
included) by subject-disjoint 5-fold cross-validation (CK+ trains only on the other folds).

    .venv/bin/python scripts/train_emotion.py --base DIR [-o DIR]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from core.data.prepare import prepare
from core.data.sources import load_au_csv, load_emotion_folder
from core.data.splits import group_folds
from core.evaluate import f1_score
from core.model.scorer import POPULATION_REST
from core.faces.geometry import N_FEATURES
from core.quiet import silence_native_stderr
from core.taxonomy import EMOTIONS
from core.training.au_local import person_rest
from core.training.checkpoint import load_model, model_metadata, save_model
from core.training.emotion_heads import (EmotionData, choice_hold_out, ferplus_votes, frozen_features, majority,
                                         predict_emotion, train_emotion)

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "data"
CONTEMPT = EMOTIONS.index("contempt")


def fer_data(model, folder: Path, votes_csv: Path, soft: bool) -> tuple[EmotionData, np.ndarray, np.ndarray]:
    """(data, FER+ majority labels, original folder labels) of a FER2013 split."""
    samples = load_emotion_folder(folder)
    prepared = prepare(samples, model.cfg.input_size)
    votes = ferplus_votes([s.source for s in samples], votes_csv)
    top = majority(votes)
    emotion_votes = np.nan_to_num(votes[:, :len(EMOTIONS)])
    if soft:
        targets = emotion_votes / np.maximum(emotion_votes.sum(1, keepdims=True), 1e-9)
    else:
        targets = np.eye(len(EMOTIONS))[np.maximum(top, 0)] * (top >= 0)[:, None]
    face, local = frozen_features(model, prepared.images, prepared.centers)
    geometry = np.nan_to_num(prepared.geometry - POPULATION_REST[None, :N_FEATURES])
    data = EmotionData(face, local, geometry, targets, np.ones_like(targets, dtype=bool))
    keep = targets.sum(1) > 0
    return data, top, prepared.emotions, keep


def ckplus_data(model, labels_csv: Path) -> tuple[EmotionData, np.ndarray, np.ndarray]:
    samples = load_au_csv(labels_csv)
    prepared = prepare(samples, model.cfg.input_size)
    face, local = frozen_features(model, prepared.images, prepared.centers)
    geometry = np.nan_to_num(prepared.geometry - person_rest(prepared.geometry, prepared.subjects))
    labels = prepared.emotions
    targets = np.eye(len(EMOTIONS))[np.maximum(labels, 0)] * (labels >= 0)[:, None]
    allowed = np.ones_like(targets, dtype=bool)
    allowed[:, EMOTIONS.index("neutral")] = False  # CK+ peak frames: no neutral class
    return EmotionData(face, local, geometry, targets, allowed), labels, prepared.subjects


def accuracy(probs: np.ndarray, truth: np.ndarray, classes: list[int]) -> float:
    keep = np.isin(truth, classes)
    pred = np.array(classes)[probs[:, classes].argmax(1)]
    return float(np.mean(pred[keep] == truth[keep]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, required=True)
    parser.add_argument("-o", "--output", type=Path, default=None)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--use", choices=("soft", "majority", "soft+inputs", "majority+inputs"), default=None,
                        help="skip the choice and the CK+ cross-validation: train this variant only")
    args = parser.parse_args()
    silence_native_stderr()
    t0 = time.perf_counter()
    base = load_model(args.base)
    votes = SHARED / "fer2013" / "ferplus_votes.csv"
    report = {}
    all8 = list(range(len(EMOTIONS)))
    seven = [EMOTIONS.index(e) for e in EMOTIONS if e != "contempt"]
    val, val_top, val_orig, _ = fer_data(base, SHARED / "fer2013" / "val", votes, soft=True)
    ck, ck_labels, ck_subjects = ckplus_data(base, SHARED / "ckplus" / "labels.csv")
    print(f"features ready: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    best = None
    for soft in (True, False) if args.use is None else ():
        train, train_top, _, keep = fer_data(base, SHARED / "fer2013" / "train", votes, soft)
        hold = choice_hold_out(len(train))
        fit = np.flatnonzero(keep & ~hold)
        for inputs in (False, True):
            model = load_model(args.base)
            train_emotion(model, train.subset(fit), epochs=args.epochs, inputs=inputs)
            p = predict_emotion(model, train.subset(np.flatnonzero(hold)))
            choice = accuracy(p, train_top[hold], all8)
            name = f"{'soft votes' if soft else 'majority'}, {'face + regions + geometry' if inputs else 'face only'}"
            pv = predict_emotion(model, val)
            figures = {"train_holdout_ferplus_acc": round(choice, 4),
                       "val_ferplus_acc": round(accuracy(pv, val_top, all8), 4),
                       "val_contempt_f1": round(f1_score(val_top == CONTEMPT, pv.argmax(1) == CONTEMPT), 4),
                       "val_fer2013_original_acc": round(accuracy(pv, val_orig, seven), 4)}
            report[name] = figures
            print(f"{name}: {figures} ({time.perf_counter() - t0:.0f} s)", flush=True)
            if best is None or choice > best[0]:
                best = (choice, soft, inputs, name)
    if args.use:
        soft, inputs, name = args.use.startswith("soft"), args.use.endswith("+inputs"), args.use
    else:
        _, soft, inputs, name = best
        print(f"chosen on the training hold-out: {name}", flush=True)
    train, _, _, keep = fer_data(base, SHARED / "fer2013" / "train", votes, soft)
    fer_fit = train.subset(np.flatnonzero(keep))
    ck_classes = sorted(set(int(e) for e in ck_labels if e >= 0))
    probs = np.zeros((len(ck), len(EMOTIONS)))
    for k, test in enumerate(group_folds(ck_subjects, 5, 0) if args.use is None else ()):
        model = load_model(args.base)
        train_emotion(model, EmotionData.join([fer_fit, ck.subset(np.setdiff1d(np.arange(len(ck)), test))]),
                      epochs=args.epochs, seed=k, inputs=inputs)
        probs[test] = predict_emotion(model, ck.subset(test))
    if args.use is None:
        ck_acc = accuracy(probs, ck_labels, ck_classes)
        ck_contempt = f1_score(ck_labels == CONTEMPT, np.array(ck_classes)[probs[:, ck_classes].argmax(1)] == CONTEMPT)
        report["ckplus_cv"] = {"accuracy_7": round(ck_acc, 4), "contempt_f1": round(ck_contempt, 4), "chosen": name}
        print(f"CK+ subject-disjoint 5-fold, 7 classes: accuracy {ck_acc:.4f}, contempt F1 {ck_contempt:.4f}",
              flush=True)
    if args.output:
        model = load_model(args.base)
        train_emotion(model, EmotionData.join([fer_fit, ck]), epochs=args.epochs, inputs=inputs)
        model.cfg.trained_emotions = tuple(EMOTIONS)
        meta = {**model_metadata(args.base), "emotion_training": {"chosen": name, "ferplus_train": len(fer_fit),
                                                                   "ckplus": len(ck), "epochs": args.epochs}}
        save_model(model, args.output, meta)
        pv = predict_emotion(model, val)
        report["shipped"] = {"val_ferplus_acc": round(accuracy(pv, val_top, all8), 4),
                             "val_contempt_f1": round(f1_score(val_top == CONTEMPT, pv.argmax(1) == CONTEMPT), 4),
                             "val_fer2013_original_acc": round(accuracy(pv, val_orig, seven), 4)}
        print(f"wrote {args.output}: {report['shipped']}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
