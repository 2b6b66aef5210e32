"""`mf2 evaluate`: emotion accuracy / macro-F1 / confusion on an emotion folder, per-AU F1 on a CSV.

Both run the full pipeline on every image (find and align the face; a small crop with no face
found is used whole) and score in the label space of the data given: emotions the folder does
not have are not predicted, AUs are scored where both the model and the labels have them.
"""
from __future__ import annotations

import numpy as np

from .data.prepare import AU_NUMBERS, prepare
from .data.sources import Sample
from .model.model import MF2
from .model.predict import predict
from .taxonomy import AU_BY_NUMBER, EMOTIONS


def f1_score(truth: np.ndarray, pred: np.ndarray) -> float:
    tp = float(np.sum(truth & pred))
    denom = float(np.sum(truth) + np.sum(pred))
    return 2 * tp / denom if denom else 0.0


def evaluate_emotion(model: MF2, samples: list[Sample], zero_shot: bool = False, mirror: bool = False) -> dict:
    """With ``zero_shot`` the emotion heads are bypassed: scores come from the similarity of the
    face embedding to emotion descriptions (and every emotion of the folder can be scored)."""
    data = prepare(samples, model.cfg.input_size)
    present = sorted(set(int(e) for e in data.emotions if e >= 0))
    out = predict(model, data.images, data.centers, mirror=mirror)
    if zero_shot:
        from .model.text import TextEncoder
        from .model.zero_shot import emotion_classifier, zero_shot_emotion

        names = tuple(EMOTIONS[e] for e in present)
        probs = zero_shot_emotion(model, out["global"], emotion_classifier(model, TextEncoder(), names))
        pred = np.array(present)[probs.argmax(1)]
    else:
        present = [e for e in present if EMOTIONS[e] in model.cfg.trained_emotions]
        model_index = [model.cfg.emotions.index(EMOTIONS[e]) for e in present]
        pred = np.array(present)[out["emotion"][:, model_index].argmax(1)]
    keep = np.isin(data.emotions, present)  # images of emotions the model has no head for are left out
    truth, pred = data.emotions[keep], pred[keep]
    confusion = np.zeros((len(present), len(present)), dtype=int)
    for t, p in zip(truth, pred):
        confusion[present.index(int(t)), present.index(int(p))] += 1
    f1s = [f1_score(truth == e, pred == e) for e in present]
    return {"n": int(len(truth)), "accuracy": float(np.mean(pred == truth)), "macro_f1": float(np.mean(f1s)),
            "labels": [EMOTIONS[e] for e in present], "confusion": confusion.tolist(),
            "per_class_f1": {EMOTIONS[e]: round(f, 4) for e, f in zip(present, f1s)},
            "left_out": int((~keep).sum())}


def au_scores(truth: np.ndarray, prob: np.ndarray, numbers: list[int], threshold: float = 0.5) -> dict:
    """Per-AU F1 over labelled entries (``truth`` NaN where unlabelled), for AUs that occur at
    least once: F1 is undefined for an AU the labels never show."""
    per_au = {}
    for j, n in enumerate(numbers):
        mask = ~np.isnan(truth[:, j])
        if mask.any() and (truth[mask, j] > 0.5).any():
            per_au[AU_BY_NUMBER[n].code] = round(f1_score(truth[mask, j] > 0.5, prob[mask, j] >= threshold), 4)
    return {"n": int(len(truth)), "per_au_f1": per_au,
            "mean_f1": float(np.mean(list(per_au.values()))) if per_au else 0.0}


def evaluate_au(model: MF2, samples: list[Sample]) -> dict:
    data = prepare(samples, model.cfg.input_size)
    shared = [n for n in model.cfg.trained_aus if not np.isnan(data.aus[:, AU_NUMBERS.index(n)]).all()]
    probs = predict(model, data.images, data.centers)["au"]
    truth = data.aus[:, [AU_NUMBERS.index(n) for n in shared]]
    prob = probs[:, [model.cfg.aus.index(n) for n in shared]]
    return au_scores(truth, prob, shared)


def cross_validate_au(model_dir, samples: list[Sample], folds: int = 5, epochs: int = 30, device: str = "cpu",
                      seed: int = 0) -> dict:
    """Subject-disjoint k-fold DFN: for each fold, fine-tune the heads of ``model_dir`` on the other
    folds' subjects and predict the held-out subjects; F1 over all held-out predictions."""
    import os
    import sys
    import tempfile
    from pathlib import Path

    from .data.splits import subject_folds
    from .training.checkpoint import load_model
    from .training.loop import TrainSettings, train

    base = load_model(model_dir, device)
    data = prepare(samples, base.cfg.input_size)
    fold_index = subject_folds(samples, folds, seed)
    occurring = set(data.aus_with_positives())
    shared = [n for n in base.cfg.aus if n in occurring]
    probs = np.full((len(data), len(shared)), np.nan, dtype=np.float32)
    for k, test in enumerate(fold_index):
        train_idx = np.array(sorted(set(range(len(data))) - set(test)))
        model = load_model(model_dir, device)
        with tempfile.TemporaryDirectory() as tmp, open(os.devnull, "w") as quiet:
            train(model, data.subset(train_idx), Path(tmp), TrainSettings(
                phase="finetune", epochs=epochs, batch_size=64, lr=2e-3, seed=seed + k, device=device, tasks=("au",)),
                log=quiet)
        print(f"fold {k + 1}/{folds}: {len(test)} held-out images", file=sys.stderr, flush=True)
        p = predict(model, data.images[test], data.centers[test])["au"]
        probs[test] = p[:, [model.cfg.aus.index(n) for n in shared]]
    truth = data.aus[:, [AU_NUMBERS.index(n) for n in shared]]
    return {**au_scores(truth, probs, shared), "folds": folds}
