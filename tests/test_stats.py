"""Reading per-frame CSVs back, segments, and the statistics of `mf2 stats`: figures computed by
hand on a small CSV written here, then a real analysis of a real clip."""
import csv
import json
import subprocess
import sys

import pytest

from core.errors import InputError
from core.results import read_result
from core.segments import Segment, parse_time, read_segments
from core.stats import WHOLE_RECORDING, compute_statistics, format_table

from .conftest import SHARED_DATA, needs_shared

# 12 analysed frames at 10 fps. Face 0 in frames 1-5 and 7-11 (its AU12 cells empty in frame 5,
# its emotions and AU45 in frame 10), face 1 in frames 3, 4 and 6, nobody in frame 12.
# Top emotions of face 0: N H H H N . H H S - S (frame 6 absent, frame 10 unreadable).
HEADER = ("frame, face_id, timestamp, confidence, success, pose_Rx, pose_Ry, pose_Rz, AU12_r, AU12_c, AU45_c, "
          "emotion_neutral, emotion_happy, emotion_sad, baseline")
ROWS = """\
1,0,0.000,0.9,1,0,0.00,0.1,0,0,0,0.8,0.1,0.1,auto
2,0,0.100,0.9,1,0,0.01,0.1,2.5,1,0,0.2,0.7,0.1,auto
3,0,0.200,0.9,1,0,0.02,0.1,5,1,1,0.1,0.8,0.1,auto
3,1,0.200,0.8,1,0,0.2,0,0,0,0,0.9,0.05,0.05,auto
4,0,0.300,0.9,1,0,0.03,0.1,5,1,0,0.1,0.8,0.1,auto
4,1,0.300,0.8,1,0,0.2,0,0,0,0,0.9,0.05,0.05,auto
5,0,0.400,0.9,1,0,0.04,0.1,,,0,0.6,0.3,0.1,auto
6,1,0.500,0.8,1,0,0.2,0,0,0,0,0.9,0.05,0.05,auto
7,0,0.600,0.9,1,0,0.05,0.1,2.5,1,1,0.2,0.7,0.1,auto
8,0,0.700,0.9,1,0,0.06,0.1,0,0,0,0.2,0.7,0.1,auto
9,0,0.800,0.9,1,0,0.07,0.1,0,0,1,0.1,0.2,0.7,auto
10,0,0.900,0.9,1,0,0.08,0.1,0,0,,,,,auto
11,0,1.000,0.9,1,0,0.09,0.1,0,0,1,0.1,0.1,0.8,auto
12,-1,1.100,0,0,0,0,0,0,0,0,0,0,0,auto
"""
# "task" pools frames 1-4 and 10-12; "rest" is frames 5-8
SEGMENTS = "name,start,end\ntask,0,0.35\nrest,0.4,0.8\ntask,00:00.9,00:01.2\n"


def small_csv(folder, people=None):
    """The CSV above; ``people``: names for face 0 and 1 in a ``person`` column after ``face_id``."""
    lines = [HEADER] + ROWS.splitlines()
    if people:
        lines = [lines[0].replace("face_id, ", "face_id, person, ")] + [
            ",".join(cells[:2] + [people.get(cells[1], "")] + cells[2:])
            for cells in (line.split(",") for line in lines[1:])]
    path = folder / "small.csv"
    path.write_text("\n".join(lines) + "\n")
    return path



def test_an_eye_held_closed_is_no_blink(tmp_path):
    """A closure that AU43 calls held (0.5 s or more) is not a blink: only 2->3 is left of the two rises."""
    path = small_csv(tmp_path)
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0] + ", AU43_c"] + [line + (",1" if line.startswith("9,") else ",0")
                                                         for line in lines[1:]]) + "\n")
    whole = compute_statistics(read_result(path), []).get("face 0")
    assert whole.blinks_per_minute == pytest.approx(60.0)


def one_line_error(call, path, *words):
    with pytest.raises(InputError) as e:
        call()
    message = str(e.value)
    assert "\n" not in message and str(path) in message, message
    for word in words:
        assert word in message, message
    return message


def test_result_columns_frames_and_people(tmp_path):
    result = read_result(small_csv(tmp_path))
    assert len(result) == 14 and result.frames.tolist() == list(range(1, 13))
    assert result.fps == 10.0 and result.step == pytest.approx(0.1) and result.duration == pytest.approx(1.2)
    assert result.au_numbers == (12, 45) and result.emotions == ("neutral", "happy", "sad")
    assert result.people() == ["face 0", "face 1"]  # the one in most frames first
    assert result.person.tolist()[-1] == ""  # frame 12: no face, nobody
    au12 = result.column("AU12_r")
    assert au12[6] != au12[6] and au12[4] == 5.0  # the empty cell is NaN
    assert result.column("baseline").tolist() == ["auto"] * 14
    positions, rows = result.face_rows("face 1")
    assert positions.tolist() == [2, 3, 5] and rows.tolist() == [3, 5, 7]
    assert result.top_emotion.tolist() == [0, 1, 1, 0, 1, 0, 0, 0, 1, 1, 2, -1, 2, -1]


def test_person_column_groups_rows(tmp_path):
    result = read_result(small_csv(tmp_path, {"0": "Anna", "1": "Ben"}))
    assert result.people() == ["Anna", "Ben"]
    assert compute_statistics(result).get("Ben").face_frames == 3
    # numbers as `mf2 analyze` writes them; -1: no person matched, the track counts
    result = read_result(small_csv(tmp_path, {"0": "4", "1": "-1", "-1": "-1"}))
    assert result.people() == ["person 4", "face 1"] and result.person.tolist()[-1] == ""


def test_statistics_computed_by_hand(tmp_path):
    stats = compute_statistics(read_result(small_csv(tmp_path)), read_segments(_segments(tmp_path)))
    whole = stats.get("face 0")
    assert (whole.frames, whole.face_frames) == (12, 10)
    assert whole.face_share == pytest.approx(10 / 12) and whole.seconds == pytest.approx(1.0)
    # 9 readable frames: neutral 1 and 5, happy 2-4 and 7-8, sad 9 and 11
    assert whole.emotion_share == pytest.approx({"neutral": 2 / 9, "happy": 5 / 9, "sad": 2 / 9})
    assert whole.emotion_mean == pytest.approx({"neutral": 2.4 / 9, "happy": 4.4 / 9, "sad": 2.2 / 9})
    assert whole.au_occurrence == pytest.approx({"AU12": 4 / 9, "AU45": 4 / 9})
    assert whole.au_activation == pytest.approx({"AU12": 15 / 9 / 5})  # no AU45_r column: no activation
    # happy 0.1-0.4 s and 0.6-0.8 s, 0.2 s apart (frame 5 neutral, frame 6 no face): one episode of 0.7 s;
    # sad 0.8-0.9 and 1.0-1.1 s joined over the unreadable frame 10: 0.3 s, under 0.5 s
    assert (whole.episodes["happy"].count, whole.episodes["happy"].mean_seconds) == (1, pytest.approx(0.7))
    assert (whole.episodes["sad"].count, whole.episodes["sad"].mean_seconds) == (0, None)
    assert "neutral" not in whole.episodes
    # AU45 rises 2->3 and 8->9; 5->7 is not two analysed frames in a row, 10 is empty: 2 blinks in 1.0 s
    assert whole.blinks_per_minute == pytest.approx(120.0)
    # yaw 0.00..0.09 rad over 10 frames: 5th percentile 0.0045, 95th 0.0855 -> 0.081 rad = 4.641 degrees
    assert whole.head_pose_range == pytest.approx({"pitch": 0.0, "yaw": 4.641, "roll": 0.0}, abs=1e-3)

    task = stats.get("face 0", "task")  # frames 1-4 and 10-12 pooled
    assert task.spans == [(0.0, 0.35), (0.9, 1.2)]
    # frame 4 (0.3 s) stands for 0.05 s, cut at the span's end (0.35 s): 0.35 + 0.2 (frames 10, 11)
    assert (task.frames, task.face_frames, task.seconds) == (7, 6, pytest.approx(0.55))
    assert task.emotion_share == pytest.approx({"neutral": 2 / 9, "happy": 5 / 9, "sad": 2 / 9})  # of 0.45 s
    assert task.episodes["happy"].count == 0  # 0.25 s
    assert task.blinks_per_minute == pytest.approx(60 / 0.55)  # 2->3 only, in 0.55 s
    rest = stats.get("face 0", "rest")  # frames 5-8
    assert (rest.frames, rest.face_frames, rest.face_share) == (4, 3, 0.75)
    assert rest.emotion_share == pytest.approx({"neutral": 1 / 3, "happy": 2 / 3, "sad": 0.0})
    assert rest.au_occurrence["AU12"] == pytest.approx(0.5) and rest.blinks_per_minute == 0.0

    other = stats.get("face 1")
    assert (other.face_frames, other.face_share, other.seconds) == (3, 0.25, pytest.approx(0.3))
    assert other.emotion_share == {"neutral": 1.0, "happy": 0.0, "sad": 0.0}
    assert other.head_pose_range["yaw"] == 0.0
    assert [(r.person, r.segment) for r in stats.ranges] == [
        ("face 0", WHOLE_RECORDING), ("face 0", "task"), ("face 0", "rest"),
        ("face 1", WHOLE_RECORDING), ("face 1", "task"), ("face 1", "rest")]


def test_episode_settings(tmp_path):
    result = read_result(small_csv(tmp_path))
    sad = compute_statistics(result, min_episode=0.3).get("face 0").episodes["sad"]
    assert (sad.count, sad.mean_seconds) == (1, pytest.approx(0.3))
    happy = compute_statistics(result, max_gap=0.15).get("face 0").episodes["happy"]
    assert happy.count == 0  # 0.3 s and 0.2 s, no longer joined


def test_stats_command_prints_and_writes_json(tmp_path):
    path = small_csv(tmp_path)
    run = subprocess.run([sys.executable, "-m", "core.cli", "stats", str(path), "--segments", str(_segments(tmp_path)),
                          "--json", str(tmp_path / "out.json")], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "12 frames at 10 fps (1.20 s), 2 people" in run.stdout
    line = next(line for line in run.stdout.splitlines() if line.startswith("face 0  whole recording"))
    assert "10/12 83%" in line and "happy 56% neutral 22% sad 22%" in line and "120.0" in line
    figures = json.loads((tmp_path / "out.json").read_text())
    assert figures["people"] == ["face 0", "face 1"] and len(figures["ranges"]) == 6
    assert figures["ranges"][0]["au_occurrence"]["AU12"] == pytest.approx(4 / 9)
    assert figures["ranges"][0]["episodes"]["sad"] == {"count": 0, "mean_seconds": None}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json", "segments.csv", "small.csv"]  # no leftovers
    assert run.stderr == ""
    late = tmp_path / "late.csv"  # minutes typed as seconds: past the 1.2 s recording, said, the rest as usual
    late.write_text("task,0,0.35\nlate,100,200\n")
    run = subprocess.run([sys.executable, "-m", "core.cli", "stats", str(path), "--segments", str(late)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "face 0  late" in run.stdout
    assert run.stderr == (f"mf2: {late}: segment 'late' (100-200 s) lies outside the recording (0-1.2 s): "
                          "it has no frames\n")


def test_openface_file_is_read(tmp_path):
    if not SHARED_DATA.is_dir():
        pytest.skip("needs ../shared/data/reference/openface_output_sample.csv")
    result = read_result(SHARED_DATA / "reference" / "openface_output_sample.csv")
    assert len(result) == 100 and result.people() == ["face 0"] and result.emotions == ()
    assert 28 in result.au_numbers and "AU28_r" not in result  # OpenFace has AU28 as occurrence only
    whole = compute_statistics(result).get("face 0")
    assert whole.face_frames == 100 and whole.emotion_share == {}
    assert "AU28" in whole.au_occurrence and "AU28" not in whole.au_activation
    assert whole.au_occurrence["AU05"] == 1.0


def test_times_and_segment_files(tmp_path):
    assert parse_time("12.5") == 12.5 and parse_time("01:02.5") == 62.5 and parse_time("1:00:02.500") == 3602.5
    for bad in ("1:75", "-3", "a", "1::2", "", "1:2:3:4"):
        with pytest.raises(ValueError):
            parse_time(bad)
    assert read_segments(_segments(tmp_path)) == [Segment("task", 0, 0.35), Segment("rest", 0.4, 0.8),
                                                  Segment("task", 0.9, 1.2)]
    headless = tmp_path / "plain.csv"
    headless.write_text("b,2,3\n\na,0:01,0:02\n")
    assert read_segments(headless) == [Segment("a", 1, 2), Segment("b", 2, 3)]
    # as clinicians' spreadsheets save them: semicolons or tabs, columns named in any order, notes
    expected = [Segment("rest", 0, 12.5), Segment("task", 12.5, 70)]
    for name, text in (("excel_eu.csv", "Name;Start;End\nrest;0;12,5\ntask;12,5;01:10\n"),  # decimal commas
                       ("excel_eu_plain.csv", "rest;0,0;12,50\ntask;12,5;1:10,0\n"),
                       ("tabs.tsv.csv", "name\tstart\tend\nrest\t0\t12,5\ntask\t12.5\t01:10\n"),
                       ("ordered.csv", "start,end,segment,notes\n0,12.5,rest,calm\n12.5,01:10,task,\"reading, aloud\"\n"),
                       ("other_header.csv", "part,from,to\nrest,0,12.5\ntask,12.5,70\n")):  # names we do not know
        path = tmp_path / name
        path.write_text(text)
        assert read_segments(path) == expected, name
    short = tmp_path / "short.csv"
    short.write_text("start,end,name,notes\n0,1\n")
    one_line_error(lambda: read_segments(short), short, "line 2 has 2 cells, fewer than its header names")


def test_bad_segment_files(tmp_path):
    cases = {"back.csv": ("a,5,4\n", "line 1", "not after its start"),
             "time.csv": ("name,start,end\na,0,1\nb,x,2\n", "line 3: 'x' is not a time"),
             # a bad first row is not taken for a header: its segment would be lost without a word
             "first.csv": ("baseline,-0.5,1\ntask,3,6\n", "line 1", "line 1: '-0.5' is not a time (seconds from 0"),
             "first_eu.csv": ("baseline;0,5s;2\ntask;3;6\n", "line 1", "is not a time"),
             "first_colons.csv": ("baseline,0,1:2:3:4\ntask,3,6\n", "line 1", "is not a time"),
             "cells.csv": ("a,0,1,2\n", "line 1 has 4 cells", "header line naming the columns"),
             "empty.csv": ("name,start,end\n", "no segments"),
             "noname.csv": ("a,0,1\n,1,2\n", "line 2", "no name"),
             "list.json": ("[]", "unknown segments format")}
    for name, (text, *words) in cases.items():
        path = tmp_path / name
        path.write_text(text)
        one_line_error(lambda: read_segments(path), path, *words)
    one_line_error(lambda: read_segments(tmp_path / "gone.csv"), tmp_path / "gone.csv", "cannot read")
    one_line_error(lambda: read_segments(tmp_path / "back.csv", ["x"]), tmp_path / "back.csv", "ELAN files only")


def test_bad_result_files(tmp_path):
    def bad(name, data, *words):
        path = tmp_path / name
        path.write_bytes(data if isinstance(data, bytes) else data.encode())
        one_line_error(lambda: read_result(path), path, *words)

    rows = ROWS.splitlines()
    bad("latin.csv", HEADER.encode() + b"\n1,0,0.000,\xe9\n", "not UTF-8")
    bad("other.csv", "a, b, c\n1,2,3\n", "no 'frame' column")
    bad("header.csv", HEADER + "\n", "no rows")
    bad("word.csv", "\n".join([HEADER] + rows[:3] + [rows[3].replace("0.9,0.05", "abc,0.05")]) + "\n",
        "line 5, column emotion_neutral: 'abc' is not a number")
    bad("short.csv", "\n".join([HEADER] + rows[:2] + [rows[2][:20]]) + "\n", "line 4 has 7 cells, the header 15")
    bad("long.csv", "\n".join([HEADER] + rows[:2] + [rows[2] + ",1"]) + "\n", "line 4 has 16 cells")
    bad("order.csv", "\n".join([HEADER, rows[2], rows[0]]) + "\n", "line 3 goes back in time")
    bad("twice.csv", HEADER + ", frame\n", "'frame' appears twice")
    one_line_error(lambda: read_result(tmp_path / "gone.csv"), tmp_path / "gone.csv", "cannot read")


def _segments(folder):
    path = folder / "segments.csv"
    path.write_text(SEGMENTS)
    return path


# --- a real analysis: liveportrait_d0, labelled by eye (../shared/data/video_au): neutral at
# frames 5 and 15, happy (AU6 + AU12) at 25, 35, 45, 55, 65, neutral at 75 (25 fps, 1-based)

@needs_shared
def test_real_clip_statistics(analysed_d0, tmp_path):
    segments = tmp_path / "by_eye.csv"
    segments.write_text("neutral,0,0.6\nsmile,1.0,2.6\n")  # frames 1-15 and 26-65
    stats = compute_statistics(read_result(analysed_d0), read_segments(segments))
    assert len(stats.people) == 1 and stats.frames == 78 and stats.fps == 25.0  # one person throughout
    whole, neutral, smile = (stats.get(stats.people[0], name) for name in (WHOLE_RECORDING, "neutral", "smile"))
    assert whole.face_frames == 78 and whole.seconds == pytest.approx(3.12)
    assert neutral.frames == 15 and smile.frames == 40
    assert neutral.emotion_share["neutral"] >= 0.9 and smile.emotion_share["happy"] >= 0.9
    assert neutral.au_occurrence["AU12"] <= 0.1 and smile.au_occurrence["AU12"] >= 0.8
    # one smile, covering the frames labelled happy (1.0-2.6 s), not the neutral ones (0.6 s, 3.0 s)
    happy = whole.episodes["happy"]
    assert happy.count == 1 and 1.6 <= happy.mean_seconds <= 2.4
    assert sum(e.count for name, e in whole.episodes.items() if name != "happy") == 0
    with open(analysed_d0, newline="") as f:  # blinks counted again from the file itself
        rows = list(csv.DictReader(f, skipinitialspace=True))
    closed = [float(row["AU45_c"]) for row in rows]
    assert all(float(row["AU43_c"]) == 0 for row in rows)  # no eye held closed: every closure a blink
    rises = sum(a == 0 and b == 1 for a, b in zip(closed, closed[1:]))
    assert whole.blinks_per_minute == pytest.approx(rises / (3.12 / 60))
    assert all(0 <= whole.head_pose_range[axis] < 15 for axis in ("pitch", "yaw", "roll"))  # a still head
    assert json.loads(json.dumps(stats.to_dict(), allow_nan=False))["ranges"][2]["segment"] == "smile"


@needs_shared
def test_real_clip_stats_command(analysed_d0, tmp_path):
    run = subprocess.run([sys.executable, "-m", "core.cli", "stats", str(analysed_d0), "--json",
                          str(tmp_path / "d0.json")], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "78 frames at 25 fps (3.12 s), 1 person" in run.stdout and "78/78 100%" in run.stdout
    assert json.loads((tmp_path / "d0.json").read_text())["ranges"][0]["face_frames"] == 78


def test_a_csv_of_every_nth_frame_says_so(tmp_path):
    """`mf2 analyze --every 3` numbers its rows by source frame: the figures say 12 frames of a
    30 fps video, not 12 frames at 30 fps."""
    lines = small_csv(tmp_path).read_text().splitlines()
    every3 = [lines[0]] + [",".join([str(3 * int(c[0]) - 2)] + c[1:]) for c in (line.split(",") for line in lines[1:])]
    path = tmp_path / "every3.csv"
    path.write_text("\n".join(every3) + "\n")
    result = read_result(path)
    assert (result.every, result.fps) == (3, 30.0) and read_result(small_csv(tmp_path)).every == 1
    assert format_table(compute_statistics(result)).splitlines()[0] == \
        f"{path}: 12 frames of a 30 fps video, every 3rd (1.20 s), 2 people"


def test_a_csv_of_photos_gets_no_time_figures(tmp_path):
    """A folder of photos (its `.images.csv` listing beside the CSV, as `mf2 analyze` writes it):
    no fps, seconds, episodes or blinks, which mean nothing between unrelated photos."""
    path = small_csv(tmp_path)
    (tmp_path / "small.images.csv").write_text("frame,image\n" + "".join(f"{i},p{i}.jpg\n" for i in range(1, 13)))
    lines = format_table(compute_statistics(read_result(path))).splitlines()
    assert lines[0] == f"{path}: 12 photos, 2 faces" and lines[1].split() == ["face", "photos", "top", "emotion"]
    assert "blinks" not in "\n".join(lines) and "seconds" not in lines[1]
    run = subprocess.run([sys.executable, "-m", "core.cli", "report", str(path), "-o", str(tmp_path / "r.html")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and run.stderr.startswith(f"mf2: {path}: the analysis of a folder of photos")
    assert not (tmp_path / "r.html").exists()


def test_one_photo_has_its_top_emotion(tmp_path):
    """A single photo is one analysed frame, which lasts no time: its face still counts once for the
    emotion shares (they were empty), it is said as a photo, and the session report declines it."""
    path = tmp_path / "photo.csv"
    path.write_text(HEADER + "\n" + ROWS.splitlines()[1] + "\n")
    stats = compute_statistics(read_result(path))
    assert stats.photos and stats.get("face 0").emotion_share == {"neutral": 0.0, "happy": 1.0, "sad": 0.0}
    lines = format_table(stats).splitlines()
    assert lines[0] == f"{path}: 1 photo, 1 face" and lines[2].split() == ["face", "0", "1/1", "100%", "happy", "100%"]
    run = subprocess.run([sys.executable, "-m", "core.cli", "report", str(path), "-o", str(tmp_path / "r.html")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and run.stderr.startswith(f"mf2: {path}: one analysed frame (a photo)")


def test_overlapping_spans_of_one_segment_name_count_their_time_once(tmp_path):
    """A frame stands for the time until the next one, cut at the end of the stretch the name's
    spans cover together, not at an inner span's end (ELAN tiers and the studio allow overlaps)."""
    result = read_result(small_csv(tmp_path))
    alone = compute_statistics(result, [Segment("task", 0.0, 1.2)]).get("face 0", "task")
    inner = compute_statistics(result, [Segment("task", 0.0, 1.2), Segment("task", 0.25, 0.35),
                                        Segment("task", 0.55, 0.65)]).get("face 0", "task")
    assert inner.seconds == pytest.approx(alone.seconds) and inner.emotion_share == pytest.approx(alone.emotion_share)
    assert inner.episodes == alone.episodes and inner.blinks_per_minute == pytest.approx(alone.blinks_per_minute)
