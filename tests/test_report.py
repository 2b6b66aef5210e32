"""`mf2 report`: one self-contained HTML file per analysis. The small hand-made CSV of test_stats,
then a real analysis of a real clip, read back from the HTML and compared with core.stats."""
import base64
import json
import subprocess
import sys
from datetime import datetime
from html.parser import HTMLParser
from importlib import metadata

import numpy as np
import pytest

from core.errors import InputError
from core.model.shipped import default_model_dir
from core.report import MAX_POINTS, _au, _binned, _bins, _smoothed, model_version, report_column, write_report
from core.results import read_result
from core.segments import read_segments
from core.stats import WHOLE_RECORDING, compute_statistics
from core.validation import load_validation

from .conftest import SHARED_DATA, needs_shared
from .test_stats import HEADER, one_line_error, small_csv


class Page(HTMLParser):
    """What a test needs of a report: every src/href, the tags used, the statistics cells by
    (person, segment) and data-key, the header's facts by name, and the text."""

    def __init__(self, text: str):
        super().__init__()
        self.links, self.tags, self.cells, self.facts, self.text = [], set(), {}, {}, []
        self.trust = {}  # AU -> its row of "How far each AU holds"
        self._row, self._key = None, None
        self.feed(text)
        self.words = " ".join("".join(self.text).split())

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.add(tag)
        self.links += [attrs[a] for a in ("src", "href") if a in attrs]
        if tag == "tr" and "data-person" in attrs:
            self._row = self.cells.setdefault((attrs["data-person"], attrs["data-segment"]), {})
        if tag == "tr" and "data-au" in attrs:
            self._row = self.trust.setdefault(attrs["data-au"], {})
        if tag == "td" and "data-key" in attrs:
            if self._row is None:
                self._row = self.facts
            self._key = attrs["data-key"]
            self._row[self._key] = ""

    def handle_endtag(self, tag):
        if tag == "td":
            self._key = None
            if self._row is self.facts:
                self._row = None
        if tag == "tr":
            self._row = None

    def handle_data(self, data):
        self.text.append(data)
        if self._key is not None:
            self._row[self._key] += data

    @property
    def images(self) -> list[bytes]:
        return [base64.b64decode(link.split(",", 1)[1]) for link in self.links if link.startswith("data:image/")]


def assert_self_contained(text: str, page: Page) -> None:
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    assert not page.tags & {"script", "link", "iframe", "object", "embed"}, page.tags
    for link in page.links:  # images inline, links to anchors in the page only
        assert link.startswith(("data:image/png;base64,", "#")), link[:80]
    assert "http://" not in text and "https://" not in text and "url(" not in text and "@import" not in text
    assert page.images and all(png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000 for png in page.images)


def test_small_csv_report(tmp_path):
    path = small_csv(tmp_path, {"0": "Anna <A&B>", "1": "Ben"})
    segments_csv = tmp_path / "parts.csv"
    segments_csv.write_text("name,start,end\ntask & talk,0,0.35\nrest,0.4,0.8\ntask & talk,0.9,1.2\n")
    result, segments = read_result(path), read_segments(segments_csv)
    out = tmp_path / "report.html"
    write_report(result, out, segments, model_version="test-v7", made=datetime(2026, 12, 1, 9, 30))
    text = out.read_text()
    page = Page(text)
    assert_self_contained(text, page)
    words = page.words
    assert page.facts["model version"] == "test-v7" and page.facts["baseline"].startswith("auto:")
    assert page.facts["report made"] == "2026-12-01 09:30" and page.facts["source file"] == str(path)
    assert f"MF² Studio {metadata.version('mf2-studio')}" in words
    assert "auto: each person's neutral face" in words  # the CSV's baseline column, in words
    assert "<A&B>" not in text and "Anna &lt;A&amp;B&gt;" in text  # names are escaped, never markup
    for name in ("Anna <A&B>", "Ben", "task & talk", "rest", WHOLE_RECORDING):
        assert name in words
    # Anna (1.0 s) has a time course and AU bars; Ben, seen 0.3 s, has table rows only
    assert len(page.images) == 2 and "Seen for under 1 s" in words

    stats = compute_statistics(result, segments)
    assert set(page.cells) == {(r.person, r.segment) for r in stats.ranges}
    anna = page.cells[("Anna <A&B>", WHOLE_RECORDING)]
    assert anna["face_frames"] == "10 / 12" and anna["face_share"] == "83%" and anna["seconds"] == "1.0 s"
    assert anna["emotion_share.happy"] == "56%" and anna["emotion_share.sad"] == "22%"
    assert anna["au_occurrence.AU12"] == "44%" and anna["au_occurrence.AU45"] == "44%"
    assert anna["blinks_per_minute"] == "120.0" and anna["head_pose_range.yaw"] == "5"  # 4.641 degrees
    assert anna["episodes"] == "happy 1, 0.7 s"  # sad: one run of 0.3 s, under 0.5 s
    rest = page.cells[("Anna <A&B>", "rest")]
    assert rest["face_frames"] == "3 / 4" and rest["emotion_share.happy"] == "67%" and rest["episodes"] == "none"
    ben_rest = page.cells[("Ben", "rest")]  # Ben is in frame 6 only of the rest
    assert ben_rest["face_frames"] == "1 / 4" and ben_rest["emotion_share.neutral"] == "100%"
    assert page.cells[("Ben", "task & talk")]["blinks_per_minute"] == "0.0"


def test_report_without_faces_or_segments(tmp_path):
    nobody = tmp_path / "nobody.csv"
    nobody.write_text(HEADER + "\n1,-1,0.000,0,0,0,0,0,0,0,0,0,0,0,auto\n2,-1,0.040,0,0,0,0,0,0,0,0,0,0,0,auto\n")
    out = tmp_path / "nobody.html"
    write_report(read_result(nobody), out)
    page = Page(out.read_text())
    words = page.words
    assert "No face was found in any analysed frame" in words and not page.images and not page.cells
    assert "unknown" in words  # no model version given

    out = tmp_path / "plain.html"
    write_report(read_result(small_csv(tmp_path)), out, model_version="v")
    page = Page(out.read_text())
    assert {segment for _, segment in page.cells} == {WHOLE_RECORDING} and len(page.images) == 2
    assert "Segment comparison" not in " ".join(page.text)


def test_long_time_courses_are_averaged_for_drawing():
    rng = np.random.default_rng(0)
    values = rng.random(108_000)  # an hour at 30 fps
    values[30_000:40_000] = np.nan  # the face away for 5.5 minutes
    smooth = _smoothed(values, 9)
    assert np.isnan(smooth[30_000:40_000]).all() and np.isfinite(smooth[:30_000]).all()
    assert smooth[100] == pytest.approx(values[96:105].mean())
    starts = _bins(len(values))
    points = _binned(smooth, starts)
    assert len(points) == MAX_POINTS and starts[0] == 0
    gap = np.isnan(points)  # bins wholly inside the gap are gaps; the ones at its edges average their frames
    assert 135 <= gap.sum() <= 139 and np.isfinite(points[~gap]).all()
    assert points[0] == pytest.approx(np.mean(smooth[:starts[1]]))
    assert len(_binned(values[:500], _bins(500))) == 500  # short recordings are drawn frame by frame


def test_core_report_needs_no_gui(tmp_path):
    """Writing a report loads neither pyplot (which picks a GUI backend) nor any Qt binding."""
    code = ("import sys; from pathlib import Path; from core.report import write_report; "
            "from core.results import read_result; "
            f"write_report(read_result(Path({str(small_csv(tmp_path))!r})), Path({str(tmp_path / 'r.html')!r})); "
            "print(sorted(m for m in sys.modules if m.startswith(('matplotlib.pyplot', 'PySide', 'PyQt', "
            "'shiboken', 'pyqtgraph', 'tkinter'))))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]" and (tmp_path / "r.html").is_file()


def test_bad_input_is_one_line(tmp_path):
    good = small_csv(tmp_path)
    out = tmp_path / "out.html"

    def report(*args):
        run = subprocess.run([sys.executable, "-m", "core.cli", "report", *map(str, args)], capture_output=True,
                             text=True, timeout=120)
        lines = run.stderr.strip().splitlines()
        assert run.returncode == 2 and len(lines) == 1, run.stderr
        return lines[0]

    not_csv = tmp_path / "notes.csv"
    not_csv.write_text("hello, world\n1,2\n")
    assert str(not_csv) in report(not_csv, "-o", out) and "no 'frame' column" in report(not_csv, "-o", out)
    line = report(tmp_path / "gone.csv", "-o", out)
    assert str(tmp_path / "gone.csv") in line and "cannot read" in line
    bad_segments = tmp_path / "parts.csv"
    bad_segments.write_text("a,5,4\n")
    assert "not after its start" in report(good, "--segments", bad_segments, "-o", out)
    assert "no such model folder" in report(good, "--model", tmp_path / "nomodel", "-o", out)
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text('{"version": 3}')
    assert f"{model / 'config.json'}: no \"version\" string" in report(good, "--model", model, "-o", out)
    (model / "config.json").write_text("{")
    assert "not valid JSON" in report(good, "--model", model, "-o", out)
    assert "is a folder" in report(good, "-o", tmp_path)
    # a typo in -o never turns the analysis, the segments or a recording into a report
    before = good.read_bytes()
    assert "is the analysis CSV of this command; not overwritten" in report(good, "-o", good)
    assert "is the segments file of this command" in report(good, "--segments", bad_segments, "-o", bad_segments)
    video = tmp_path / "session.mp4"
    video.write_bytes(b"not really a video")
    assert f"{video}: exists and is not a .html file; not overwritten" in report(good, "-o", video)
    assert good.read_bytes() == before and video.read_bytes() == b"not really a video"
    video.unlink()
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "notes.csv", "parts.csv", "small.csv"]
    one_line_error(lambda: model_version(tmp_path / "nomodel"), tmp_path / "nomodel", "no such model folder")


@needs_shared
def test_real_clip_report(analysed_d0, tmp_path):
    segments = tmp_path / "by_eye.csv"
    segments.write_text("name,start,end\nneutral,0,0.6\nsmile,1.0,2.6\nneutral,2.8,3.2\n")
    out = tmp_path / "new folder" / "d0.html"  # made when missing; the CSV names the model that read it
    run = subprocess.run([sys.executable, "-m", "core.cli", "report", str(analysed_d0), "--segments", str(segments),
                          "-o", str(out)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == f"{out}: report of 1 person, 2 segments"  # neutral (two ranges) and smile
    text = out.read_text()
    page = Page(text)
    assert_self_contained(text, page)
    words = page.words
    version = json.loads((default_model_dir() / "config.json").read_text())["version"]
    assert version.startswith("mf2-") and page.facts["model version"] == version
    assert "auto: each person's neutral face" in words and metadata.version("mf2-studio") in words
    assert str(analysed_d0) in words and "78 analysed frames at 25 fps" in words
    assert "Every analysed video frame was read by the MF² model" in words
    assert len(page.images) == 2  # one person: the time course and the AU bars

    stats = compute_statistics(read_result(analysed_d0), read_segments(segments))
    lean = read_result(analysed_d0, keep=report_column)  # what `mf2 report` reads: no landmarks
    assert "x_0" not in lean and "x_0" in read_result(analysed_d0) and "AU12_c" in lean and "pose_Ry" in lean
    assert compute_statistics(lean, read_segments(segments)).to_dict() == {**stats.to_dict()}
    (person,) = stats.people
    assert person in words and all(name in words for name in ("neutral", "smile"))
    whole, neutral, smile = (page.cells[(person, name)] for name in (WHOLE_RECORDING, "neutral", "smile"))
    assert whole["face_frames"] == "78 / 78" and whole["face_share"] == "100%" and whole["seconds"] == "3.1 s"
    assert neutral["face_frames"] == "23 / 23" and smile["face_frames"] == "40 / 40"
    assert whole["episodes"].startswith("happy 1, ")  # the one smile (test_stats: 1.6 to 2.4 s long)
    figures = {name: stats.get(person, name) for name in (WHOLE_RECORDING, "neutral", "smile")}
    for name, cells in ((WHOLE_RECORDING, whole), ("neutral", neutral), ("smile", smile)):
        r = figures[name]
        assert cells["blinks_per_minute"] == f"{r.blinks_per_minute:.1f}"
        assert cells["au_occurrence.AU12"] == percent(r.au_occurrence["AU12"])
        assert cells["head_pose_range.yaw"] == f"{r.head_pose_range['yaw']:.0f}"
        assert cells["emotion_share.happy"] == percent(r.emotion_share["happy"])
        assert cells["emotion_share.neutral"] == percent(r.emotion_share["neutral"])
    assert figures["smile"].emotion_share["happy"] >= 0.9 and figures["neutral"].emotion_share["neutral"] >= 0.9

    # how far each AU holds: the shipped model's own check, for every AU the report shows
    validation = load_validation(default_model_dir())
    assert validation.model == version  # after retraining, run scripts/video_au_check.py --validation again
    assert set(page.trust) == {_au(stem) for stem in figures[WHOLE_RECORDING].au_occurrence}
    for code, row in page.trust.items():
        check = validation.check(int(code[2:]))
        assert row["rating"].startswith(check.rating)
        assert ("resting faces" in row["rating"]) == (check.at_rest is not None and check.at_rest >= 0.2)
        assert (row["f1"] == "–") == (check.f1 is None) == row["rating"].startswith("not checked")
    assert page.trust["AU45"]["rating"] == "good" and page.trust["AU17"]["rating"].startswith("not checked; read on")
    assert page.trust["AU12"]["frames"] == f"{validation.check(12).present} / {validation.check(12).absent}"
    # beside the person's AU bars, the AUs the check did not find good or fair are marked
    marked = {code for code, row in page.trust.items() if not row["rating"].startswith(("good", "fair"))}
    assert "AU17" in marked and "AU12" not in marked
    assert all(f"{code}† " in words for code in marked) and "AU12 lip corner puller" in words
    assert "† Weak, too few examples or not checked on real video: see How far each AU holds." in words


def percent(share: float) -> str:
    """A share as the report writes it: whole percent, but never 0% or 100% for what is not."""
    return "<1%" if 0 < share < 0.005 else ">99%" if 0.995 <= share < 1 else f"{round(share * 100)}%"


@needs_shared
def test_openface_file_report(tmp_path):
    out = tmp_path / "openface.html"
    write_report(read_result(SHARED_DATA / "reference" / "openface_output_sample.csv"), out)
    page = Page(out.read_text())
    words = page.words
    assert "not recorded" in words and "no emotion columns" in words
    assert "read by the program that wrote the CSV (not MF²" in words and "read by the MF² model" not in words
    assert len(page.images) == 1 and page.cells[("face 0", WHOLE_RECORDING)]["au_occurrence.AU05"] == "100%"
    with pytest.raises(KeyError):
        page.cells[("face 0", WHOLE_RECORDING)]["emotion_share.happy"]


def test_model_version_read_from_config(tmp_path):
    shipped = json.loads((default_model_dir() / "config.json").read_text())["version"]
    assert model_version(default_model_dir()) == shipped
    (tmp_path / "config.json").write_text('{"version": " v9 "}')
    assert model_version(tmp_path) == "v9"
    with pytest.raises(InputError):
        model_version(tmp_path / "config.json")  # a file, not a folder
