"""Every face's landmarks in an analysis, kept out of the process's memory.

They are most of an analysis: 478 points x 2 float32 a face, 413 MB for an hour at 30 fps, while
a view needs one frame's at a time. Faces go into blocks in memory; once a block is two blocks
behind the newest (no frame that fails to be added can reach back that far) it is written to an
unnamed scratch file in the cache folder and its memory is freed. A saved analysis's landmarks
are read from its own file, where they are stored uncompressed, so opening an hour takes no
landmark memory either. Rows are read back with plain reads (not a memory map, whose pages
would count as the process's own once touched); the operating system's page cache keeps
repeated reads fast.
"""
from __future__ import annotations

import tempfile
import threading
import zipfile
from typing import BinaryIO

import numpy as np

BLOCK = 4096        # faces a block
IN_MEMORY = 2       # newest blocks kept in memory: a frame being added may still be taken back there
GAP = 64            # rows asked for that are further apart than this are read separately
SPAN = 1024         # rows one read covers at most (4 MB of 478 points)
DTYPE = np.dtype("<f4")


class _OnDisk:
    """A part's rows stored from ``offset`` of ``file`` as (rows, points, 2) <f4."""

    def __init__(self, file: BinaryIO, offset: int, points: int, lock: threading.Lock):
        self.file, self.offset, self.points, self.lock = file, offset, points, lock

    def read(self, start: int, stop: int) -> np.ndarray:
        """The part's rows ``start .. stop`` as a new array."""
        out = np.empty((stop - start, self.points, 2), DTYPE)
        with self.lock:
            self.file.seek(self.offset + start * self.points * 2 * DTYPE.itemsize)
            if self.file.readinto(memoryview(out).cast("B")) != out.nbytes:
                raise OSError(f"{getattr(self.file, 'name', 'landmark file')}: shorter than its landmarks")
        return out


class LandmarkStore:
    """Landmarks by face row. Rows are put in order (a row may be put again while its block is
    still in memory); not thread-safe on its own (the analysis's lock guards it)."""

    def __init__(self, points: int | None = None):
        self.points = points
        self._parts: list = []    # ndarray blocks (in memory) and _OnDisk parts, in row order
        self._starts: list[int] = []
        self._scratch: BinaryIO | None = None
        self._lock = threading.Lock()

    @classmethod
    def saved(cls, file: BinaryIO, member: str, rows: int) -> "LandmarkStore":
        """The landmarks stored uncompressed as ``member`` of the .npz open as ``file``, read from
        there; the store keeps the file open (it closes it on error). ValueError if they are
        compressed or not a (rows, points, 2) float32 array."""
        try:
            with zipfile.ZipFile(file) as z:
                info = z.getinfo(member)
            if info.compress_type != zipfile.ZIP_STORED:
                raise ValueError(f"{member} is compressed")
            file.seek(info.header_offset)
            local = file.read(30)  # the local file header: its name and extra field lengths at 26 and 28
            if local[:4] != b"PK\x03\x04":
                raise ValueError(f"{member}: no zip entry where the zip's directory says")
            begins = info.header_offset + 30 + int.from_bytes(local[26:28], "little") + int.from_bytes(local[28:30], "little")
            file.seek(begins)
            header = {(1, 0): np.lib.format.read_array_header_1_0,
                      (2, 0): np.lib.format.read_array_header_2_0}.get(np.lib.format.read_magic(file))
            if header is None:
                raise ValueError(f"{member}: not an array format this version reads")
            shape, fortran, dtype = header(file)
            if len(shape) == 3 and info.file_size < file.tell() - begins + np.prod(shape) * DTYPE.itemsize:
                raise ValueError(f"{member} is shorter than its shape {shape}")
            if fortran or dtype != DTYPE or len(shape) != 3 or shape[0] != rows or shape[2] != 2:
                raise ValueError(f"{member} of shape {shape} and type {dtype}, expected ({rows}, points, 2) float32")
            store = cls(shape[1] if rows else None)
            if rows:
                store._parts.append(_OnDisk(file, file.tell(), shape[1], store._lock))
                store._starts.append(0)
            else:
                file.close()
            return store
        except BaseException:
            file.close()
            raise

    @classmethod
    def holding(cls, landmarks: np.ndarray) -> "LandmarkStore":
        """A store of these (rows, points, 2) landmarks, spilled as they would have been."""
        store = cls(landmarks.shape[1] if len(landmarks) else None)
        for row in range(0, len(landmarks), BLOCK):
            store._new_block(row)
            part = landmarks[row:row + BLOCK]
            store._parts[-1][:len(part)] = part
        return store

    def put(self, row: int, landmarks: np.ndarray) -> None:
        """Landmarks of ``row``: the next row, or one of the newest block's again."""
        if self.points is None:
            self.points = len(landmarks)
        if not self._parts or not isinstance(self._parts[-1], np.ndarray) or row >= self._starts[-1] + BLOCK:
            self._new_block(row)
        self._parts[-1][row - self._starts[-1]] = landmarks  # (a different point count raises here)

    def truncate(self, rows: int) -> None:
        """Forget the rows from ``rows`` on (a frame that could not be added): a block begun for
        them goes, so that they are put again where they belong."""
        while self._parts and self._starts[-1] >= rows and isinstance(self._parts[-1], np.ndarray):
            self._parts.pop()
            self._starts.pop()

    def _new_block(self, row: int) -> None:
        self._parts.append(np.empty((BLOCK, self.points, 2), DTYPE))
        self._starts.append(row)
        in_memory = [i for i, part in enumerate(self._parts) if isinstance(part, np.ndarray)]
        for i in in_memory[:-IN_MEMORY]:
            self._spill(i)

    def _spill(self, i: int) -> None:
        if self._scratch is None:
            self._scratch = _scratch_file()
        block = self._parts[i]
        with self._lock:
            self._scratch.seek(0, 2)
            offset = self._scratch.tell()
            self._scratch.write(block.tobytes())
        self._parts[i] = _OnDisk(self._scratch, offset, self.points, self._lock)

    def one(self, row: int) -> np.ndarray:
        """(points, 2) the landmarks of one row (a copy)."""
        i = int(np.searchsorted(self._starts, row, side="right")) - 1
        part, first = self._parts[i], self._starts[i]
        if isinstance(part, np.ndarray):
            return part[row - first].copy()
        return part.read(row - first, row - first + 1)[0]

    def gather(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows), points, 2) the landmarks of these rows, in their order."""
        out = np.empty((len(rows), self.points or 0, 2), DTYPE)
        if not len(rows):
            return out
        part_of = np.searchsorted(self._starts, rows, side="right") - 1
        for i in np.unique(part_of).tolist():
            at = np.flatnonzero(part_of == i)
            local = rows[at] - self._starts[i]
            part = self._parts[i]
            if isinstance(part, np.ndarray):
                out[at] = part[local]
                continue
            wanted = np.unique(local)
            breaks = np.diff(wanted) > GAP
            span_start = wanted[0]
            for k in range(1, len(wanted)):  # no read spans more than SPAN rows
                if breaks[k - 1] or wanted[k] - span_start >= SPAN:
                    breaks[k - 1], span_start = True, wanted[k]
            for run in np.split(wanted, np.flatnonzero(breaks) + 1):  # one read a run of nearby rows
                block = part.read(int(run[0]), int(run[-1]) + 1)
                inside = (local >= run[0]) & (local <= run[-1])
                out[at[inside]] = block[local[inside] - run[0]]
        return out


def _scratch_file() -> BinaryIO:
    """An unnamed file in the cache folder (on disk: a temporary folder may be memory, tmpfs),
    or in the temporary folder if the cache folder cannot be written."""
    from .cache import cache_dir  # it imports the analysis, which imports this module

    try:
        folder = cache_dir() / "scratch"
        folder.mkdir(parents=True, exist_ok=True)
        return tempfile.TemporaryFile(prefix="mf2-landmarks-", dir=folder)
    except OSError:
        return tempfile.TemporaryFile(prefix="mf2-landmarks-")
