"""Training-data loaders, subject-disjoint folds and aligned-crop preparation."""
import cv2
import numpy as np
import pytest

from core.data.prepare import AU_NUMBERS, prepare
from core.data.sources import Sample, load_au_csv, load_emotion_folder, load_fer_csv
from core.data.splits import subject_folds
from core.errors import InputError

from .conftest import SHARED_DATA, needs_shared


@pytest.fixture(scope="module")
def grey48(face_crop):
    """The astronaut's face as a FER-style 48x48 grey crop."""
    return cv2.resize(cv2.cvtColor(face_crop[20:220, 30:210], cv2.COLOR_RGB2GRAY), (48, 48), interpolation=cv2.INTER_AREA)


def test_emotion_folder_with_synonyms(tmp_path, grey48):
    for name in ("anger", "happiness", "neutral"):
        (tmp_path / name).mkdir()
        cv2.imwrite(str(tmp_path / name / "a.png"), grey48)
    (tmp_path / "notes.txt").write_text("ignored: not a folder")
    samples = load_emotion_folder(tmp_path)
    assert [s.emotion for s in samples] == ["angry", "happy", "neutral"]
    (tmp_path / "bored").mkdir()
    with pytest.raises(InputError, match="bored: folder name is not an emotion"):
        load_emotion_folder(tmp_path)


def test_fer_csv_rows_and_bad_row(tmp_path, grey48):
    pixels = " ".join(map(str, grey48.ravel()))
    good = tmp_path / "fer.csv"
    good.write_text(f"emotion,pixels,Usage\n3,{pixels},Training\n0,{pixels},PublicTest\n")
    samples = load_fer_csv(good)
    assert [s.emotion for s in samples] == ["happy", "angry"]
    assert samples[0].pixels.shape == (48, 48) and np.array_equal(samples[0].pixels, grey48)
    assert len(load_fer_csv(good, usage="Training")) == 1
    bad = tmp_path / "bad.csv"
    bad.write_text(f"emotion,pixels,Usage\n3,{pixels},Training\n9,1 2 3,Training\n")
    with pytest.raises(InputError, match="bad.csv: row 3"):
        load_fer_csv(bad)


def test_au_csv(tmp_path, grey48):
    cv2.imwrite(str(tmp_path / "x.png"), grey48)
    path = tmp_path / "labels.csv"
    path.write_text("path,subject,emotion,AU6,AU12\nx.png,S1,happiness,1,1\nx.png,S2,,0,0\n")
    first, second = load_au_csv(path)
    assert first.aus == {6: 1.0, 12: 1.0} and first.emotion == "happy" and first.subject == "S1"
    assert second.emotion is None and second.source == str(tmp_path / "x.png")
    path.write_text("path,AU3\nx.png,1\n")
    with pytest.raises(InputError, match="AU3"):
        load_au_csv(path)
    path.write_text("path,AU12\nx.png,7\n")
    with pytest.raises(InputError, match="row 2: AU value out of range"):
        load_au_csv(path)


def test_subject_folds_never_split_a_person():
    samples = [Sample(f"{s}-{i}", subject=s) for s in "ABCDEFGHIJ" for i in range(1 + ord(s) % 4)]
    folds = subject_folds(samples, 3, seed=1)
    assert sorted(i for f in folds for i in f) == list(range(len(samples)))
    owners = [{samples[i].subject for i in f} for f in folds]
    assert all(not (a & b) for j, a in enumerate(owners) for b in owners[j + 1:])
    assert max(map(len, folds)) - min(map(len, folds)) <= 3


def test_prepare_aligns_crops_and_caches(tmp_path, monkeypatch, grey48, astronaut):
    monkeypatch.setenv("MF2_CACHE", str(tmp_path / "cache"))
    cv2.imwrite(str(tmp_path / "photo.png"), astronaut[:, :, ::-1])
    samples = [Sample("grey48", "happy", pixels=grey48), Sample(str(tmp_path / "photo.png"), None, {12: 1.0}),
               Sample("blank", "neutral", pixels=np.full((48, 48), 127, np.uint8))]
    data = prepare(samples, 48, workers=1)
    assert data.images.shape == (3, 48, 48) and data.centers.shape[0] == 3
    assert data.aligned.tolist() == [True, True, False]  # the flat grey square has no face: used whole
    assert data.emotions.tolist() == [1, -1, 0]
    assert data.aus[1, AU_NUMBERS.index(12)] == 1 and np.isnan(data.aus[0]).all()
    # the photo's crop is the aligned face: the same as the grey crop's, give or take framing
    corr = np.corrcoef(data.images[0].ravel().astype(float), data.images[1].ravel().astype(float))[0, 1]
    assert corr > 0.6
    assert len(list((tmp_path / "cache").glob("prepared-*.npz"))) == 1
    again = prepare(samples, 48, workers=1)
    assert np.array_equal(again.images, data.images)


def test_prepare_names_unreadable_image(tmp_path, monkeypatch):
    monkeypatch.setenv("MF2_CACHE", str(tmp_path))
    (tmp_path / "broken.png").write_bytes(b"nope")
    with pytest.raises(InputError, match="broken.png: not a readable image"):
        prepare([Sample(str(tmp_path / "broken.png"), "happy")], 48, workers=1)


@needs_shared
def test_ckplus_labels_load_with_subjects():
    samples = load_au_csv(SHARED_DATA / "ckplus" / "labels.csv")
    assert len(samples) == 717 and all(s.subject and s.aus for s in samples)
    assert {s.emotion for s in samples} == {"angry", "contempt", "disgust", "fear", "happy", "sad", "surprise"}
