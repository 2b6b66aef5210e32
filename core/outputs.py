"""Result files that are complete or absent, whoever else writes into the same folder.

A result is written to a temporary file with a name of its own (process id and a random token),
created exclusively and never through a symbolic link, then flushed to disk and renamed over the
final name only when it is complete; the folder entry is synced too, so a crash just after keeps
it. While it is written, a lock (``flock`` on a hidden file beside it) holds off a second run
aiming at the same name: that run gets one line and goes on with its next input, instead of
interleaving rows. Leftovers of a killed writer are removed by the next one that takes the lock.
"""
from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import secrets
import time
from contextlib import contextmanager
from pathlib import Path

from .errors import InputError

NAME_MAX = 255  # bytes in one file name on the common file systems


class OutputError(InputError):
    """A result could not be written (the input itself was fine)."""


class OutputBusy(OutputError):
    """Another process holds the output's lock: it is writing that result now. ``who``: " (pid N)"
    where it is known, else ""."""

    def __init__(self, message: str, who: str = ""):
        super().__init__(message)
        self.who = who


def cannot_write(path: Path, error: OSError) -> OutputError:
    return OutputError(f"{path}: cannot write ({error.strerror or error})")


def _hidden(path: Path, suffix: str) -> Path:
    """``.<name><suffix>`` beside ``path``, or a hash of the name where that would be too long."""
    name = f".{path.name}{suffix}"
    if len(os.fsencode(name)) > NAME_MAX - 24:  # room for the pid and token of temporary names
        name = f".{hashlib.sha1(os.fsencode(path.name)).hexdigest()[:16]}{suffix}"
    return path.with_name(name)


def temp_prefix(path: Path) -> Path:
    """The stem every temporary file of ``path`` starts with (``<stem>.<pid>-<token>.part``)."""
    return _hidden(path, "")


def remove_temps(path: Path, pid: int | None = None) -> None:
    """Delete temporary files of ``path`` (only those of process ``pid`` when given)."""
    prefix = temp_prefix(path)
    start = f"{prefix.name}.{'' if pid is None else f'{pid}-'}"
    try:
        leftovers = [p for p in prefix.parent.iterdir() if p.name.startswith(start) and p.name.endswith(".part")]
    except OSError:
        return
    for leftover in leftovers:
        try:
            leftover.unlink()
        except OSError:
            pass


class FileLock:
    """An exclusive ``flock`` on ``lock_file`` (created without following a link), held by this
    process until `release`, which removes the file. ``busy`` is the one-line error when another
    process holds it; ``{pid}`` in it becomes that process's id. ``wait``: wait for it instead."""

    def __init__(self, lock_file: Path, busy: str):
        self.lock_file = Path(lock_file)
        self.busy = busy
        self._fd: int | None = None

    def acquire(self, wait: bool = False) -> "FileLock":
        while True:
            try:
                fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
            except OSError as e:
                raise cannot_write(self.lock_file, e) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                holder = _holder(fd)
                os.close(fd)
                if e.errno in (errno.EWOULDBLOCK, errno.EACCES):
                    who = f" (pid {holder})" if holder.isdigit() else ""
                    raise OutputBusy(self.busy.replace("{pid}", who), who) from None
                raise cannot_write(self.lock_file, e) from None
            try:  # the holder before us may have removed the file we locked: lock the one now there
                same = os.stat(self.lock_file, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            self.lock_file.unlink()
        except OSError:
            pass
        os.close(self._fd)
        self._fd = None


def _holder(fd: int) -> str:
    """The process id a lock file's holder wrote in it. The holder writes it just after taking
    the lock, so a run that started at the same moment may find it empty: it looks again for up
    to 0.2 s."""
    for _ in range(40):
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
        if holder.isdigit():
            break
        time.sleep(0.005)
    return holder


def output_lock(path: Path) -> FileLock:
    """The lock a run holds on an output name while it writes it."""
    return FileLock(_hidden(path, ".lock"), f"{path}: another mf2 run is writing it{{pid}}; not written")


def remove_leftovers(path: Path, pid: int) -> None:
    """What a killed writer (process ``pid``) of ``path`` left: its temporary file, and the lock
    file, unless another run holds it by now."""
    remove_temps(path, pid)
    try:
        output_lock(path).acquire().release()
    except OutputError:
        pass


class AtomicOutput:
    """A text file that appears under ``path`` complete, on `commit`, or not at all.

    Refuses (OutputError, one line) a final name that is a folder or a symbolic link, a name
    another run is writing, and any I/O failure; an earlier file under the name stays as it was
    until the new one is complete."""

    def __init__(self, path: Path):
        self.path = Path(path)
        if self.path.is_symlink():
            raise OutputError(f"{self.path}: is a symbolic link; not written through it")
        if self.path.is_dir():
            raise OutputError(f"{self.path}: is a folder; not written")
        self._lock = output_lock(self.path).acquire()
        try:
            remove_temps(self.path)  # only a dead writer's: a live one would hold the lock
            self._tmp = Path(f"{temp_prefix(self.path)}.{os.getpid()}-{secrets.token_hex(4)}.part")
            # a file name that is not UTF-8, quoted in a report, is written escaped (\udcfc), never lost
            self.file = _create(self._tmp, 0o644, "w", newline="\n", encoding="utf-8", errors="backslashreplace")
        except OSError as e:
            self._lock.release()
            raise cannot_write(self.path, e) from None
        except BaseException:
            self._lock.release()
            raise

    def write(self, text: str) -> None:
        try:
            self.file.write(text)
        except OSError as e:
            raise cannot_write(self.path, e) from None

    def commit(self) -> None:
        """Flush to disk and rename into place; on failure nothing is left but the earlier file."""
        try:
            _install(self.file, self._tmp, self.path)
        except OSError as e:
            self.discard()
            raise cannot_write(self.path, e) from None
        self._lock.release()

    def discard(self) -> None:
        try:
            self.file.close()
        except OSError:
            pass
        self._tmp.unlink(missing_ok=True)
        self._lock.release()


@contextmanager
def durable_file(path: Path):
    """A binary file that replaces ``path`` whole, on disk, when the block ends, and leaves no
    trace when it raises. The temporary file is created new (O_EXCL, O_NOFOLLOW) and renamed over
    ``path``, so a link planted at either name is replaced, never written through. OSError as it
    comes. (No lock: for files one process owns, like a dataset's crops and records.)"""
    tmp = path.with_name(f"{path.name}.{secrets.token_hex(4)}.tmp")
    f = _create(tmp, 0o666, "wb")
    try:
        yield f
        _install(f, tmp, path)
    except BaseException:
        f.close()
        tmp.unlink(missing_ok=True)
        raise


def write_durably(path: Path, data: bytes) -> None:
    """Write ``path`` whole or not at all, on disk when this returns (see `durable_file`)."""
    with durable_file(path) as f:
        f.write(data)


def _create(tmp: Path, mode: int, *how, **options):
    """A new file at ``tmp``, opened with ``open``'s ``how`` and ``options``: created here and
    now (never one already there, never through a link), so no other writer shares it."""
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    return os.fdopen(fd, *how, **options)


def _install(file, tmp: Path, path: Path) -> None:
    """Put the written temporary ``file`` (at ``tmp``) on disk and in place of ``path``, then sync
    the folder, so the new name survives a crash. OSError as it comes."""
    file.flush()
    os.fsync(file.fileno())
    file.close()
    os.replace(tmp, path)
    sync_folder(path.parent)


def sync_folder(folder: Path) -> None:
    """Make a rename or a new entry in ``folder`` survive a crash."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def output_file(path: Path, suffix: str, inputs: dict[str, Path | None], whose: str = "of this command",
                analysis: bool = False) -> Path:
    """``path``, checked before anything is written to it: never one of the command's ``inputs``
    (role -> path), never an existing file of another kind than ``suffix`` (a typo must not turn an
    analysis or a recording into a report), and never an analysis CSV unless an ``analysis`` is
    what is written (segments or statistics are CSVs too); its folder is made when missing, as
    `analyze` does. The CLI's stats, elan and report and the studio's exports all ask it."""
    for role, given in inputs.items():
        if given is not None and path.exists() and given.exists() and os.path.samefile(path, given):
            raise InputError(f"{path}: is the {role} {whose}; not overwritten (choose another output name)")
    if path.is_file() and path.suffix.lower() != suffix:
        raise InputError(f"{path}: exists and is not a {suffix} file; not overwritten (choose a name ending {suffix})")
    if not analysis and path.is_file() and _is_analysis_csv(path):
        raise InputError(f"{path}: is a per-frame analysis CSV; not overwritten (choose another name)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"{path.parent}: cannot create the output folder ({e.strerror or e})") from None
    return path


def _is_analysis_csv(path: Path) -> bool:
    """Whether ``path`` starts as a per-frame CSV does (``frame, face_id, ...``, OpenFace's too)."""
    try:
        with open(path, "rb") as f:
            head = f.read(64).decode("utf-8-sig", "replace")
    except OSError:
        return False
    return [c.strip() for c in head.split(",")[:2]] == ["frame", "face_id"]
