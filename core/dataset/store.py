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
import secrets
import sqlite3
import stat
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError
from ..outputs import sync_folder, write_durably
from ..video import decode_image
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


def read_file(path: Path, inside: Path | None = None) -> bytes:
    """The bytes of the regular file ``path``, which, every link followed, must lie ``inside`` that
    folder: a crop or an imported image is never a way to read another file, nor to hang on a
    FIFO. InputError with one line otherwise."""
    real = Path(os.path.realpath(path))
    if inside is not None and not real.is_relative_to(os.path.realpath(inside)):
        raise InputError(f"{path}: a link out of {inside}, not followed")
    try:
        fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise InputError(f"{path}: not a regular file")
    with os.fdopen(fd, "rb") as f:
        try:
            return f.read()
        except OSError as e:
            raise InputError(f"{path}: cannot read ({e.strerror})") from None


class DatasetStore:
    """Open (creating if asked) the dataset in ``folder``; InputError with one line when the folder
    or its database cannot be used. Nothing in the folder is changed by a failed open."""

    def __init__(self, folder: Path, create: bool = True):
        self.folder = Path(folder)
        self.db_path = self.folder / DB_NAME
        if os.path.lexists(self.db_path):
            self._check_file()
        elif not create:
            raise InputError(f"{self.folder}: not an MF² dataset folder (no {DB_NAME})")
        else:
            self._create()
        try:
            self.db = sqlite3.connect(self.db_path, timeout=10, isolation_level=None, check_same_thread=False)
            self._check_and_migrate()
        except sqlite3.DatabaseError as e:
            raise InputError(f"{self.db_path}: unreadable dataset database ({e}); the file was left as it is") from None
        try:
            (self.folder / CROPS).mkdir(exist_ok=True)
        except OSError as e:
            self.db.close()
            raise InputError(f"{self.folder / CROPS}: cannot create the crops folder ({e.strerror})") from None
        for tmp in (self.folder / CROPS).glob("*.tmp") if self._crops_inside() else ():
            tmp.unlink(missing_ok=True)  # a crop whose write a crash interrupted

    def _check_file(self) -> None:
        """An existing database name must hold a file with something in it: an empty one is not
        ours to initialise (it may be what is left of someone's data)."""
        try:
            info = os.stat(self.db_path)
        except OSError as e:
            raise InputError(f"{self.db_path}: cannot open ({e.strerror})") from None
        if not stat.S_ISREG(info.st_mode):
            raise InputError(f"{self.db_path}: not a regular file, not an MF² dataset")
        wal = Path(f"{self.db_path}-wal")
        if info.st_size == 0 and not (wal.is_file() and wal.stat().st_size):
            raise InputError(f"{self.db_path}: empty file, not an MF² dataset")

    def _create(self) -> None:
        """A new database, built under a temporary name and linked into place whole: the name
        never holds a half-made (or empty) database, and a dataset another process created
        meanwhile is used, not replaced."""
        tmp = self.db_path.with_name(f"{DB_NAME}.{secrets.token_hex(4)}.tmp")
        try:
            (self.folder / CROPS).mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(tmp, isolation_level=None)
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=FULL")
                db.executescript(f"BEGIN; {SCHEMA} PRAGMA application_id={APPLICATION_ID}; "
                                 f"PRAGMA user_version={SCHEMA_VERSION}; COMMIT;")
            finally:
                db.close()
            try:
                os.link(tmp, self.db_path)
            except FileExistsError:
                pass
            except OSError:  # no hard links on this file system (FAT, some network shares)
                if not os.path.lexists(self.db_path):
                    os.replace(tmp, self.db_path)
            sync_folder(self.folder)
        except (OSError, sqlite3.Error) as e:
            reason = e.strerror if isinstance(e, OSError) else e
            raise InputError(f"{self.folder}: cannot create the dataset ({reason})") from None
        finally:
            for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
                leftover.unlink(missing_ok=True)

    def _check_and_migrate(self) -> None:
        db = self.db
        app, version = db.execute("PRAGMA application_id").fetchone()[0], db.execute("PRAGMA user_version").fetchone()[0]
        if app != APPLICATION_ID:
            raise sqlite3.DatabaseError("an SQLite file, but not an MF² dataset")
        if version > SCHEMA_VERSION:
            raise sqlite3.DatabaseError(f"written by a newer MF² Studio (schema {version})")
        status = db.execute("PRAGMA quick_check").fetchone()[0]
        if status != "ok":
            raise sqlite3.DatabaseError(f"damaged: {status}")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")

    def close(self) -> None:
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _crops_inside(self) -> bool:
        """False when ``crops`` is a link out of the folder: nothing is written or removed there."""
        return Path(os.path.realpath(self.folder / CROPS)).is_relative_to(os.path.realpath(self.folder))

    # writing -----------------------------------------------------------------------------------
    def _write_crop(self, sample: DatasetSample) -> str:
        name = f"{CROPS}/{sample.id}.png"
        if not self._crops_inside():
            raise InputError(f"{self.folder / CROPS}: a link out of the dataset folder; nothing written through it")
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
        try:
            self._commit(f"INSERT OR REPLACE INTO samples ({', '.join(COLUMNS)}) "
                         f"VALUES ({', '.join('?' * len(COLUMNS))})", self._row(sample, crop))
        except InputError:
            if self.get(sample.id, with_crop=False) is None:  # no row will ever name this crop
                (self.folder / crop).unlink(missing_ok=True)
            raise
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
        except (sqlite3.Error, OverflowError, UnicodeError) as e:
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

    def crop_bytes(self, sample_id: str) -> bytes:
        """The crop file's bytes, read only from inside the dataset folder (see `read_file`)."""
        return read_file(self.crop_path(sample_id), self.folder)

    def load_crop(self, sample_id: str) -> np.ndarray:
        path = self.crop_path(sample_id)
        try:
            return decode_image(self.crop_bytes(sample_id), path)
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
