"""Appearance against a neutral segment: each clip's frames judged at rest stand in for a marked
neutral segment (leave-one-out for the rest frames themselves); readings of labelled frames and
rest frames with the AU appearance logits lowered by max(0, rest - (threshold logit - m))."""
import sys
sys.path.insert(0, "/work/main/scripts"); sys.path.insert(0, "/work/main")
import numpy as np
import video_au_check as v
from core.baseline import BaselineMode, track_baselines
from core.evaluate import frame_au_scores, load_frame_labels
from core.model.scorer import FaceScorer, POPULATION_REST, face_values
from core.cli import default_model_dir
model = default_model_dir()
truth = {**load_frame_labels(v.SHARED / "video_au" / "labels.csv"), **load_frame_labels(v.HERE / "video_au_extra.csv")}
resting = v.frames_at_rest(v.HERE / "video_au_rest.csv")
s = FaceScorer(model, baseline="auto", reads=False)
n = len(s.model_aus)
clips = {}
for x in sorted({w for w, _ in truth} | {w for w, _ in resting}):
    a = v.clip_analysis(v.SHARED / "videos" / x, s, model)
    keys, counts = np.unique(a.face_people(), return_counts=True)
    key = int(keys[np.argmax(counts)])
    rows = a.key_rows(key, with_raw=True)
    times = a.row_times(rows)
    frames = a._f["index"][a._r["frame"][rows]]
    vals = np.stack([face_values(p) for p in a.landmarks(rows)])
    raw = a.raw(rows)
    base, known = track_baselines(times, vals, BaselineMode("auto"), POPULATION_REST)
    at = {int(f): i for i, f in enumerate(frames)}
    rest_rows = [at[f] for w, f in resting if w == x and f in at]
    clips[x] = (key, times, frames, vals, raw, base, known, at, rest_rows)

def run(m, min_calib=1):
    pred, rest = {}, {}
    for x, (key, times, frames, vals, raw, base, known, at, rest_rows) in clips.items():
        s.reset()
        want = sorted({f for w, f in truth if w == x} | {f for w, f in resting if w == x})
        for f in want:
            if f not in at:
                continue
            i = at[f]
            r = raw[i].copy()
            calib = [j for j in rest_rows if j != i]
            if m is not None and len(calib) >= min_calib:
                rest_app = np.median(raw[calib, :n], axis=0)
                r[:n] -= np.maximum(rest_app - (s._shift - m), 0)
            au, _ = s.readings(r, vals[i], base[i], key, float(times[i]), bool(known[i]))
            read = {k: p >= 0.5 for k, p in au.items()}
            if (x, f) in truth: pred[(x, f)] = read
            if (x, f) in resting: rest[(x, f)] = read
    return pred, rest

SPL = {"dev": v.DEV, "report": v.REPORT, "extra": v.EXTRA, "held": v.REPORT + v.EXTRA}
splits = sys.argv[1].split(",")
ms = [None if t == "off" else float(t) for t in sys.argv[2].split(",")]
print({x: len(c[8]) for x, c in clips.items()})
for m in ms:
    pred, rest = run(m)
    out = []
    for name in splits:
        cl = SPL[name]
        sc = frame_au_scores({k: t for k, t in truth.items() if k[0] in cl}, {k: p for k, p in pred.items() if k[0] in cl})
        rf = v.rest_figures({k: r for k, r in rest.items() if k[0] in cl}, truth)
        per = {a: round(100 * r) for a, r in rf["per_au"].items() if r}
        out.append(f"{name}: F1 {sc['mean_f1']:.3f} FP {100*sc['fp_rate']:.1f}% rest {100*rf['read_rate']:.1f}% {per}")
    print(f"m={m}: " + " | ".join(out), flush=True)
if len(sys.argv) > 3:
    for m in ms:
        pred, rest = run(m)
        for x in sys.argv[3].split(","):
            sc = frame_au_scores({k: t for k, t in truth.items() if k[0] == x}, {k: p for k, p in pred.items() if k[0] == x})
            print(m, x, round(sc["mean_f1"], 3), sc["per_au_f1"], "FP", sc["per_au_fp"])
