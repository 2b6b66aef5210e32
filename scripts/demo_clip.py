"""Writes the README's demo clip: scikit-image's public-domain astronaut photo, filmed by a
virtual camera that zooms, pans, tilts and looks away, so the studio has motion, pose changes
and a gap to show. (The shared development clips may not be redistributed, so their frames stay
out of the repository.) Needs the test extras: ./test.sh installs scikit-image.

    .venv/bin/python scripts/demo_clip.py demo.mp4
"""
from __future__ import annotations

import sys
from fractions import Fraction

import av
import cv2
import numpy as np
from skimage import data

FPS, SECONDS, W, H = 25, 8, 640, 400


def camera(t: float) -> tuple[float, float, float, float]:
    """(centre x, centre y, zoom, roll degrees) of the virtual camera at time t."""
    zoom = 1.0 + 0.6 * np.sin(np.pi * min(t, 4) / 4) ** 2
    roll = 14 * np.sin(2 * np.pi * t / 4)
    away = np.clip((t - 5.2) / 0.6, 0, 1) - np.clip((t - 6.6) / 0.6, 0, 1)  # pans off the face and back
    return 230 + 900 * away, 150 + 30 * np.sin(t), zoom, roll


def main(out: str) -> None:
    photo = np.ascontiguousarray(data.astronaut())
    with av.open(out, "w") as container:
        stream = container.add_stream("mpeg4", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.codec_context.time_base = Fraction(1, FPS)
        stream.bit_rate = 4_000_000
        for i in range(FPS * SECONDS):
            cx, cy, zoom, roll = camera(i / FPS)
            m = cv2.getRotationMatrix2D((cx, cy), roll, zoom)
            m[:, 2] += (W / 2 - cx, H / 2 - cy)
            rgb = cv2.warpAffine(photo, m, (W, H), borderValue=(90, 90, 90))
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "demo.mp4")
