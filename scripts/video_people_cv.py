"""Leave one person out on video: do more people's labelled frames lift the AU heads on a person
they never saw?

The AU heads of the shipped model learnt from CK+ photos and the labelled frames of three people
(the DEV clips). Six more people are labelled the same way (the REPORT and EXTRA clips) but were
kept for measuring. Here each of the six is read by AU heads trained on CK+, the DEV clips and the
other five (`P(DEV + five)`), and by heads trained the same way on CK+ and the DEV clips alone (the
control, `P(DEV)`), through the analyse path. `P` is the AU training recipe with the shipped local
branch kept frozen (so nothing that reads the region embeddings moves: emotions, visibility, text):
fresh heads, thresholds from people-disjoint out-of-fold predictions inside the training data, brow
gates where the training people's brows separate AU1 / AU2 best.

The rule, fixed before the first figure: more people are adopted if the pooled mean F1 over the six
rises by at least 0.02 over the control and the pooled false positives by at most 1 point; then
``-o DIR`` writes the shipped model with the AU heads of `P(all nine people)`.

    .venv/bin/python scripts/video_people_cv.py [--json OUT] [-o DIR]
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from core.cli import default_model_dir
from core.data.sources import load_au_csv
from core.evaluate import frame_au_scores, load_frame_labels
from core.faces.geometry import NAMES
from core.model.model import MF2
from core.model.scorer import FaceScorer
from core.quiet import silence_native_stderr
from core.model.text import TextEncoder
from core.training.au_local import (AuData, AuSettings, at_rest, ckplus_au_data, fit_thresholds, gate_rise, train_au,
                                    untrained_au_side)
from core.training.loop import au_texts
from core.training.checkpoint import load_model, save_model

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from train_au import BROW_GATES, SHARED, clips  # noqa: E402
from video_au_check import DEV, EXTRA, REPORT, clip_analysis, frames_at_rest, readings, rest_figures  # noqa: E402

HELD = REPORT + EXTRA
SETTINGS = AuSettings(epochs=60, local=False)


def fresh_heads(base_dir: Path, seed: int = 0) -> MF2:
    """The model of ``base_dir`` with its AU heads (side network, heads, geometry weights) at initial values."""
    model = load_model(base_dir)
    torch.manual_seed(seed)
    fresh = MF2(model.cfg).state_dict()
    model.load_state_dict({**model.state_dict(), **{k: v for k, v in fresh.items() if k.startswith("au_")}})
    return model.eval()


def heads_for(base_dir: Path, ck: AuData, video: AuData, local: tuple | None = None) -> MF2:
    """`P`: AU heads trained on CK+ and these video frames, with their thresholds and brow gates;
    with ``local`` (geometry scale, AU text embeddings) the whole AU side as train_au.py trains it."""
    data = AuData.join([ck, video])
    if local:
        scale, au_text = local
        make, settings = (lambda: untrained_au_side(base_dir, scale)), AuSettings(epochs=60)
    else:
        make, settings, au_text = (lambda: fresh_heads(base_dir)), SETTINGS, None
    thresholds = fit_thresholds(make, data, settings, au_text, folds=5, seed=0)
    model = make()
    train_au(model, data, settings, au_text)
    if local and model.cfg.region_visibility:  # its visibility head read the old region embeddings: every region visible
        with torch.no_grad():
            model.visibility.zero_()
            model.visibility_bias.fill_(10.0)
    model.cfg.au_thresholds = tuple(float(t) for t in thresholds)
    labelled = video.subset(np.flatnonzero(~at_rest(video.groups)))
    model.cfg.au_gates = tuple((au, feature, gate_rise(labelled, model.cfg.aus.index(au), NAMES.index(feature)))
                               for au, feature in BROW_GATES)
    return model


def read(model: MF2, folder: Path, video: str, frames: list[int]) -> dict:
    """Present/absent per AU on these frames of ``video``, through the analyse path."""
    save_model(model, folder)
    scorer = FaceScorer(folder, baseline="auto")
    return readings(clip_analysis(SHARED / "videos" / video, scorer, folder), video, frames, count_unread=False)


def figures(truth: dict, read_labelled: dict, read_rest: dict) -> dict:
    out = frame_au_scores(truth, read_labelled)
    out["at_rest"] = rest_figures(read_rest, truth)
    out["per_person_fp"] = {v: round(frame_au_scores({k: t for k, t in truth.items() if k[0] == v},
                                                     {k: r for k, r in read_labelled.items() if k[0] == v})["fp_rate"], 4)
                            for v in HELD}
    return out


def line(name: str, f: dict) -> str:
    return (f"{name}: mean F1 {f['mean_f1']:.3f}, false positives {100 * f['fp_rate']:.1f}%, read at rest "
            f"{100 * f['at_rest']['read_rate']:.1f}%; per AU {({k: round(v, 2) for k, v in f['per_au_f1'].items()})}; "
            f"FP by person {f['per_person_fp']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, default=default_model_dir())
    parser.add_argument("-o", "--output", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--local", action="store_true", help="train the local projection too (the whole AU side)")
    args = parser.parse_args()
    silence_native_stderr()
    t0 = time.perf_counter()
    base = load_model(args.base)
    ck = ckplus_au_data(base, load_au_csv(SHARED / "ckplus" / "labels.csv"))
    truth = {**load_frame_labels(SHARED / "video_au" / "labels.csv"), **load_frame_labels(HERE / "video_au_extra.csv")}
    video = AuData.join([clips(base, SHARED / "video_au" / "labels.csv", SHARED / "videos", DEV + REPORT),
                         clips(base, HERE / "video_au_extra.csv", SHARED / "videos", EXTRA)])
    resting = frames_at_rest(HERE / "video_au_rest.csv")
    local = (np.maximum(np.std(ck.geometry, 0), 1e-3), TextEncoder().encode(au_texts(base))) if args.local else None
    print(f"CK+ {len(ck)} faces, {len(video)} video frames; {time.perf_counter() - t0:.0f} s", flush=True)
    held_truth = {k: v for k, v in truth.items() if k[0] in HELD}
    labelled = {v: sorted(f for w, f in truth if w == v) for v in HELD}
    still = {v: sorted(f for w, f in resting if w == v) for v in HELD}
    report: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        control = heads_for(args.base, ck, video.subset(np.flatnonzero(np.isin(video.groups, DEV))), local)
        got, rest = {}, {}
        for v in HELD:
            got.update(read(control, Path(tmp) / "control", v, labelled[v]))
            rest.update(read(control, Path(tmp) / "control", v, still[v]))
        report["control: DEV"] = figures(held_truth, got, rest)
        print(line("control, P(DEV)", report["control: DEV"]), f"({time.perf_counter() - t0:.0f} s)", flush=True)
        got, rest = {}, {}
        for v in HELD:
            people = [p for p in DEV + HELD if p != v]
            model = heads_for(args.base, ck, video.subset(np.flatnonzero(np.isin(video.groups, people))), local)
            got.update(read(model, Path(tmp) / v, v, labelled[v]))
            rest.update(read(model, Path(tmp) / v, v, still[v]))
            print(f"  {v}: gates {model.cfg.au_gates} ({time.perf_counter() - t0:.0f} s)", flush=True)
        report["LOPO: DEV + other five"] = figures(held_truth, got, rest)
        print(line("more people, P(DEV + five)", report["LOPO: DEV + other five"]), flush=True)
    gain = report["LOPO: DEV + other five"]["mean_f1"] - report["control: DEV"]["mean_f1"]
    fp_rise = report["LOPO: DEV + other five"]["fp_rate"] - report["control: DEV"]["fp_rate"]
    report["adopted"] = bool(gain >= 0.02 and fp_rise <= 0.01)
    print(f"mean F1 {gain:+.3f}, false positives {100 * fp_rise:+.1f} points: "
          f"{'adopted' if report['adopted'] else 'not adopted'}", flush=True)
    if args.output and report["adopted"]:
        final = heads_for(args.base, ck, video, local)
        final.cfg.version = "mf2-default-" + time.strftime("%Y-%m-%d") + ".3"
        args.output.mkdir(parents=True, exist_ok=True)
        for extra in ("MODEL_CARD.md", "replay.safetensors"):
            if (args.base / extra).is_file() and args.base.resolve() != args.output.resolve():
                shutil.copy2(args.base / extra, args.output / extra)
        save_model(final, args.output, {"au_heads": {"clips": list(DEV + HELD), "frames": len(video),
                                                     "settings": SETTINGS.__dict__}})
        report["final_gates"] = final.cfg.au_gates
        print(f"wrote {args.output}; gates {final.cfg.au_gates}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    print(f"{time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
