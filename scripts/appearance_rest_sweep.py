"""Sweep the appearance rest (quantile, margin) on cached analyses; figures per split."""
import sys, json
sys.path.insert(0, "/work/main/scripts"); sys.path.insert(0, "/work/main")
import numpy as np
from pathlib import Path
import video_au_check as v
from core.baseline import QUANTILES, BaselineMode
from core.evaluate import frame_au_scores, load_frame_labels
from core.model.scorer import FaceScorer, POPULATION_REST
from core.cli import default_model_dir

model = default_model_dir()
truth = {**load_frame_labels(v.SHARED / "video_au" / "labels.csv"), **load_frame_labels(v.HERE / "video_au_extra.csv")}
resting = v.frames_at_rest(v.HERE / "video_au_rest.csv")
base = FaceScorer(model, baseline="auto")
videos = sorted({x for x, _ in truth} | {x for x, _ in resting})
analyses = {x: v.clip_analysis(v.SHARED / "videos" / x, base, model) for x in videos}
splits = sys.argv[1].split(",") if len(sys.argv) > 1 else ["dev"]
SPL = {"dev": v.DEV, "report": v.REPORT, "extra": v.EXTRA, "held": v.REPORT + v.EXTRA}

def setting(q, margin):
    s = FaceScorer(model, baseline="auto", reads=False)
    if q > 0:
        s._rest_logit = s._shift - margin
        s._appearance = True
        s._prior = np.concatenate([POPULATION_REST, s._rest_logit])
        s._quantiles = np.concatenate([QUANTILES, np.full(len(s.model_aus), q)])
    return s

grid = [(0, 0)] + [(q, m) for q in (0.1, 0.25, 0.5) for m in (0.5, 1.0, 2.0, 3.0)]
if len(sys.argv) > 2:
    grid = [tuple(map(float, g.split(":"))) for g in sys.argv[2].split(",")]
for q, m in grid:
    s = setting(q, m)
    pred, rest = {}, {}
    for x, a in analyses.items():
        s.reset()
        s.recalibrate(a, BaselineMode("auto"))
        pred.update(v.readings(a, x, sorted(f for w, f in truth if w == x), count_unread=False))
        rest.update(v.readings(a, x, sorted(f for w, f in resting if w == x), count_unread=False))
    out = []
    for name in splits:
        clips = SPL[name]
        sc = frame_au_scores({k: t for k, t in truth.items() if k[0] in clips}, {k: p for k, p in pred.items() if k[0] in clips})
        rf = v.rest_figures({k: r for k, r in rest.items() if k[0] in clips}, truth)
        per = {a: round(100 * r) for a, r in rf["per_au"].items() if r}
        out.append(f"{name}: F1 {sc['mean_f1']:.3f} FP {100*sc['fp_rate']:.1f}% rest {100*rf['read_rate']:.1f}% {per}")
    print(f"q={q} margin={m}: " + " | ".join(out), flush=True)
