"""The dataset store, the caption session, MFA JSONL exchange and `mf2 dataset`, on real faces."""
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from core.analysis import analyze_frame
from core.cli import default_model_dir, main
from core.dataset import CaptionSession, Captions, DatasetStore, Filter, Target, crop_face
from core.dataset.mfa import export_jsonl, import_jsonl
from core.dataset.sample import CROP_MAX
from core.dataset.store import DB_NAME
from core.errors import InputError
from core.faces import FaceTracker
from core.model.scorer import FaceScorer
from core.video import open_source

from .conftest import SHARED_DATA, needs_shared

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def clip_faces(face_clip):
    """(target, crop, landmarks, AU probabilities, emotion probabilities) for each frame's face."""
    scorer = FaceScorer(default_model_dir())
    out = []
    with open_source(str(face_clip)) as source, FaceTracker(max_faces=1) as tracker:
        for frame in source:
            face = analyze_frame(frame, tracker, scorer).faces[0]
            crop, landmarks = crop_face(frame.rgb, face.box, face.landmarks)
            out.append((Target(str(face_clip), frame.index, face.track_id, frame.timestamp), crop, landmarks,
                        face.au, face.emotion))
    return out


def accept_all(store, clip_faces, emotion=None, model="test"):
    session = CaptionSession(store, model)
    for target, crop, landmarks, aus, emotions in clip_faces:
        session.open(target, crop, landmarks, aus, emotions)
        if emotion:
            session.set_emotion(emotion)
        session.accept()
    return session


def test_crop_keeps_the_face_and_its_landmarks(clip_faces):
    _, crop, landmarks, _, _ = clip_faces[0]
    assert crop.shape[0] == crop.shape[1] and 64 <= crop.shape[0] <= 256
    assert landmarks.shape == (478, 2)
    # the face (its mesh) sits inside the crop with a margin on every side
    assert landmarks.min() > 0.1 * crop.shape[0] and landmarks.max() < 0.9 * crop.shape[0]


def test_store_round_trip_filter_update_delete(tmp_path, clip_faces):
    store = DatasetStore(tmp_path / "ds")
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    session = accept_all(store, clip_faces[:4])
    session.open(*clip_faces[4])
    session.set_emotion("sad")
    session.set_au(4, 1.0)
    sad = session.accept()
    assert len(store) == 5
    got = store.get(sad.id)
    assert got.emotion == "sad" and got.aus[4] == 1.0 and got.video == clip_faces[4][0].video
    assert np.array_equal(got.crop, clip_faces[4][1]) and np.allclose(got.landmarks, clip_faces[4][2])
    assert got.generated != got.captions and "brow lowerer" in got.captions.text.lower()
    assert [s.id for s in store.samples(Filter(emotion="sad"))] == [sad.id]
    assert sad.id in [s.id for s in store.samples(Filter(au=4))]
    assert len(store.samples(Filter(text="brow lowerer"))) >= 1
    store.update(replace(got, captions=Captions("Edited.", "", "")))
    assert store.get(sad.id).captions.global_text == "Edited."
    store.delete(sad.id)
    assert store.get(sad.id) is None and not store.crop_path(sad.id).exists()
    stats = store.stats()
    assert stats["samples"] == 4 and stats["missing_crops"] == []
    store.close()
    assert len(DatasetStore(tmp_path / "ds", create=False)) == 4


def test_session_regenerates_captions_unless_typed_and_undoes_everything(tmp_path, clip_faces):
    store = DatasetStore(tmp_path / "ds")
    session = CaptionSession(store, "test")
    first, second = clip_faces[0], clip_faces[1]
    draft = session.open(*first)
    assert draft.emotion == max(first[4], key=first[4].get)
    assert dict(draft.aus)[12] == 1.0  # the astronaut smiles: the model reads AU12
    session.set_emotion("surprise")
    assert "surprise" in session.draft.captions.emotion_text
    for text in ("A", "A smile", "A smiling astronaut."):  # typing: one undo step
        session.set_caption("global_text", text)
    session.set_au(12, 0.0)
    assert session.draft.captions.global_text == "A smiling astronaut."  # typed: not rewritten
    assert "lip corner puller" not in session.draft.captions.au_text.lower()
    sample = session.accept()
    assert len(store) == 1 and session.is_saved()
    assert session.undo() == first[0] and len(store) == 0  # undo the accept
    assert session.draft.captions.global_text == "A smiling astronaut."  # the draft is still there
    assert session.redo() == first[0] and store.get(sample.id).captions.global_text == "A smiling astronaut."
    session.undo()
    session.undo()  # the AU12 change
    assert dict(session.draft.aus)[12] == 1.0
    session.undo()  # all the typing at once
    assert session.draft.captions.global_text != "A smiling astronaut." and "global_text" not in session.draft.typed
    session.set_au(26, None)  # not scorable here: the sample leaves it unlabelled
    assert 26 not in session.accept().aus and 26 in dict(session.draft.aus)
    session.close()
    assert session.open(*first).states()[26] is None  # reopened from the store: still unlabelled
    session.open(*second)  # another face, then back: an unsaved draft is kept
    session.set_caption("emotion_text", "Not sure.")
    session.open(*first)
    session.open(*second)
    assert session.draft.captions.emotion_text == "Not sure."
    session.open(*first)
    assert session.undo() == second[0]  # an undo on another face names it, for the window to go there


def _writer_script(folder: Path, n: int) -> str:
    return f"""
import sys, numpy as np
sys.path.insert(0, {str(ROOT)!r})
from core.dataset import Captions, DatasetSample, DatasetStore
store = DatasetStore({str(folder)!r})
rng = np.random.default_rng()
for i in range({n}):
    crop = rng.integers(0, 255, (128, 128, 3), dtype=np.uint8)
    s = DatasetSample(crop, rng.random((478, 2)).astype(np.float32) * 128, "happy", {{12: 1.0, 4: 0.0}},
                      Captions("g" * 2000, "a", "e"), Captions("g", "a", "e"), "v.mp4", i, i / 25, 1, "m")
    store.add(s)
    print(s.id, flush=True)
"""


@pytest.mark.parametrize("kill_after", [1, 7, 23])
def test_sigkill_while_writing_loses_no_acknowledged_sample(tmp_path, kill_after):
    folder = tmp_path / "ds"
    proc = subprocess.Popen([sys.executable, "-c", _writer_script(folder, 10000)], stdout=subprocess.PIPE, text=True)
    acknowledged = []
    try:
        while len(acknowledged) < kill_after:
            line = proc.stdout.readline()
            assert line, "the writer stopped early"
            acknowledged.append(line.strip())
        time.sleep(0.003 * kill_after)  # mid-write of a later sample
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    acknowledged += [line.strip() for line in proc.stdout.read().splitlines() if line.strip()]
    store = DatasetStore(folder, create=False)  # opens: integrity checked
    assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    ids = set(store.ids())
    assert set(acknowledged) <= ids
    for sid in acknowledged:
        assert store.load_crop(sid).shape == (128, 128, 3)
    assert not list((folder / "crops").glob("*.tmp"))


def test_corrupt_or_foreign_database_is_one_clear_line_and_left_untouched(tmp_path, clip_faces):
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / DB_NAME).write_bytes(b"this is not sqlite" * 100)
    before = (garbage / DB_NAME).read_bytes()
    with pytest.raises(InputError, match="unreadable dataset database") as e:
        DatasetStore(garbage)
    assert "\n" not in str(e.value) and (garbage / DB_NAME).read_bytes() == before

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    sqlite3.connect(foreign / DB_NAME).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(InputError, match="not an MF² dataset"):
        DatasetStore(foreign)

    damaged = tmp_path / "damaged"
    store = DatasetStore(damaged)
    accept_all(store, clip_faces)
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    data = bytearray((damaged / DB_NAME).read_bytes())
    data[len(data) // 2:len(data) // 2 + 4096] = os.urandom(4096)  # a page overwritten
    (damaged / DB_NAME).write_bytes(bytes(data))
    with pytest.raises(InputError, match="unreadable dataset database"):
        DatasetStore(damaged).samples()

    assert main(["--verbose", "dataset", "stats", str(garbage)]) == 2
    with pytest.raises(InputError, match="not an MF² dataset folder"):
        DatasetStore(tmp_path / "nothing", create=False)


def test_jsonl_export_import_round_trip_and_bad_rows(tmp_path, clip_faces, capsys):
    store = DatasetStore(tmp_path / "ds")
    accept_all(store, clip_faces[:3], emotion="surprise")
    path, count = export_jsonl(store, tmp_path / "export")
    assert count == 3 and path.name == "mfa.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert rows[0]["emotion"] == "surprise" and rows[0]["caption"]["emotion"] and len(rows[0]["landmarks"]) == 478
    good = rows[0]
    bad = [
        {**good, "id": "a1", "image": "images/missing.png"},
        {**good, "id": "a2", "aus": {"AU99": 1}},
        {**good, "id": "a3", "aus": {"AU12": 7}},
        {**good, "id": "a4", "image": "../ds/crops/" + good["image"].split("/")[-1]},
        {**good, "id": "a5", "image": "/etc/passwd"},
        {**good, "id": "a6", "emotion": "bored"},
    ]
    lines = path.read_text().splitlines() + [json.dumps(r) for r in bad] + ["{not json"]
    path.write_text("\n".join(lines) + "\n")

    copy = DatasetStore(tmp_path / "copy")
    added, duplicates, errors = import_jsonl(copy, path)
    assert (added, duplicates) == (3, 0)
    messages = "\n".join(errors)
    for line_no, words in ((4, "missing image"), (5, "unknown Action Unit 'AU99'"), (6, "AU12 value 7 out of range 0..5"),
                           (7, "image path '../ds/crops/"), (8, "image path '/etc/passwd' leaves the dataset folder"),
                           (9, "unknown emotion label 'bored'"), (10, "not valid JSON")):
        assert f"mfa.jsonl:{line_no}: {words}" in messages, messages
    original, imported = store.samples(with_crop=True), copy.samples(with_crop=True)
    for a, b in zip(original, imported):
        assert (a.id, a.emotion, a.aus, a.captions, a.generated, a.frame) == (b.id, b.emotion, b.aus, b.captions,
                                                                              b.generated, b.frame)
        assert np.array_equal(a.crop, b.crop) and np.allclose(a.landmarks, b.landmarks, atol=0.01)
    assert import_jsonl(copy, path)[:2] == (0, 3)  # importing again adds nothing

    # rows without ids (written by hand or by another tool) are known by their face: again, nothing
    # is added; a row already there with other labels is said, and the dataset's labels are kept
    plain = tmp_path / "plain" / "mfa.jsonl"
    shutil.copytree(path.parent / "images", plain.parent / "images")
    plain.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "id"}) + "\n" for r in rows))
    third = DatasetStore(tmp_path / "plain_ds")
    assert import_jsonl(third, plain)[:2] == (3, 0) and import_jsonl(third, plain)[:2] == (0, 3) and len(third) == 3
    assert import_jsonl(third, path)[:2] == (0, 3)  # the same faces with their ids: no second sample of each
    plain.write_text(json.dumps({**{k: v for k, v in rows[0].items() if k != "id"}, "emotion": "sad"}) + "\n")
    added, duplicates, errors = import_jsonl(third, plain)
    assert (added, duplicates) == (0, 1) and len(errors) == 1 and "already in the dataset with other labels" in errors[0]
    assert {s.emotion for s in third.samples()} == {"surprise"}

    assert main(["--verbose", "dataset", "import", str(tmp_path / "third"), str(path)]) == 1
    out = capsys.readouterr()
    assert "3 samples imported" in out.out and out.err.count("mf2: ") == 7
    assert main(["--verbose", "dataset", "stats", str(tmp_path / "third")]) == 0
    assert "3 samples" in capsys.readouterr().out


def test_training_reads_exported_jsonl_with_its_captions(tmp_path, clip_faces):
    from core.data.prepare import prepare
    from core.data.sources import load_mfa_jsonl
    from core.training.loop import description_table

    store = DatasetStore(tmp_path / "ds")
    session = CaptionSession(store, "test")
    session.open(*clip_faces[0])
    session.set_caption("global_text", "An astronaut in front of a flag.")
    session.accept()
    path, _ = export_jsonl(store, tmp_path / "export")
    samples = load_mfa_jsonl(path)
    assert samples[0].text.startswith("An astronaut in front of a flag.") and samples[0].landmarks.shape == (478, 2)
    data = prepare(samples, 48, use_cache=False)
    assert data.aligned.all() and data.texts[0] == samples[0].text
    texts, index = description_table(data)
    assert texts[index[0]] == samples[0].text
    (tmp_path / "export" / "bad.jsonl").write_text('{"image": "images/none.png"}\n')
    with pytest.raises(InputError, match="bad.jsonl:1: missing image"):
        load_mfa_jsonl(tmp_path / "export" / "bad.jsonl")


def test_au_marks_parse_present_and_not_scorable():
    from core.dataset import parse_au_marks

    assert parse_au_marks("6 AU12, ?26") == {6: 1.0, 12: 1.0, 26: None}
    assert parse_au_marks("") == {}
    with pytest.raises(ValueError, match="unknown Action Unit '99'"):
        parse_au_marks("6 99")


def test_caption_drafts_outlive_the_session_and_a_bad_file_is_kept_aside(tmp_path, clip_faces):
    file = tmp_path / "drafts.json"
    target, crop, landmarks, aus, emotion = clip_faces[0]
    first = CaptionSession(None, "", drafts_file=file)
    first.open(target, crop, landmarks, aus, emotion)
    first.set_caption("global_text", "Kept on disk.")
    first.set_au(12, None)
    second = CaptionSession(None, "", drafts_file=file)
    draft = second.open(target, crop, landmarks, aus, emotion)
    assert draft == first.draft and draft.captions.global_text == "Kept on disk." and draft.states()[12] is None
    # two studios at once: each keeps the other's drafts when it writes
    other_target = clip_faces[1][0]
    second.open(other_target, *clip_faces[1][1:])
    second.set_caption("global_text", "Typed in the second studio.")
    first.set_caption("global_text", "Kept on disk, typed on.")
    on_disk = CaptionSession(None, "", drafts_file=file).drafts
    assert {t: d.captions.global_text for t, d in on_disk.items()} == {
        target: "Kept on disk, typed on.", other_target: "Typed in the second studio."}
    second.open(target, crop, landmarks, aus, emotion)  # the second studio types on the first's face...
    second.set_caption("global_text", "Typed on by the second studio.")
    first.open(other_target, *clip_faces[1][1:])  # ...while the first edits another: its old copy must not win
    first.set_caption("emotion_text", "Changed in the first.")
    on_disk = CaptionSession(None, "", drafts_file=file).drafts
    assert on_disk[target].captions.global_text == "Typed on by the second studio."
    assert on_disk[other_target].captions.emotion_text == "Changed in the first."
    file.write_text("{not json")
    third = CaptionSession(None, "", drafts_file=file)
    assert third.drafts == {} and "could not be read" in third.note and (tmp_path / "drafts.json.unreadable").is_file()


@needs_shared
def test_a_photo_row_without_landmarks_becomes_a_face_crop(tmp_path, capsys):
    """A row written by another tool names a whole photo: its largest face is found and cropped as
    the studio crops faces (not the whole 1524x1036 photo stored as the "crop"). A file that cannot
    be read makes no dataset folder."""
    shutil.copy(SHARED_DATA / "images" / "multi_face.jpg", tmp_path / "group.jpg")
    (tmp_path / "rows.jsonl").write_text(json.dumps({"image": "group.jpg", "emotion": "happy"}) + "\n")
    store = DatasetStore(tmp_path / "ds")
    assert import_jsonl(store, tmp_path / "rows.jsonl") == (1, 0, [])
    (sample,) = store.samples(with_crop=True)
    assert max(sample.crop.shape[:2]) <= CROP_MAX and sample.crop.shape[0] == sample.crop.shape[1]
    inside = (sample.landmarks >= 0) & (sample.landmarks < sample.crop.shape[0])
    assert inside.all() and sample.video == "group.jpg"
    # photos of the same file name in two folders, named by no source: two samples, not one "already there"
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        shutil.copy(SHARED_DATA / "images" / "single_face.jpg", tmp_path / folder / "face.jpg")
    (tmp_path / "two.jsonl").write_text("".join(json.dumps({"image": f"{f}/face.jpg", "emotion": e}) + "\n"
                                                for f, e in (("a", "happy"), ("b", "sad"))))
    assert import_jsonl(store, tmp_path / "two.jsonl") == (2, 0, []) and len(store) == 3
    assert main(["--verbose", "dataset", "import", str(tmp_path / "new"), str(tmp_path / "missing.jsonl")]) == 2
    assert "missing.jsonl" in capsys.readouterr().err and not (tmp_path / "new").exists()
