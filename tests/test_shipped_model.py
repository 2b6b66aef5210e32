"""The shipped MF² weights on real faces: loading, sensible predictions, speed-relevant shape."""
import cv2
import numpy as np
import pytest

from core.cli import default_model_dir
from core.faces import FaceTracker
from core.model.scorer import FaceScorer

from .conftest import SHARED_DATA, needs_shared


@pytest.fixture(scope="module")
def scorer():
    return FaceScorer(default_model_dir())


@pytest.fixture(scope="module")
def tracker():
    with FaceTracker(static=True) as t:
        yield t


def scores_of(rgb, tracker, scorer):
    faces = tracker.process(rgb)
    assert len(faces) == 1
    return scorer.score(rgb, faces)[0]


def test_shipped_model_is_small_safetensors_with_a_card():
    folder = default_model_dir()
    assert (folder / "model.safetensors").stat().st_size < 30 * 2**20
    card = (folder / "MODEL_CARD.md").read_text()
    assert "non-commercial" in card.lower() and "mf2 pretrain" in card and "mf2 finetune" in card


def test_smiling_astronaut_is_happy_with_lip_corners_pulled(astronaut, tracker, scorer):
    s = scores_of(astronaut, tracker, scorer)
    assert max(s.emotion, key=s.emotion.get) == "happy"
    assert s.au[12] > 0.5 and s.au[12] > s.au[4] and s.au[12] > s.au[15]


@needs_shared
@pytest.mark.parametrize("name, emotion", [("0-f15-hao-ph.jpg", "happy"), ("0-f1-su-ph.jpg", "surprise")])
def test_posed_photos(name, emotion, tracker, scorer):
    rgb = cv2.cvtColor(cv2.imread(str(SHARED_DATA / "images" / name)), cv2.COLOR_BGR2RGB)
    s = scores_of(rgb, tracker, scorer)
    assert max(s.emotion, key=s.emotion.get) == emotion
    if emotion == "surprise":
        assert s.au[2] > 0.5 and s.au[26] + s.au[27] > 0.5  # brows up, mouth open
    assert np.isclose(sum(s.emotion.values()), 1.0, atol=1e-4)
