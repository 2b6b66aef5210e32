"""MFA-style JSONL: the dataset as one JSON object a line plus an ``images/`` folder, for other
tools and for `mf2 pretrain` / `mf2 finetune --mfa-jsonl`.

A row::

    {"id": "...", "image": "images/<id>.png", "emotion": "happy", "aus": {"AU6": 1, "AU12": 1, "AU4": 0},
     "caption": {"global": "...", "au": "...", "emotion": "..."}, "generated": {...},
     "landmarks": [[x, y], ...], "source": {"video": "...", "frame": 12, "timestamp": 0.4, "face": 1,
     "model": "..."}, "created": "...", "updated": "..."}

Only ``image`` is required. AUs absent from ``aus`` are unlabelled; values are 0/1 occurrence or
FACS intensity 1..5. Reading checks every row and names the line of each bad one; the good rows
are kept.
"""
from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..taxonomy import canonical_emotion, parse_au
from ..video import read_image
from .sample import MAX_AU_VALUE, Captions, DatasetSample
from .store import DatasetStore

JSONL_NAME = "mfa.jsonl"
IMAGES = "images"


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
    path = (root / image).resolve()
    if Path(image).is_absolute() or not path.is_relative_to(root.resolve()):
        raise ValueError(f"image path {image!r} leaves the dataset folder")
    if not path.is_file():
        raise ValueError(f"missing image {image}")
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
            landmarks = np.asarray(landmarks, dtype=np.float32)
        except (TypeError, ValueError):
            raise ValueError("landmarks must be [[x, y], ...] numbers") from None
        if landmarks.ndim != 2 or landmarks.shape[1] != 2 or len(landmarks) < 468 or not np.isfinite(landmarks).all():
            raise ValueError("landmarks must be 468 or 478 finite [x, y] points")
    raw_source = obj.get("source") or {}
    if not isinstance(raw_source, dict):
        raise ValueError('"source" must be an object')
    source = {"video": raw_source.get("video") or "", "model": raw_source.get("model") or "",
              "frame": raw_source.get("frame", -1), "face": raw_source.get("face", -1),
              "timestamp": raw_source.get("timestamp")}
    if not all(isinstance(source[k], str) for k in ("video", "model")) \
            or not all(isinstance(source[k], int) and not isinstance(source[k], bool) for k in ("frame", "face")) \
            or not (source["timestamp"] is None or isinstance(source["timestamp"], (int, float))):
        raise ValueError("source: video and model must be text, frame and face whole numbers, timestamp seconds")
    sid = obj.get("id")
    if sid is not None and (not isinstance(sid, str) or not sid.isalnum()):
        raise ValueError("id must be letters and digits")
    return Row(line, path, emotion, aus, _captions(obj.get("caption"), "caption"),
               _captions(obj.get("generated"), "generated"), landmarks, source, sid,
               {k: obj[k] for k in ("created", "updated") if isinstance(obj.get(k), str)})


def read_jsonl(path: Path) -> tuple[list[Row], list[str]]:
    """(good rows, one message per bad row naming its line)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read ({getattr(e, 'strerror', None) or e})") from None
    rows, errors = [], []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(check_row(json.loads(line), n, path.parent))
        except json.JSONDecodeError as e:
            errors.append(f"{path}:{n}: not valid JSON ({e.msg})")
        except ValueError as e:
            errors.append(f"{path}:{n}: {e}")
    return rows, errors


def export_jsonl(store: DatasetStore, out: Path) -> tuple[Path, int]:
    """Write ``out/mfa.jsonl`` and ``out/images/``; returns (JSONL path, rows written)."""
    out = Path(out)
    try:
        (out / IMAGES).mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"{out}: cannot create the export folder ({e.strerror})") from None
    target = out / JSONL_NAME
    tmp = target.with_name(target.name + ".tmp")
    count = 0
    with open(tmp, "w", encoding="utf-8") as f:
        for s in store.samples():
            crop = store.crop_path(s.id)
            if not crop.is_file():
                continue
            shutil.copyfile(crop, out / IMAGES / crop.name)
            row = {"id": s.id, "image": f"{IMAGES}/{crop.name}", "emotion": s.emotion,
                   "aus": {f"AU{n}": v for n, v in sorted(s.aus.items())}, "caption": s.captions.as_dict(),
                   "generated": s.generated.as_dict(), "landmarks": np.round(s.landmarks, 2).tolist(),
                   "source": {"video": s.video, "frame": s.frame,
                              "timestamp": None if math.isnan(s.timestamp) else s.timestamp, "face": s.face,
                              "model": s.model},
                   "created": s.created, "updated": s.updated}
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    tmp.replace(target)
    return target, count


def import_jsonl(store: DatasetStore, path: Path) -> tuple[int, int, list[str]]:
    """Add the good rows of a JSONL file to ``store``: (added, already there, messages for bad rows).
    A row without landmarks has its face found in the image."""
    from ..faces import FaceTracker

    rows, errors = read_jsonl(path)
    existing = set(store.ids())
    added = duplicates = 0
    tracker = None
    try:
        for row in rows:
            if row.id and row.id in existing:
                duplicates += 1
                continue
            try:
                crop = read_image(row.image)
            except InputError as e:
                errors.append(f"{path}:{row.line}: {e}")
                continue
            landmarks = row.landmarks
            if landmarks is None:
                tracker = tracker or FaceTracker(static=True, min_confidence=0.3)
                faces = tracker.process(crop)
                if not faces:
                    errors.append(f"{path}:{row.line}: no face found in {row.image.name}")
                    continue
                landmarks = max(faces, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1])).landmarks[:, :2]
            src = row.source
            extra = {"id": row.id} if row.id else {}
            store.add(DatasetSample(
                crop, np.asarray(landmarks, np.float32), row.emotion, row.aus,
                row.captions if row.captions.text else row.generated, row.generated,
                src["video"] or row.image.name, src["frame"],
                float("nan") if src["timestamp"] is None else float(src["timestamp"]), src["face"], src["model"],
                **extra, **row.times))
            added += 1
    finally:
        if tracker is not None:
            tracker.close()
    return added, duplicates, errors
