"""Continue pre-training the whole MF² encoder on FER+ majority labels (8 emotions, contempt
included), starting from a model: the emotion figures showed the frozen backbone, trained on the
original FER2013 labels, as the limit. Saves after every epoch; ``--resume`` continues a cut run.
``--hold-out`` leaves out the 10% of the training images that scripts/train_emotion.py chooses
its heads on, so that choice stays on faces the encoder never trained on.

    .venv/bin/python scripts/pretrain_ferplus.py --base DIR -o DIR [--epochs 5] [--resume] [--hold-out]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from core.data.prepare import prepare
from core.data.sources import load_emotion_folder
from core.quiet import silence_native_stderr
from core.taxonomy import EMOTIONS
from core.training.checkpoint import load_model
from core.training.emotion_heads import choice_hold_out, ferplus_votes, majority
from core.training.loop import TrainSettings, train

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, required=True)
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--hold-out", action="store_true", help="leave out train_emotion.py's 10%% choice hold-out")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args()
    silence_native_stderr()
    samples = load_emotion_folder(SHARED / "fer2013" / "train")
    top = majority(ferplus_votes([s.source for s in samples], SHARED / "fer2013" / "ferplus_votes.csv"))
    data = prepare(samples, 48)
    if args.threads:
        torch.set_num_threads(args.threads)
    usable = top >= 0
    if args.hold_out:
        usable &= ~choice_hold_out(len(samples))
    keep = np.flatnonzero(usable)
    data = data.subset(keep)
    data.emotions = top[keep].astype(np.int64)
    print(f"{len(keep)} FER+ faces with a majority; per emotion "
          f"{dict(zip(EMOTIONS, np.bincount(data.emotions, minlength=len(EMOTIONS)).tolist()))}", flush=True)
    model = load_model(args.output if args.resume else args.base)
    train(model, data, args.output, TrainSettings(phase="pretrain", epochs=args.epochs, lr=args.lr, seed=0),
          resume=args.resume)
    return 0


if __name__ == "__main__":
    sys.exit(main())
