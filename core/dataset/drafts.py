"""Unaccepted caption drafts on disk, so that closing the studio (or a crash) never loses what
the annotator typed or labelled but did not accept yet: one JSON file, written whole after each
change (`core.outputs.write_durably`) and read when the editor starts. A file that cannot be read
is kept beside (``.unreadable``) and the editor starts without drafts. Two studios open at once
share the file: each write takes in what the other wrote (`keep_drafts`), under a lock."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

from ..outputs import FileLock, write_durably
from .sample import Captions

FORMAT = 1


def keep_drafts(path: Path, drafts: dict, changed: set) -> None:
    """Write to ``path`` the drafts of the targets ``changed`` here since the last write (edited,
    or ended: accepted, given way to the dataset) as ``drafts`` has them, and every other target
    as the file has it (another studio may have written it since); ``drafts`` becomes that whole
    set and ``changed`` is emptied. OSError or OutputError when it cannot be written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(path.with_name(path.name + ".lock"), "").acquire(wait=True)
    try:
        there, _ = load_drafts(path)
        merged = {t: d for t, d in there.items() if t not in changed}
        merged.update({t: d for t, d in drafts.items() if t in changed})
        save_drafts(path, merged)
        drafts.clear()
        drafts.update(merged)
        changed.clear()
    finally:
        lock.release()


def save_drafts(path: Path, drafts: dict) -> None:
    """Write ``drafts`` (`Target` -> `Draft`, `core.dataset.annotate`) to ``path``."""
    rows = [{"video": t.video, "frame": t.frame, "face": t.face,
             "timestamp": None if math.isnan(t.timestamp) else t.timestamp,
             "emotion": d.emotion, "aus": [[n, v] for n, v in d.aus],
             "captions": {level: getattr(d.captions, level) for level in Captions.LEVELS},
             "typed": sorted(d.typed)} for t, d in drafts.items()]
    write_durably(path, (json.dumps({"format": FORMAT, "drafts": rows}, ensure_ascii=False) + "\n").encode())


def load_drafts(path: Path) -> tuple[dict, str | None]:
    """(the drafts saved in ``path``, a note when the file could not be read and was set aside)."""
    from .annotate import Draft, Target

    if not path.is_file():
        return {}, None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            raise ValueError(f"format {data.get('format')!r}")
        drafts = {}
        for r in data["drafts"]:
            target = Target(str(r["video"]), int(r["frame"]), int(r["face"]),
                            float("nan") if r["timestamp"] is None else float(r["timestamp"]))
            aus = tuple((int(n), None if v is None else float(v)) for n, v in r["aus"])
            captions = Captions(**{level: str(r["captions"][level]) for level in Captions.LEVELS})
            typed = frozenset(level for level in r["typed"] if level in Captions.LEVELS)
            drafts[target] = Draft(None if r["emotion"] is None else str(r["emotion"]), aus, captions, typed)
        return drafts, None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        aside = path.with_name(path.name + ".unreadable")
        try:
            os.replace(path, aside)
        except OSError as moved:
            return {}, f"{path}: unsaved caption drafts could not be read ({e}) nor set aside ({moved.strerror})"
        return {}, f"{path}: unsaved caption drafts could not be read ({e}); kept as {aside.name}"
