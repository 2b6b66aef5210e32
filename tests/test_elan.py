"""`mf2 elan`: the exported .eaf read back by pympi and by a plain XML parser (what ELAN needs to
open it), imported again as segments; the tiers' intervals computed by hand on a small CSV."""
import subprocess
import sys
import xml.etree.ElementTree as ET

from pympi.Elan import Eaf

from core.errors import InputError
from core.export.elan import media_descriptor, write_elan
from core.outputs import OutputError
from core.results import read_result
from core.segments import Segment, read_segments
from core.video import VIDEO_SUFFIXES

from .conftest import SHARED_DATA, needs_shared
from .test_stats import one_line_error, small_csv

SEGMENTS = [Segment("task", 0.0, 0.35), Segment("rest", 0.4, 0.8), Segment("task", 0.9, 1.2),
            Segment("overlap", 0.3, 0.5)]


def check_elan_structure(path):
    """What ELAN requires to open the file: the document element and HEADER with its media, a
    TIME_ORDER of integer TIME_SLOTs, tiers whose LINGUISTIC_TYPE_REF names a LINGUISTIC_TYPE,
    annotations between two existing slots, in order, never overlapping within a tier."""
    root = ET.parse(path).getroot()
    assert root.tag == "ANNOTATION_DOCUMENT" and root.get("FORMAT") in ("2.8", "3.0")
    assert [child.tag for child in root][:2] == ["HEADER", "TIME_ORDER"]
    assert root.find("HEADER").get("TIME_UNITS") == "milliseconds"
    slots = {s.get("TIME_SLOT_ID"): int(s.get("TIME_VALUE")) for s in root.find("TIME_ORDER")}
    types = {t.get("LINGUISTIC_TYPE_ID") for t in root.iter("LINGUISTIC_TYPE")}
    tiers = {}
    for tier in root.iter("TIER"):
        assert tier.get("LINGUISTIC_TYPE_REF") in types, tier.get("TIER_ID")
        spans = sorted((slots[a.get("TIME_SLOT_REF1")], slots[a.get("TIME_SLOT_REF2")], a.findtext("ANNOTATION_VALUE"))
                       for a in tier.iter("ALIGNABLE_ANNOTATION"))
        assert all(start < end for start, end, _ in spans)
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:])), f"overlap in {tier.get('TIER_ID')}"
        tiers[tier.get("TIER_ID")] = spans
    return root, tiers


def test_tiers_computed_by_hand(tmp_path):
    media = tmp_path / "séance 1 (Ü).mp4"
    media.write_bytes(b"")
    out = tmp_path / "small.eaf"
    written = write_elan(read_result(small_csv(tmp_path, {"0": "Anna", "1": "Ben"})), out, media, SEGMENTS)
    root, tiers = check_elan_structure(out)
    (descriptor,) = root.find("HEADER").iter("MEDIA_DESCRIPTOR")
    # as ELAN writes and reads it: the path as it is, never percent-encoded (ELAN does not decode it)
    assert descriptor.get("MEDIA_URL") == f"file://{tmp_path.resolve()}/séance 1 (Ü).mp4"
    assert descriptor.get("RELATIVE_MEDIA_URL") == "./séance 1 (Ü).mp4" and descriptor.get("MIME_TYPE") == "video/mp4"
    assert list(tiers) == ["Anna: emotion", "Anna: AU12", "Anna: AU45", "Anna: not readable", "Ben: emotion",
                           "Ben: AU12", "Ben: AU45", "Ben: not readable", "segments", "segments 2"]
    # an AU that could not be read is a gap in its own tier, as an absent one is: this tier tells them apart
    assert tiers["Anna: not readable"] == [(400, 500, "AU12"), (900, 1000, "AU45")] and tiers["Ben: not readable"] == []
    # Anna (face 0): N H H H N . H H S - S, one frame = 100 ms; AU12 in frames 2-4 and 7; AU45 in 3, 7, 9, 11
    assert tiers["Anna: emotion"] == [(0, 100, "neutral"), (100, 400, "happy"), (400, 500, "neutral"),
                                      (600, 800, "happy"), (800, 900, "sad"), (1000, 1100, "sad")]
    assert tiers["Anna: AU12"] == [(100, 400, "AU12"), (600, 700, "AU12")]
    assert tiers["Anna: AU45"] == [(200, 300, "AU45"), (600, 700, "AU45"), (800, 900, "AU45"), (1000, 1100, "AU45")]
    assert tiers["Ben: emotion"] == [(200, 400, "neutral"), (500, 600, "neutral")] and tiers["Ben: AU12"] == []
    # "overlap" crosses "task" and "rest": it goes to a second tier
    assert tiers["segments"] == [(0, 350, "task"), (400, 800, "rest"), (900, 1200, "task")]
    assert tiers["segments 2"] == [(300, 500, "overlap")]
    assert written == {"tiers": 10, "annotations": 20}
    participants = {t.get("TIER_ID"): t.get("PARTICIPANT") for t in root.iter("TIER")}
    assert participants["Anna: AU45"] == "Anna" and participants["Ben: emotion"] == "Ben"
    assert participants["segments"] is None

    eaf = Eaf(str(out))  # the maintained library reads it back the same
    assert sorted(eaf.get_annotation_data_for_tier("Anna: AU12")) == [(100, 400, "AU12"), (600, 700, "AU12")]
    assert eaf.media_descriptors[0]["MIME_TYPE"] == "video/mp4"
    assert eaf.get_parameters_for_tier("Ben: emotion")["LINGUISTIC_TYPE_REF"] == "emotion"

    # imported again as segments: the user's come back as they were, a reading's tier as its intervals
    assert read_segments(out, ["segments", "segments 2"]) == sorted(SEGMENTS, key=lambda s: (s.start, s.end))
    assert read_segments(out, ["Anna: AU12"]) == [Segment("AU12", 0.1, 0.4), Segment("AU12", 0.6, 0.7)]
    # without tiers named: the segment tiers alone, not the emotion and AU runs the export holds
    assert read_segments(out) == read_segments(out, ["segments", "segments 2"])
    assert len(read_segments(out, ["segments", "segments 2", "Anna: emotion", "Anna: AU12"])) > len(SEGMENTS)


def test_export_replaces_whole_files_only(tmp_path):
    result = read_result(small_csv(tmp_path))
    out = tmp_path / "out.eaf"
    out.write_text("earlier")
    write_elan(result, out)
    root, tiers = check_elan_structure(out)
    assert root.find("HEADER").find("MEDIA_DESCRIPTOR") is None  # no media given: none linked
    assert "face 0: emotion" in tiers and "segments" not in tiers
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.eaf", "small.csv"]  # no temporary files left
    (tmp_path / "folder.eaf").mkdir()
    one_line_error(lambda: write_elan(result, tmp_path / "folder.eaf"), tmp_path / "folder.eaf", "is a folder")
    assert issubclass(OutputError, InputError)


def test_bad_elan_files(tmp_path):
    broken = tmp_path / "broken.eaf"
    broken.write_text("<ANNOTATION_DOCUMENT><HEADER>")
    one_line_error(lambda: read_segments(broken), broken, "not a readable ELAN file")
    other = tmp_path / "other.eaf"
    other.write_text("<html><body/></html>")
    one_line_error(lambda: read_segments(other), other, "not a readable ELAN file")
    out = tmp_path / "small.eaf"
    write_elan(read_result(small_csv(tmp_path)), out, segments=SEGMENTS[:1])
    one_line_error(lambda: read_segments(out, ["nope"]), out, "no tier 'nope'", "face 0: emotion")
    one_line_error(lambda: read_segments(tmp_path / "gone.eaf"), tmp_path / "gone.eaf", "cannot read")


def test_elan_command_refuses_a_missing_video(tmp_path):
    run = subprocess.run([sys.executable, "-m", "core.cli", "elan", str(small_csv(tmp_path)), "-o",
                          str(tmp_path / "x.eaf"), "--media", str(tmp_path / "gone.mp4")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and run.stderr == f"mf2: {tmp_path / 'gone.mp4'}: no such video to link\n"
    assert not (tmp_path / "x.eaf").exists()


def test_elan_and_stats_never_write_over_their_inputs(tmp_path):
    csv_path = small_csv(tmp_path)
    video = tmp_path / "session.mp4"
    video.write_bytes(b"the recording")
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    before = csv_path.read_bytes()
    for args, words in ((["elan", csv_path, "-o", csv_path], f"{csv_path}: is the analysis CSV of this command"),
                        (["elan", csv_path, "-o", video, "--media", video], f"{video}: is the video of this command"),
                        (["elan", csv_path, "-o", video], f"{video}: exists and is not a .eaf file"),
                        (["stats", csv_path, "--json", csv_path], f"{csv_path}: is the analysis CSV of this command"),
                        (["elan", csv_path, "-o", tmp_path / "x.eaf", "--media", csv_path],
                         f"{csv_path}: not a video or audio file to link"),
                        (["stats", csv_path, "--tier", "segments"], "--tier segments: tiers are chosen in an ELAN "
                                                                    "--segments file; give one"),
                        (["analyze", video, "-o", notes], f"{notes}: is a file, not a folder")):
        run = subprocess.run([sys.executable, "-m", "core.cli", *map(str, args)], capture_output=True, text=True,
                             timeout=120)
        assert run.returncode == 2 and run.stderr.startswith(f"mf2: {words}") and run.stderr.count("\n") == 1, run.stderr
    assert csv_path.read_bytes() == before and video.read_bytes() == b"the recording"
    assert not (tmp_path / "x.eaf").exists() and notes.read_text() == "mine"
    run = subprocess.run([sys.executable, "-m", "core.cli", "analyze", str(video), "-o", str(tmp_path / "out"),
                          "--chunk", "-5"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "argument --chunk: must be 0 or more" in run.stderr, run.stderr


def test_every_video_the_analysis_reads_links_as_video(tmp_path):
    """ELAN picks the player and its "Locate media" filter from the MIME type: the host's MIME
    database calls .ts a Qt translation file and .3gp audio."""
    types = {suffix: media_descriptor(tmp_path / f"v{suffix}", tmp_path / "a.eaf")["MIME_TYPE"] for suffix in VIDEO_SUFFIXES}
    assert all(t.startswith("video/") for t in types.values()), types
    assert types[".mov"] == "video/quicktime" and media_descriptor(tmp_path / "a.mp3", tmp_path / "a.eaf")["MIME_TYPE"] == "audio/*"


@needs_shared
def test_real_clip_to_elan_and_back(analysed_d0, tmp_path):
    """liveportrait_d0, labelled by eye: happy at frames 25-65 (1.0-2.6 s), neutral at 5, 15 and 75."""
    video = SHARED_DATA / "videos" / "liveportrait_d0.mp4"
    segments = tmp_path / "parts.csv"
    segments.write_text("name,start,end\nsmile,00:01.000,00:02.600\n")
    out = tmp_path / "d0.eaf"
    run = subprocess.run([sys.executable, "-m", "core.cli", "elan", str(analysed_d0), "-o", str(out), "--media",
                          str(video), "--segments", str(segments)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    root, tiers = check_elan_structure(out)
    assert root.find("HEADER").find("MEDIA_DESCRIPTOR").get("MEDIA_URL") == f"file://{video.resolve()}"
    (person,) = read_result(analysed_d0).people()
    emotion = tiers[f"{person}: emotion"]
    assert emotion[0][0] == 0 and emotion[-1][1] == 3120 and all(a[1] == b[0] for a, b in zip(emotion, emotion[1:]))
    happy = [(start, end) for start, end, value in emotion if value == "happy"]
    assert len(happy) == 1 and happy[0][0] <= 1000 and happy[0][1] >= 2600  # the smile, in one piece
    assert 600 < happy[0][0] and happy[0][1] < 3000  # ...and not over the frames labelled neutral
    assert any(start <= 1400 and end >= 2200 for start, end, _ in tiers[f"{person}: AU12"])
    assert tiers["segments"] == [(1000, 2600, "smile")]
    assert f"{out}: {len(tiers)} tiers" in run.stdout
    assert read_segments(out, ["segments"]) == [Segment("smile", 1.0, 2.6)]
