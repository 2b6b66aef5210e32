"""MFA-style JSONL: the dataset as one JSON object a line plus an ``images/`` folder, for other
tools and for `mf2 pretrain` / `mf2 finetune --mfa-jsonl`.

A row::

    {"id": "...", "image": "images/<id>.png", "emotion": "happy", "aus": {"AU6": 1, "AU12": 1, "AU4": 0},
     "caption": {"global": "...", "au": "...", "emotion": "..."}, "generated": {...},
     "landmarks": [[x, y], ...], "source": {"video": "...", "frame": 12, "timestamp": 0.4, "face": 1,
     "model": "..."}, "created": "...", "updated": "..."}

Only ``image`` is required. AUs absent from ``aus`` are unlabelled; values are 0/1 occurrence or
FACS intensity 1..5. Reading checks every row and names the line of each bad one; the good rows
are kept. The file may come from anyone: each line is decoded and checked on its own (bytes,
nesting, numbers, every field), and no file is read or written through a link leaving its folder.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..outputs import durable_file, write_durably
from ..taxonomy import canonical_emotion, parse_au
from ..video import decode_image
from .sample import (MAX_AU_VALUE, MAX_ID_BYTES, Captions, DatasetSample, crop_face, encodable, landmarks_problem,
                     valid_id)
from .store import DatasetStore, read_file

JSONL_NAME = "mfa.jsonl"
IMAGES = "images"
MAX_DIGITS = 18  # whole numbers beyond this are no frame, face or pixel (and overflow SQLite)


@dataclass
class Row:
    """A checked JSONL row: everything but the pixels (read when needed)."""
    line: int
    image: Path
    emotion: str | None
    aus: dict[int, float]
    captions: Captions
    generated: Captions
    landmarks: np.ndarray | None
    source: dict
    id: str | None
    times: dict = field(default_factory=dict)


def _captions(value, what: str) -> Captions:
    if value is None:
        return Captions()
    if isinstance(value, str):
        return Captions(global_text=value)
    if not isinstance(value, dict) or not all(isinstance(value.get(k, ""), str) for k in ("global", "au", "emotion")):
        raise ValueError(f"{what} must be text or an object with global/au/emotion texts")
    return Captions(value.get("global", ""), value.get("au", ""), value.get("emotion", ""))


def check_row(obj, line: int, root: Path) -> Row:
    """A `Row`, or ValueError saying what is wrong (without the line number)."""
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    image = obj.get("image")
    if not isinstance(image, str) or not image:
        raise ValueError('no "image" path')
    if "\0" in image:
        raise ValueError(f"image path {image!r} holds a NUL character")
    path = Path(os.path.realpath(root / image))  # every link followed (a loop left as it is)
    if Path(image).is_absolute() or not path.is_relative_to(os.path.realpath(root)):
        raise ValueError(f"image path {image!r} leaves the dataset folder")
    if not path.is_file():
        raise ValueError(f"missing image {image}" if not path.exists() else f"image {image!r} is not a regular file")
    emotion = obj.get("emotion")
    if emotion is not None:
        if not isinstance(emotion, str):
            raise ValueError("emotion must be a name")
        emotion = canonical_emotion(emotion)
    raw = obj.get("aus") or {}
    if not isinstance(raw, dict):
        raise ValueError('"aus" must map AU codes to values')
    aus = {}
    for code, value in raw.items():
        number = parse_au(code).number
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or not 0 <= value <= MAX_AU_VALUE:
            raise ValueError(f"{code} value {value!r} out of range 0..{MAX_AU_VALUE:g}")
        aus[number] = float(value)
    landmarks = obj.get("landmarks")
    if landmarks is not None:
        try:
            landmarks = np.asarray(landmarks)
        except (TypeError, ValueError, OverflowError):  # ragged, or nested past numpy's dimensions
            landmarks = None
        if landmarks is None or landmarks.dtype.kind not in "iuf":
            raise ValueError("landmarks must be [[x, y], ...] numbers")
        problem = landmarks_problem(landmarks)
        if problem:
            raise ValueError(problem)
        landmarks = landmarks.astype(np.float32)
    raw_source = obj.get("source") or {}
    if not isinstance(raw_source, dict):
        raise ValueError('"source" must be an object')
    source = {"video": raw_source.get("video") or "", "model": raw_source.get("model") or "",
              "frame": raw_source.get("frame", -1), "face": raw_source.get("face", -1),
              "timestamp": raw_source.get("timestamp")}
    if not all(isinstance(source[k], str) for k in ("video", "model")) \
            or not all(isinstance(source[k], int) and not isinstance(source[k], bool) for k in ("frame", "face")) \
            or not (source["timestamp"] is None or isinstance(source["timestamp"], (int, float))
                    and not isinstance(source["timestamp"], bool)):
        raise ValueError("source: video and model must be text, frame and face whole numbers, timestamp seconds")
    sid = obj.get("id")
    if sid is not None and not valid_id(sid):
        raise ValueError(f"id must be letters and digits (at most {MAX_ID_BYTES} bytes)")
    return Row(line, path, emotion, aus, _captions(obj.get("caption"), "caption"),
               _captions(obj.get("generated"), "generated"), landmarks, source, sid,
               {k: obj[k] for k in ("created", "updated") if isinstance(obj.get(k), str)})


def _non_finite(name: str):
    raise ValueError(f"non-finite number {name}")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:24]} out of range")
    return value


def _whole(text: str) -> int:
    if len(text.lstrip("-")) > MAX_DIGITS:
        raise ValueError(f"whole number {text[:24]}... out of range")
    return int(text)


def parse_line(raw: bytes):
    """The JSON value of one line of bytes; ValueError with the reason (without the line number)
    for bad UTF-8, bad JSON, nesting too deep, numbers that are not finite or too large, and text
    that is not valid Unicode (a lone surrogate escape, which SQLite would refuse later)."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValueError(f"not UTF-8 text (byte 0x{raw[e.start]:02x} at column {e.start + 1})") from None
    try:
        obj = json.loads(text, parse_constant=_non_finite, parse_float=_finite, parse_int=_whole)
    except json.JSONDecodeError as e:
        raise ValueError(f"not valid JSON ({e.msg})") from None
    except RecursionError:
        raise ValueError("not valid JSON (nested too deeply)") from None
    stack = [obj]
    while stack:  # not recursive: the nesting may be as deep as the parser allowed
        value = stack.pop()
        if isinstance(value, dict):
            stack += [*value.keys(), *value.values()]
        elif isinstance(value, list):
            stack += value
        elif isinstance(value, str) and not encodable(value):
            raise ValueError("text with a lone surrogate escape (not valid Unicode)")
    return obj


def read_jsonl(path: Path) -> tuple[list[Row], list[str]]:
    """(good rows, one message per bad row naming its line). A row repeating an earlier row's id
    is bad (it would replace that row), and so named with both lines."""
    path = Path(path)
    rows, errors, lines = [], [], {}
    for n, raw in enumerate(read_file(path).split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            row = check_row(parse_line(raw), n, path.parent)
        except (ValueError, TypeError, OverflowError, RecursionError, OSError) as e:
            errors.append(f"{path}:{n}: {e}")
            continue
        if row.id in lines:
            errors.append(f"{path}:{n}: id {row.id} already on line {lines[row.id]}; this row skipped")
            continue
        if row.id is not None:
            lines[row.id] = n
        rows.append(row)
    return rows, errors


def export_jsonl(store: DatasetStore, out: Path, skipped: list[str] | None = None) -> tuple[Path, int]:
    """Write ``out/mfa.jsonl`` and ``out/images/``; returns (JSONL path, rows written). A sample
    whose crop is missing or not a plain file inside the dataset folder is left out, with one line
    in ``skipped``. Every file is written new and renamed into place, so a link planted in ``out``
    is replaced, never written through."""
    out = Path(out)
    images = out / IMAGES
    try:
        images.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"{out}: cannot create the export folder ({e.strerror})") from None
    if images.is_symlink():
        raise InputError(f"{images}: a link; not written through")
    target = out / JSONL_NAME
    count = 0
    try:
        with durable_file(target) as f:
            for s in store.samples():
                try:
                    data = store.crop_bytes(s.id)
                except InputError as e:
                    if skipped is not None:
                        skipped.append(f"{e}; sample {s.id} not exported")
                    continue
                write_durably(images / f"{s.id}.png", data)
                row = {"id": s.id, "image": f"{IMAGES}/{s.id}.png", "emotion": s.emotion,
                       "aus": {f"AU{n}": v for n, v in sorted(s.aus.items())}, "caption": s.captions.as_dict(),
                       "generated": s.generated.as_dict(), "landmarks": np.round(s.landmarks, 2).tolist(),
                       "source": {"video": s.video, "frame": s.frame,
                                  "timestamp": None if math.isnan(s.timestamp) else s.timestamp, "face": s.face,
                                  "model": s.model},
                       "created": s.created, "updated": s.updated}
                f.write((json.dumps(row, ensure_ascii=False) + "\n").encode())
                count += 1
    except OSError as e:
        raise InputError(f"{e.filename or out}: cannot write the export ({e.strerror or e})") from None
    return target, count


def import_jsonl(store: DatasetStore, path: Path, read: tuple[list[Row], list[str]] | None = None
                 ) -> tuple[int, int, list[str]]:
    """Add the good rows of a JSONL file to ``store``: (added, already there, messages for bad rows
    and for rows already there with other labels, which are left as the dataset has them).
    A row is already there when the store holds its id or a sample of the face its source names
    (video, frame, face): importing an export again, with ids or without, adds nothing. A row
    without a source (a photo named by another tool) is known by its id alone. A row without
    landmarks gets its largest face found in the image and cropped as the studio crops faces.
    Each row is checked whole before its crop is written, and a row the store refuses leaves no
    crop behind. ``read``: `read_jsonl` of ``path`` if done already."""
    from ..faces import FaceTracker

    path = Path(path)
    rows, errors = read or read_jsonl(path)
    existing = set(store.ids())
    added = duplicates = 0
    tracker = None
    try:
        for row in rows:
            src = row.source
            there = store.get(row.id, with_crop=False) if row.id in existing else \
                store.find(src["video"], src["frame"], src["face"], with_crop=False) if _names_a_face(src) else None
            if there is not None:
                duplicates += 1
                if (there.emotion, there.aus, there.captions) != (row.emotion, row.aus, _row_captions(row)):
                    errors.append(f"{path}:{row.line}: sample {there.id} is already in the dataset with other labels; "
                                  "kept as it is there (delete it there to import this row)")
                continue
            try:
                crop = decode_image(read_file(row.image, path.parent), row.image)
                landmarks = row.landmarks
                if landmarks is None:
                    tracker = tracker or FaceTracker(static=True, min_confidence=0.3, hands=False)
                    faces = tracker.process(crop)
                    if not faces:
                        raise InputError(f"no face found in {row.image.name}")
                    face = max(faces, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))
                    crop, landmarks = crop_face(crop, face.box, face.landmarks)
                extra = {"id": row.id} if row.id else {}
                store.add(DatasetSample(
                    crop, np.asarray(landmarks, np.float32), row.emotion, row.aus, _row_captions(row), row.generated,
                    src["video"] or row.image.name, src["frame"],
                    float("nan") if src["timestamp"] is None else float(src["timestamp"]), src["face"], src["model"],
                    **extra, **row.times))
            except InputError as e:
                errors.append(f"{path}:{row.line}: {e}")
                continue
            added += 1
    finally:
        if tracker is not None:
            tracker.close()
    return added, duplicates, errors


def _names_a_face(source: dict) -> bool:
    """Whether a row's source names one face of one frame of a video (exports do; photos don't)."""
    return bool(source["video"]) and source["frame"] >= 0 and source["face"] >= 0


def _row_captions(row: Row) -> Captions:
    """The captions a row's sample gets: its own, or the generated ones where it has none."""
    return row.captions if row.captions.text else row.generated
