"""A long 640x360 30 fps test video made of the development clips in ../shared/data/videos, one
after another and round again, for the throughput and memory benchmarks of `mf2 analyze`
(scripts/bench_scale.py). Square clips are letterboxed; nothing is written into the repository.

    .venv/bin/python scripts/make_long_video.py OUT.mp4 --minutes 20
"""
from __future__ import annotations

import argparse
import sys
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CLIPS = ["WolfgangLanger_Pexels.mp4", "liveportrait_d0.mp4", "liveportrait_d3.mp4", "liveportrait_d6.mp4",
         "liveportrait_d9.mp4", "liveportrait_d10.mp4", "liveportrait_d11.mp4", "liveportrait_d12.mp4",
         "single_face.mp4"]
W, H, FPS = 640, 360, 30


def fitted(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    scale = min(W / w, H / h)
    small = cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    out = np.zeros((H, W, 3), np.uint8)
    y, x = (H - small.shape[0]) // 2, (W - small.shape[1]) // 2
    out[y:y + small.shape[0], x:x + small.shape[1]] = small
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path)
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--videos", type=Path, default=ROOT.parent / "shared" / "data" / "videos")
    parser.add_argument("--per-clip", type=float, default=None, metavar="SECONDS",
                        help="at most this much of each clip a round (a short video with every clip in it)")
    args = parser.parse_args()
    total = round(args.minutes * 60 * FPS)
    with av.open(str(args.output), "w") as out:
        stream = out.add_stream("libx264", rate=FPS, options={"preset": "veryfast", "crf": "23", "g": "250"})
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.time_base = Fraction(1, FPS)
        n = 0
        while n < total:
            for name in CLIPS:
                with av.open(str(args.videos / name)) as clip:
                    for taken, frame in enumerate(clip.decode(video=0)):
                        if n >= total or (args.per_clip and taken >= args.per_clip * FPS):
                            break
                        video = av.VideoFrame.from_ndarray(fitted(frame.to_ndarray(format="rgb24")), format="rgb24")
                        video.pts = n
                        for packet in stream.encode(video):
                            out.mux(packet)
                        n += 1
        for packet in stream.encode():
            out.mux(packet)
    print(f"{args.output}: {n} frames, {n / FPS / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
