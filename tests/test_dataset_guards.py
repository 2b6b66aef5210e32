"""`mf2 dataset import` / `export` and the store, tried as a careless or hostile user would: every
bad input is one line naming the file (and line), nothing is half-written or lost, and no file is
read or written through a link leaving its folder. Real faces (the astronaut) throughout."""
import json
import os
import shutil
import tempfile
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.cli import main
from core.dataset import Captions, DatasetSample, DatasetStore, crop_face
from core.dataset.mfa import export_jsonl, import_jsonl
from core.dataset.store import DB_NAME
from core.errors import InputError
from core.faces import FaceTracker


@pytest.fixture(scope="module")
def face(astronaut):
    """(crop, landmarks) of the astronaut's face, as the studio stores them."""
    with FaceTracker(static=True) as tracker:
        found = tracker.process(astronaut)[0]
    return crop_face(astronaut, found.box, found.landmarks)


def _sample(face, n: int) -> DatasetSample:
    crop, landmarks = face
    return DatasetSample(crop, landmarks, "happy", {12: 1.0, 4: 0.0}, Captions("A smile."), Captions("A smile."),
                         "v.mp4", n, n / 25, 1, "test")


@pytest.fixture
def exported(tmp_path, face):
    """(dataset store with two samples, its export folder, the exported rows)."""
    store = DatasetStore(tmp_path / "ds")
    for n in range(2):
        store.add(_sample(face, n))
    path, count = export_jsonl(store, tmp_path / "export")
    assert count == 2
    return store, path.parent, [json.loads(line) for line in path.read_text().splitlines()]


def write_lines(path: Path, lines) -> Path:
    """One line per item: bytes as they are, str encoded, anything else as JSON (NaN allowed)."""
    data = [x if isinstance(x, bytes) else (x if isinstance(x, str) else json.dumps(x)).encode() for x in lines]
    path.write_bytes(b"\n".join(data) + b"\n")
    return path


def crops(store: DatasetStore) -> set[str]:
    return {p.stem for p in (store.folder / "crops").iterdir()}


def check_import(store, path, added, rejected: dict[int, str]) -> list[str]:
    """Import ``path``: ``added`` rows stored, the lines in ``rejected`` named (one line each, with
    the words given), and no crop without its row."""
    got, _, errors = import_jsonl(store, path)
    assert got == added and len(errors) == len(rejected), errors
    for line, words in rejected.items():
        assert any(e.startswith(f"{path}:{line}: ") and words in e for e in errors), (line, words, errors)
    assert all("\n" not in e for e in errors)
    assert crops(store) == set(store.ids())
    return errors


def finishes(fn, seconds: float = 20):
    """``fn()``'s outcome (value or exception), failing instead of hanging."""
    box = {}

    def run():
        try:
            box["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed to the test as it came
            box["error"] = e

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "hung"
    return box


def renamed(row: dict, sid: str, **changes) -> dict:
    return {**row, "id": sid, **changes}


def test_a_repeated_id_rejects_the_later_row_naming_both_lines(tmp_path, exported):
    _, out, rows = exported
    first, again = rows[0], {**rows[0], "emotion": "sad"}
    path = write_lines(out / "dup.jsonl", [first, again, rows[1]])
    store = DatasetStore(tmp_path / "new")
    [error] = check_import(store, path, 2, {2: f"id {first['id']} already on line 1"})
    assert store.get(first["id"]).emotion == "happy"  # the first row stands


def test_deep_nesting_and_huge_numbers_are_rejected_rows_leaving_no_crop(tmp_path, exported):
    _, out, rows = exported
    row = rows[0]
    path = write_lines(out / "hostile.jsonl", [
        "[" * 100_000 + "]" * 100_000,
        renamed(row, "deep", caption={"global": "[" * 100_000}, extra=json.loads("[" * 500 + "]" * 500)),
        '{"image": "' + row["image"] + '", "x": ' + "[" * 100_000 + "]" * 100_000 + "}",
        renamed(row, "bigframe", source={**row["source"], "frame": 10 ** 30}),
        json.dumps(renamed(row, "floatframe")).replace('"frame": 0', '"frame": 1e30'),
        json.dumps(renamed(row, "bigtime")).replace('"timestamp": 0.0', '"timestamp": 1e400'),
        renamed(row, "farpoints", landmarks=[[1e30, 1e30]] * 478),
        rows[1],
    ])
    store = DatasetStore(tmp_path / "new")
    check_import(store, path, 2, {1: "nested too deeply", 3: "nested too deeply", 4: "out of range",
                                  5: "frame and face whole numbers", 6: "out of range", 7: "far outside"})
    assert set(store.ids()) == {"deep", rows[1]["id"]}


def test_invalid_utf8_rejects_only_its_line(tmp_path, exported):
    _, out, rows = exported
    bad = json.dumps(renamed(rows[0], "latin1", caption="Caf\u00e9"), ensure_ascii=False).encode("latin-1")
    path = write_lines(out / "mixed.jsonl", [rows[0], bad, b"\xff\xfe\x00garbage", rows[1]])
    store = DatasetStore(tmp_path / "new")
    check_import(store, path, 2, {2: "not UTF-8 text (byte 0xe9", 3: "not UTF-8 text (byte 0xff at column 1)"})


def test_non_finite_numbers_anywhere_are_rejected(tmp_path, exported):
    _, out, rows = exported
    row = rows[0]
    path = write_lines(out / "nan.jsonl", [
        renamed(row, "inf", source={**row["source"], "timestamp": float("inf")}),
        renamed(row, "nan", source={**row["source"], "timestamp": float("nan")}),
        renamed(row, "extra", notes=[1, -float("inf")]),
        renamed(row, "au", aus={"AU12": float("nan")}),
        rows[1],
    ])
    store = DatasetStore(tmp_path / "new")
    check_import(store, path, 1, {1: "non-finite number Infinity", 2: "non-finite number NaN",
                                  3: "non-finite number -Infinity", 4: "non-finite number NaN"})
    exported_again, _ = export_jsonl(store, tmp_path / "again")
    assert "Infinity" not in exported_again.read_text() and "NaN" not in exported_again.read_text()


def test_degenerate_landmarks_are_rejected_at_import_and_by_the_store(tmp_path, exported, face):
    _, out, rows = exported
    row, points = rows[0], np.array(rows[0]["landmarks"])
    line = points.copy()
    line[:, 1] = 100.0
    eyes = points.copy()
    eyes[[362, 263]] = eyes[[33, 133]]  # both eyes on one spot: alignment divides by their distance
    path = write_lines(out / "degenerate.jsonl", [
        renamed(row, "point", landmarks=[[50.0, 60.0]] * 478),
        renamed(row, "line", landmarks=line.tolist()),
        renamed(row, "eyes", landmarks=eyes.tolist()),
        renamed(row, "shape", landmarks=[[1.0, 2.0, 3.0]] * 478),
        renamed(row, "few", landmarks=points[:100].tolist()),
        renamed(row, "text", landmarks=[["1", "2"]] * 478),
        rows[1],
    ])
    store = DatasetStore(tmp_path / "new")
    check_import(store, path, 1, {1: "collapse to a point or a line", 2: "collapse to a point or a line",
                                  3: "collapse to a point or a line", 4: "468 or 478 [x, y] points",
                                  5: "468 or 478 [x, y] points", 6: "landmarks must be [[x, y], ...] numbers"})
    crop, _ = face
    with pytest.raises(InputError, match="collapse to a point or a line"):
        store.add(DatasetSample(crop, np.full((478, 2), 7.0, np.float32), None, {}, Captions(), Captions()))
    assert crops(store) == set(store.ids())


def test_export_never_follows_a_crop_link_out_of_the_dataset(tmp_path, exported, capsys):
    store, _, rows = exported
    secret = tmp_path / "secret.txt"
    secret.write_text("root:$6$not-for-export")
    leaked = store.crop_path(rows[0]["id"])
    leaked.unlink()
    leaked.symlink_to(secret)
    skipped = []
    path, count = export_jsonl(store, tmp_path / "out", skipped)
    assert count == 1 and [json.loads(x)["id"] for x in path.read_text().splitlines()] == [rows[1]["id"]]
    assert len(skipped) == 1 and "a link out of" in skipped[0] and rows[0]["id"] in skipped[0]
    assert not any(b"not-for-export" in p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file())
    with pytest.raises(InputError, match="missing or unreadable"):
        store.load_crop(rows[0]["id"])
    store.crop_path(rows[1]["id"]).unlink()
    os.mkfifo(store.crop_path(rows[1]["id"]))  # a FIFO crop: skipped, not waited on
    skipped = []
    assert finishes(lambda: export_jsonl(store, tmp_path / "out2", skipped))["value"][1] == 0
    assert "not a regular file" in skipped[1]
    store.close()
    assert main(["--verbose", "dataset", "export", str(store.folder), str(tmp_path / "out2")]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and all(e.startswith("mf2: ") and "not exported" in e for e in err)


def test_export_never_writes_through_links_planted_in_the_export_folder(tmp_path, exported):
    store, _, rows = exported
    out = tmp_path / "out"
    (out / "images").mkdir(parents=True)
    victims = [tmp_path / f"victim{i}" for i in range(3)]
    for v in victims:
        v.write_text("keep me")
    (out / "mfa.jsonl").symlink_to(victims[0])
    (out / "mfa.jsonl.tmp").symlink_to(victims[1])  # where an earlier version wrote first
    (out / "images" / f"{rows[0]['id']}.png").symlink_to(victims[2])
    path, count = export_jsonl(store, out)
    assert count == 2 and all(v.read_text() == "keep me" for v in victims)
    assert not path.is_symlink() and not (out / "images" / f"{rows[0]['id']}.png").is_symlink()
    assert import_jsonl(DatasetStore(tmp_path / "reimported"), path)[0] == 2
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "out3").mkdir()
    (tmp_path / "out3" / "images").symlink_to(elsewhere)
    with pytest.raises(InputError, match="images: a link; not written through") as e:
        export_jsonl(store, tmp_path / "out3")
    assert "\n" not in str(e.value) and not list(elsewhere.iterdir())


def test_import_never_writes_crops_through_links(tmp_path, exported):
    _, out, rows = exported
    store = DatasetStore(tmp_path / "new")
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    store.crop_path(rows[0]["id"]).symlink_to(victim)
    check_import(store, out / "mfa.jsonl", 2, {})
    assert victim.read_text() == "keep me" and not store.crop_path(rows[0]["id"]).is_symlink()

    other = DatasetStore(tmp_path / "other")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "theirs.tmp").write_text("not ours to delete")
    shutil.rmtree(other.folder / "crops")
    (other.folder / "crops").symlink_to(elsewhere)
    other.close()
    other = DatasetStore(tmp_path / "other")  # reopening removes no .tmp file out there
    added, _, errors = import_jsonl(other, out / "mfa.jsonl")
    assert added == 0 and len(errors) == 2 and all("a link out of the dataset folder" in e for e in errors)
    assert [p.name for p in elsewhere.iterdir()] == ["theirs.tmp"] and len(other) == 0


def test_an_empty_database_file_is_refused_and_new_datasets_still_work(tmp_path, exported, capsys):
    _, out, _ = exported
    folder = tmp_path / "empty"
    folder.mkdir()
    (folder / DB_NAME).touch()
    with pytest.raises(InputError) as e:
        DatasetStore(folder)
    assert str(e.value) == f"{folder / DB_NAME}: empty file, not an MF² dataset"
    assert main(["--verbose", "dataset", "import", str(folder), str(out / "mfa.jsonl")]) == 2
    assert capsys.readouterr().err == f"mf2: {folder / DB_NAME}: empty file, not an MF² dataset\n"
    assert (folder / DB_NAME).stat().st_size == 0 and not (folder / "crops").exists()

    fresh = tmp_path / "fresh" / "nested"
    assert main(["--verbose", "dataset", "import", str(fresh), str(out / "mfa.jsonl")]) == 0
    assert (fresh / DB_NAME).stat().st_size > 0
    assert {p.name for p in fresh.iterdir()} <= {"crops", DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm"}
    assert len(DatasetStore(fresh, create=False)) == 2


def test_import_of_a_fifo_or_a_folder_is_one_line_and_no_hang(tmp_path, exported, capsys):
    _, out, rows = exported
    store = DatasetStore(tmp_path / "new")
    os.mkfifo(tmp_path / "pipe.jsonl")
    for path, words in ((tmp_path / "pipe.jsonl", "not a regular file"), (out, "not a regular file"),
                        (tmp_path / "none.jsonl", "cannot read (No such file or directory)")):
        outcome = finishes(lambda: import_jsonl(store, path))
        assert isinstance(outcome.get("error"), InputError) and str(outcome["error"]) == f"{path}: {words}"
    assert main(["--verbose", "dataset", "import", str(tmp_path / "new"), str(tmp_path / "pipe.jsonl")]) == 2
    assert capsys.readouterr().err == f"mf2: {tmp_path / 'pipe.jsonl'}: not a regular file\n"

    os.mkfifo(out / "images" / "pipe.png")
    (out / "images" / "out.png").symlink_to(store.folder / "crops")  # a folder outside the export
    (out / "images" / "loop.png").symlink_to("loop.png")
    path = write_lines(out / "links.jsonl", [renamed(rows[0], "fifo", image="images/pipe.png"),
                                             renamed(rows[0], "out", image="images/out.png"),
                                             renamed(rows[0], "loop", image="images/loop.png"), rows[1]])
    outcome = finishes(lambda: check_import(store, path, 1, {1: "is not a regular file",
                                                             2: "leaves the dataset folder", 3: "missing image"}))
    assert "error" not in outcome, outcome


# --- fuzz --------------------------------------------------------------------------------------

FIELDS = ("id", "image", "emotion", "aus", "caption", "generated", "landmarks", "source", "created", "updated")
SOURCE_FIELDS = ("video", "frame", "timestamp", "face", "model")
NUMBERS = (st.integers() | st.integers(min_value=-10 ** 40, max_value=10 ** 40)
           | st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([1e308, -1e308, 5e-324, 1e30]))
SCALARS = st.none() | st.booleans() | NUMBERS | st.text(max_size=12) | st.sampled_from(
    ["AU12", "au_4", "AU99", "happy", "bored", "images/x.png", "../ds/crops", "/etc/passwd", "\ud800", "\x00"])
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.text(max_size=6) | st.sampled_from(list(FIELDS + SOURCE_FIELDS) + ["AU12", "global"]), inner, max_size=4),
    max_leaves=12)


@st.composite
def hostile_line(draw, row: dict) -> bytes:
    kind = draw(st.sampled_from(["mutated", "mutated", "mutated", "value", "bytes", "deep"]))
    if kind == "mutated":  # the good row (under another id) with some fields wrong
        bad = {k: v for k, v in json.loads(json.dumps(row)).items() if k != "id"}
        for key, value in draw(st.dictionaries(st.sampled_from(FIELDS + SOURCE_FIELDS), VALUES, min_size=1,
                                               max_size=3)).items():
            if key == "landmarks" and draw(st.booleans()):
                value = np.array(row["landmarks"]) * draw(st.sampled_from([0, 1e-9, 1e38, float("inf")]))
                value = value.tolist()
            (bad.setdefault("source", {}) if key in SOURCE_FIELDS and isinstance(bad.get("source"), dict)
             else bad)[key] = value
        text = json.dumps(bad, ensure_ascii=draw(st.booleans()))
    elif kind == "value":
        text = json.dumps(draw(VALUES), ensure_ascii=draw(st.booleans()))
    elif kind == "bytes":
        return draw(st.binary(max_size=80)).replace(b"\n", b" ")
    else:
        depth = draw(st.integers(1, 20_000))
        text = "[" * depth + "]" * draw(st.integers(0, depth))
    raw = text.encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 9)) == 0 and raw:  # one byte spoiled
        at = draw(st.integers(0, len(raw) - 1))
        raw = raw[:at] + bytes([draw(st.integers(128, 255))]) + raw[at + 1:]
    return raw.replace(b"\n", b" ")


@pytest.fixture(scope="module")
def fuzz_export(tmp_path_factory, face):
    folder = tmp_path_factory.mktemp("fuzz")
    store = DatasetStore(folder / "ds")
    store.add(_sample(face, 0))
    path, _ = export_jsonl(store, folder / "export")
    store.close()
    return path.parent, json.loads(path.read_text().splitlines()[0])


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_fuzzed_jsonl_never_breaks_the_import(fuzz_export, data):
    out, row = fuzz_export
    lines = data.draw(st.lists(hostile_line(row), min_size=1, max_size=6))
    lines.insert(data.draw(st.integers(0, len(lines))), json.dumps(row).encode())
    with tempfile.TemporaryDirectory() as tmp:
        path = out / f"fuzz-{Path(tmp).name}.jsonl"
        path.write_bytes(b"\n".join(lines))
        try:
            store = DatasetStore(Path(tmp) / "ds")
            added, duplicates, errors = import_jsonl(store, path)  # anything raised fails the test
            src = row["source"]  # the good row's face is there (by its id, or an earlier copy of it)
            assert store.find(src["video"], src["frame"], src["face"], with_crop=False) is not None
            assert added == len(store) and all(isinstance(e, str) and "\n" not in e for e in errors)
            # each line is added, already there (a copy without its id), or said; said too when there with other labels
            conflicts = sum("already in the dataset with other labels" in e for e in errors)
            assert added + duplicates + len(errors) - conflicts == sum(1 for x in lines if x.strip())
            store.samples(with_crop=True)  # still readable, every crop there
            assert crops(store) == set(store.ids())
            store.close()
        finally:
            path.unlink()
