"""The Python API (core.api): `analyze` gives the values `mf2 analyze` writes, `read_csv` reads
mf2's and OpenFace's CSVs alike (checked against pandas' own parse of the files), `statistics`
are core.stats' figures, and bad input is one InputError line."""
import math
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from core import api
from core.errors import InputError
from core.model.shipped import default_model_dir
from core.results import read_result
from core.segments import Segment, read_segments
from core.stats import WHOLE_RECORDING, compute_statistics

from .conftest import SHARED_DATA, needs_shared
from .test_stats import one_line_error, small_csv

OPENFACE = SHARED_DATA / "reference" / "openface_output_sample.csv"


def pandas_parse(path) -> pd.DataFrame:
    """The file as pandas reads it on its own (README: ``skipinitialspace=True``)."""
    return pd.read_csv(path, skipinitialspace=True)


def assert_same_values(table: pd.DataFrame, parsed: pd.DataFrame):
    assert table.columns.tolist() == parsed.columns.tolist() and len(table) == len(parsed)
    for name in table.columns:
        if table[name].dtype == object:
            assert table[name].tolist() == parsed[name].astype(str).str.strip().tolist(), name
        else:
            np.testing.assert_array_equal(table[name].to_numpy(float), parsed[name].to_numpy(float), err_msg=name)


def assert_column_types(table: pd.DataFrame):
    for name, dtype in table.dtypes.items():
        if name in ("frame", "face_id", "success", "person"):
            assert dtype == np.int64, (name, dtype)
        elif name in ("baseline", "model"):
            assert dtype == object, (name, dtype)
        else:
            assert dtype == np.float64, (name, dtype)


def mf2_analyze(video, folder):
    run = subprocess.run([sys.executable, "-m", "core.cli", "analyze", str(video), "-o", str(folder), "--workers", "1",
                          "--device", "cpu"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    return folder / f"{video.stem}.csv"


def test_analyze_is_the_mf2_analyze_csv(face_clip, tmp_path):
    """The astronaut clip (no shared data needed): every value of every row as in the CLI's CSV."""
    df = api.analyze(face_clip, device="cpu")
    written = mf2_analyze(face_clip, tmp_path)
    pd.testing.assert_frame_equal(df, api.read_csv(written))
    assert_same_values(df, pandas_parse(written))
    assert_column_types(df)
    assert len(df) == 12 and df.success.all() and "AU12_r" in df and "emotion_happy" in df
    assert df.attrs["source"] == str(face_clip)


def test_analyze_faces_only(face_clip):
    faces = api.analyze(face_clip, model=None, device="cpu", threads=1)
    assert not [n for n in faces.columns if n.startswith(("AU", "emotion_"))] and "baseline" not in faces
    assert len(faces) == 12 and faces.success.all()
    assert_column_types(faces)


def test_analyze_keeps_mediapipe_log_lines_out_and_stderr_as_it_was(face_clip):
    """A notebook shows whatever reaches fd 2: MediaPipe's C++ log lines (they appear at its first
    graph) stay out during the call, while Python's stderr, warnings included, reaches the user
    during and after it."""
    script = f"""
import os, sys, warnings
from core import api
from core.quiet import native_stderr_silenced
with native_stderr_silenced():
    print("ours during", file=sys.stderr)
df = api.analyze({str(face_clip)!r}, model=None, device="cpu", threads=1)
print(len(df), "rows")
warnings.warn("a warning after")
os.write(2, b"fd 2 after\\n")
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout == "12 rows\n"
    lines = run.stderr.splitlines()
    assert lines[0] == "ours during" and lines[-1] == "fd 2 after" and "UserWarning: a warning after" in lines[1], lines
    assert len(lines) == 3, lines  # no "INFO: Created TensorFlow Lite", no "W0000 ..."


@needs_shared
def test_analyze_real_clip_equals_its_csv(analysed_d0):
    df = api.analyze(SHARED_DATA / "videos" / "liveportrait_d0.mp4", device="cpu")
    pd.testing.assert_frame_equal(df, api.read_csv(analysed_d0))
    assert_same_values(df, pandas_parse(analysed_d0))
    assert_column_types(df)
    assert len(df) == 78 and df.person.unique().tolist() == [0] and set(df.baseline) == {"auto"}
    smiling = df[(df.timestamp >= 1.0) & (df.timestamp < 2.6)]
    assert smiling.AU12_c.mean() >= 0.8 and df[df.timestamp < 0.6].AU12_c.mean() <= 0.1


@needs_shared
def test_read_csv_of_openface():
    df = api.read_csv(OPENFACE)
    header = OPENFACE.read_text().partition("\n")[0]
    assert df.columns.tolist() == [n.strip() for n in header.split(",")] and ", " in header
    assert df.columns[:4].tolist() == ["frame", "timestamp", "confidence", "success"]
    assert len(df) == 100 and df.frame.tolist() == list(range(1, 101))
    assert "face_id" not in df and "person" not in df  # OpenFace's single-face files have neither
    assert_column_types(df)
    assert_same_values(df, pandas_parse(OPENFACE))
    assert "AU28_c" in df and "AU28_r" not in df and df.AU05_c.eq(1).all()


def test_read_csv_types_and_empty_cells(tmp_path):
    df = api.read_csv(small_csv(tmp_path))  # mf2-style, empty AU and emotion cells, no person column
    assert_column_types(df)
    assert len(df) == 14 and df.face_id.tolist()[-1] == -1 and df.success.tolist()[-1] == 0
    assert math.isnan(df.AU12_r[6]) and math.isnan(df.emotion_happy[11]) and df.AU12_r[4] == 5.0
    numbered = api.read_csv(small_csv(tmp_path, {"0": "4", "1": "-1", "-1": "-1"}))
    assert numbered.person.dtype == np.int64 and numbered.person.tolist()[:2] == [4, 4]
    named = api.read_csv(small_csv(tmp_path, {"0": "Anna", "1": "Ben"}))
    assert named.person.dtype == object and named.person.tolist()[:4] == ["Anna", "Anna", "Anna", "Ben"]
    assert named.person.tolist()[-1] == ""


def figures(stats) -> dict:
    """Every figure of core.stats' `Statistics`, keyed (person, segment, the API's column name)."""
    out = {}
    for r in stats.ranges:
        named = {"frames": r.frames, "face_frames": r.face_frames, "face_share": r.face_share, "seconds": r.seconds,
                 "blinks_per_minute": r.blinks_per_minute}
        for figure in ("emotion_share", "emotion_mean", "au_occurrence", "au_activation", "head_pose_range"):
            named.update({f"{figure}_{key}": value for key, value in getattr(r, figure).items()})
        for emotion, episodes in r.episodes.items():
            named[f"episodes_{emotion}_count"] = episodes.count
            named[f"episodes_{emotion}_mean_seconds"] = episodes.mean_seconds
        out.update({(r.person, r.segment, name): value for name, value in named.items()})
    return out


def assert_matches(table: pd.DataFrame, stats):
    expected = figures(stats)
    got = {(row.person, row.segment, k): v for row in table.itertuples(index=False)
           for k, v in row._asdict().items() if k not in ("person", "segment")}
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert (math.isnan(got[key]) if value is None else got[key] == value), (key, got[key], value)


def test_statistics_are_core_stats(tmp_path):
    path = small_csv(tmp_path, {"0": "Anna", "1": "Ben"})
    segments = [Segment("task", 0, 0.35), Segment("rest", 0.4, 0.8), Segment("task", 0.9, 1.2)]
    table = api.statistics(path, [("task", 0, 0.35), ("rest", 0.4, 0.8), ("task", 0.9, 1.2)])
    assert_matches(table, compute_statistics(read_result(path), segments))
    assert table[["person", "segment"]].values.tolist() == [
        ["Anna", WHOLE_RECORDING], ["Anna", "task"], ["Anna", "rest"],
        ["Ben", WHOLE_RECORDING], ["Ben", "task"], ["Ben", "rest"]]
    assert table.loc[0, "emotion_share_happy"] == pytest.approx(5 / 9) and table.loc[0, "blinks_per_minute"] == 120
    assert table.episodes_sad_count.dtype == np.int64 and math.isnan(table.loc[0, "episodes_sad_mean_seconds"])
    assert "au_activation_AU45" not in table  # the CSV has no AU45_r
    pd.testing.assert_frame_equal(api.statistics(api.read_csv(path), segments), table)  # DataFrame in, same out
    assert table.attrs["frames"] == 12 and table.attrs["people"] == ["Anna", "Ben"]
    # a filtered table: the statistics of what is left
    early = api.statistics(api.read_csv(path).query("timestamp < 0.5"))
    assert early.frames.tolist() == [5, 5] and early.face_frames.tolist() == [5, 2]


@needs_shared
def test_statistics_of_the_real_clip(analysed_d0, tmp_path):
    segments = tmp_path / "by_eye.csv"
    segments.write_text("neutral,0,0.6\nsmile,1.0,2.6\n")
    table = api.statistics(analysed_d0, segments)
    assert_matches(table, compute_statistics(read_result(analysed_d0), read_segments(segments)))
    assert table.segment.tolist() == [WHOLE_RECORDING, "neutral", "smile"] and table.person.tolist() == ["person 0"] * 3
    assert table.au_occurrence_AU12.tolist()[1] <= 0.1 and table.au_occurrence_AU12.tolist()[2] >= 0.8
    pd.testing.assert_frame_equal(api.statistics(api.read_csv(analysed_d0), segments), table)
    openface = api.statistics(OPENFACE)
    assert_matches(openface, compute_statistics(read_result(OPENFACE)))
    assert openface.person.tolist() == ["face 0"] and not [n for n in openface if n.startswith("emotion_")]


def test_bad_inputs(tmp_path, face_clip):
    one_line_error(lambda: api.read_csv(tmp_path / "gone.csv"), tmp_path / "gone.csv", "cannot read")
    bad = tmp_path / "words.csv"
    bad.write_text("a, b\n1,2\n")
    one_line_error(lambda: api.read_csv(bad), bad, "no 'frame' column")
    halves = tmp_path / "halves.csv"
    halves.write_text(small_csv(tmp_path).read_text().replace("\n3,1,0.200", "\n3,1.5,0.200"))
    one_line_error(lambda: api.read_csv(halves), halves, "line 5, column face_id", "not a whole number")

    one_line_error(lambda: api.analyze(tmp_path / "gone.mp4"), tmp_path / "gone.mp4", "no such file")
    text = tmp_path / "text.mp4"
    text.write_text("not a video\n")
    one_line_error(lambda: api.analyze(text), text)
    for kwargs, words in (({"baseline": "soon"}, "baseline 'soon'"), ({"baseline": (5, 2)}, "START < END"),
                          ({"max_faces": 0}, "max_faces=0"), ({"every": 1.5}, "every=1.5"),
                          ({"threads": 3}, "threads=3"),
                          ({"device": "tpu"}, "device='tpu': choose one of auto, cpu, cuda"),
                          ({"model": tmp_path}, str(tmp_path))):
        with pytest.raises(InputError) as e:
            api.analyze(face_clip, **kwargs)
        assert "\n" not in str(e.value) and words in str(e.value), (kwargs, str(e.value))

    df = api.read_csv(small_csv(tmp_path))
    one_line_error(lambda: api.statistics(df.drop(columns="success")), small_csv(tmp_path), "no 'success' column")
    one_line_error(lambda: api.statistics(df.iloc[::-1]), small_csv(tmp_path), "goes back in time")
    one_line_error(lambda: api.statistics(df.iloc[:0]), small_csv(tmp_path), "no rows")
    with pytest.raises(InputError, match="not numbers"):
        api.statistics(df.assign(AU12_r="x"))
    for segments in ([("a", 2, 1)], [("a", 1)], [("", 0, 1)], [("a", "x", 1)], [("whole recording", 0, 1)],
                     [("pre", -1, 1)]):  # what a segments file may not hold, the API refuses too
        with pytest.raises(InputError, match="segment"):
            api.statistics(df, segments)
    with pytest.raises(InputError, match="ELAN"):
        api.statistics(df, tiers=["task"])
    one_line_error(lambda: api.statistics(tmp_path / "gone.csv"), tmp_path / "gone.csv", "cannot read")


def test_damaged_video_gives_the_rows_before_it_with_a_warning(tmp_path, face_clip):
    import av

    with av.open(str(face_clip)) as container:
        packets = [(p.pos, p.size) for p in container.demux(container.streams.video[0]) if p.size]
    data = bytearray(face_clip.read_bytes())
    for pos, size in packets[6:]:  # frames 6-11 wiped (as in test_video)
        data[pos:pos + size] = bytes(size)
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="corrupt or truncated video after frame 6"):
        df = api.analyze(damaged, device="cpu", threads=1)
    assert df.frame.tolist() == [1, 2, 3, 4, 5, 6] and df.success.all()


def test_au_checks_are_the_reports_figures(tmp_path, analysed_d0):
    from core.validation import load_validation

    table, checks = api.au_checks(), load_validation(default_model_dir())
    assert table.attrs == {"model": checks.model, "people": checks.people, "frames": checks.frames,
                           "rest_frames": checks.rest_frames}
    csv_aus = [c[:-2] for c in api.read_csv(analysed_d0).columns if c.startswith("AU") and c.endswith("_c")]
    assert set(csv_aus) <= set(table.index)  # a row for every AU column of the CSV, named as it is
    for code, row in table.iterrows():
        check = checks.check(int(code[2:]))
        assert row["rating"] == check.rating and row["present"] == check.present
        assert (np.isnan(row["f1"]) and check.f1 is None) or row["f1"] == check.f1
    assert table.loc["AU45", "rating"] == "good" and table.loc["AU17", "rating"] == "not checked"
    (tmp_path / "config.json").write_text('{"version": "mf2-tuned-by-me"}')
    with pytest.raises(InputError, match="mf2-tuned-by-me has no check on real video of its own"):
        api.au_checks(tmp_path)


def test_photos_of_a_folder_are_read_each_alone(tmp_path, face_crop):
    """A folder of photos is a sequence of unrelated shots: a photo reads the same alone as after
    others (no person baseline carries from one photo's face to the next photo's), and each face
    is a track of its own, so statistics never pool different people's photos as one 'face 0'."""
    import cv2

    last = tmp_path / "many" / "z_last.png"
    last.parent.mkdir()
    cv2.imwrite(str(last), cv2.cvtColor(face_crop, cv2.COLOR_RGB2BGR))
    for i, stretch in enumerate((1.3, 1.25, 1.2, 1.3)):  # other faces: taller, so their geometry differs
        other = cv2.resize(face_crop, None, fx=1.0, fy=stretch)
        cv2.imwrite(str(tmp_path / "many" / f"a{i}.png"), cv2.cvtColor(other, cv2.COLOR_RGB2BGR))
    (tmp_path / "alone").mkdir()
    shutil.copy(last, tmp_path / "alone")
    many, alone = (api.analyze(tmp_path / name, device="cpu", threads=1) for name in ("many", "alone"))
    assert len(many) == 5 and many.success.all() and many.face_id.tolist() == [0, 1, 2, 3, 4]
    readings = [n for n in many.columns if n.startswith(("AU", "emotion_"))]
    pd.testing.assert_frame_equal(many[readings].iloc[[-1]].reset_index(drop=True), alone[readings])
    stats = api.statistics(many)
    assert sorted(stats.person) == [f"face {i}" for i in range(5)] and (stats.face_frames == 1).all()


def test_a_folder_says_what_it_does_not_read_and_an_interrupt_stops_the_caller(tmp_path, face_crop, face_clip):
    import cv2

    folder = tmp_path / "session"
    folder.mkdir()
    cv2.imwrite(str(folder / "photo.png"), cv2.cvtColor(face_crop, cv2.COLOR_RGB2BGR))
    shutil.copy(face_clip, folder / "clip.mp4")
    (folder / "notes.txt").write_text("mine")
    with pytest.warns(UserWarning) as said:
        df = api.analyze(folder, model=None, device="cpu", threads=1)
    assert len(df) == 1
    lines = [str(w.message) for w in said]
    assert lines == [f"{folder / 'notes.txt'}: not a video or image file (skipped)",
                     f"{folder}: its 1 video(s) are not read here, only its images as one sequence (e.g. clip.mp4): "
                     "call api.analyze on each video"]
    (folder / "photo.png").unlink()
    with pytest.warns(UserWarning):
        one_line_error(lambda: api.analyze(folder, model=None), folder, "a folder of videos and no images")

    def interrupt(done, expected):  # the kernel interrupted mid-video: the caller's loop must stop too
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt, match="stopped by Ctrl-C"):
        api.analyze(face_clip, model=None, device="cpu", threads=1, progress=interrupt)
