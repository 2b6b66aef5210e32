"""AUs read on photos of faces at rest: FER+ val photos (never trained on) at least 9 of 10
voters called neutral, each read at its own rest geometry (the face and its mirror image
averaged, as the training scripts read), at the model's thresholds; the FACS gates that need
a rise (the brow raisers') stay shut at rest, as in the analyse path; AU5's, which needs any
widening at all, is open exactly at rest and left to the reading. A face at rest shows no AU, so every AU read
is a false positive.

    .venv/bin/python scripts/rest_check.py [--model DIR ...]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from core.cli import default_model_dir
from core.quiet import silence_native_stderr
from core.training.au_local import ferplus_rest_faces, predict_au
from core.training.checkpoint import load_model

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, nargs="+", default=[default_model_dir()])
    args = parser.parse_args()
    silence_native_stderr()
    for folder in args.model:
        model = load_model(folder)
        faces = ferplus_rest_faces(model, SHARED / "fer2013" / "val", SHARED / "fer2013" / "ferplus_votes.csv")
        read = predict_au(model, faces) >= np.array(model.cfg.au_thresholds)[None]
        for au, _, rise in model.cfg.au_gates:
            if rise > 0:
                read[:, model.cfg.aus.index(au)] = False
        trained = [model.cfg.aus.index(a) for a in model.cfg.trained_aus]
        rates = {f"AU{model.cfg.aus[j]}": float(read[:, j].mean()) for j in trained}
        lit = ", ".join(f"{a} {100 * r:.0f}%" for a, r in rates.items() if r >= 0.005)
        print(f"{model.cfg.version} ({folder}): {len(faces)} faces at rest, {100 * np.mean(list(rates.values())):.1f}% "
              f"of AU entries read present ({lit or 'none'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
