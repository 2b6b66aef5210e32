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


def evaluate_emotion(model: MF2, samples: list[Sample], zero_shot: bool = False, mirror: bool = False,
                     prompts=None) -> dict:
    """With ``zero_shot`` the emotion heads are bypassed: scores come from the similarity of the
    face embedding to emotion descriptions (``prompts``: a JSON file, emotion -> descriptions;
    default: the shipped hand-written ones), and every emotion of the folder that has
    descriptions can be scored."""
    from .model.scorer import POPULATION_REST

    data = prepare(samples, model.cfg.input_size)
    present = sorted(set(int(e) for e in data.emotions if e >= 0))
    out = predict(model, data.images, data.centers, mirror=mirror,
                  geometry=data.geometry - POPULATION_REST[None, :data.geometry.shape[1]])
    if zero_shot:
        from .model.text import TextEncoder
        from .model.zero_shot import class_embeddings, load_prompts, zero_shot_emotion

        texts = load_prompts(prompts, "emotions")
        present = [e for e in present if EMOTIONS[e] in texts]
        classifier = class_embeddings(model, TextEncoder(), {EMOTIONS[e]: texts[EMOTIONS[e]] for e in present})
        probs = zero_shot_emotion(model, out["global"], classifier)
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


def au_scores(truth: np.ndarray, prob: np.ndarray, numbers: list[int], threshold=0.5) -> dict:
    """Per-AU F1 over labelled entries (``truth`` NaN where unlabelled), for AUs that occur at
    least once: F1 is undefined for an AU the labels never show. ``threshold``: one, or one per AU."""
    per_au = {}
    thresholds = np.broadcast_to(np.asarray(threshold, np.float64), (len(numbers),))
    for j, n in enumerate(numbers):
        mask = ~np.isnan(truth[:, j])
        if mask.any() and (truth[mask, j] > 0.5).any():
            per_au[AU_BY_NUMBER[n].code] = round(f1_score(truth[mask, j] > 0.5, prob[mask, j] >= thresholds[j]), 4)
    return {"n": int(len(truth)), "per_au_f1": per_au,
            "mean_f1": float(np.mean(list(per_au.values()))) if per_au else 0.0}


def evaluate_au(model: MF2, samples: list[Sample], zero_shot: bool = False, prompts=None) -> dict:
    """Per-AU F1 at the model's own thresholds; the geometry is read against each subject's rest
    (the quantiles of that subject's images) where the labels name subjects, else the population's.
    With ``zero_shot`` each AU is read from its region's similarity to its descriptions (``prompts``:
    AU code -> descriptions; default: the shipped hand-written ones), at 0.5, with no AU head."""
    from .model.scorer import POPULATION_REST
    from .training.au_local import person_rest

    data = prepare(samples, model.cfg.input_size)
    shared = [n for n in model.cfg.trained_aus if not np.isnan(data.aus[:, AU_NUMBERS.index(n)]).all()]
    rest = person_rest(data.geometry, data.subjects) if all(data.subjects) else POPULATION_REST[None, :data.geometry.shape[1]]
    out = predict(model, data.images, data.centers, geometry=data.geometry - rest)
    if zero_shot:
        from .model.text import TextEncoder
        from .model.zero_shot import class_embeddings, load_prompts, zero_shot_au

        texts = load_prompts(prompts, "aus")
        shared = [n for n in shared if n in texts]
        prob = zero_shot_au(model, out["regions"], shared, class_embeddings(model, TextEncoder(), {n: texts[n] for n in shared}))
        return au_scores(data.aus[:, [AU_NUMBERS.index(n) for n in shared]], prob, shared)
    truth = data.aus[:, [AU_NUMBERS.index(n) for n in shared]]
    columns = [model.cfg.aus.index(n) for n in shared]
    thresholds = np.asarray(model.cfg.au_thresholds or [0.5] * len(model.cfg.aus))[columns]
    return au_scores(truth, out["au"][:, columns], shared, thresholds)


def cross_validate_au(model_dir, samples: list[Sample], folds: int = 5, epochs: int = 60, seed: int = 0) -> dict:
    """Subject-disjoint k-fold of MF²'s AU side (local branch, AU heads, geometry weights and
    thresholds, all trained again per fold from initial values) on ``model_dir``'s frozen backbone."""
    from .model.text import TextEncoder
    from .training.au_local import AuSettings, ckplus_au_data, cross_validate, untrained_au_side
    from .training.checkpoint import load_model
    from .training.loop import au_texts

    base = load_model(model_dir)
    data = ckplus_au_data(base, samples)
    scale = np.maximum(np.std(data.geometry, 0), 1e-3)
    result = cross_validate(lambda: untrained_au_side(model_dir, scale), data, AuSettings(epochs=epochs, seed=seed),
                            TextEncoder().encode(au_texts(base)), folds)
    return {**result["thresholded"], "at_0.5": result["at_0.5"], "folds": folds}


def load_frame_labels(path) -> dict[tuple[str, int], dict[int, float]]:
    """Frame labels by eye (``video,frame,emotion,AU1,...``; 1 present, 0 absent, blank not
    judged): {(video name, 0-based frame index): {AU number: 0/1}} with blanks left out."""
    import csv
    from pathlib import Path

    from .errors import InputError
    from .taxonomy import parse_au

    out = {}
    with open(Path(path), newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        columns = [c for c in reader.fieldnames or () if c.upper().startswith("AU")]
        if "video" not in (reader.fieldnames or ()) or "frame" not in reader.fieldnames or not columns:
            raise InputError(f"{path}: needs video, frame and AU columns")
        for line, row in enumerate(reader, start=2):
            try:
                key = (row["video"], int(row["frame"]) - 1)  # labels count frames from 1
                out[key] = {parse_au(c).number: float(row[c]) for c in columns if row[c].strip() != ""}
            except ValueError as e:
                raise InputError(f"{path}:{line}: {e}") from None
    return out


def frame_au_scores(truth: dict[tuple[str, int], dict[int, float]],
                    predicted: dict[tuple[str, int], dict[int, bool]]) -> dict:
    """Per-AU F1, per-AU and overall false-positive rate (share of entries labelled absent that
    are read as present) over the labelled entries of AUs the predictions report. A labelled frame
    with no face found counts as every AU read absent."""
    aus = sorted({n for p in predicted.values() for n in p} & {n for t in truth.values() for n in t})
    per_au, fp_rate, counts = {}, {}, {}
    fp_total = neg_total = 0
    for n in aus:
        pairs = [(t[n] > 0.5, bool(predicted.get(k, {}).get(n, False))) for k, t in truth.items() if n in t]
        y = np.array([a for a, _ in pairs], bool)
        p = np.array([b for _, b in pairs], bool)
        counts[AU_BY_NUMBER[n].code] = (int(y.sum()), int((~y).sum()))
        if y.any():
            per_au[AU_BY_NUMBER[n].code] = round(f1_score(y, p), 4)
        if (~y).any():
            fp_rate[AU_BY_NUMBER[n].code] = round(float(p[~y].mean()), 4)
        fp_total += int(p[~y].sum())
        neg_total += int((~y).sum())
    return {"frames": len(truth), "per_au_f1": per_au, "mean_f1": float(np.mean(list(per_au.values()))) if per_au else 0.0,
            "per_au_fp": fp_rate, "fp_rate": fp_total / neg_total if neg_total else 0.0, "counts": counts}
