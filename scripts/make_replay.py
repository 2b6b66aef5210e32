"""Build the replay bank shipped beside a model: frozen-encoder features of an even sample of the
FER2013 training split (no pixels), labelled with the FER+ majority vote (8 emotions, contempt
included, as the shipped heads), used by DFN fine-tuning on users' datasets.

    .venv/bin/python scripts/make_replay.py [--model resources/models/mf2-default] [--per-class 100]
"""
from __future__ import annotations

import argparse
import random
from pathlib import Path

from core.cli import default_model_dir
from core.data.prepare import prepare
from core.data.sources import load_emotion_folder
from core.quiet import silence_native_stderr
from core.training.checkpoint import load_model
from core.taxonomy import EMOTIONS
from core.training.emotion_heads import ferplus_votes, majority
from core.training.replay import REPLAY_FILE, encode, save_replay

FER_TRAIN = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "fer2013" / "train"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=default_model_dir())
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument("--data", type=Path, default=FER_TRAIN)
    args = parser.parse_args()
    silence_native_stderr()
    model = load_model(args.model)
    samples = load_emotion_folder(args.data)
    top = majority(ferplus_votes([s.source for s in samples], args.data.parent / "ferplus_votes.csv"))
    by_class: dict[str, list] = {}
    for s, label in zip(samples, top):
        if label >= 0:  # FER+ majority; images whose votes are tied, unknown or not a face are left out
            s.emotion = EMOTIONS[label]
            by_class.setdefault(s.emotion, []).append(s)
    rng = random.Random(0)
    chosen = [s for e in sorted(by_class) for s in rng.sample(by_class[e], min(args.per_class, len(by_class[e])))]
    data = prepare(chosen, model.cfg.input_size)
    features = encode(model, data.images, data.centers)
    emotions = [model.cfg.emotions.index(s.emotion) for s in chosen]
    source = f"FER2013 train with FER+ majority labels, {len(chosen)} faces ({args.per_class} per emotion), features only"
    save_replay(args.model / REPLAY_FILE, model, features, emotions, source)
    (args.model / REPLAY_FILE).chmod(0o644)
    print(f"{args.model / REPLAY_FILE}: {len(chosen)} faces ({source})")


if __name__ == "__main__":
    main()
