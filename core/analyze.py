"""The headless analysis path: a source in, faces per frame out, written as an OpenFace-style CSV.

`analyze_input` is what one worker process runs for one input; `plan_jobs` turns the command
line's inputs (files, folders, cameras) into such jobs, and the errors for what cannot be one.
"""
from __future__ import annotations

import os
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from .analysis import Analysis, csv_writer, write_result
from .baseline import baseline_key
from .search import embeddings_path, write_embeddings
from .chunks import CHUNK_S, ChunkFeed, WorkerLost
from .errors import InputError
from .input_record import input_identity
from .outputs import NAME_MAX, OutputBusy, OutputError, cannot_write, write_durably
from .pipeline import analysed_frames
from .results import images_path
from .faces import FaceTracker
from .faces.tracker import DETECT_EVERY
from .video import IMAGE_SUFFIXES, VIDEO_SUFFIXES, camera_index, open_source

ProgressFn = Callable[[int, int | None], None]  # (frames done, frames expected or None)


@dataclass(frozen=True)
class AnalyzeOptions:
    every: int = 1                  # analyse every Nth frame
    max_faces: int = 8
    device: str = "cpu"
    duration: float | None = None   # seconds to record from a camera (None: until stopped)
    model: str | None = None        # MF² model folder; None: faces only, no AU/emotion columns
    baseline: str = "auto"          # person baseline: auto, none or START-END seconds (core.baseline)
    detect_every: int = DETECT_EVERY  # video: run the face detectors every Nth frame, follow faces between
    chunk_s: float = CHUNK_S        # spare workers: long videos in chunks of about this many seconds (0: never)
    shared_model: bool = False      # several workers: one process reads all their faces (core.model_server)
    threads: int | None = None      # per worker: faces and model side by side (2) or on one thread (1);
    # None: `with_threads` decides (2 for a lone worker, 1 each where several share the cores)
    embeddings: bool = False        # also write each face's embedding beside the CSV (core.search)
    skip_done: bool = False         # leave an input to another run that wrote it or is writing it (`--skip-done`)


@dataclass
class JobResult:
    input: str
    output: str | None = None   # CSV written (also for a partly readable input)
    frames: int = 0             # frames analysed
    face_frames: int = 0        # of which with at least one face
    error: str | None = None    # one line; with `output` set, the rows before the damage were kept
    skipped: str | None = None  # one line: left to another run, which wrote it or is writing it (`skip_done`)
    interrupted: bool = False   # a file cut short by Ctrl-C or a stop signal (a camera's recording just ends)
    notes: list[str] = field(default_factory=list)  # one line each: images skipped and similar

    @property
    def ok(self) -> bool:
        return self.error is None


def with_threads(options: AnalyzeOptions, workers: int, cores: int | None = None) -> AnalyzeOptions:
    """``options`` with its threads per worker set, where the user left them to the run: one each
    where ``workers`` with two threads would outnumber the ``cores`` (default: this machine's)
    and read faces with the model on the CPU (the model's thread would only take turns with the
    faces'; measured in the README, "Long videos"), else two (a worker with cores to spare, or a
    model on a GPU or in a shared process, whose wait the faces fill)."""
    if options.threads is not None:
        return options
    crowded = 2 * workers > (cores or os.cpu_count() or 1)
    return replace(options, threads=1 if crowded and options.device == "cpu" and not options.shared_model else 2)


def join_chunks(spec: str, out_path: Path, options: AnalyzeOptions, chunks: ChunkFeed) -> JobResult:
    """A chunked video's CSV, written from its chunks as they come in (core.batch's joiner
    threads, and the Ray driver's): `analyze_input`, with anything it raises reported for this
    input alone. The feed is closed at the end, so frames of a join that ended early, still
    coming from its workers, are dropped."""
    try:
        return analyze_input(spec, out_path, options, None, chunks)
    except BaseException as e:  # noqa: BLE001 - reported for this input alone
        return JobResult(spec, error=f"{spec}: {type(e).__name__}: {e}")
    finally:
        chunks.close()


def missed_segment(spec: str, segment, missed: int, people: int, last_time: float) -> str:
    """The note for people the neutral segment never showed (so read as with ``--baseline auto``);
    ``last_time``: the last frame's time, said when the segment begins after it."""
    who = "the one person" if people == 1 else f"{missed} of the {people} people" if missed < people \
        else f"all {people} people"
    after = f" (it begins after the recording's last frame, at {last_time:.2f} s)" if segment.start > last_time else ""
    return (f"{spec}: {who} had no face in the neutral segment {segment} s{after}, so read against their own "
            "running estimate, as with --baseline auto (their rows say auto in the baseline column)")


def analyze_input(spec: str, out_path: Path, options: AnalyzeOptions, progress: ProgressFn | None = None,
                  chunks: ChunkFeed | None = None) -> JobResult:
    """Analyse one input into ``out_path``; never raises for bad input or a failed write, reports
    them in the result. The CSV appears only when the input was read to its end (a camera: until
    stopped); an input cut short by a signal leaves no CSV, and a damaged one replaces no earlier CSV.
    ``chunks``: the video's faces come from workers analysing it in chunks (core.chunks), and are
    scored and written here. Threads left to the run are those of a lone worker (`with_threads`)."""
    options = with_threads(options, 1)
    result = JobResult(spec)
    try:
        source = open_source(spec, options.duration)
    except InputError as e:
        result.error = str(e)
        return result
    expected = None if source.frame_count is None else -(-source.frame_count // options.every)
    scorer = None
    try:
        if options.model:
            from .model_server import scorer_for

            # joining chunks, this process only scores what the workers' models read: no model, no torch
            scorer = scorer_for(options.model, "cpu" if chunks else options.device, options.baseline, reads=chunks is None)
        aus, emotions = (scorer.aus, scorer.emotions) if scorer else ((), ())
        writer = csv_writer(out_path, aus, emotions, str(scorer.baseline) if scorer else None,
                            scorer.version if scorer else None)
    except InputError as e:
        source.close()
        if options.skip_done and isinstance(e, OutputBusy):
            result.skipped = f"{out_path}: another mf2 run is writing it{e.who}; left to it"
        else:
            result.error = str(e)
        return result
    # a run going through the same inputs beside this one may have written it since the run began
    if options.skip_done and not source.live and done_before(
            out_path, spec, scorer.version if scorer else None, str(scorer.baseline) if scorer else "",
            options.every, options.embeddings):
        writer.discard()
        source.close()
        result.skipped = f"{out_path}: written meanwhile by another mf2 run; skipped"
        return result
    # with a neutral segment, rows wait until it has been seen, then are read against it
    held: list | None = [] if scorer and scorer.baseline.kind == "segment" else None
    # with a neutral segment: who was analysed, and who was seen in it (read against it; the rest as with auto)
    seen, in_segment = (set(), set()) if held is not None else (None, None)

    def release() -> None:
        nonlocal held
        if held:
            pending = Analysis.for_scorer(scorer)
            for r in held:
                pending.add(r)
            fixed = scorer.recalibrate(pending, scorer.baseline)
            in_segment.update(fixed)
            scorer.set_baselines(fixed)
            for r in pending.frames():  # read again: the analysis keeps its own copy of the readings
                write_result(writer, r, aus, emotions, in_segment)
        held = None

    embeddings = [] if options.embeddings and scorer else None  # (frame, time, face id, person, embedding) a face
    stopped = damaged = False
    last_time = 0.0
    try:
        with source, (FaceTracker(max_faces=options.max_faces, static=source.static, detect_every=options.detect_every,
                                  threads=options.threads) if chunks is None else nullcontext()) as tracker:
            frames = analysed_frames(source, tracker, scorer, options.every, options.threads) if chunks is None \
                else chunks.frames(scorer)
            try:
                for analysed in frames:
                    if embeddings is not None:
                        embeddings += [(analysed.index, analysed.timestamp, f.track_id, f.person, f.embedding)
                                 for f in analysed.faces if f.embedding is not None]
                    if seen is not None:
                        seen.update(baseline_key(f.person, f.track_id) for f in analysed.faces)
                    if held is not None:
                        held.append(analysed)
                        if analysed.timestamp > scorer.baseline.end:
                            release()
                    else:
                        write_result(writer, analysed, aus, emotions, in_segment)
                    result.frames += 1
                    result.face_frames += bool(analysed.faces)
                    last_time = analysed.timestamp
                    if progress and (result.frames % 8 == 0 or result.frames == expected):
                        progress(result.frames, expected)
            except OutputError:
                raise
            except InputError as e:
                result.error, damaged = str(e), True
            except WorkerLost as e:
                stopped = f"{spec}: {e}"
            except KeyboardInterrupt as e:  # Ctrl-C or a stop signal: ends a camera recording, cuts a file short
                by = "Ctrl-C" if str(e) in ("", "SIGINT") else str(e)
                stopped = f"{spec}: stopped by {by} after {result.frames} frames"
                if source.live:
                    result.notes.append(stopped)
                    stopped = False
                else:
                    result.interrupted = True
            finally:
                frames.close()  # its face thread ends here, before the tracker is closed under it
            result.notes += [f"{spec}: {note}" for note in (tracker.notes if chunks is None else chunks.notes)]
        release()
        if seen and seen - in_segment:
            result.notes.append(missed_segment(spec, scorer.baseline, len(seen - in_segment), len(seen), last_time))
        result.notes += getattr(source, "skipped", [])
        kept = f"; the earlier {out_path} is kept" if out_path.exists() else ""
        if stopped:
            result.error = f"{stopped}; nothing written{kept}"
        elif damaged and kept:
            result.error += f" (the rows before it were not written{kept})"
        elif not result.frames:
            result.error = result.error or f"{spec}: no frame could be read"
        if result.frames and not stopped and not (damaged and kept):
            writer.close()
            result.output = str(out_path)
            if embeddings is not None:  # after the CSV: they name its size, so a later CSV without them shows
                try:
                    write_embeddings(embeddings_path(out_path), embeddings, out_path.stat().st_size)
                except OSError as e:
                    result.notes.append(str(cannot_write(embeddings_path(out_path), e)))
            write_listing(spec, out_path, result, source)
        else:
            writer.discard()
    except OutputError as e:
        writer.discard()
        result.error, result.output = str(e), None
    except BaseException:
        writer.discard()
        raise
    return result


def plan_jobs(inputs: list[str]) -> tuple[list[str], list[str], list[str]]:
    """(job specs, error lines, skipped lines). A folder contributes each of its videos and, if it
    has images, itself as one image sequence; other files in it (notes, earlier CSVs) are said, not
    silently skipped, but are no failed inputs: the user named the folder, not them."""
    jobs: list[str] = []
    errors: list[str] = []
    skipped: list[str] = []
    for spec in inputs:
        path = Path(spec)
        if not spec.strip():
            errors.append(f"{spec!r}: an empty input name")
            continue
        if camera_index(spec) is not None or not path.is_dir():
            jobs.append(spec)
            continue
        try:
            entries = sorted(p for p in path.iterdir() if not p.name.startswith("."))
        except OSError as e:
            errors.append(f"{path}: cannot list folder ({e.strerror or e})")
            continue
        files = [p for p in entries if _kind(p) == "file"]
        videos = [p for p in files if p.suffix.lower() in VIDEO_SUFFIXES]
        images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
        skipped += [f"{p}: {_kind(p)} (skipped)" for p in entries if p not in files]
        skipped += [f"{p}: not a video or image file (skipped)" for p in files if p not in videos and p not in images]
        jobs += [str(p) for p in videos]
        if images:
            jobs.append(spec)
        if not videos and not images:
            errors.append(f"{path}: folder holds no videos or images")
    first: dict[str, str] = {}  # identity -> the job that names it first
    for job in jobs:  # overlapping globs and folders name a file twice: its CSV would be written twice
        identity = input_identity(job)
        if identity not in first:
            first[identity] = job
        elif job == first[identity]:
            skipped.append(f"{job}: given more than once, analysed once (skipped)")
        else:
            skipped.append(f"{job}: the same file as {first[identity]}, analysed once (skipped)")
    return list(first.values()), errors, skipped


def _kind(path: Path) -> str:
    """"file" for a regular file (or a link to one), else what it is, for the skipped line."""
    if path.is_symlink() and not path.exists():
        return "a broken symbolic link"
    if path.is_dir():
        return "a subfolder (not searched: pass it as an input of its own)"
    return "file" if path.is_file() else "not a regular file"


def done_before(path: Path, spec: str, version: str | None, baseline: str, every: int = 1,
                embeddings: bool = False) -> bool:
    """Whether ``path`` already holds input ``spec``'s CSV as this run would write it: its ``model``
    and ``baseline`` columns name this run's model version and baseline (no model: it has none),
    its last row is the input's last frame (a damaged input's CSV, kept short, is not done, nor is
    an input still damaged), and with ``embeddings`` its embeddings file is there too. Settings
    the CSV does not record (``--max-faces``, ``--detect-every``) are taken to be the same."""
    try:
        with open(path, "rb") as f:
            header = [name.strip() for name in f.readline().decode().split(",")]
            first = f.readline().decode().rstrip("\n").split(",")
            f.seek(max(0, path.stat().st_size - 65536))
            last = int(f.read().decode(errors="replace").rstrip("\n").rsplit("\n", 1)[-1].split(",", 1)[0])
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    row = dict(zip(header, first))
    if len(first) != len(header) or (embeddings and not embeddings_path(path).is_file()) or \
            (("model" in row) if version is None else (row.get("model"), row.get("baseline")) != (version, baseline)):
        return False
    try:
        with open_source(spec) as source:
            damaged = source.damage() if hasattr(source, "damage") else None
            return not damaged and source.frame_count is not None and last > source.frame_count - every
    except InputError:
        return False


def write_listing(spec: str, out_path: Path, result: JobResult, source=None) -> None:
    """Beside the CSV of a folder of photos, which file each frame number is (a note in
    ``result`` when it cannot be written); nothing for other inputs."""
    if source is None and not Path(spec).is_dir():
        return
    try:
        source = source or open_source(spec)
    except InputError:
        return
    if hasattr(source, "listing"):
        try:
            write_durably(images_path(out_path), source.listing())
        except OSError as e:
            result.notes.append(str(cannot_write(images_path(out_path), e)))


def output_paths(jobs: list[str], out_dir: Path, taken: dict[str, str] | None = None) -> list[Path]:
    """One CSV per job, named after the input; repeated names get a numeric suffix, as does a name
    whose CSV in ``out_dir`` was written from another input (``taken``: `written_inputs`), so
    that one participant's ``session.mp4`` never replaces another's results."""
    used: set[str] = set()
    taken = taken or {}
    paths = []
    for spec in jobs:
        index = camera_index(spec)
        stem = f"camera{index}" if index is not None else (Path(spec).stem if Path(spec).is_file() else Path(spec).name)
        me = input_identity(spec)
        name, n = _fit_name(stem), 2
        while name in used or taken.get(f"{name}.csv", me) != me:
            name, n = _fit_name(f"{stem}_{n}"), n + 1
        used.add(name)
        paths.append(out_dir / f"{name}.csv")
    return paths


def _fit_name(stem: str) -> str:
    """``stem`` if ``<stem>.csv`` fits a file name (255 bytes), else its start plus a hash of it.
    A name that is not UTF-8 (an old share's Latin-1 file name) keeps its bytes, as the file system gave them."""
    raw = os.fsencode(stem)
    if len(raw) <= NAME_MAX - len(".csv"):
        return stem
    import hashlib

    return f"{os.fsdecode(raw[:NAME_MAX - 20])}~{hashlib.sha1(raw).hexdigest()[:8]}"
