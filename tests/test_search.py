"""Text search: free descriptions scored against every face, best moments kept apart, on a real clip."""
from pathlib import Path

import numpy as np
import pytest

from core.cli import main
from core.search import best_moments, smoothed

D0 = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "videos" / "liveportrait_d0.mp4"
SMILE = (1.0, 2.6)  # liveportrait_d0: the man smiles from about 1.0 to 2.6 s (frames labelled by eye)


def test_scores_are_smoothed_within_each_person():
    times = np.array([0.0, 0.1, 0.2, 0.0, 0.1])
    people = np.array([0, 0, 0, 1, 1])
    scores = np.array([1.0, 0.0, 0.5, 0.2, np.nan])
    out = smoothed(times, people, scores, window=0.25)
    # person 0: t=0 averages t 0 and 0.1; t=0.1 all three; t=0.2 the last two. Person 1 alone; NaN stays NaN
    assert np.allclose(out[:4], [0.5, 0.5, 0.25, 0.2]) and np.isnan(out[4])


def test_best_moments_are_apart_per_person_and_filtered():
    times = np.arange(10) * 0.5                     # 0 .. 4.5 s, one face each frame
    people = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
    scores = np.array([0.1, 0.9, 0.8, 0.2, 0.1, 0.3, 0.2, 0.7, 0.1, 0.6])
    frames = np.arange(10)
    got = best_moments(frames, times, people, scores, top=3, min_gap=1.0)
    # smoothing at 0.3 s keeps single frames here (0.5 s apart); frame 2 is within 1 s of frame 1: skipped
    assert [(m.frame, m.person) for m in got] == [(1, 0), (7, 1), (9, 1)]
    assert got[0].score == pytest.approx(0.9)
    assert [m.frame for m in best_moments(frames, times, people, scores, top=2, min_gap=1.0, only={1})] == [7, 9]


@pytest.mark.skipif(not D0.exists(), reason="needs ../shared/data (liveportrait_d0.mp4)")
@pytest.mark.parametrize("text, inside", [("a big smile", True), ("a calm face at rest", False)])
def test_search_finds_the_smile_in_a_real_clip(text, inside, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("MF2_CACHE", str(tmp_path))
    assert main(["search", str(D0), text, "--top", "1", "--device", "cpu"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    minutes, seconds = line.split()[0].split(":")
    t = 60 * int(minutes) + float(seconds)
    assert (SMILE[0] <= t <= SMILE[1]) == inside, line
    assert list(tmp_path.rglob("*.npz")), "the analysis was cached for the next search"


def test_search_refuses_what_it_cannot_search(tmp_path, capsys):
    (tmp_path / "r.csv").write_text("frame, face_id\n")
    assert main(["search", str(tmp_path / "r.csv"), "a smile"]) == 2
    assert "no face embeddings beside it" in capsys.readouterr().err
    (tmp_path / "r.embeddings.npz").write_bytes(b"not a zip")
    assert main(["search", str(tmp_path / "r.csv"), "a smile"]) == 2
    assert "r.embeddings.npz: not readable face embeddings" in capsys.readouterr().err
    assert main(["search", str(tmp_path / "notes.txt"), "a smile"]) == 2
    assert "not a video file" in capsys.readouterr().err


@pytest.mark.skipif(not D0.exists(), reason="needs ../shared/data (liveportrait_d0.mp4)")
def test_search_a_csv_analysed_with_embeddings(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MF2_CACHE", str(tmp_path / "cache"))
    assert main(["analyze", str(D0), "-o", str(tmp_path), "--embeddings", "--workers", "1", "--device", "cpu"]) == 0
    csv = tmp_path / "liveportrait_d0.csv"
    assert (tmp_path / "liveportrait_d0.embeddings.npz").is_file()
    capsys.readouterr()
    assert main(["search", str(csv), "a big smile", "--top", "1"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    minutes, seconds = line.split()[0].split(":")
    assert SMILE[0] <= 60 * int(minutes) + float(seconds) <= SMILE[1], line
    assert not list((tmp_path / "cache").rglob("*.npz")), "the CSV's embeddings were used, not a new analysis"
    (tmp_path / "liveportrait_d0.embeddings.npz").unlink()
    assert main(["search", str(csv), "a big smile"]) == 2
    assert "analyse with --embeddings" in capsys.readouterr().err


def test_embeddings_of_an_earlier_csv_are_refused(tmp_path, capsys):
    from core.search import write_embeddings

    csv = tmp_path / "r.csv"
    csv.write_text("frame, face_id\n1, 0\n")
    write_embeddings(tmp_path / "r.embeddings.npz", [(0, 0.0, 0, 0, np.full(256, 1 / 16, np.float16))], csv.stat().st_size)
    assert main(["search", str(csv), "a smile"]) == 0
    csv.write_text("frame, face_id\n1, 0\n2, 0\n")  # analysed again without --embeddings
    assert main(["search", str(csv), "a smile"]) == 2
    assert "written with an earlier r.csv" in capsys.readouterr().err
    assert main(["search", str(csv), "  "]) == 2


@pytest.mark.skipif(not D0.exists(), reason="needs ../shared/data (liveportrait_d0.mp4)")
def test_search_names_people_as_the_studio_saved_them(capsys, tmp_path, monkeypatch):
    """The people's names, merges and splits made in the studio (its sidecar) apply to `mf2 search`."""
    from core.cache import content_digest
    from core.session import UserWork, WorkStore

    monkeypatch.setenv("MF2_CACHE", str(tmp_path))
    WorkStore().save(content_digest(D0), UserWork({0: "Patient"}, [{"op": "split", "track": 0, "frame": 400,
                                                                    "time": 16.0, "person": 1}], []))
    assert main(["search", str(D0), "a big smile", "--top", "1", "--device", "cpu"]) == 0
    out, err = capsys.readouterr()
    assert "Patient" in out.strip().splitlines()[-1]
    assert "split of track 0 at frame 401" in err  # the clip is shorter: said, and the rest applied
