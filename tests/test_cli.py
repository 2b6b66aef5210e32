"""`mf2 analyze` end to end, as a user runs it: real processes, exit codes, files, messages."""
import csv
import io
import shutil
import subprocess
import sys

import pytest

from core.progress import ProgressLine

from .conftest import SHARED_DATA, needs_shared


def mf2(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "core.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def read_rows(path):
    with open(path, newline="") as f:
        reader = csv.reader(f, skipinitialspace=True)
        header = next(reader)
        return header, [dict(zip(header, row)) for row in reader]


def test_analyze_writes_openface_rows(tmp_path, face_clip):
    run = mf2("analyze", face_clip, "-o", tmp_path / "out")
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    header, rows = read_rows(tmp_path / "out" / "face.csv")
    assert header[:9] == ["frame", "face_id", "person", "timestamp", "confidence", "success", "pose_Rx", "pose_Ry",
                          "pose_Rz"]
    assert header[9:9 + 68] == [f"x_{i}" for i in range(68)] and header[77:145] == [f"y_{i}" for i in range(68)]
    from core.cli import default_model_dir
    from core.training.checkpoint import load_model

    shipped = load_model(default_model_dir()).cfg
    # AU and emotion columns: exactly the heads the shipped model trained plus the eyelid AUs
    # (closed eyes, blink) read from the geometry, nothing invented; the person baseline named
    aus = sorted(set(shipped.trained_aus) | {43, 45})
    assert [h for h in header if h.startswith("AU")] == [f"AU{n:02d}_r" for n in aus] + [f"AU{n:02d}_c" for n in aus]
    assert [h for h in header if h.startswith("emotion_")] == [f"emotion_{e}" for e in shipped.trained_emotions]
    assert header[-2:] == ["baseline", "model"] and {r["baseline"] for r in rows} == {"auto"}
    assert {r["model"] for r in rows} == {shipped.version}  # the model that read it, which the report's check goes by
    assert [int(r["frame"]) for r in rows] == list(range(1, 13))
    assert [float(r["timestamp"]) for r in rows] == pytest.approx([i / 25 for i in range(12)], abs=1e-3)
    assert {r["success"] for r in rows} == {"1"} and {(r["face_id"], r["person"]) for r in rows} == {("0", "0")}
    assert all(float(r["confidence"]) > 0.7 for r in rows)
    assert all(abs(float(r[k])) < 1.0 for r in rows for k in ("pose_Rx", "pose_Ry", "pose_Rz"))  # radians
    xs = [float(r["x_33"]) for r in rows]  # nose tip glides to the right with the face
    assert xs == sorted(xs) and xs[-1] - xs[0] > 150
    assert "wrote" not in run.stdout and "face.csv: 12 frames, face found in 12" in run.stdout


def test_a_batch_run_again_skips_what_it_wrote_with_the_same_model_and_baseline(tmp_path, face_clip):
    first = tmp_path / "first.mp4"
    shutil.copy(face_clip, first)
    out = tmp_path / "out"
    assert mf2("analyze", first, "-o", out).returncode == 0
    written = (out / "first.csv").stat().st_mtime_ns
    second = tmp_path / "second.mp4"
    shutil.copy(face_clip, second)
    run = mf2("analyze", first, second, "-o", out, "--skip-done")  # the run stopped after the first: go on
    assert run.returncode == 0, run.stderr
    version = read_rows(out / "first.csv")[1][0]["model"]
    assert run.stdout.splitlines() == [f"1 of 2 inputs already written to {out} by model {version} with baseline auto: "
                                       "skipped", f"{out / 'second.csv'}: 12 frames, face found in 12"]
    assert run.stderr == "mf2: 2 inputs: 1 written, 1 skipped (written before, or being written by another run)\n"
    assert (out / "first.csv").stat().st_mtime_ns == written
    # the same file through a linked folder (a share's mount), and named twice: one input, written already
    (tmp_path / "link").symlink_to(tmp_path)
    run = mf2("analyze", tmp_path / "link" / "first.mp4", first, first, "-o", out, "--skip-done")
    assert run.returncode == 0 and run.stdout.startswith("1 of 1 inputs already written"), run.stdout + run.stderr
    assert run.stderr.splitlines() == 2 * [f"mf2: {first}: the same file as {tmp_path / 'link' / 'first.mp4'}, "
                                           "analysed once (skipped)"]
    assert (out / "first.csv").stat().st_mtime_ns == written
    run = mf2("analyze", first, "-o", out, "--skip-done", "--baseline", "none")  # other readings: written again
    assert run.returncode == 0 and (out / "first.csv").stat().st_mtime_ns != written
    assert {r["baseline"] for r in read_rows(out / "first.csv")[1]} == {"none"}

    from core.analyze import done_before

    assert done_before(out / "second.csv", str(second), version, "auto")
    assert not done_before(out / "second.csv", str(second), "mf2-other", "auto")
    assert not done_before(out / "second.csv", str(second), version, "auto", embeddings=True)  # none written
    lines = (out / "second.csv").read_text().splitlines()
    (out / "second.csv").write_text("\n".join(lines[:8]) + "\n")  # kept short, as after damage at frame 7
    assert not done_before(out / "second.csv", str(second), version, "auto")


def test_a_file_name_that_is_not_utf8_is_analysed_like_any_other(tmp_path, face_clip):
    """Old shares hold Latin-1 names (M\xfcller): the CSV keeps the name's bytes, the run goes on."""
    import os

    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(face_clip, os.fsdecode(bytes(folder) + b"/Sitzung_M\xfcller.mp4"))
    shutil.copy(face_clip, folder / "other.mp4")
    run = mf2("analyze", folder, "-o", tmp_path / "out")
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr
    assert sorted(os.listdir(bytes(tmp_path / "out"))) == [b".mf2-inputs.json", b"Sitzung_M\xfcller.csv", b"other.csv"]
    report = mf2("report", os.fsdecode(bytes(tmp_path / "out") + b"/Sitzung_M\xfcller.csv"), "-o", tmp_path / "r.html")
    assert report.returncode == 0, report.stderr


def test_runs_side_by_side_with_skip_done_share_the_inputs(tmp_path, face_clip):
    """Two terminals (or machines on one shared folder) running the same --skip-done batch: an
    input the other run is writing is left to it, and one it wrote since this run began is not
    analysed again; neither is an error."""
    import os

    from core.analyze import AnalyzeOptions, analyze_input
    from core.cli import default_model_dir
    from core.outputs import output_lock

    first, second, out = tmp_path / "first.mp4", tmp_path / "second.mp4", tmp_path / "out"
    shutil.copy(face_clip, first)
    shutil.copy(face_clip, second)
    out.mkdir()
    writing = output_lock(out / "first.csv").acquire()  # the other run, writing first.csv now
    try:
        run = mf2("analyze", first, second, "-o", out, "--skip-done")
        alone = mf2("analyze", first, "-o", out)  # without --skip-done: not written, a failure as before
    finally:
        writing.release()
    assert run.returncode == 0, run.stderr
    assert f"{out / 'first.csv'}: another mf2 run is writing it (pid {os.getpid()}); left to it" in run.stderr
    assert not (out / "first.csv").exists() and (out / "second.csv").is_file()
    assert alone.returncode == 2 and "another mf2 run is writing it" in alone.stderr and "not written" in alone.stderr

    written = (out / "second.csv").stat().st_mtime_ns  # the other run wrote second.csv after this one began
    result = analyze_input(str(second), out / "second.csv", AnalyzeOptions(model=str(default_model_dir()),
                                                                            skip_done=True))
    assert result.skipped == f"{out / 'second.csv'}: written meanwhile by another mf2 run; skipped"
    assert result.ok and result.output is None and (out / "second.csv").stat().st_mtime_ns == written
    assert {p.name for p in out.iterdir()} == {"second.csv", ".mf2-inputs.json"}, "no lock or part file left"


def test_same_named_recordings_of_two_participants_never_replace_each_others_results(tmp_path, face_clip):
    """P01/session.mp4 analysed, then in a later run P02/session.mp4 into the same folder."""
    p01, p02, out = tmp_path / "P01", tmp_path / "P02", tmp_path / "out"
    for folder in (p01, p02):
        folder.mkdir()
        shutil.copy(face_clip, folder / "session.mp4")
    assert mf2("analyze", p01 / "session.mp4", "-o", out).returncode == 0
    first = (out / "session.csv").read_bytes()
    run = mf2("analyze", p02 / "session.mp4", "-o", out)
    assert run.returncode == 0, run.stderr
    assert run.stderr == (f"mf2: {p02 / 'session.mp4'}: {out / 'session.csv'} holds the results of "
                          f"{p01 / 'session.mp4'}; writing session_2.csv\n")
    assert (out / "session.csv").read_bytes() == first and (out / "session_2.csv").is_file()
    run = mf2("analyze", p02 / "session.mp4", p01 / "session.mp4", "-o", out, "--skip-done")  # each to its own
    assert run.returncode == 0 and run.stdout.startswith("2 of 2 inputs already written"), run.stdout + run.stderr
    assert run.stderr == ""  # no "writing session_2.csv" for an input left as it was


def test_header_matches_real_openface_file(tmp_path, face_clip):
    if not SHARED_DATA.is_dir():
        pytest.skip("needs ../shared/data/reference/openface_output_sample.csv")
    reference = (SHARED_DATA / "reference" / "openface_output_sample.csv").read_text().splitlines()[0].split(", ")
    mf2("analyze", face_clip, "-o", tmp_path)
    ours = (tmp_path / "face.csv").read_text().splitlines()[0].split(", ")
    base = ours[:ours.index("y_67") + 1]
    assert set(base) - {"face_id", "person"} <= set(reference)  # the OpenFace columns we write are spelled as it does
    shared = [c for c in ours if c in reference]
    assert [c for c in reference if c in shared] == shared  # in OpenFace's relative order
    assert {"AU01_r", "AU12_r", "AU12_c", "AU25_c"} <= set(shared)  # AU columns line up with OpenFace's


def test_frame_without_face_gets_a_success_zero_row(tmp_path, blank_clip):
    run = mf2("analyze", blank_clip, "-o", tmp_path)
    assert run.returncode == 0
    _, rows = read_rows(tmp_path / "blank.csv")
    assert len(rows) == 6
    assert all(r["success"] == "0" and r["face_id"] == r["person"] == "-1" and r["confidence"] == "0" for r in rows)


def test_every_nth_frame_keeps_true_frame_numbers(tmp_path, face_clip):
    assert mf2("analyze", face_clip, "-o", tmp_path, "--every", "3").returncode == 0
    _, rows = read_rows(tmp_path / "face.csv")
    assert [int(r["frame"]) for r in rows] == [1, 4, 7, 10]
    assert float(rows[1]["timestamp"]) == pytest.approx(0.12, abs=1e-3)


def test_bad_inputs_get_one_line_each_and_good_ones_still_run(tmp_path, face_clip):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(face_clip.read_bytes()[:3000])
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "readme.txt").write_text("hello")
    shutil.copy(face_clip, junk / "inside.mp4")
    out = tmp_path / "out"
    run = mf2("analyze", face_clip, tmp_path / "missing.mp4", text, cut, junk, "cam:57", "-o", out)
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    lines = run.stderr.strip().splitlines()
    for needle in ("missing.mp4: no such file", "notes.mp4: not a readable video", "cut.mp4:",
                   "readme.txt: not a video or image file", "camera 57: no camera found"):
        assert sum(needle in line for line in lines) == 1, (needle, lines)
    assert len(lines) == 6 and lines[-1] == "mf2: 6 inputs: 2 written, 4 failed"  # readme.txt is no input
    assert (out / "face.csv").is_file() and (out / "inside.csv").is_file()
    assert not list(out.glob("*.part"))


def test_other_files_in_a_folder_are_said_but_fail_nothing(tmp_path, face_clip):
    """A session folder holds notes and earlier results beside its videos: said, and the exit
    status still tells a batch script that every video was done."""
    folder = tmp_path / "session"
    folder.mkdir()
    shutil.copy(face_clip, folder / "take1.mp4")
    (folder / "notes.txt").write_text("calm participant")
    run = mf2("analyze", folder, "-o", tmp_path / "out")
    assert run.returncode == 0, run.stderr
    assert run.stderr == f"mf2: {folder / 'notes.txt'}: not a video or image file (skipped)\n"


def test_nothing_processable_exits_2(tmp_path):
    run = mf2("analyze", tmp_path / "nope.mov", "-o", tmp_path / "out")
    assert run.returncode == 2
    assert run.stderr.strip() == f"mf2: {tmp_path / 'nope.mov'}: no such file or folder"


def test_parallel_workers_match_a_single_process(tmp_path, face_clip):
    twin = tmp_path / "twin.mp4"
    shutil.copy(face_clip, twin)
    assert mf2("analyze", face_clip, twin, "-o", tmp_path / "par", "--workers", "2").returncode == 0
    assert mf2("analyze", face_clip, "-o", tmp_path / "seq", "--workers", "1").returncode == 0
    seq = (tmp_path / "seq" / "face.csv").read_text()
    assert (tmp_path / "par" / "face.csv").read_text() == seq
    assert (tmp_path / "par" / "twin.csv").read_text() == seq


def test_cuda_request_without_gpu_is_a_clear_error(tmp_path, face_clip):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    run = mf2("analyze", face_clip, "-o", tmp_path, "--device", "cuda")
    assert run.returncode == 2 and run.stderr.startswith("mf2: --device cuda: no CUDA GPU")


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_line_shows_percent_fps_and_eta():
    stream = FakeTerminal()
    line = ProgressLine(2, stream, min_interval=0)
    line.update("a.mp4", 50, 100)
    line.update("b.mp4", 25, 100)
    text = line.line(line._t0 + 5.0)
    assert "37.5%" in text and "75/200 frames" in text and "15.0 fps" in text and "ETA 0:08" in text
    assert "\r" in stream.getvalue()


def test_progress_line_counts_every_input_from_the_start(face_clip, tmp_path):
    """Inputs not begun yet count with their header's frames: the percentage never goes back."""
    from core.video import expected_frames

    (tmp_path / "junk.mp4").write_text("not a video")
    assert expected_frames(str(face_clip)) == 12 and expected_frames(str(face_clip), every=5) == 3
    assert expected_frames(str(tmp_path / "junk.mp4")) == 0 and expected_frames("cam:0") is None
    jobs = [str(face_clip), str(tmp_path / "junk.mp4"), "next.mp4"]
    line = ProgressLine(3, FakeTerminal(), min_interval=0, expected=lambda: {jobs[0]: 12, jobs[1]: 0, jobs[2]: 48})
    line.update(jobs[0], 6, 12)
    assert "10.0% 6/60 frames" in line.line(line._t0 + 1.0)
    line.update(jobs[2], 6, 50)  # its own count, once it began
    assert "19.4% 12/62 frames" in line.line(line._t0 + 2.0)
    assert ProgressLine(1, io.StringIO(), expected=lambda: 1 / 0)._total == {}  # off a terminal: never asked


def test_progress_line_is_silent_off_a_terminal():
    stream = io.StringIO()
    ProgressLine(1, stream, min_interval=0).update("a.mp4", 5, 10)
    assert stream.getvalue() == ""


@needs_shared
def test_real_clips(tmp_path):
    """The acceptance figures of the foundation issue, on the shared clips."""
    videos = SHARED_DATA / "videos"
    tracked = ["WolfgangLanger_Pexels.mp4", "liveportrait_d0.mp4", "liveportrait_d3.mp4", "liveportrait_d11.mp4",
               "liveportrait_d12.mp4"]
    others = ["no_face.mp4", "face_noface.mov", "noface_face.mov"]
    run = mf2("analyze", *[videos / n for n in tracked + others], "-o", tmp_path, timeout=900)
    assert run.returncode == 0, run.stderr
    for name in tracked:
        _, rows = read_rows(tmp_path / name.replace(".mp4", ".csv"))
        frames_with_face = {r["frame"] for r in rows if r["success"] == "1"}
        assert len(frames_with_face) >= 0.95 * len({r["frame"] for r in rows}), name
        assert len({r["face_id"] for r in rows if r["success"] == "1"}) == 1, name  # one person, one id
    _, rows = read_rows(tmp_path / "no_face.csv")
    assert len(rows) == 95 and all(r["success"] == "0" for r in rows)
    # the shot cuts between frames 72 and 73 (face leaves) and 96 and 97 (face enters), 1-based
    _, rows = read_rows(tmp_path / "face_noface.csv")
    assert "".join(r["success"] for r in rows)[:80] == "1" * 72 + "0" * 8
    _, rows = read_rows(tmp_path / "noface_face.csv")
    assert "".join(r["success"] for r in rows)[88:110] == "0" * 8 + "1" * 14


def test_skip_done_knows_a_recording_whose_folder_was_moved(tmp_path, face_clip, blank_clip):
    """A share reorganised: the same recording at a new path keeps its CSV; another recording
    of the same name, where the old one was, does not take it over."""
    import json

    old, out = tmp_path / "2025", tmp_path / "out"
    old.mkdir()
    shutil.copy(face_clip, old / "first.mp4")
    assert mf2("analyze", old / "first.mp4", "-o", out).returncode == 0
    written = (out / "first.csv").stat().st_mtime_ns
    new = old.rename(tmp_path / "archive")
    run = mf2("analyze", new / "first.mp4", "-o", out, "--skip-done")
    assert run.returncode == 0 and run.stdout.startswith("1 of 1 inputs already written"), run.stdout + run.stderr
    assert (out / "first.csv").stat().st_mtime_ns == written
    record = json.loads((out / ".mf2-inputs.json").read_text())["first.csv"]
    assert record["input"] == str(new / "first.mp4") and record["fingerprint"].startswith(f"{(new / 'first.mp4').stat().st_size}:")
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(blank_clip, other / "first.mp4")  # same name, other recording
    (new / "first.mp4").unlink()
    run = mf2("analyze", other / "first.mp4", "-o", out, "--skip-done")
    assert run.returncode == 0 and (out / "first_2.csv").is_file() and (out / "first.csv").stat().st_mtime_ns == written
