"""Which input each CSV of an output folder was written from (``.mf2-inputs.json``), so a later
run never replaces another input's results and `--skip-done` finds each input's own CSV.

An input is known by its path with symbolic links resolved. A file input is also recorded with a
fingerprint (its size and a hash of its first and last MB), so that a recording whose folder was
moved or renamed (a share reorganised) is still known by the CSV written from it: when a recorded
input is no longer at its path, a new input with the same file name and fingerprint takes its
place in the record (`follow_moves`).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .outputs import FileLock, OutputError, write_durably
from .video import camera_index

INPUTS_FILE = ".mf2-inputs.json"
SAMPLE = 1 << 20  # bytes hashed at each end of a file


def input_identity(spec: str) -> str:
    """What names an input across runs: its absolute path with symbolic links resolved, so a
    share reached through a link is the same input (a camera: its spec)."""
    return spec if camera_index(spec) is not None else str(Path(spec).resolve())


def input_fingerprint(spec: str) -> str | None:
    """``size:hash`` of a file input's first and last MB (None: a camera, a folder, an unreadable file)."""
    path = Path(spec)
    if camera_index(spec) is not None or not path.is_file():
        return None
    try:
        size = path.stat().st_size
        digest = hashlib.blake2b(digest_size=12)
        with open(path, "rb") as f:
            digest.update(f.read(SAMPLE))
            if size > SAMPLE:
                f.seek(max(SAMPLE, size - SAMPLE))
                digest.update(f.read(SAMPLE))
    except OSError:
        return None
    return f"{size}:{digest.hexdigest()}"


def _records(out_dir: Path) -> dict[str, dict]:
    """CSV name -> {"input": identity, "fingerprint": str or None}, as earlier runs recorded them
    (before 2026-12-03 as a bare path, with its links unresolved: compared as it resolves now)."""
    try:
        data = json.loads((Path(out_dir) / INPUTS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    out = {}
    for name, value in (data.items() if isinstance(data, dict) else ()):
        if isinstance(value, str):
            out[str(name)] = {"input": input_identity(value), "fingerprint": None}
        elif isinstance(value, dict) and isinstance(value.get("input"), str):
            fingerprint = value.get("fingerprint")
            out[str(name)] = {"input": input_identity(value["input"]),
                              "fingerprint": fingerprint if isinstance(fingerprint, str) else None}
    return out


def written_inputs(out_dir: Path) -> dict[str, str]:
    """CSV name -> the input it was written from, as earlier runs recorded (empty if none did)."""
    return {name: record["input"] for name, record in _records(out_dir).items()}


def follow_moves(out_dir: Path, jobs: list[str]) -> dict[str, str]:
    """`written_inputs`, where a recorded input that is no longer at its path is one of ``jobs``
    with its file name and fingerprint (the same recording, moved): that job's, and so recorded."""
    records = _records(out_dir)
    gone = {name: r for name, r in records.items() if r["fingerprint"] and not Path(r["input"]).exists()}
    taken = {r["input"] for r in records.values()}
    moved: dict[str, str] = {}
    for name, record in gone.items():
        for job in jobs:
            if Path(job).name == Path(record["input"]).name and input_identity(job) not in taken \
                    and input_fingerprint(job) == record["fingerprint"]:
                moved[name] = job
                taken.add(input_identity(job))
                break
    record_inputs(out_dir, moved)
    return {name: input_identity(moved[name]) if name in moved else r["input"] for name, r in records.items()}


def record_inputs(out_dir: Path, written: dict[str, str]) -> None:
    """Record CSV name -> the input spec it was written from (best effort: a folder that cannot
    take it keeps its CSVs, and the next run names its outputs as before)."""
    if written:
        try:  # runs side by side (--skip-done) each add theirs: one at a time
            lock = FileLock(Path(out_dir) / f"{INPUTS_FILE}.lock", "").acquire(wait=True)
        except OutputError:
            return
        try:
            records = _records(out_dir)
            records.update({name: {"input": input_identity(spec), "fingerprint": input_fingerprint(spec)}
                            for name, spec in written.items()})
            write_durably(Path(out_dir) / INPUTS_FILE, json.dumps(records, indent=0, sort_keys=True).encode())
        except OSError:
            pass
        finally:
            lock.release()
