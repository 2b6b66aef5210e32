"""Shared fixtures: real faces that travel with the code (scikit-image's public-domain astronaut
photo, clips generated from it) and the optional ../shared/data folder."""
from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any Qt import

import av
import cv2
import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
needs_shared = pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"{SHARED_DATA} absent (shared data lives beside the repo)")


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut())


def write_clip(path: Path, frames: list[np.ndarray], times: list[float] | None = None, fps: int = 25) -> Path:
    """Encode RGB frames into an mp4 (mpeg4). ``times`` (seconds) gives variable frame rate."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=fps)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, 1000)
        stream.codec_context.time_base = Fraction(1, 1000)
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = round((times[i] if times else i / fps) * 1000)
            frame.time_base = Fraction(1, 1000)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def moving_face_frames(face: np.ndarray, n: int = 12, size: tuple[int, int] = (480, 360)) -> list[np.ndarray]:
    """The face (scaled to ~60% of the height) gliding left to right across a grey canvas."""
    w, h = size
    small = cv2.resize(face, (int(0.6 * h), int(0.6 * h)))
    frames = []
    for i in range(n):
        canvas = np.full((h, w, 3), 90, np.uint8)
        x = 10 + i * (w - small.shape[1] - 20) // max(n - 1, 1)
        canvas[40:40 + small.shape[0], x:x + small.shape[1]] = small
        frames.append(canvas)
    return frames


@pytest.fixture(scope="session")
def face_crop(astronaut) -> np.ndarray:
    return astronaut[20:260, 110:350]  # her head and shoulders


@pytest.fixture(scope="session")
def face_clip(tmp_path_factory, face_crop) -> Path:
    return write_clip(tmp_path_factory.mktemp("clips") / "face.mp4", moving_face_frames(face_crop))


@pytest.fixture(scope="session")
def blank_clip(tmp_path_factory) -> Path:
    rng = np.random.default_rng(0)
    frames = [cv2.GaussianBlur(rng.integers(0, 255, (240, 320, 3), dtype=np.uint8), (0, 0), 8) for _ in range(6)]
    return write_clip(tmp_path_factory.mktemp("clips") / "blank.mp4", frames)


def set_display_rotation(path: Path, clockwise: int) -> Path:
    """Write a display matrix into an mp4's track header, as phones do for portrait video: the
    stored pixels are to be shown turned ``clockwise`` degrees (90 or 270)."""
    import struct

    c, s = {90: (0, 1), 270: (0, -1)}[clockwise]
    data = bytearray(path.read_bytes())
    i = data.find(b"tkhd")
    times = 8 + 8 + 4 + 4 + 8 if data[i + 4] == 1 else 4 + 4 + 4 + 4 + 4  # version 1 has 64-bit times
    at = i + 8 + times + 8 + 8  # past version/flags, times, reserved, layer/group/volume/reserved
    data[at:at + 36] = struct.pack(">9i", c << 16, s << 16, 0, -s << 16, c << 16, 0, 0, 0, 1 << 30)
    path.write_bytes(data)
    return path


@pytest.fixture(scope="session")
def analysed_d0(tmp_path_factory) -> Path:
    """`mf2 analyze` of liveportrait_d0 (78 frames, 3.1 s: neutral, a smile from about 0.8 s to
    2.6 s, neutral again) with the shipped model: a real result for the readers of CSVs."""
    import subprocess
    import sys

    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} absent (shared data lives beside the repo)")
    out = tmp_path_factory.mktemp("analysed")
    run = subprocess.run([sys.executable, "-m", "core.cli", "analyze", str(SHARED_DATA / "videos" / "liveportrait_d0.mp4"),
                          "-o", str(out), "--workers", "1", "--threads", "1", "--device", "cpu"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    return out / "liveportrait_d0.csv"
