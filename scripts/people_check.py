"""How often the tracker and core.faces.people get people right, on clips cut from the shared
videos and joined again: A|B|A|B, a face that leaves the shot and comes back, several people in
turn with gaps without a face between them.

Thresholds are chosen on sequences cut from the DEV clips and figures reported on sequences cut
from the REPORT clips, whose people (but one, seen in other clips) nothing was tuned on. Every
clip is letterboxed into 512 x 512 so that any two can be joined. Figures:

- cuts split: of the cuts from one person to another with a face on both sides, the share where
  the face after the cut is on another track than the face before;
- tracks against runs (one person on screen, over one shot or several in a row: more tracks than
  runs, a track ended within a run), and tracks mixed: holding frames of two people (what a
  missed split leaves);
- re-identification: over pairs of tracks of one sequence, precision and recall of "same person"
  (a pair joined when both tracks got one person id; truly one person when their frames are);
- evidence: how well each kind of identity evidence alone tells two tracks of one person from
  tracks of two (AUC over pairs of tracks: a new track's first looks against another's first
  stretch), including the shape of the mesh, which core.faces.people does not use.

    .venv/bin/python scripts/people_check.py [--sequences 8] [--sweep] [--everyone] [--cache FILE] [--json OUT]
"""
from __future__ import annotations

import argparse
import itertools
import json
import pickle
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

import core.faces.people as people_module
from core.faces import FaceTracker
from core.faces.appearance import SAME, chi_square, distance, distances, mean_appearance
from core.faces.cuts import frame_colours
from core.faces.people import SETTLE, WINDOW, People
from core.quiet import silence_native_stderr
from core.video import VideoFile

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "videos"
SIDE = 512
SEGMENT = 50  # frames a shot lasts (2 s at 25 fps)
# mesh points that expression moves little: eye corners, nose bridge, tip, base and wings, the face's
# outline at the temples, cheekbones and jaw angles, forehead
RIGID = (33, 133, 362, 263, 168, 6, 197, 195, 5, 4, 1, 2, 98, 327, 127, 356, 234, 454, 93, 323, 172, 397, 10, 151)
# clip -> (person, first and end frame with the face in shot)
DEV = {"liveportrait_d0.mp4": ("d0", 0, 78), "liveportrait_d3.mp4": ("d3", 0, 354),
       "liveportrait_d6.mp4": ("d6", 0, 1008), "liveportrait_d9.mp4": ("d9", 0, 587),
       "single_face.mp4": ("K", 0, 72)}
REPORT = {"liveportrait_d10.mp4": ("d10", 0, 448), "liveportrait_d11.mp4": ("d11", 0, 225),
          "liveportrait_d12.mp4": ("d12", 0, 183), "WolfgangLanger_Pexels.mp4": ("W", 0, 472),
          "face_noface.mov": ("K", 0, 72), "noface_face.mov": ("K", 97, 169)}
GAP = ("no_face.mp4", 0, 98)  # shots without a face


@dataclass
class Shot:
    clip: str
    start: int
    length: int
    person: str | None  # None: no face in it


def letterboxed(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    f = SIDE / max(h, w)
    small = cv2.resize(rgb, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA)
    out = np.zeros((SIDE, SIDE, 3), np.uint8)
    y, x = (SIDE - small.shape[0]) // 2, (SIDE - small.shape[1]) // 2
    out[y:y + small.shape[0], x:x + small.shape[1]] = small
    return out


def shot_frames(shot: Shot):
    with VideoFile(SHARED / shot.clip) as video:
        for frame in video.frames(video.frame_times()[shot.start]):
            if frame.index >= shot.start + shot.length:
                return
            yield letterboxed(frame.rgb)


def shot_of(clips: dict, clip: str, rng, length: int = SEGMENT) -> Shot:
    person, first, end = clips[clip]
    length = min(length, end - first)
    return Shot(clip, int(rng.integers(first, end - length + 1)), length, person)


def gap(rng) -> Shot:
    return Shot(GAP[0], int(rng.integers(GAP[1], GAP[2] - 30)), 30, None)


def sequences(clips: dict, n: int, seed: int) -> list[tuple[str, list[Shot]]]:
    """``n`` of each kind, cut from ``clips``: A|B|A|B; A, gap, A, B, gap, B, A (faces leaving
    and coming back); eight shots of three or four people in turn, a gap before a third of them."""
    rng = np.random.default_rng(seed)
    names = sorted(clips)
    out = []
    for k in range(n):
        a, b = rng.choice(names, 2, replace=False)
        out.append((f"abab{k}", [shot_of(clips, c, rng) for c in (a, b, a, b)]))
        out.append((f"return{k}", [shot_of(clips, a, rng), gap(rng), shot_of(clips, a, rng), shot_of(clips, b, rng),
                                   gap(rng), shot_of(clips, b, rng), shot_of(clips, a, rng)]))
        cast = rng.choice(names, min(len(names), 3 + k % 2), replace=False)
        shots = []
        for _ in range(8):
            if shots and rng.random() < 1 / 3:
                shots.append(gap(rng))
            shots.append(shot_of(clips, rng.choice(cast), rng))
        out.append((f"turns{k}", shots))
    return out


@dataclass
class Tracked:
    truth: str | None     # the shot's person
    shot: int             # its number in the sequence
    faces: list           # what the tracker found
    colours: np.ndarray   # the frame's colour histogram (core.faces.cuts)


def tracked(shots: list[Shot]) -> list[Tracked]:
    """Each frame of the joined shots through the tracker."""
    out = []
    with FaceTracker() as tracker:
        for number, shot in enumerate(shots):
            for rgb in shot_frames(shot):
                out.append(Tracked(shot.person, number, tracker.process(rgb), frame_colours(rgb)))
    return out


def steps(runs: list[list[Tracked]]) -> dict:
    """Colour steps between consecutive frames, of the frame (`cuts.CUT`) and of a face's crop
    (`tracker.FACE_JUMP`): the largest within a shot, the smallest across a cut to another person."""
    frame_within, frame_across, face_within, face_across = [0.0], [np.inf], [0.0], [np.inf]
    for frames in runs:
        for a, b in zip(frames, frames[1:]):
            one_face = len(a.faces) == len(b.faces) == 1
            face = chi_square(a.faces[0].appearance.colours, b.faces[0].appearance.colours) if one_face else None
            if a.shot == b.shot:
                frame_within.append(chi_square(a.colours, b.colours))
                face_within += [face] if one_face else []
            elif a.truth != b.truth and a.truth and b.truth:
                frame_across.append(chi_square(a.colours, b.colours))
                face_across += [face] if one_face else []
    return {"frame_within_max": max(frame_within), "frame_across_min": min(frame_across),
            "face_within_max": max(face_within), "face_across_min": min(face_across)}


def scales(runs: list[list[Tracked]]) -> tuple[float, float]:
    """Median texture and colour distances between a track's first looks and another track of
    the same person: what `appearance.TEXTURE_SCALE` and `COLOUR_SCALE` are set to."""
    found = []
    for frames in runs:
        looks: dict[int, list] = {}
        truth: dict[int, str | None] = {}
        for frame in frames:
            for f in frame.faces:
                looks.setdefault(f.track_id, []).append(f.appearance)
                truth.setdefault(f.track_id, frame.truth)
        for s, t in itertools.permutations(looks, 2):
            if truth[s] and truth[s] == truth[t]:
                found.append(distances(mean_appearance(looks[s][:SETTLE]), mean_appearance(looks[t][:WINDOW])))
    return tuple(float(np.median(column)) for column in zip(*found))


def mesh_shape(landmarks: np.ndarray) -> np.ndarray:
    """Distances between the RIGID points in 3-D over their mean: turns and scale drop out."""
    points = np.asarray(landmarks, np.float64)[list(RIGID)]
    d = np.linalg.norm(points[:, None] - points[None], axis=-1)[np.triu_indices(len(RIGID), 1)]
    return d / d.mean()


def evidence(runs: list[list[Tracked]]) -> dict[str, float]:
    """AUC of each kind of evidence (and of `appearance.distance`) over pairs of tracks of one
    sequence: the chance that two tracks of one person are nearer than two of different people."""
    found: dict[str, list] = {"same": [], "other": []}
    for frames in runs:
        faces: dict[int, list] = {}
        truth: dict[int, str | None] = {}
        for frame in frames:
            for f in frame.faces:
                faces.setdefault(f.track_id, []).append(f)
                truth.setdefault(f.track_id, frame.truth)
        for s, t in itertools.permutations([t for t in faces if truth[t]], 2):
            a = mean_appearance([f.appearance for f in faces[s][:SETTLE]])
            b = mean_appearance([f.appearance for f in faces[t][:WINDOW]])
            shape = np.linalg.norm(np.mean([mesh_shape(f.landmarks) for f in faces[s][:SETTLE]], 0)
                                   - np.mean([mesh_shape(f.landmarks) for f in faces[t][:WINDOW]], 0))
            found["same" if truth[s] == truth[t] else "other"].append((*distances(a, b), distance(a, b), shape))
    same, other = np.array(found["same"]), np.array(found["other"])
    return {kind: float(np.mean(same[:, k][:, None] < other[:, k][None]))
            for k, kind in enumerate(("texture", "colour", "both (appearance.distance)", "mesh shape"))}


def scores(frames: list[Tracked], settle: int = SETTLE) -> dict:
    """Counts behind the figures, for one sequence, its faces given their person by a fresh `People`
    (``settle`` 1: as live, from a track's first frame)."""
    for _ in People(settle).frames((i, 0.0, frame.faces) for i, frame in enumerate(frames)):
        pass
    truth_of: dict[int, list] = {}
    person_of: dict[int, int] = {}
    for frame in frames:
        for f in frame.faces:
            truth_of.setdefault(f.track_id, []).append(frame.truth)
            person_of[f.track_id] = f.person
    cuts = split = 0
    for a, b in zip(frames, frames[1:]):
        if a.truth != b.truth and a.truth and b.truth and a.faces and b.faces:
            cuts += 1
            split += not ({f.track_id for f in a.faces} & {f.track_id for f in b.faces})
    real = {t: max(set(v), key=v.count) for t, v in truth_of.items() if any(v)}  # spurious faces (no person) left out
    mixed = sum(len({x for x in truth_of[t] if x}) > 1 for t in real)
    # runs: stretches of one person on screen, over one shot or several in a row (a cut between two
    # moments of one person may keep the track)
    runs = sum(1 for a, b in zip([None] + frames, frames) if b.truth and (a is None or a.truth != b.truth))
    pairs = {"tp": 0, "fp": 0, "fn": 0, "tn": 0}
    for s, t in itertools.combinations(sorted(real), 2):
        same, joined = real[s] == real[t], person_of[s] == person_of[t]
        pairs[("t" if same == joined else "f") + ("p" if joined else "n")] += 1
    return {"cuts": cuts, "split": split, "runs": runs, "tracks": len(real), "mixed": mixed, **pairs}


def summary(counts: list[dict]) -> dict:
    total = {k: sum(c[k] for c in counts) for k in counts[0]}
    joined, same = total["tp"] + total["fp"], total["tp"] + total["fn"]
    return {**total, "split_rate": total["split"] / max(total["cuts"], 1),
            "precision": total["tp"] / joined if joined else 1.0, "recall": total["tp"] / same if same else 1.0}


def line(name: str, s: dict) -> str:
    return (f"{name:24s} cuts split {s['split']}/{s['cuts']} ({s['split_rate']:.3f}), {s['tracks']} tracks for "
            f"{s['runs']} runs, {s['mixed']} mixed; re-id precision {s['precision']:.3f} ({s['tp']}/{s['tp'] + s['fp']} pairs joined), "
            f"recall {s['recall']:.3f} ({s['tp']}/{s['tp'] + s['fn']} pairs of one person)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sequences", type=int, default=8, help="sequences of each kind per set")
    parser.add_argument("--sweep", action="store_true", help="also show the DEV figures over a range of SAME")
    parser.add_argument("--everyone", action="store_true",
                        help="also sequences cut from all the clips together (nine people; not held out)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--cache", type=Path, help="keep what the tracker found here (a pickle of this script's "
                                                   "own) and reuse it: for choosing what core.faces.people decides")
    args = parser.parse_args()
    if not SHARED.is_dir():
        print(f"{SHARED} absent", file=sys.stderr)
        return 2
    silence_native_stderr()
    report = {}
    if args.cache and args.cache.exists():
        runs = pickle.loads(args.cache.read_bytes())
    else:
        runs = {}
        sets = [("dev", DEV, 1), ("report", REPORT, 2)] + [("everyone", {**DEV, **REPORT}, 3)] * args.everyone
        for name, clips, seed in sets:
            runs[name] = []
            for label, shots in sequences(clips, args.sequences, seed):
                runs[name].append((label, tracked(shots)))
                print(f"{name} {label}: {sum(s.length for s in shots)} frames", file=sys.stderr, flush=True)
        # the natural one: the face leaves the shot, then comes back
        runs["report"].append(("leave-return", tracked([Shot("face_noface.mov", 0, 169, "K"),
                                                         Shot("noface_face.mov", 0, 169, "K")])))
        if args.cache:
            args.cache.write_bytes(pickle.dumps(runs))
    dev = [frames for _, frames in runs["dev"]]
    report["dev_steps"] = steps(dev)
    print("dev colour steps:", {k: round(v, 4) for k, v in report["dev_steps"].items()})
    report["dev_scales"] = scales(dev)
    print(f"dev median distances between two tracks of one person: texture {report['dev_scales'][0]:.4f}, "
          f"colour {report['dev_scales'][1]:.4f}")
    for name, sequences_run in runs.items():
        report[f"{name}_evidence"] = evidence([frames for _, frames in sequences_run])
        print(f"{name} evidence, AUC:", {k: round(v, 4) for k, v in report[f"{name}_evidence"].items()})
    if args.sweep:  # SAME is chosen on dev: a fifth under where two of its people are first joined
        for name, sequences_run in runs.items():
            sweep = report[f"{name}_sweep"] = {}
            for same in np.arange(1, 49) / 4:
                people_module.SAME = float(same)
                sweep[float(same)] = summary([scores(frames) for _, frames in sequences_run])
                print(line(f"{name}, SAME {same}", sweep[float(same)]), file=sys.stderr if name != "dev" else None)
            joined = min((same for same, s in sweep.items() if s["fp"]), default=None)
            whole = min((same for same, s in sweep.items() if s["fn"] == 0), default=None)
            print(f"{name}: every pair of one person joined from SAME {whole}, two people first joined at {joined}"
                  + (f"; a fifth under: {np.floor(0.8 * joined * 4) / 4} (appearance.SAME is {SAME})"
                     if name == "dev" and joined else ""))
        people_module.SAME = SAME
    for name, sequences_run in runs.items():
        per_kind: dict[str, list] = {}
        for label, frames in sequences_run:
            per_kind.setdefault(label.rstrip("0123456789"), []).append(scores(frames))
        for kind, counts in per_kind.items():
            report[f"{name}/{kind}"] = summary(counts)
            print(line(f"{name} {kind}", report[f"{name}/{kind}"]))
        report[name] = summary([c for counts in per_kind.values() for c in counts])
        print(line(f"{name} all (SAME {SAME})", report[name]))
        report[f"{name}_live"] = summary([scores(frames, settle=1) for _, frames in sequences_run])
        print(line(f"{name} all, live", report[f"{name}_live"]))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
