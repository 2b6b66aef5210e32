"""The dataset store: one SQLite database (WAL) plus one PNG per face crop, in a folder the user picks.

Durability is the point. A sample's crop is written to a temporary file, flushed to disk and
renamed into place before its row is committed; the row is committed with ``synchronous=FULL``,
so once `add` returns, the sample survives the process being killed or the machine losing power,
and a crash in between leaves at most an unreferenced crop, never a row without its image or a
torn database. Other processes (a fine-tuning run) read the same folder while the studio writes.
"""
from __future__ import annotations

import json
import os
import sqlite3
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError
from ..video import read_image
from .sample import Captions, DatasetSample

DB_NAME = "mf2-dataset.sqlite"
CROPS = "crops"
APPLICATION_ID = 0x4D463244  # "MF2D": marks the file as ours
SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS samples (
    id TEXT PRIMARY KEY,
    crop TEXT NOT NULL,
    landmarks BLOB NOT NULL,
    emotion TEXT,
    aus TEXT NOT NULL,
    global_text TEXT NOT NULL, au_text TEXT NOT NULL, emotion_text TEXT NOT NULL,
    gen_global TEXT NOT NULL, gen_au TEXT NOT NULL, gen_emotion TEXT NOT NULL,
    video TEXT NOT NULL, frame INTEGER NOT NULL, timestamp REAL, face INTEGER NOT NULL, model TEXT NOT NULL,
    created TEXT NOT NULL, updated TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS samples_source ON samples (video, frame, face);
"""
COLUMNS = ("id", "crop", "landmarks", "emotion", "aus", "global_text", "au_text", "emotion_text", "gen_global",
           "gen_au", "gen_emotion", "video", "frame", "timestamp", "face", "model", "created", "updated")


@dataclass
class Filter:
    """What the browser shows: every condition given must hold."""
    emotion: str | None = None      # "" matches samples without an emotion label
    au: int | None = None           # samples where this AU is labelled present
    video: str | None = None
    text: str = ""                  # substring of any caption level


def write_durably(path: Path, data: bytes) -> None:
    """Write ``path`` whole or not at all, on disk when this returns: a temporary file flushed and
    renamed into place, then the folder synced. OSError as it comes."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
    if os.name == "posix":
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class DatasetStore:
    """Open (creating if asked) the dataset in ``folder``; InputError with one line when the folder
    or its database cannot be used. Nothing in the folder is changed by a failed open."""

    def __init__(self, folder: Path, create: bool = True):
        self.folder = Path(folder)
        self.db_path = self.folder / DB_NAME
        if not self.db_path.is_file():
            if not create:
                raise InputError(f"{self.folder}: not an MF² dataset folder (no {DB_NAME})")
            try:
                (self.folder / CROPS).mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise InputError(f"{self.folder}: cannot create the dataset folder ({e.strerror})") from None
        try:
            self.db = sqlite3.connect(self.db_path, timeout=10, isolation_level=None, check_same_thread=False)
            self._check_and_migrate()
        except sqlite3.DatabaseError as e:
            raise InputError(f"{self.db_path}: unreadable dataset database ({e}); the file was left as it is") from None
        (self.folder / CROPS).mkdir(exist_ok=True)
        for tmp in (self.folder / CROPS).glob("*.tmp"):  # a crop whose write a crash interrupted
            tmp.unlink(missing_ok=True)

    def _check_and_migrate(self) -> None:
        db = self.db
        app, version = db.execute("PRAGMA application_id").fetchone()[0], db.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if tables and app != APPLICATION_ID:
            raise sqlite3.DatabaseError("an SQLite file, but not an MF² dataset")
        if version > SCHEMA_VERSION:
            raise sqlite3.DatabaseError(f"written by a newer MF² Studio (schema {version})")
        status = db.execute("PRAGMA quick_check").fetchone()[0]
        if status != "ok":
            raise sqlite3.DatabaseError(f"damaged: {status}")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        if not tables:
            db.executescript(f"BEGIN; {SCHEMA} PRAGMA application_id={APPLICATION_ID}; "
                             f"PRAGMA user_version={SCHEMA_VERSION}; COMMIT;")

    def close(self) -> None:
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # writing -----------------------------------------------------------------------------------
    def _write_crop(self, sample: DatasetSample) -> str:
        name = f"{CROPS}/{sample.id}.png"
        ok, png = cv2.imencode(".png", cv2.cvtColor(sample.crop, cv2.COLOR_RGB2BGR))
        if not ok:
            raise InputError(f"{sample.id}: cannot encode the face crop")
        try:
            write_durably(self.folder / name, png.tobytes())
        except OSError as e:
            raise InputError(f"{self.folder}: cannot write the face crop ({e.strerror})") from None
        return name

    @staticmethod
    def _check(sample: DatasetSample) -> None:
        try:
            sample.check()
        except ValueError as e:
            raise InputError(f"sample {sample.id}: {e}") from None

    def add(self, sample: DatasetSample) -> DatasetSample:
        """Store a new sample (or replace the one with its id); durable when this returns."""
        self._check(sample)
        crop = self._write_crop(sample)
        row = self._row(sample, crop)
        self._commit(f"INSERT OR REPLACE INTO samples ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
                     row)
        return sample

    def update(self, sample: DatasetSample) -> DatasetSample:
        """Save new labels or captions for a stored sample (its crop is kept)."""
        self._check(sample)
        sample = sample.touched()
        row = self._row(sample, f"{CROPS}/{sample.id}.png")
        sets = ", ".join(f"{c}=?" for c in COLUMNS[1:])
        if self._commit(f"UPDATE samples SET {sets} WHERE id=?", (*row[1:], row[0])) == 0:
            raise InputError(f"sample {sample.id}: not in the dataset (deleted meanwhile?)")
        return sample

    def delete(self, sample_id: str) -> None:
        """Remove a sample's row, then its crop."""
        self._commit("DELETE FROM samples WHERE id=?", (sample_id,))
        (self.folder / CROPS / f"{sample_id}.png").unlink(missing_ok=True)

    def _commit(self, sql: str, params) -> int:
        try:
            with self.db:  # one transaction, committed (and synced) on leaving the block
                self.db.execute("BEGIN IMMEDIATE")
                return self.db.execute(sql, params).rowcount
        except sqlite3.Error as e:
            raise InputError(f"{self.db_path}: cannot save ({e}); nothing saved before was lost") from None

    @staticmethod
    def _row(s: DatasetSample, crop: str) -> tuple:
        landmarks = np.ascontiguousarray(s.landmarks, dtype="<f4")
        return (s.id, crop, landmarks.tobytes(), s.emotion, json.dumps({str(n): float(v) for n, v in sorted(s.aus.items())}),
                s.captions.global_text, s.captions.au_text, s.captions.emotion_text, s.generated.global_text,
                s.generated.au_text, s.generated.emotion_text, s.video, int(s.frame),
                None if s.timestamp != s.timestamp else float(s.timestamp), int(s.face), s.model, s.created, s.updated)

    # reading -----------------------------------------------------------------------------------
    def _sample(self, row: sqlite3.Row | tuple, with_crop: bool) -> DatasetSample:
        r = dict(zip(COLUMNS, row))
        crop = self.load_crop(r["id"]) if with_crop else np.zeros((0, 0, 3), np.uint8)
        return DatasetSample(
            crop=crop, landmarks=np.frombuffer(r["landmarks"], "<f4").reshape(-1, 2).copy(), emotion=r["emotion"],
            aus={int(n): float(v) for n, v in json.loads(r["aus"]).items()},
            captions=Captions(r["global_text"], r["au_text"], r["emotion_text"]),
            generated=Captions(r["gen_global"], r["gen_au"], r["gen_emotion"]),
            video=r["video"], frame=r["frame"], timestamp=float("nan") if r["timestamp"] is None else r["timestamp"],
            face=r["face"], model=r["model"], id=r["id"], created=r["created"], updated=r["updated"])

    def crop_path(self, sample_id: str) -> Path:
        return self.folder / CROPS / f"{sample_id}.png"

    def load_crop(self, sample_id: str) -> np.ndarray:
        path = self.crop_path(sample_id)
        try:
            return read_image(path)
        except InputError:
            raise InputError(f"{path}: face crop of sample {sample_id} is missing or unreadable") from None

    def _query(self, sql: str, params=()) -> list[tuple]:
        try:
            return self.db.execute(sql, params).fetchall()
        except sqlite3.DatabaseError as e:
            raise InputError(f"{self.db_path}: unreadable dataset database ({e})") from None

    def get(self, sample_id: str, with_crop: bool = True) -> DatasetSample | None:
        rows = self._query(f"SELECT {', '.join(COLUMNS)} FROM samples WHERE id=?", (sample_id,))
        return self._sample(rows[0], with_crop) if rows else None

    def find(self, video: str, frame: int, face: int, with_crop: bool = True) -> DatasetSample | None:
        """The sample taken from this face of this frame of this video, if there is one."""
        rows = self._query(f"SELECT {', '.join(COLUMNS)} FROM samples WHERE video=? AND frame=? AND face=?",
                           (video, frame, face))
        return self._sample(rows[0], with_crop) if rows else None

    def samples(self, where: Filter | None = None, with_crop: bool = False) -> list[DatasetSample]:
        """Samples matching ``where``, by video then time."""
        f = where or Filter()
        clauses, params = [], []
        if f.emotion is not None:
            clauses.append("emotion IS NULL" if f.emotion == "" else "emotion=?")
            params += [] if f.emotion == "" else [f.emotion]
        if f.video:
            clauses.append("video=?")
            params.append(f.video)
        if f.text:
            clauses.append("(global_text || ' ' || au_text || ' ' || emotion_text) LIKE ?")
            params.append(f"%{f.text}%")
        sql = f"SELECT {', '.join(COLUMNS)} FROM samples"
        sql += (" WHERE " + " AND ".join(clauses) if clauses else "") + " ORDER BY video, frame, face, created"
        out = [self._sample(r, with_crop) for r in self._query(sql, params)]
        if f.au is not None:
            out = [s for s in out if s.aus.get(f.au, 0) > 0]
        return out

    def ids(self) -> list[str]:
        return [r[0] for r in self._query("SELECT id FROM samples ORDER BY created")]

    def __len__(self) -> int:
        return self._query("SELECT COUNT(*) FROM samples")[0][0]

    def videos(self) -> list[str]:
        return [r[0] for r in self._query("SELECT DISTINCT video FROM samples ORDER BY video")]

    def stats(self) -> dict:
        """Counts a person (or `mf2 dataset stats`) wants to see before training on the dataset."""
        samples = self.samples()
        emotions = Counter(s.emotion or "(none)" for s in samples)
        aus = Counter(n for s in samples for n, v in s.aus.items() if v > 0)
        missing = [s.id for s in samples if not self.crop_path(s.id).is_file()]
        return {"samples": len(samples), "edited": sum(s.edited() for s in samples),
                "videos": dict(Counter(s.video for s in samples)), "emotions": dict(emotions),
                "aus_present": {f"AU{n}": c for n, c in sorted(aus.items())},
                "aus_labelled": len({n for s in samples for n in s.aus}), "missing_crops": missing}
