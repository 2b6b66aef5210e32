"""``mf2``: the command line over `core` (analysis, benchmarks). No Qt here."""
from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from .errors import InputError
from .outputs import output_file
from .plural import counted
from .model.shipped import default_model_dir  # also imported from here by app/, scripts/ and tests

DEFAULT_BENCH_VIDEO = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "videos" / "WolfgangLanger_Pexels.mp4"


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _steps(text: str) -> int:
    value = int(text)
    if value < 3:
        raise argparse.ArgumentTypeError("must be 3 or more (the learning rate warms up, then decays)")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def _not_negative_float(text: str) -> float:
    value = float(text)
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def build_parser() -> argparse.ArgumentParser:
    from .chunks import CHUNK_S
    from .faces.tracker import DETECT_EVERY

    parser = argparse.ArgumentParser(prog="mf2", description="MF² Studio command line: facial behaviour analysis.")
    parser.add_argument("--verbose", action="store_true", help="keep the native libraries' log messages")
    sub = parser.add_subparsers(dest="command", required=True)

    a = sub.add_parser("analyze", help="per-frame CSV (OpenFace 2.x columns) for videos, images, folders, cameras",
                       description="Analyse each INPUT into OUT/<name>.csv. INPUT: a video file, an image, a folder "
                                   "(each video in it, plus its images as one sequence) or cam:N for webcam N.")
    a.add_argument("inputs", nargs="+", metavar="INPUT")
    a.add_argument("-o", "--output", required=True, type=Path, metavar="OUT", help="folder for the CSV files")
    a.add_argument("--every", type=_positive_int, default=1, metavar="N", help="analyse every Nth frame (default 1)")
    a.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="where the model runs")
    a.add_argument("--max-faces", type=_positive_int, default=8, metavar="N", help="faces per frame (default 8)")
    a.add_argument("--detect-every", type=_positive_int, default=DETECT_EVERY, metavar="N",
                   help="video: run the face detectors every Nth frame and follow the faces with their mesh "
                        f"in between (default {DETECT_EVERY}; 1: detect on every frame, about 2.5x slower)")
    a.add_argument("--workers", type=_positive_int, default=None, metavar="N",
                   help="parallel worker processes (default: one per CPU core, at most one per input); "
                        "with --ray: tasks in flight at once (default: as many as the cluster has room for)")
    a.add_argument("--chunk", type=_not_negative_float, default=CHUNK_S, metavar="SECONDS",
                   help="with more workers than inputs, analyse each long video in time chunks of about this "
                        f"many seconds side by side, joined into the same CSV (default {CHUNK_S:g}; 0: never)")
    a.add_argument("--threads", type=int, choices=(1, 2), default=None,
                   help="threads per worker: faces found while the model reads earlier ones (2), or one thread "
                        "(the same figures; for machines shared with other jobs). Default: 1 each where the "
                        "workers' two threads would outnumber the cores and the model runs on the CPU in each "
                        "worker, else 2")
    a.add_argument("--shared-model", action=argparse.BooleanOptionalAction, default=None,
                   help="one process holds the model and reads the faces of all workers, batched (default: on "
                        "with a GPU and several workers, so they share it; off on the CPU)")
    a.add_argument("--ray", default=None, metavar="ADDRESS",
                   help="run the inputs as tasks on a Ray cluster: local (a private one on this machine), auto "
                        "(the cluster this machine joined with `ray start`), HOST:PORT or ray://HOST:PORT. "
                        "Inputs must be at the same path on every node; the CSVs come back here")
    a.add_argument("--duration", type=float, default=None, metavar="SECONDS",
                   help="for cameras: stop after this long (default: until Ctrl-C)")
    a.add_argument("--skip-done", action="store_true",
                   help="leave out inputs whose CSV is already in OUT, written by the same model and baseline "
                        "(a long batch run again after a stop), or that another run with --skip-done is writing: "
                        "runs started side by side share the inputs; give the other settings as before")
    a.add_argument("--embeddings", action="store_true",
                   help="also write OUT/<name>.embeddings.npz, each face's embedding, so that `mf2 search` can "
                        "search the CSV by description (about 0.5 KB a face)")
    a.add_argument("--model", type=Path, default=None, metavar="DIR",
                   help="MF² model folder for the AU and emotion columns (default: the shipped model)")
    a.add_argument("--baseline", default="auto", metavar="auto|none|START-END",
                   help="AU readings relative to each person's neutral face: estimated per face as the video "
                        "goes (auto, default), from a neutral segment in seconds (e.g. 0-20), or none")

    for name, text in (("pretrain", "train the whole MF² model (encoder, language alignment, heads)"),
                       ("finetune", "DFN: train the side networks and heads of a model, encoder frozen")):
        t = sub.add_parser(name, help=text, description=text + ". Data: any mix of the sources below.")
        t.add_argument("--emotion-folder", type=Path, action="append", default=[], metavar="DIR",
                       help="one subfolder per emotion (repeatable)")
        t.add_argument("--fer-csv", type=Path, action="append", default=[], metavar="CSV",
                       help="original FER2013 CSV, rows with Usage=Training (repeatable)")
        t.add_argument("--au-csv", type=Path, action="append", default=[], metavar="CSV",
                       help="path + 0/1 AU columns (+ emotion, subject), CK+ style (repeatable)")
        t.add_argument("--mfa-jsonl", type=Path, action="append", default=[], metavar="JSONL",
                       help="MFA-style JSONL with images and descriptions, as `mf2 dataset export` writes (repeatable)")
        t.add_argument("-o", "--output", type=Path, required=name == "pretrain", metavar="DIR",
                       help="model folder to write" + (" (not with --dataset)" if name == "finetune" else ""))
        if name == "finetune":
            t.add_argument("--model", type=Path, default=None, metavar="DIR", help="model to start from (default: shipped)")
            t.add_argument("--dataset", type=Path, default=None, metavar="DIR",
                           help="a studio dataset folder: train a new model version in DIR/models on its samples "
                                "mixed with the model's replay bank, measured on its held-out samples")
            t.add_argument("--steps", type=_steps, default=None,
                           help="training steps with --dataset (default 400)")
            t.add_argument("--json-progress", action="store_true",
                           help="with --dataset: progress as JSON lines on stdout (what the studio reads)")
        t.add_argument("--epochs", type=_positive_int, default=20 if name == "pretrain" else 10)
        t.add_argument("--batch-size", type=_positive_int, default=128)
        t.add_argument("--lr", type=float, default=3e-3 if name == "pretrain" else 2e-3)
        t.add_argument("--seed", type=int, default=0)
        t.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
        resume = " (with --dataset: its last unfinished version)" if name == "finetune" else ""
        t.add_argument("--resume", action="store_true", help="continue the run saved in --output" + resume)
        if name == "finetune":
            t.add_argument("--tasks", default="emotion,au", help="heads to train: emotion, au or both (default)")

    d = sub.add_parser("dataset", help="a studio dataset folder: stats, MFA JSONL export and import, model versions")
    d_sub = d.add_subparsers(dest="action", required=True)
    ds = d_sub.add_parser("stats", help="samples, labels, videos and model versions of a dataset")
    ds.add_argument("folder", type=Path, metavar="DIR")
    ds.add_argument("--json", action="store_true", help="print the figures as JSON")
    de = d_sub.add_parser("export", help="write OUT/mfa.jsonl and OUT/images/")
    de.add_argument("folder", type=Path, metavar="DIR")
    de.add_argument("out", type=Path, metavar="OUT")
    di = d_sub.add_parser("import", help="add the rows of an MFA JSONL file (bad rows are reported and skipped)")
    di.add_argument("folder", type=Path, metavar="DIR", help="dataset folder (created if new)")
    di.add_argument("jsonl", type=Path, metavar="JSONL")
    du = d_sub.add_parser("use", help="choose the model version the studio uses with this dataset")
    du.add_argument("folder", type=Path, metavar="DIR")
    du.add_argument("version", metavar="VERSION", help="a version name (v001...) or 'base' to roll back")

    ev = sub.add_parser("evaluate", help="accuracy of a model on labelled data")
    ev_sub = ev.add_subparsers(dest="task", required=True)
    for task, target, text in (("emotion", "FOLDER", "one subfolder per emotion"),
                               ("au", "LABELS_CSV", "path column (relative to the CSV) and 0/1 AU columns"),
                               ("au-cv", "LABELS_CSV", "subject-disjoint k-fold DFN on an AU CSV with a subject column")):
        e = ev_sub.add_parser(task, help=text)
        e.add_argument("data", type=Path, metavar=target)
        e.add_argument("--json", type=Path, default=None, metavar="OUT", help="also write the figures as JSON")
        e.add_argument("--model", type=Path, default=None, metavar="DIR", help="model folder (default: shipped)")
        e.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
        if task in ("emotion", "au"):
            e.add_argument("--zero-shot", action="store_true",
                           help=f"score by similarity to {task} descriptions instead of the {task} heads")
            e.add_argument("--prompts", type=Path, default=None, metavar="PROMPTS_JSON",
                           help="with --zero-shot: a JSON object of " + ("emotion names" if task == "emotion" else
                                "AU codes (AU12)") + " to lists of your own descriptions (default: shipped ones, "
                                "never used in training)")
        if task == "emotion":
            e.add_argument("--mirror", action="store_true",
                           help="average each face with its mirror image (not what `analyze` does)")
        if task == "au-cv":
            e.add_argument("--folds", type=_positive_int, default=5)
            e.add_argument("--epochs", type=_positive_int, default=60)

    for name, text in (("stats", "figures per person and segment of an analysis CSV: face time, emotions, AUs, "
                                 "expression episodes, blinks, head movement"),
                       ("elan", "an ELAN .eaf of an analysis CSV: emotion and AU tiers per person, your segments"),
                       ("report", "one self-contained HTML session report of an analysis CSV: emotion time courses, "
                                  "AU occurrence and the statistics per person and segment")):
        r = sub.add_parser(name, help=text, description=text + ". Definitions: README, Statistics and ELAN.")
        r.add_argument("result", type=Path, metavar="RESULT.csv", help="a CSV of `mf2 analyze` or OpenFace 2.x")
        r.add_argument("--segments", type=Path, default=None, metavar="FILE",
                       help="named time ranges: a CSV of name,start,end (seconds or HH:MM:SS.mmm) or an ELAN .eaf")
        r.add_argument("--tier", action="append", default=None, metavar="NAME",
                       help="with an .eaf --segments: take only this tier's annotations (repeatable)")
        if name == "stats":
            r.add_argument("--json", type=Path, default=None, metavar="OUT", help="also write the figures as JSON")
        elif name == "elan":
            r.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.eaf")
            r.add_argument("--media", type=Path, default=None, metavar="VIDEO", help="the video to link in the file")
        else:
            r.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.html")
            r.add_argument("--model", type=Path, default=None, metavar="DIR",
                           help="the model folder that wrote the CSV, for a CSV that does not name its model "
                                "(written before 2026-12-02); a CSV that names one is read as that model's")

    q = sub.add_parser("search", help="the moments of a video whose faces best fit a free description",
                       description="Score every face of a video against a free description (e.g. \"brows raised "
                                   "and mouth open\") and print the best moments. The video is analysed once and "
                                   "cached, with the studio: later searches take seconds.")
    q.add_argument("video", metavar="VIDEO_OR_CSV",
                   help="a video file, or a CSV written by `mf2 analyze --embeddings` (its .embeddings.npz beside it)")
    q.add_argument("text", help="what to look for, in your own words")
    q.add_argument("--top", type=_positive_int, default=10, metavar="N")
    q.add_argument("--person", type=int, action="append", default=None, metavar="ID", help="only this person")
    q.add_argument("--model", type=Path, default=None, metavar="DIR", help="model folder (default: shipped)")
    q.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))

    b = sub.add_parser("bench", help="median fps of decoding, face tracking and the whole analyze path")
    b.add_argument("video", nargs="?", default=str(DEFAULT_BENCH_VIDEO))
    b.add_argument("--max-faces", type=_positive_int, default=8, metavar="N")
    b.add_argument("--model", type=Path, default=None, metavar="DIR", help="model to time (default: shipped)")
    b.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    b.add_argument("--dfn", type=Path, default=None, metavar="LABELS_CSV",
                   help="also compare DFN with full fine-tuning on this AU CSV (e.g. CK+ labels.csv)")
    b.add_argument("--live", type=_positive_float, default=None, metavar="SECONDS",
                   help="also play the video in real time through the live path for this long, as a webcam "
                        "is shown: displayed and analysed fps, dropped frames, latency")
    return parser


def cmd_analyze(args) -> int:
    from .analyze import AnalyzeOptions, done_before, output_paths, plan_jobs
    from .input_record import follow_moves, input_identity, record_inputs
    from .video import camera_index, expected_frames
    from .batch import run_jobs
    from .device import resolve_device
    from .baseline import BaselineMode
    from .progress import ProgressLine
    from .stopping import received, signal_name

    if args.ray:
        from .cluster import need_ray

        if args.embeddings:
            raise InputError("--embeddings: not with --ray (the nodes send back the CSVs only)")
        need_ray()  # one line before any work when the cluster extra is missing
    device = args.device if args.ray else resolve_device(args.device)  # with --ray: the nodes' GPUs count
    baseline = str(BaselineMode.parse(args.baseline))  # a bad value is one line before any work
    if args.output.suffix.lower() == ".csv" and not args.output.is_dir():
        raise InputError(f"{args.output}: analyze writes one CSV per input into a folder; give a folder (e.g. results)")
    jobs, errors, skipped = plan_jobs(args.inputs)
    for line in errors + skipped:
        print(f"mf2: {line}", file=sys.stderr)
    if not jobs:
        return 2
    if args.output.exists() and not args.output.is_dir():
        raise InputError(f"{args.output}: is a file, not a folder; analyze writes one CSV per input into a folder")
    try:
        args.output.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"{args.output}: cannot create output folder ({e.strerror})") from None
    try:  # one line now, not one per input later (a read-only disk, a full one)
        import tempfile

        with tempfile.TemporaryFile(dir=args.output):
            pass
    except OSError as e:
        raise InputError(f"{args.output}: cannot write in the output folder ({e.strerror or e})") from None
    model = args.model or (default_model_dir() if (default_model_dir() / "model.safetensors").is_file() else None)
    version = None
    if model is not None:
        from .training.checkpoint import load_model

        version = load_model(model).cfg.version  # a bad --model is one error up front, not one per input
    taken = follow_moves(args.output, jobs)  # CSV name -> its input (a recording moved since: where it is now)
    paths = output_paths(jobs, args.output, taken)
    done = 0
    if args.skip_done:  # a long batch run again after a stop: what is written stays
        todo = [(job, path) for job, path in zip(jobs, paths)
                if camera_index(job) is not None
                or not done_before(path, job, version, baseline, args.every, args.embeddings)]
        done = len(jobs) - len(todo)
        if done:
            print(f"{done} of {len(jobs)} inputs already written to {args.output} by model "
                  f"{version or 'none'} with baseline {baseline}: skipped")
        if not todo:
            return 1 if errors else 0
        jobs, paths = [list(t) for t in zip(*todo)]
    for job, path in zip(jobs, paths):  # said of the inputs that will be written only
        first = output_paths([job], args.output)[0]
        if first != path and first.name in taken and taken[first.name] != input_identity(job):
            print(f"mf2: {job}: {first} holds the results of {taken[first.name]}; writing {path.name}", file=sys.stderr)
    shared = args.shared_model if args.shared_model is not None else device.startswith("cuda")
    options = AnalyzeOptions(every=args.every, max_faces=args.max_faces, device=device, duration=args.duration,
                             model=str(model) if model else None, baseline=baseline, detect_every=args.detect_every,
                             chunk_s=args.chunk, threads=args.threads, shared_model=shared,
                             embeddings=args.embeddings, skip_done=args.skip_done)
    display = ProgressLine(len(jobs), expected=lambda: {job: expected_frames(job, args.every) for job in jobs})
    if args.ray:
        from .cluster import run_jobs_ray

        results = run_jobs_ray(jobs, paths, options, args.ray, display, args.workers, quiet=not args.verbose)
    else:
        results = run_jobs(jobs, paths, options, args.workers, display)
    display.clear()
    record_inputs(args.output, {Path(r.output).name: r.input for r in results if r.output})
    written, done_before = 0, done
    for r in results:
        for note in r.notes:
            print(f"mf2: {note}", file=sys.stderr)
        if r.skipped:
            print(f"mf2: {r.skipped}", file=sys.stderr)
            done += 1
        if r.error:
            kept = f"; kept {r.frames} frames before it in {r.output}" if r.output else ""
            print(f"mf2: {r.error}{kept}", file=sys.stderr)
        if r.output:
            written += 1
            print(f"{r.output}: {counted(r.frames, 'frame')}, face found in {r.face_frames}")
    if received() and not all(r.ok for r in results):  # a camera recording ended by Ctrl-C is complete
        print(f"mf2: stopped by {signal_name(received())}: {written} of {len(jobs)} inputs written", file=sys.stderr)
        return 128 + received()
    if len(jobs) + len(errors) + done_before > 1:  # a long batch ends with its count, not only a line per input
        print(f"mf2: {_batch_count(results, len(errors), done)}", file=sys.stderr)
    if written == 0 and not done:
        return 2
    return 0 if all(r.ok for r in results) and not errors else 1


def _batch_count(results: list, unreadable: int, done: int) -> str:
    """What a run of several inputs did, in one line: written (of which cut short by damage),
    failed (``unreadable``: refused before the run), and skipped as written before or being written
    by another run (``done``)."""
    written = sum(1 for r in results if r.output)
    damaged = sum(1 for r in results if r.output and r.error)
    failed = unreadable + sum(1 for r in results if r.error and not r.output)
    parts = [f"{written + failed + done} inputs: {written} written" + (f" ({damaged} cut short by damage)" if damaged else "")]
    parts += [f"{failed} failed"] if failed else []
    parts += [f"{done} skipped (written before, or being written by another run)"] if done else []
    return ", ".join(parts)


def load_training_samples(args) -> list:
    from .data.sources import load_au_csv, load_emotion_folder, load_fer_csv, load_mfa_jsonl

    samples = []
    for folder in args.emotion_folder:
        samples += load_emotion_folder(folder)
    for path in args.fer_csv:
        samples += load_fer_csv(path, usage="Training")
    for path in args.au_csv:
        samples += load_au_csv(path)
    for path in args.mfa_jsonl:
        samples += load_mfa_jsonl(path)
    if not samples:
        raise InputError("no training data: give --emotion-folder, --fer-csv, --au-csv or --mfa-jsonl")
    return samples


def cmd_train(args) -> int:
    from .data.prepare import prepare
    from .device import resolve_device
    from .model.config import ModelConfig
    from .model.model import MF2
    from .training.checkpoint import load_model
    from .training.loop import TrainingFailed, TrainSettings, train

    if getattr(args, "dataset", None) is not None:
        return cmd_finetune_dataset(args)
    if args.output is None:
        raise InputError("give -o/--output DIR (the model folder to write), or --dataset DIR")
    device = resolve_device(args.device)
    tasks = tuple(t.strip() for t in getattr(args, "tasks", "emotion,au").split(","))
    if not set(tasks) <= {"emotion", "au"}:
        raise InputError(f"--tasks {args.tasks}: choose from emotion, au")
    samples = load_training_samples(args)
    if args.resume:
        model = load_model(args.output, device)
    elif args.command == "finetune":
        model = load_model(args.model or default_model_dir(), device)
    else:
        model = MF2(ModelConfig())
    import datetime

    model.cfg.version = f"{args.output.resolve().name}-{datetime.date.today().isoformat()}"
    print(f"mf2 {args.command}: {len(samples)} samples, preparing aligned crops...", file=sys.stderr, flush=True)
    data = prepare(samples, model.cfg.input_size)
    settings = TrainSettings(phase=args.command, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                             seed=args.seed, device=device, tasks=tasks)
    trainable = sum(p.numel() for p in model.parameters()) if args.command == "pretrain" \
        else sum(p.numel() for p in model.head_parameters(tasks))
    print(f"mf2 {args.command}: {len(data)} crops ({data.aligned.mean():.1%} aligned by landmarks), "
          f"{trainable:,} trainable parameters, device {device}", file=sys.stderr, flush=True)
    try:
        train(model, data, args.output, settings, resume=args.resume)
    except TrainingFailed as e:
        print(f"mf2: {args.output}: training failed ({e})", file=sys.stderr)
        return 1
    print(f"{args.output}: model written")
    return 0


def cmd_finetune_dataset(args) -> int:
    """DFN fine-tuning on a studio dataset into a new model version (the studio runs this as a
    separate process and reads ``--json-progress``). SIGTERM cancels cleanly: the run is saved
    and ``--resume`` finishes it."""
    import json
    import signal

    from .dataset.versions import run_finetune
    from .device import resolve_device
    from .training.dfn import DfnSettings

    if args.output is not None:
        raise InputError("--dataset writes its versions into DIR/models: leave out -o")
    cancelled = []
    signal.signal(signal.SIGTERM, lambda *_: cancelled.append(True))
    settings = DfnSettings(lr=args.lr, seed=args.seed, device=resolve_device(args.device),
                           **({"steps": args.steps} if args.steps else {}))

    def progress(stage: str, done: int, total: int, figures: dict) -> None:
        if args.json_progress:
            print(json.dumps({"stage": stage, "done": done, "total": total, **figures}), flush=True)
        elif stage == "train" and done:
            print(f"step {done}/{total} " + " ".join(f"{k}={v}" for k, v in figures.items() if k != "step"),
                  file=sys.stderr, flush=True)
        elif stage != "train":
            print(f"mf2 finetune: {stage}", file=sys.stderr, flush=True)

    version = run_finetune(args.dataset, args.model or default_model_dir(), settings, resume=args.resume,
                           progress=progress, stop=lambda: bool(cancelled))
    record = version.record
    if record["status"] == "failed":
        print(f"mf2: {version.path}: training failed ({record['failure']})", file=sys.stderr)
        return 1
    if record["status"] != "done":
        print(f"{version.path}: cancelled at step {record['training']['steps']}; `--resume` finishes it",
              file=sys.stderr)
        return 130
    before, after = record["before"], record["after"]
    lines = [f"{version.path}: model version {version.name} ({record['data']['train']} training samples, "
             f"{record['data']['heldout']} held out, replay "
             f"{record['data']['replay']['samples'] if record['data']['replay'] else 'none'})"]
    for key in ("emotion_accuracy", "au_accuracy", "au_mean_f1", "caption_r1", "base_emotion_accuracy"):
        if key in after:
            lines.append(f"  {key:18s} before {before.get(key, float('nan')):.3f}  after {after[key]:.3f}")
    for problem in record["data"].get("skipped", []):
        print(f"mf2: skipped: {problem}", file=sys.stderr)
    lines.append(f"{'better' if record.get('improved') else 'not better'} on the held-out samples than the model it "
                 f"started from; `mf2 dataset use {args.dataset} {version.name}` makes the studio and "
                 f"`mf2 analyze --model {version.path}` read with it")
    if not args.json_progress:
        print("\n".join(lines))
    return 0


def cmd_dataset(args) -> int:
    import json

    from .dataset import DatasetStore
    from .dataset.mfa import export_jsonl, import_jsonl, read_jsonl
    from .dataset.versions import active_model, set_active, versions

    if args.action == "import":
        read = read_jsonl(args.jsonl)  # first: a file that cannot be read makes no dataset folder
        with DatasetStore(args.folder) as store:
            added, duplicates, errors = import_jsonl(store, args.jsonl, read)
        for line in errors:
            print(f"mf2: {line}", file=sys.stderr)
        print(f"{args.folder}: {counted(added, 'sample')} imported, {duplicates} already there, "
              f"{counted(len(errors), 'row')} not imported or not as given (above)")
        return 0 if not errors else 1
    with DatasetStore(args.folder, create=False) as store:
        if args.action == "export":
            skipped = []
            path, count = export_jsonl(store, args.out, skipped)
            for line in skipped:
                print(f"mf2: {line}", file=sys.stderr)
            print(f"{path}: {count} samples" + (f", {len(skipped)} skipped" if skipped else ""))
            return 0 if not skipped else 1
        if args.action == "use":
            set_active(args.folder, None if args.version == "base" else args.version)
            print(f"{args.folder}: now using {args.version}")
            return 0
        stats = store.stats()
    active = active_model(args.folder)
    stats["versions"] = {v.name: {"status": v.status, "before": v.record.get("before"), "after": v.record.get("after")}
                         for v in versions(args.folder)}
    stats["active"] = active.name if active else "base"
    if args.json:
        print(json.dumps(stats, indent=2))
        return 0
    print(f"{args.folder}: {counted(stats['samples'], 'sample')} ({stats['edited']} with captions other than the "
          f"model's reading gave, by typing or by changed labels) from {counted(len(stats['videos']), 'video')}")
    print("emotions: " + ", ".join(f"{k} {v}" for k, v in sorted(stats["emotions"].items())))
    print("AUs present: " + (", ".join(f"{k} {v}" for k, v in stats["aus_present"].items()) or "none"))
    if stats["missing_crops"]:
        print(f"missing face crops: {counted(len(stats['missing_crops']), 'sample')}")
    for name, v in stats["versions"].items():
        print(f"model {name}: {v['status']}" + (" (in use)" if name == stats["active"] else ""))
    return 0


def cmd_evaluate(args) -> int:
    import json

    from .data.sources import load_au_csv, load_emotion_folder
    from .device import resolve_device
    from .evaluate import cross_validate_au, evaluate_au, evaluate_emotion
    from .training.checkpoint import load_model

    device = resolve_device(args.device)
    model_dir = args.model or default_model_dir()
    if args.task == "emotion":
        result = evaluate_emotion(load_model(model_dir, device), load_emotion_folder(args.data), args.zero_shot,
                                  args.mirror, args.prompts)
        print(f"n={result['n']} accuracy={result['accuracy']:.4f} macro_f1={result['macro_f1']:.4f}")
        width = max(len(label) for label in result["labels"])
        print(" " * (width + 2) + " ".join(f"{label[:7]:>7}" for label in result["labels"]) + "   <- predicted")
        for label, row in zip(result["labels"], result["confusion"]):
            print(f"{label:>{width}}  " + " ".join(f"{v:7d}" for v in row))
    else:
        samples = load_au_csv(args.data)
        result = evaluate_au(load_model(model_dir, device), samples, args.zero_shot, args.prompts) if args.task == "au" else \
            cross_validate_au(model_dir, samples, args.folds, args.epochs)
        print(f"n={result['n']} mean_f1={result['mean_f1']:.4f}")
        print(" ".join(f"{code}={f:.3f}" for code, f in result["per_au_f1"].items()))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


def with_user_work(analysis, video: Path) -> list[str]:
    """Make the studio's saved work on ``video`` (its people's merges, splits and names: the
    sidecar `core.session` keeps per video content) on ``analysis``, as opening it in the studio
    does; returns what could not be made or read."""
    from .cache import content_digest
    from .session import Session

    session = Session()
    session.autosave = False  # read the work, never write it from here
    notes: list[str] = []
    session.events.notes.connect(notes.append)
    session.open_source(str(video))
    session.attach_digest(content_digest(video))
    session.start_analysis(analysis)
    session.finish_analysis(analysis)
    return notes


def cmd_search(args) -> int:
    from .device import resolve_device
    from .model.text import TextEncoder
    from .progress import ProgressLine
    from .search import best_moments, read_embeddings, text_scores, video_analysis
    from .training.checkpoint import load_model
    from .video import VIDEO_SUFFIXES

    if not args.text.strip():
        raise InputError("search: give a description to look for, e.g. \"brows raised and mouth open\"")
    video = Path(args.video)
    model_dir = args.model or default_model_dir()
    names: dict[int, str] = {}
    if video.suffix.lower() == ".csv":
        frames, times, people, embeddings = read_embeddings(video)
    elif not video.is_file() or video.suffix.lower() not in VIDEO_SUFFIXES:
        raise InputError(f"{video}: not a video file or a CSV of `mf2 analyze --embeddings`")
    else:
        display = ProgressLine(1)
        analysis = video_analysis(video, model_dir, resolve_device(args.device),
                                  progress=lambda done, total: display.update(str(video), done, total))
        display.clear()
        for line in with_user_work(analysis, video):
            print(f"mf2: {video}: {line}", file=sys.stderr)
        frames, times, people, embeddings = analysis.face_embeddings()
        names = analysis.names
    scores = text_scores(load_model(model_dir), TextEncoder(), embeddings, args.text)
    moments = best_moments(frames, times, people, scores, args.top, only=set(args.person) if args.person else None)
    print(f"{video}: {len(moments)} best moments for {args.text!r} (cosine similarity, higher fits better)")
    for m in moments:
        who = f"person {m.person}" if m.person >= 0 else f"face {-1 - m.person}"
        name = names.get(m.person)
        print(f"{int(m.time // 60):02d}:{m.time % 60:06.3f}  frame {m.frame + 1:>7}  {name or who:<16} {m.score:.3f}")
    return 0


def segments_of(args, result) -> list:
    """The ``--segments`` of a stats, elan or report command; a line on stderr for each that lies
    outside the recording (its figures would be empty)."""
    from .segments import outside, read_segments

    if args.tier and not args.segments:
        raise InputError(f"--tier {args.tier[0]}: tiers are chosen in an ELAN --segments file; give one")
    segments = read_segments(args.segments, args.tier) if args.segments else []
    for line in outside(segments, result.duration):
        print(f"mf2: {args.segments}: {line}", file=sys.stderr)
    return segments


def cmd_stats(args) -> int:
    from .results import read_result
    from .stats import compute_statistics, format_table

    if args.json:
        output_file(args.json, ".json", {"analysis CSV": args.result, "segments file": args.segments})
    result = read_result(args.result)
    stats = compute_statistics(result, segments_of(args, result))
    if args.json:  # before the table: a reader that stops reading it (`| head`) must not cost the file
        stats.write_json(args.json)
    print(format_table(stats))
    if args.json:
        print(f"{args.json}: figures written")
    return 0


def cmd_elan(args) -> int:
    from .export.elan import MEDIA_SUFFIXES, write_elan
    from .results import read_result

    if args.media is not None and not args.media.is_file():
        raise InputError(f"{args.media}: no such video to link")
    if args.media is not None and args.media.suffix.lower() not in MEDIA_SUFFIXES:
        raise InputError(f"{args.media}: not a video or audio file to link (give the recording the CSV was made of)")
    output_file(args.output, ".eaf", {"analysis CSV": args.result, "video": args.media, "segments file": args.segments})
    result = read_result(args.result)
    written = write_elan(result, args.output, args.media, segments_of(args, result))
    print(f"{args.output}: {written['tiers']} tiers, {written['annotations']} annotations")
    return 0


def cmd_report(args) -> int:
    from .report import model_version, recorded_model, report_column, write_report
    from .results import images_path, read_result
    from .validation import model_validation

    if images_path(args.result).is_file():  # time courses, episodes and blinks of unrelated photos mean nothing
        raise InputError(f"{args.result}: the analysis of a folder of photos ({images_path(args.result).name} beside "
                         "it); the session report is for recordings: read the CSV, or `mf2 stats` for each face")
    output_file(args.output, ".html", {"analysis CSV": args.result, "segments file": args.segments})
    result = read_result(args.result, keep=report_column)
    if len(result.frames) == 1:
        raise InputError(f"{args.result}: one analysed frame (a photo); the session report is for recordings: "
                         "`mf2 stats` gives its figures")
    segments = segments_of(args, result)
    version = recorded_model(result) or (model_version(args.model) if args.model is not None else None)
    write_report(result, args.output, segments, model_version=version,
                 validation=model_validation(args.model or default_model_dir(), version) if version else None)
    people = len(result.people())
    names = len({s.name for s in segments})  # a name given to several ranges is one segment
    print(f"{args.output}: report of {people} {'person' if people == 1 else 'people'}, "
          f"{names} segment{'' if names == 1 else 's'}")
    return 0


def cmd_bench(args) -> int:
    from .bench import bench_dfn, bench_live, bench_model, bench_video
    from .device import resolve_device

    if not Path(args.video).is_file():
        raise InputError(f"{args.video}: no such video (pass one: mf2 bench VIDEO)")

    device = resolve_device(args.device)
    print(f"mf2 bench: {args.video}")
    model = args.model or default_model_dir()
    has_model = (Path(model) / "model.safetensors").is_file()
    for stage in bench_video(args.video, args.max_faces, model if has_model else None):
        print(stage.line(), flush=True)
    if has_model:
        for line in bench_model(model, "cpu") + (bench_model(model, "cuda") if device == "cuda" else []):
            print(line, flush=True)
        if args.dfn:
            for line in bench_dfn(model, args.dfn, device):
                print(line, flush=True)
    if args.live:
        for line in bench_live(args.video, model if has_model else None, args.live):
            print(line, flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):  # a file name that is not UTF-8 is printed escaped, never a traceback
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    args = build_parser().parse_args(argv)
    if not args.verbose:
        from .quiet import silence_native_stderr

        silence_native_stderr()
    from .stopping import received, signal_name, stop_on_signals

    try:
        with stop_on_signals():
            return {"analyze": cmd_analyze, "bench": cmd_bench, "pretrain": cmd_train,
                    "finetune": cmd_train, "evaluate": cmd_evaluate, "dataset": cmd_dataset,
                    "stats": cmd_stats, "elan": cmd_elan, "report": cmd_report,
                    "search": cmd_search}[args.command](args)
    except InputError as e:
        print(f"mf2: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (`mf2 stats ... | head`): nothing more to say to it
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        signum = received() or signal.SIGINT
        print(f"mf2: stopped by {signal_name(signum)}", file=sys.stderr)
        return 128 + signum


if __name__ == "__main__":
    sys.exit(main())
