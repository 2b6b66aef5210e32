"""Real-video AU check: the analyse path on the development clips, scored against frames labelled
by eye (``../shared/data/video_au/labels.csv``, each AU judged against that person's own neutral
face; see its README).

Settings are chosen on the DEV clips and figures are reported on the REPORT clips, which nothing
was tuned or trained on, and on the EXTRA clips: two more people (``WolfgangLanger_Pexels.mp4``,
``single_face.mp4``) labelled the same way on 2026-12-02, after the shipped model was built
(``video_au_extra.csv`` here; its protocol notes in ``video_au_extra.md``), and the frames midway
between the sampled ones of the six held-out people's clips, labelled the same way later that day
(``video_au_more.csv``, notes in ``video_au_more.md``). Per AU: F1, and the
false-positive rate (share of entries labelled absent that the model reads as present);
overall: the false-positive rate over every AU entry labelled absent. Then faces at rest
(``video_au_rest.csv``: frames judged by eye to show no facial action against the person's
neutral face, notes in ``video_au_rest.md``): how often each AU the model reports, the unlabelled
ones too, is read on them. Analyses are cached like the studio's (per clip content and model).

    .venv/bin/python scripts/video_au_check.py [--model DIR] [--baseline auto|none|START-END] [--json OUT]
        [--validation resources/models/mf2-default/validation.json]
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

from core.analysis import Analysis, run_analysis
from core.cache import AnalysisCache, content_digest, model_digest
from core.cli import default_model_dir
from core.evaluate import frame_au_scores, load_frame_labels
from core.faces import FaceTracker
from core.model.scorer import FaceScorer
from core.quiet import silence_native_stderr
from core.taxonomy import canonical_emotion
from core.validation import validation_record, write_validation
from core.video import open_source

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "data"
DEV = ("liveportrait_d3.mp4", "liveportrait_d9.mp4", "liveportrait_d11.mp4")
REPORT = ("liveportrait_d0.mp4", "liveportrait_d6.mp4", "liveportrait_d10.mp4", "liveportrait_d12.mp4")
EXTRA = ("WolfgangLanger_Pexels.mp4", "single_face.mp4")
# people whose neutral reference has the lips apart: AU25 (lips apart by any amount, as the labels
# judge it) is no false positive on their faces at rest
LIPS_APART_AT_REST = ("liveportrait_d10.mp4", "WolfgangLanger_Pexels.mp4")


def clip_analysis(video: Path, scorer: FaceScorer, model_dir: Path) -> Analysis:
    """The whole clip through the analyse path (cached by content and model)."""
    cache = AnalysisCache()
    path = cache.path(content_digest(video), model_digest(model_dir) + f"-{scorer.baseline}", 1)
    analysis = cache.load(path)
    if analysis is None:
        scorer.reset()
        with open_source(str(video)) as source, FaceTracker(max_faces=1) as tracker:
            analysis = Analysis.for_scorer(scorer, source.frame_count, str(video))
            run_analysis(source, analysis, tracker, scorer)
        cache.save(path, analysis)
    return analysis


def largest_face(analysis: Analysis, index: int):
    """The largest face of frame ``index`` (the person the clip is labelled for); None without one."""
    result = analysis.at(index)
    if not result or not result.faces:
        return None
    return max(result.faces, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))


def readings(analysis: Analysis, video: str, frames: list[int], count_unread: bool = True
             ) -> dict[tuple[str, int], dict[int, bool]]:
    """Present/absent per AU on each labelled frame (the largest face; no face: nothing read)."""
    out = {}
    for index in frames:
        face = largest_face(analysis, index)
        if face is not None:
            out[(video, index)] = {n: p >= 0.5 for n, p in face.au.items()}  # unreadable (NaN) counts as absent
            if count_unread:
                UNREAD[video] = UNREAD.get(video, 0) + sum(p != p for p in face.au.values())
    return out


UNREAD: dict[str, int] = {}  # AU entries of labelled frames the model left unread (covered, poor face)


def emotion_labels(*paths: Path) -> dict[tuple[str, int], str]:
    """(video, 0-based frame) -> the emotion judged obvious by eye (frames without one left out)."""
    out = {}
    for path in paths:
        with open(path, newline="", encoding="utf-8") as f:
            out.update({(r["video"], int(r["frame"]) - 1): canonical_emotion(r["emotion"])
                        for r in csv.DictReader(f) if r["emotion"].strip()})
    return out


def top_emotions(analysis: Analysis, video: str, frames: list[int]) -> dict[tuple[str, int], str]:
    """The largest face's top emotion on each of these frames where it was read."""
    out = {}
    for index in frames:
        face = largest_face(analysis, index)
        top = face.top_emotion() if face is not None else None
        if top is not None:
            out[(video, index)] = top[0]
    return out


def emotion_figures(truth: dict[tuple[str, int], str], read: dict[tuple[str, int], str]) -> dict[str, list[int]]:
    """Per emotion judged: [frames, frames whose top emotion is that one]."""
    out: dict[str, list[int]] = {}
    for key, emotion in sorted(truth.items(), key=lambda kv: kv[1]):
        counts = out.setdefault(emotion, [0, 0])
        counts[0] += 1
        counts[1] += read.get(key) == emotion
    return out


def table(name: str, scores: dict) -> str:
    rows = [f"{name}: {scores['frames']} frames, mean F1 {scores['mean_f1']:.3f}, "
            f"false positives {100 * scores['fp_rate']:.1f}%",
            "  AU    F1     FP%   (present/absent)"]
    for code, (pos, neg) in scores["counts"].items():
        f1 = scores["per_au_f1"].get(code)
        fp = scores["per_au_fp"].get(code)
        rows.append(f"  {code:<5} {'  -  ' if f1 is None else f'{f1:.3f}'}  {'  -  ' if fp is None else f'{100 * fp:5.1f}'}"
                    f"   ({pos}/{neg})")
    return "\n".join(rows)


def frames_at_rest(path: Path) -> set[tuple[str, int]]:
    """(video, 0-based frame) of the frames judged at rest (``video,frame,rest``; rest 1)."""
    with open(path, newline="", encoding="utf-8") as f:
        return {(r["video"], int(r["frame"]) - 1) for r in csv.DictReader(f) if r["rest"].strip() == "1"}


def rest_figures(read: dict[tuple[str, int], dict[int, bool]], truth: dict) -> dict:
    """On faces at rest: the share of frames each AU is read on, and of all AU entries. An AU the
    frame's own labels call present is left out there, and AU25 where the person's rest has the
    lips apart."""
    counts: dict[int, list[int]] = {}
    for key, r in read.items():
        for au, on in r.items():
            if truth.get(key, {}).get(au) != 1 and not (au == 25 and key[0] in LIPS_APART_AT_REST):
                counts.setdefault(au, []).append(on)
    if not counts:
        return {"frames": 0}
    per_au = {f"AU{a}": sum(v) / len(v) for a, v in sorted(counts.items())}
    return {"frames": len(read), "read_rate": sum(map(sum, counts.values())) / sum(map(len, counts.values())),
            "per_au": per_au}


def rest_line(name: str, figures: dict) -> str:
    if not figures["frames"]:
        return f"{name} clips at rest: no frames"
    lit = ", ".join(f"{a} {100 * r:.0f}%" for a, r in figures["per_au"].items() if r)
    return (f"{name} clips at rest: {figures['frames']} frames, {100 * figures['read_rate']:.1f}% of AU entries read "
            f"present ({lit or 'none'})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=default_model_dir())
    parser.add_argument("--baseline", default="auto", help="auto, none or START-END (default auto)")
    parser.add_argument("--labels", type=Path, default=SHARED / "video_au" / "labels.csv")
    parser.add_argument("--extra-labels", type=Path, nargs="+", default=[HERE / "video_au_extra.csv",
                                                                         HERE / "video_au_more.csv"])
    parser.add_argument("--rest-labels", type=Path, default=HERE / "video_au_rest.csv")
    parser.add_argument("--videos", type=Path, default=SHARED / "videos")
    parser.add_argument("--json", type=Path, default=None, metavar="OUT")
    parser.add_argument("--validation", type=Path, default=None, metavar="OUT",
                        help="write the held-out figures as the model's validation.json (core.validation)")
    args = parser.parse_args()
    if args.validation and args.baseline != "auto":
        parser.error("--validation writes what `mf2 analyze` reads by default: leave --baseline at auto")
    silence_native_stderr()
    t0 = time.perf_counter()
    truth = {}
    for path in (args.labels, *args.extra_labels):
        truth.update(load_frame_labels(path))
    scorer = FaceScorer(args.model, baseline=args.baseline)
    resting = frames_at_rest(args.rest_labels)
    emotions = emotion_labels(args.labels, *args.extra_labels)
    predicted, at_rest, top = {}, {}, {}
    for video in sorted({v for v, _ in truth} | {v for v, _ in resting}):
        analysis = clip_analysis(args.videos / video, scorer, args.model)
        predicted.update(readings(analysis, video, sorted(f for v, f in truth if v == video)))
        at_rest.update(readings(analysis, video, sorted(f for v, f in resting if v == video), count_unread=False))
        top.update(top_emotions(analysis, video, sorted(f for v, f in emotions if v == video)))
    figures = {}
    for name, clips in (("report", REPORT), ("extra", EXTRA), ("held out", REPORT + EXTRA), ("dev", DEV)):
        part = {k: v for k, v in truth.items() if k[0] in clips}
        figures[name] = frame_au_scores(part, {k: v for k, v in predicted.items() if k[0] in clips})
        figures[name]["at_rest"] = rest_figures({k: v for k, v in at_rest.items() if k[0] in clips}, truth)
        figures[name]["emotions"] = emotion_figures({k: e for k, e in emotions.items() if k[0] in clips}, top)
        print(table(f"{name} clips", figures[name]))
        print(rest_line(name, figures[name]["at_rest"]))
        print(f"{name} clips, emotion obvious by eye: top emotion matched on " + (", ".join(
            f"{e} {m}/{n}" for e, (n, m) in figures[name]["emotions"].items()) or "no frames"))
    print(f"AU entries left unread (counted as absent above): {sum(UNREAD.values())} "
          f"({', '.join(f'{v} {k}' for k, v in sorted(UNREAD.items()) if v) or 'none'})")
    print(f"model {scorer.version}, baseline {scorer.baseline}, {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps({"model": scorer.version, "baseline": str(scorer.baseline), **figures}, indent=2))
    if args.validation:
        people = len({v for v, _ in truth if v in REPORT + EXTRA})
        write_validation(args.validation, validation_record(scorer.version, people, figures["held out"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
