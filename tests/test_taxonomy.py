import pytest

from core.faces.regions import REGIONS
from core.taxonomy import ACTION_UNITS, AU_BY_NUMBER, EMOTIONS, canonical_emotion, parse_au

REQUIRED_AUS = {1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 24, 25, 26, 27}
CKPLUS_AUS = {1, 2, 4, 5, 6, 7, 9, 10, 11, 12, 14, 15, 16, 17, 18, 20, 21, 22, 23, 24, 25, 26, 27}


def test_every_required_and_ckplus_au_is_described():
    assert REQUIRED_AUS | CKPLUS_AUS <= set(AU_BY_NUMBER)
    assert len({au.number for au in ACTION_UNITS}) == len(ACTION_UNITS)
    for au in ACTION_UNITS:
        assert au.name and au.muscle and au.description.endswith(".")
        assert au.region in REGIONS, f"{au.code} points at unknown region {au.region}"


def test_codes_and_openface_column_stems():
    assert AU_BY_NUMBER[1].code == "AU1" and AU_BY_NUMBER[1].column == "AU01"
    assert AU_BY_NUMBER[12].column == "AU12"


@pytest.mark.parametrize("text", ["12", 12, "AU12", "au_12", "AU12_r", " AU12_c "])
def test_parse_au_spellings(text):
    assert parse_au(text).number == 12


@pytest.mark.parametrize("text", ["AU3", "AU99", "smile", ""])
def test_parse_au_rejects_unknown(text):
    with pytest.raises(ValueError):
        parse_au(text)


def test_emotions_and_dataset_synonyms():
    assert set(EMOTIONS) == {"neutral", "happy", "sad", "surprise", "fear", "disgust", "angry", "contempt"}
    for label, ours in {"anger": "angry", "sadness": "sad", "Happy": "happy", "contempt": "contempt"}.items():
        assert canonical_emotion(label) == ours
    with pytest.raises(ValueError, match="bored"):
        canonical_emotion("bored")
