"""Real check of fine-tuning on a user's own faces: do a few dozen hand-corrected frames of one
person's video measurably improve the model on other frames of that video, without costing the
base task?

The labels (scripts/real_check_labels.json) were made by eye; their 1 s blocks alternate between
training and held-out, so no held-out frame is next to a training one. Training frames go through
the caption editor's model as an annotator would (open with the model's reading, set the label,
accept); a fresh copy of the shipped model is fine-tuned on them with replay, once per seed, and
held-out and FER2013-validation figures are printed before and after.

    .venv/bin/python scripts/real_check.py [--steps 400] [--seeds 0 1 2]
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

from core.analysis import analyze_frame
from core.cli import default_model_dir
from core.data.sources import load_emotion_folder
from core.dataset import Captions, CaptionSession, DatasetSample, DatasetStore, Target, crop_face
from core.evaluate import evaluate_emotion
from core.faces import FaceTracker
from core.model.scorer import FaceScorer
from core.quiet import silence_native_stderr
from core.training.checkpoint import load_model
from core.training.dfn import DfnSettings, evaluate, finetune, user_data
from core.training.replay import load_replay
from core.video import open_source

HERE = Path(__file__).resolve().parent
LABELS = HERE / "real_check_labels.json"
SHARED = HERE.parent.parent / "shared" / "data"
KEYS = ("emotion_accuracy", "au_accuracy", "au_mean_f1", "fer_val_accuracy")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=Path, default=LABELS)
    parser.add_argument("--video", type=Path, help="default: shared/data/videos/<the labels' video>")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--fer-val", type=Path, default=SHARED / "fer2013" / "val")
    args = parser.parse_args()
    silence_native_stderr()
    t0 = time.perf_counter()
    spec = json.loads(args.labels.read_text())
    labels = {int(k): v for k, v in spec["frames"].items()}
    video = args.video or SHARED / "videos" / spec["video"]
    model_dir = default_model_dir()
    scorer = FaceScorer(model_dir)

    tmp = Path(tempfile.mkdtemp(prefix="mf2-real-check-"))
    session = CaptionSession(DatasetStore(tmp / "dataset"), scorer.version)
    heldout, mistakes, corrections = [], Counter(), Counter()
    with open_source(video) as src, FaceTracker(max_faces=1) as tracker:
        for fr in src:  # every frame through the tracker, as the studio tracks; only labelled ones scored
            label = labels.get(fr.index)
            result = analyze_frame(fr, tracker, scorer if label else None)
            if not label or not result.faces:
                continue
            face, aus = result.faces[0], {int(n): float(v) for n, v in label["aus"].items()}
            crop, landmarks = crop_face(fr.rgb, face.box, face.landmarks)
            shown = max(face.emotion, key=face.emotion.get)
            if shown != label["emotion"]:
                mistakes[f"{label['split']}: {label['emotion']} read as {shown}"] += 1
            if label["split"] == "heldout":
                heldout.append(DatasetSample(crop, landmarks, label["emotion"], aus, Captions(), Captions()))
                continue
            draft = session.open(Target(str(video), fr.index, face.track_id, fr.timestamp), crop, landmarks,
                                 face.au, face.emotion)
            corrections["emotion"] += draft.emotion != label["emotion"]
            corrections["AU"] += sum(draft.au_dict().get(n) != v for n, v in aus.items())
            session.set_emotion(label["emotion"])
            session.set_aus({n: aus.get(n) for n in draft.states()})  # AUs not judged: left unlabelled
            session.accept()
    train = session.store.samples(with_crop=True)
    session.store.close()
    print(f"{video.name}: {len(train)} training faces ({corrections['emotion']} emotion and {corrections['AU']} AU "
          f"labels corrected from the model's reading), {len(heldout)} held-out faces")
    print("shipped model's emotion mistakes on labelled frames:", dict(mistakes) or "none")

    fer = load_emotion_folder(args.fer_val) if args.fer_val.is_dir() else None
    if fer is None:
        print(f"FER2013 validation folder {args.fer_val} not found: forgetting check skipped")

    def figures(model) -> dict:
        out = evaluate(model, user_data(model, heldout))
        if fer is not None:
            out["fer_val_accuracy"] = round(evaluate_emotion(model, fer)["accuracy"], 4)
        return {k: out[k] for k in KEYS if k in out}

    base = load_model(model_dir)
    before, train_data = figures(base), user_data(base, train)
    print(f"before            {before}")
    runs = []
    for seed in args.seeds:
        model = load_model(model_dir)
        rehearsed, _ = load_replay(model, model_dir).split()  # as the studio's runs rehearse it
        info = finetune(model, train_data, rehearsed, tmp / f"model-{seed}",
                        DfnSettings(steps=args.steps, seed=seed))
        runs.append(figures(model))
        print(f"after seed {seed:<3}    {runs[-1]}  ({info['seconds']} s training)")
    median = {k: round(statistics.median(r[k] for r in runs), 4) for k in before}
    print(f"after median      {median}")
    print("change (median)  ", {k: round(median[k] - before[k], 4) for k in before})
    shutil.rmtree(tmp)
    print(f"{time.perf_counter() - t0:.0f} s in all")


if __name__ == "__main__":
    main()
