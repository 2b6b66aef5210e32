"""Model versions fine-tuned on a dataset, kept in its ``models/`` folder beside each other.

Each version is a model folder (weights + config, as any other) plus ``run.json``: the data it
saw (sample ids of the training and held-out parts), the settings, the replay bank, and the
held-out figures of the base model and of the new one. ``models/active.json`` names the version
the studio uses with this dataset; without it (or after a rollback) the base model is used.
One run at a time writes into ``models/``: it holds ``models/finetune.lock`` while it runs. A run
whose training stops being finite is recorded as "failed" and can never be chosen.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from ..errors import InputError
from ..outputs import FileLock, OutputBusy, OutputError, write_durably
from ..plural import counted
from .store import DatasetStore

MODELS = "models"
RECORD = "run.json"
ACTIVE = "active.json"
LOCK = "finetune.lock"
HELD_OUT = 0.2  # share of the samples kept out of training to measure each version
UNFINISHED = ("running", "stopped", "cancelled", "broken")  # `--resume` finishes the last of these


@dataclass
class Version:
    name: str
    path: Path
    record: dict

    @property
    def status(self) -> str:
        return self.record.get("status", "unknown")

    @property
    def usable(self) -> bool:
        """Finished and saved: the only kind the studio may switch to (never failed or cancelled)."""
        return self.status == "done" and (self.path / "model.safetensors").is_file()


def _write_json(path: Path, data: dict) -> None:
    write_durably(path, json.dumps(data, indent=2).encode())


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def versions(folder: Path) -> list[Version]:
    """Every version of the dataset in ``folder``, oldest first. A run left "running" by a
    process that is gone (killed, or the studio closed before it stopped) is "stopped": it can be
    finished with ``--resume``."""
    root = Path(folder) / MODELS
    out = []
    for path in sorted(root.glob("v[0-9][0-9][0-9]*")) if root.is_dir() else []:
        try:
            record = json.loads((path / RECORD).read_text())
        except OSError as e:
            record = {"status": "broken", "problem": f"unreadable ({e.strerror})"}
        except ValueError as e:  # UnicodeDecodeError included
            record = {"status": "broken", "problem": f"not valid JSON ({e})"}
        if not isinstance(record, dict):
            record = {"status": "broken", "problem": "not a JSON object"}
        out.append(Version(path.name, path, record))
    if any(v.status == "running" for v in out) and not _run_held(folder):
        out = [Version(v.name, v.path, {**v.record, "status": "stopped"}) if v.status == "running" else v for v in out]
    return out


def _run_held(folder: Path) -> bool:
    """Whether a fine-tuning run (this process's own included) holds the dataset's lock now."""
    try:
        FileLock(Path(folder) / MODELS / LOCK, "").acquire().release()
    except OutputBusy:
        return True
    except OutputError:  # a folder no run could write to holds no run
        pass
    return False


def new_version(folder: Path) -> Path:
    """A new, empty version folder; callers hold the lock (`_only_run`), so no other run picks
    the same name (and ``mkdir`` would refuse one that did)."""
    root = Path(folder) / MODELS
    root.mkdir(parents=True, exist_ok=True)
    numbers = [int(m.group(1)) for p in root.iterdir() if (m := re.fullmatch(r"v(\d{3,})", p.name))]
    path = root / f"v{max(numbers, default=0) + 1:03d}"
    path.mkdir()
    return path


def active_model(folder: Path) -> Path | None:
    """The version chosen for this dataset, or None for the base model."""
    try:
        chosen = json.loads((Path(folder) / MODELS / ACTIVE).read_text())
    except (OSError, ValueError):
        return None
    name = chosen.get("version") if isinstance(chosen, dict) else None
    match = next((v for v in versions(folder) if v.name == name and v.usable), None)
    return match.path if match else None


def set_active(folder: Path, name: str | None) -> None:
    """Use version ``name`` from now on; None rolls back to the base model."""
    if name is not None and not any(v.name == name and v.usable for v in versions(folder)):
        raise InputError(f"{folder}: no finished model version {name!r}")
    root = Path(folder) / MODELS
    root.mkdir(parents=True, exist_ok=True)
    _write_json(root / ACTIVE, {"version": name})


def _position(sample_id: str) -> float:
    """Where a sample falls in 0..1, fixed for its life."""
    return int(hashlib.blake2b(sample_id.encode(), digest_size=4).hexdigest(), 16) / 2 ** 32


def split(ids: list[str]) -> tuple[list[str], list[str]]:
    """(training ids, held-out ids). A sample is held out when its position is below `HELD_OUT`,
    so the same faces measure every version as the dataset grows; when that is far from a fifth
    (small datasets), the fifth with the lowest positions is held out instead. Both parts are
    non-empty from two samples on."""
    if len(ids) < 2:
        return list(ids), []
    want = max(1, round(HELD_OUT * len(ids)))
    test = [i for i in ids if _position(i) < HELD_OUT]
    if not 0.5 * want <= len(test) <= 1.5 * want:
        test = sorted(ids, key=_position)[:want]
    chosen = set(test)
    return [i for i in ids if i not in chosen], [i for i in ids if i in chosen]


@contextmanager
def _only_run(folder: Path):
    """Hold the dataset's fine-tuning lock until the run ends, however it ends: a second run on
    the dataset (resumed or new) fails at once instead of writing into the same version. The
    system drops the lock with the process, so a killed run leaves nothing to clean up."""
    root = Path(folder) / MODELS
    root.mkdir(parents=True, exist_ok=True)
    lock = FileLock(root / LOCK, f"{folder}: another fine-tuning run is using it{{pid}}").acquire()
    try:
        yield
    finally:
        lock.release()


def _settings_problem(settings) -> str | None:
    """What is wrong with settings read back from a run.json, if anything: a type other than the
    default's, or a number below what the loop accepts."""
    for f in fields(settings):
        value, default = getattr(settings, f.name), f.default
        if type(value) is not type(default) and not (type(default) is float and type(value) is int):
            return f"settings {f.name!r} must be {type(default).__name__} (got {value!r})"
        least = 1 if f.name in ("steps", "batch_size", "save_every") else 0
        if type(default) in (int, float) and not (value >= least and (type(value) is int or math.isfinite(value))):
            return f"settings {f.name!r} must be {least} or more (got {value!r})"
    return None


def _resumable(version: Version, settings):
    """(base model folder, settings, training ids, held-out ids) the unfinished ``version`` ran
    with; InputError naming its run.json and the way out when that is broken or was edited."""
    record, where = version.record, version.path / RECORD
    way_out = f"delete {version.path} or run without --resume"
    if version.status == "broken":
        raise InputError(f"{where}: {record['problem']}; {way_out}")
    try:
        base, data, saved = record["base"]["path"], record["data"], record["settings"]
        ids = data["train_ids"], data["heldout_ids"]
        if not (isinstance(base, str) and isinstance(saved, dict)
                and all(isinstance(part, list) and all(isinstance(i, str) for i in part) for part in ids)):
            raise TypeError("a field of the wrong type")
        restored = type(settings)(**{**saved, "device": settings.device})
    except (KeyError, TypeError) as e:
        raise InputError(f"{where}: not a fine-tuning record ({e}); {way_out}") from None
    problem = _settings_problem(restored)
    if problem:
        raise InputError(f"{where}: {problem}; {way_out}")
    return Path(base), restored, *ids


def run_finetune(folder: Path, base_dir: Path, settings, resume: bool = False,
                 progress: Callable[[str, int, int, dict], None] | None = None,
                 stop: Callable[[], bool] = lambda: False) -> Version:
    """Fine-tune the DFN part of ``base_dir``'s model on the dataset in ``folder`` into a new
    version (or, with ``resume``, finish the last unfinished one). ``progress(stage, done, total,
    figures)`` reports each stage; ``stop`` is polled to cancel (the run can then be resumed).
    InputError at once if another run holds the dataset. A run whose loss, gradients or weights
    stop being finite ends with status "failed" and its reason in ``failure``."""
    from ..model.shipped import default_model_dir
    from ..training.checkpoint import load_model
    from ..training.dfn import evaluate, evaluate_replay, finetune, improved, user_data
    from ..training.loop import TrainingFailed
    from ..training.replay import load_replay

    report = progress or (lambda *a: None)
    folder = Path(folder)
    with ExitStack() as held:
        with DatasetStore(folder, create=False) as store:
            held.enter_context(_only_run(folder))  # a dataset, so its models folder may be made
            unfinished = [v for v in versions(folder) if v.status in UNFINISHED]
            if resume and not unfinished:
                raise InputError(f"{folder}: no unfinished fine-tuning run to resume")
            if resume:
                version = unfinished[-1]
                base_dir, settings, train_ids, test_ids = _resumable(version, settings)
            else:
                train_ids, test_ids = split(store.ids())
                if len(train_ids) < 1 or len(test_ids) < 1:
                    raise InputError(f"{folder}: {counted(len(store), 'sample')}; accept at least 2 faces before fine-tuning")
            report("load", 0, len(train_ids) + len(test_ids), {})
            samples, skipped = {}, []
            for sid in train_ids + test_ids:
                try:
                    s = store.get(sid, with_crop=True)
                except InputError as e:
                    skipped.append(str(e))
                    continue
                if s is not None:
                    samples[sid] = s
        base = load_model(base_dir, settings.device)
        train = user_data(base, [samples[i] for i in train_ids if i in samples])
        test = user_data(base, [samples[i] for i in test_ids if i in samples])
        if len(train) == 0:
            raise InputError(f"{folder}: none of the training samples could be read ({skipped[0] if skipped else ''})")
        if not resume:
            path = new_version(folder)
            version = Version(path.name, path, {
                "version": path.name, "status": "running", "created": _now(),
                "base": {"path": str(Path(base_dir).resolve()), "version": base.cfg.version},
                "data": {"samples": len(samples), "train": len(train), "heldout": len(test), "train_ids": train_ids,
                         "heldout_ids": test_ids, "skipped": skipped},
                "settings": asdict(settings)})
            _write_json(path / RECORD, version.record)
        record = version.record
        saved = resume and (version.path / "model.safetensors").is_file()
        model = load_model(version.path if saved else base_dir, settings.device)
        model.cfg.version = f"{folder.resolve().name}-{version.name}"
        replay = load_replay(model, Path(base_dir), default_model_dir())
        probe = None
        if replay is not None:
            replay, probe = replay.split()
        record["data"]["replay"] = {"source": replay.source, "samples": len(replay), "probe": len(probe)} if replay else None
        report("evaluate", 0, 1, {})
        record["before"] = {**evaluate(base, test), **(evaluate_replay(base, probe) if probe else {})}
        report("train", 0, settings.steps, {})
        try:
            result = finetune(model, train, replay, version.path, settings, resume=resume,
                              progress=lambda done, total, fig: report("train", done, total, fig), stop=stop,
                              teacher=base)
        except TrainingFailed as e:
            record.update(status="failed", failure=str(e), finished=_now())
            _write_json(version.path / RECORD, record)
            report("failed", 0, settings.steps, {"version": version.name, "failure": str(e)})
            return version
        record["training"] = {k: v for k, v in result.items() if k != "losses"}
        record["losses"] = result["losses"]
        if result["finished"]:
            report("evaluate", 0, 1, {})
            record["after"] = {**evaluate(model, test), **(evaluate_replay(model, probe) if probe else {})}
            record["improved"] = improved(record["before"], record["after"])
            record["status"] = "done"
            record["finished"] = _now()
        else:
            record["status"] = "cancelled"
        _write_json(version.path / RECORD, record)
        report(record["status"], result["steps"], settings.steps,
               {"version": version.name, "before": record["before"], "after": record.get("after")})
        return version
