"""One interface over video files, still images, image folders and webcams.

Every source yields `Frame`s (index, true timestamp in seconds, RGB pixels). Files are decoded
with PyAV so timestamps come from the container (variable frame rate is kept, not assumed
away) and seeking is exact: seek to the keyframe before, then decode forward.
"""
from __future__ import annotations

import bisect
import io
import os
import stat
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from .errors import InputError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".ts", ".3gp"}
CAMERA_PREFIXES = ("cam:", "camera:", "webcam:")
MAX_PIXELS = 1 << 28  # largest image or video frame read (268 megapixels, e.g. 16384x16384), checked before decoding


@dataclass
class Frame:
    index: int          # 0-based position in the source
    timestamp: float    # seconds from the start of the source
    rgb: np.ndarray     # H x W x 3 uint8


class Source:
    """Base of all sources: iterate for frames; `fps`/`frame_count` are None where unknowable."""

    name: str
    fps: float | None = None
    frame_count: int | None = None
    static = False   # frames are unrelated photos (no tracking between them)
    live = False     # frames arrive in real time (a camera, or a PacedVideo); no seeking

    def __iter__(self) -> Iterator[Frame]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def regular_file(path: Path) -> Path:
    """``path`` if it is a regular file (or a link to one); InputError otherwise, so that a FIFO
    or a device never blocks a read."""
    try:
        mode = os.stat(path).st_mode
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror or e})") from None
    if not stat.S_ISREG(mode):
        kind = "a folder" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "a device or socket"
        raise InputError(f"{path}: not a regular file ({kind})")
    return path


def check_pixels(path: Path, width: int, height: int) -> None:
    if width * height > MAX_PIXELS:
        raise InputError(f"{path}: {width}x{height} pixels is over the limit of {MAX_PIXELS / 1e6:.0f} megapixels "
                         "(scale it down first)")


def _header_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from an encoded image's header, without decoding it (None if Pillow can't tell)."""
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = None  # Pillow's own bomb check would hide the size; MAX_PIXELS is ours
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except (OSError, ValueError, SyntaxError):
        return None


def decode_image(data: bytes, path: Path) -> np.ndarray:
    """RGB uint8 pixels of an encoded image (grey and RGBA are converted); InputError naming
    ``path`` if it is not one or is larger than MAX_PIXELS (checked from the header first)."""
    size = _header_size(data)
    if size:
        check_pixels(path, *size)
    try:
        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
    except cv2.error:
        bgr = None
    if bgr is None:
        raise InputError(f"{path}: not a readable image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def read_image(path: Path) -> np.ndarray:
    """`decode_image` of a regular file's bytes; InputError with one line if it can't be read."""
    regular_file(path)
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror or e})") from None
    return decode_image(data, path)


class VideoFile(Source):
    def __init__(self, path: Path):
        import av  # PyAV: exact timestamps and seeking

        self.path = regular_file(Path(path))
        self.name = self.path.name
        if self.path.stat().st_size == 0:
            raise InputError(f"{self.path}: empty file (0 bytes)")
        self._av = av
        try:
            self._container = av.open(str(self.path))
        except (av.FFmpegError, OSError, UnicodeDecodeError) as e:
            if _index_missing(self.path):
                raise InputError(f"{self.path}: truncated or unfinished recording: an MP4/MOV file without its "
                                 "index (no 'moov' box, which is written last), so no frame can be found in it; "
                                 "a repair tool such as untrunc can rebuild one from a good file of the same "
                                 "camera") from None
            if self.path.suffix.lower() not in VIDEO_SUFFIXES:  # notes.txt given by name: tried, as a .mts would be
                raise InputError(f"{self.path}: not a video or image file ({_reason(e)})") from None
            raise InputError(f"{self.path}: not a readable video ({_reason(e)})") from None
        if not self._container.streams.video:
            self._container.close()
            raise InputError(f"{self.path}: contains no video stream")
        self._stream = self._container.streams.video[0]
        try:
            check_pixels(self.path, self._stream.codec_context.width, self._stream.codec_context.height)
        except InputError:
            self._container.close()
            raise
        self._stream.thread_type = "AUTO"
        rate = self._stream.average_rate or self._stream.guessed_rate
        self.fps = float(rate) if rate else None
        self._start = self._stream.start_time or 0
        self._times: list[float] | None = None
        self.keyframes: list[int] = []  # set with the frame times
        self.listed = 0  # with the frame times: how many frames the file's index lists, where it lists more than the file holds (cut short); else 0
        self.stated = 0.0  # with the frame times: the seconds the file states, where its frames end well before; else 0
        self.frame_count = len(self.frame_times())
        if self.frame_count == 0:
            self._container.close()
            raise InputError(f"{self.path}: video stream holds no frames (empty or truncated file)")

    def frame_times(self) -> list[float]:
        """Presentation time of every frame, read from the packets without decoding."""
        if self._times is None:
            pts, keys, packets = [], set(), 0
            try:
                for packet in self._container.demux(self._stream):
                    packets += packet.pts is not None or packet.size > 0  # not the demuxer's closing empty packet
                    # pts before the stream start are pre-roll an edit list discards
                    if packet.pts is not None and packet.size and packet.pts >= self._start:
                        pts.append(packet.pts)
                        if packet.is_keyframe:
                            keys.add(packet.pts)
            except self._av.FFmpegError:
                pass  # a damaged tail: keep the packets before it; decoding reports the damage
            tb = float(self._stream.time_base)
            pts.sort()
            self._times = [(p - self._start) * tb for p in pts]
            self.keyframes = [i for i, p in enumerate(pts) if p in keys]  # frame indices decoding can start at
            # An index at the front of the file (mp4 "faststart") lists every frame; in a file cut
            # short the demuxer stops quietly where the data ends, so compare (a frame's slack)
            declared = self._stream.frames
            self.listed = declared if declared > packets + 1 else 0
            # a file cut short whose header states its length (Matroska): its frames end well before
            stated = self._stated_seconds()
            end = self._times[-1] if self._times else 0.0
            self.stated = stated if stated and end < stated - max(2.0, 0.1 * stated) else 0.0
        return self._times

    def _stated_seconds(self) -> float | None:
        """The video's length as the file states it: the stream's own, else the container's where
        no other stream (a longer sound track) could make it longer; None when not stated."""
        if self._stream.duration:
            return float(self._stream.duration * self._stream.time_base)
        if self._container.duration and len(self._container.streams) == 1:
            return self._container.duration / 1_000_000
        return None

    def damage(self) -> str | None:
        """Why the file holds fewer frames than it states (cut short), seen without decoding; None if not."""
        self.frame_times()
        if self.listed:
            return f"{self.path}: truncated video: its index lists {self.listed} frames, the file holds {len(self._times)}"
        if self.stated:
            return (f"{self.path}: truncated video: the file states {self.stated:.1f} s, its frames end at "
                    f"{self._times[-1]:.1f} s")
        return None

    def __iter__(self) -> Iterator[Frame]:
        return self.frames()

    def frames(self, start: float = 0.0) -> Iterator[Frame]:
        """Frames from ``start`` seconds on (exact: decodes forward from the keyframe before it)."""
        times = self.frame_times()
        tb = float(self._stream.time_base)
        self._container.seek(int(start / tb) + self._start, stream=self._stream, backward=True)
        index = None
        try:
            for frame in self._container.decode(self._stream):
                if frame.pts is None:
                    continue
                t = (frame.pts - self._start) * tb
                if t < start - 1e-6 or t < 0:
                    continue
                index = _nearest(times, t)  # by its time: a frame the decoder dropped leaves a gap, not a shift
                yield Frame(index, t, upright(frame.to_ndarray(format="rgb24"), frame.rotation))
        except self._av.FFmpegError as e:
            where = f"after frame {index + 1}" if index is not None else "at the start"
            raise InputError(f"{self.path}: corrupt or truncated video {where} ({_reason(e)})") from None
        if index is not None and index + 1 < len(times) - 1:
            raise InputError(f"{self.path}: truncated video: decoded {index + 1} of {len(times)} frames")
        damage = self.damage()
        if damage:
            raise InputError(damage)

    def close(self) -> None:
        self._container.close()


class PacedVideo(VideoFile):
    """A video file played in real time, standing in for a webcam in demos and benchmarks.

    Each frame is held back until its timestamp is due on the wall clock (counted from the first
    frame); a consumer that falls behind gets the overdue frames at once, as none are dropped here.
    """

    live = True

    def __iter__(self) -> Iterator[Frame]:
        origin = None
        for frame in self.frames():
            if origin is None:
                origin = time.monotonic() - frame.timestamp
            delay = origin + frame.timestamp - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            yield frame


class ImageFile(Source):
    static = True

    def __init__(self, path: Path):
        self.path = Path(path)
        self.name = self.path.name
        self._rgb = read_image(self.path)
        self.frame_count = 1

    def __iter__(self) -> Iterator[Frame]:
        yield Frame(0, 0.0, self._rgb)


class ImageSequence(Source):
    """Images in a list (a folder's images, sorted by name); timestamps are index / fps."""

    static = True

    def __init__(self, name: str, paths: list[Path], fps: float = 30.0):
        self.name = name
        self.paths = list(paths)
        self.fps = fps
        self.frame_count = len(self.paths)
        self.skipped: list[str] = []  # one line per unreadable image, for the caller to report

    def listing(self) -> bytes:
        """``frame,image`` rows, the CSV's frame numbers (1-based) and each one's file name: a folder
        of photos is one CSV, and its rows must be traceable to the photos."""
        import csv

        text = io.StringIO()
        rows = csv.writer(text, lineterminator="\n")
        rows.writerow(["frame", "image"])
        rows.writerows((i + 1, path.name) for i, path in enumerate(self.paths))
        return text.getvalue().encode("utf-8", "surrogateescape")

    def __iter__(self) -> Iterator[Frame]:
        for i, path in enumerate(self.paths):
            try:
                rgb = read_image(path)
            except InputError as e:
                self.skipped.append(f"{e} (skipped)")
                continue
            yield Frame(i, i / self.fps, rgb)


class Camera(Source):
    """A webcam by index. Timestamps are seconds since the first frame, from a monotonic clock."""

    live = True

    def __init__(self, index: int, duration: float | None = None):
        cv2.setLogLevel(0)  # LOG_LEVEL_SILENT: probing an absent device logs errors of its own
        self.index = index
        self.name = f"camera {index}"
        self.duration = duration
        self._cap = cv2.VideoCapture(index)
        if not self._cap.isOpened():
            self._cap.release()
            raise InputError(f"camera {index}: no camera found at this index (not connected, or in use)")
        self.fps = self._cap.get(cv2.CAP_PROP_FPS) or None

    def __iter__(self) -> Iterator[Frame]:
        t0 = None
        i = 0
        while True:
            ok, bgr = self._cap.read()
            now = time.monotonic()
            if not ok:
                raise InputError(f"camera {self.index}: stopped delivering frames (unplugged?)")
            t0 = now if t0 is None else t0
            if self.duration is not None and now - t0 > self.duration:
                return
            yield Frame(i, now - t0, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            i += 1

    def close(self) -> None:
        self._cap.release()


def list_cameras() -> list[int]:
    """Indices of the cameras present. On Linux from the /dev/video* names, since opening a device
    is slow and can take it from the app using it; elsewhere by probing indices 0 to 4."""
    if sys.platform.startswith("linux"):
        names = (p.name[len("video"):] for p in Path("/dev").glob("video*"))
        return sorted(int(n) for n in names if n.isdigit() and _capture_node(int(n)))
    cv2.setLogLevel(0)  # LOG_LEVEL_SILENT: absent indices log errors of their own
    found = []
    for index in range(5):
        cap = cv2.VideoCapture(index)
        if cap.isOpened():
            found.append(index)
        cap.release()
    return found


def _capture_node(index: int) -> bool:
    """False for the extra metadata node a UVC webcam adds beside its picture node (its sysfs
    ``index`` is not 0); True where sysfs does not say."""
    try:
        return (Path("/sys/class/video4linux") / f"video{index}" / "index").read_text().strip() == "0"
    except OSError:
        return True


def camera_index(spec: str) -> int | None:
    """``cam:0`` (or ``camera:0``, ``webcam:0``) -> 0; anything else -> None."""
    for prefix in CAMERA_PREFIXES:
        if spec.lower().startswith(prefix) and spec[len(prefix):].isdigit():
            return int(spec[len(prefix):])
    return None


def open_source(spec: str | Path, duration: float | None = None, paced: bool = False) -> Source:
    """Open a video file, an image, a folder of images or ``cam:N``; InputError if it can't be.
    ``paced``: play a video file in real time (`PacedVideo`); other sources are unaffected."""
    if not str(spec).strip():
        raise InputError(f"{str(spec)!r}: an empty input name")
    index = camera_index(str(spec))
    if index is not None:
        return Camera(index, duration)
    path = Path(spec)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if path.is_dir():
        images = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not images:
            raise InputError(f"{path}: folder holds no images")
        return ImageSequence(path.name, images)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return ImageFile(path)
    return PacedVideo(path) if paced else VideoFile(path)


def expected_frames(spec: str, every: int = 1) -> int | None:
    """About how many frames ``spec`` will give, from its container's header or its folder's
    listing, nothing decoded: what the progress line counts for an input not begun yet (None:
    a camera, endless; 0: what cannot be opened, which will fail at once)."""
    if camera_index(spec) is not None:
        return None
    path = Path(spec)
    try:
        if path.is_dir():
            n = sum(1 for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            n = 1
        else:
            import av

            with av.open(str(path)) as container:
                stream = container.streams.video[0]
                rate = stream.average_rate or stream.guessed_rate
                seconds = float(stream.duration * stream.time_base) if stream.duration else \
                    (container.duration or 0) / av.time_base
                n = stream.frames or round(seconds * float(rate or 0))
    except Exception:  # noqa: BLE001 -- any failure here is the input's own error, said when it is analysed
        return 0
    return -(-n // every)


def upright(rgb: np.ndarray, rotation: float) -> np.ndarray:
    """Pixels as the video is meant to be shown: phones store portrait video sideways with a
    display matrix; ``rotation`` is its angle, counter-clockwise (PyAV's ``VideoFrame.rotation``)."""
    turns = round(rotation / 90) % 4
    return np.ascontiguousarray(np.rot90(rgb, turns)) if turns else rgb


def _nearest(times: list[float], t: float) -> int:
    """The frame at time ``t`` (the first at or after it, within a microsecond) in the sorted ``times``."""
    return min(bisect.bisect_left(times, t - 1e-6), len(times) - 1)


def _index_missing(path: Path) -> bool:
    """Whether ``path`` is an ISO media file (MP4, MOV) whose top-level boxes start with ``ftyp``
    and hold media data but no ``moov``: a recording cut short before its index was written."""
    seen = []
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            at = 0
            while at + 8 <= size and len(seen) < 1000:
                f.seek(at)
                head = f.read(16)
                length, kind = int.from_bytes(head[:4], "big"), head[4:8]
                if length == 1 and len(head) == 16:
                    length = int.from_bytes(head[8:16], "big")
                elif length == 0:
                    length = size - at
                if length < 8 or not kind.isascii():
                    break
                seen.append(kind)
                at += length
    except OSError:
        return False
    return bool(seen) and seen[0] == b"ftyp" and b"moov" not in seen and (b"mdat" in seen or b"free" in seen
                                                                          or at > size)


def _reason(error: Exception) -> str:
    text = getattr(error, "strerror", None) or str(error)
    return text.split(":")[-1].strip() or type(error).__name__
