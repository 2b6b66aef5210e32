"""Zero-shot readings are honest: the default prompts were never training sentences, user prompts
are checked, and free text scores real faces sensibly."""
import json

import numpy as np
import pytest

from core.cli import default_model_dir, main
from core.describe import describe
from core.errors import InputError
from core.faces import FaceTracker
from core.model.text import TextEncoder
from core.model.transform import face_input
from core.model.predict import predict
from core.model.zero_shot import class_embeddings, load_prompts, score_text, zero_shot_emotion
from core.taxonomy import ACTION_UNITS, EMOTIONS
from core.training.checkpoint import load_model
from core.training.loop import au_texts


def training_sentences() -> set[str]:
    """Every sentence the description generator writes for training (emotion-only, at rest, one
    AU, several AUs, in each paraphrase), its parts, and the AU descriptions the regions align to."""
    out = set(au_texts(load_model(default_model_dir())))
    label_sets = [None, {}] + [{au.number: 1.0} for au in ACTION_UNITS] + \
        [{a.number: 1.0, b.number: 1.0} for a in ACTION_UNITS for b in ACTION_UNITS if a.number < b.number]
    for emotion in (None, *EMOTIONS):
        for aus in label_sets:
            for seed in range(6):
                d = describe(aus, emotion, seed)
                out |= {d.text, d.global_text, d.emotion_text, *d.au_texts.values()}
    return {s.strip().lower() for s in out if s.strip()}


def test_default_prompts_are_no_training_sentences():
    sentences = training_sentences()
    prompts = [t for kind in ("emotions", "aus") for texts in load_prompts(None, kind).values() for t in texts]
    assert len(prompts) >= 50
    for p in prompts:
        p = p.lower()
        assert p not in sentences, p
        assert not any(p in s or s in p for s in sentences if len(s) > 25), p


def test_user_prompts_are_checked(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"joy": ["a laughing face"], "angry": ["teeth bared"]}))
    assert load_prompts(path, "emotions") == {"happy": ["a laughing face"], "angry": ["teeth bared"]}
    path.write_text(json.dumps({"AU12": ["a smile"], "au_4": ["knitted brows"]}))
    assert load_prompts(path, "aus") == {12: ["a smile"], 4: ["knitted brows"]}
    for bad, why in (("[1, 2]", "JSON object"), ('{"bored": ["x"]}', "unknown emotion"), ('{"happy": []}', "non-empty"),
                     ("{not json", "not a readable")):
        path.write_text(bad)
        with pytest.raises(InputError, match=why):
            load_prompts(path, "emotions")


def test_free_text_scores_the_smiling_astronaut(astronaut):
    model = load_model(default_model_dir())
    with FaceTracker(static=True) as tracker:
        face = tracker.process(astronaut)[0]
    crop, centers = face_input(astronaut, face.landmarks, model.cfg.input_size)
    out = predict(model, crop[None], centers[None])
    encoder = TextEncoder()
    sims = score_text(model, encoder, out["global"], ["a woman smiling warmly", "a woman weeping in despair"])
    assert sims.shape == (1, 2) and sims[0, 0] > sims[0, 1]
    prompts = load_prompts(None, "emotions")
    probs = zero_shot_emotion(model, out["global"], class_embeddings(model, encoder, prompts))
    assert list(prompts)[int(np.argmax(probs))] == "happy"


def test_cli_zero_shot_au_with_own_prompts(tmp_path, face_crop, capsys):
    import cv2

    (tmp_path / "img").mkdir()
    cv2.imwrite(str(tmp_path / "img" / "a.png"), cv2.cvtColor(face_crop, cv2.COLOR_RGB2BGR))
    (tmp_path / "labels.csv").write_text("path,AU12,AU4\nimg/a.png,1,0\n")
    (tmp_path / "p.json").write_text(json.dumps({"AU12": ["a friendly smile"], "AU4": ["a deep frown"]}))
    assert main(["evaluate", "au", str(tmp_path / "labels.csv"), "--zero-shot", "--prompts", str(tmp_path / "p.json"),
                 "--json", str(tmp_path / "out.json")]) == 0
    result = json.loads((tmp_path / "out.json").read_text())
    assert set(result["per_au_f1"]) == {"AU12"}  # AU4 never occurs in the labels: no F1
