"""Zero-shot readings are honest: the default prompts were never training sentences, user prompts
are checked, and free text scores real faces sensibly."""
import json
from pathlib import Path

import numpy as np
import pytest

from core.cli import default_model_dir, main
from core.errors import InputError
from core.faces import FaceTracker
from core.model.text import TextEncoder
from core.model.transform import face_input
from core.model.predict import predict
from core.model.zero_shot import class_embeddings, load_prompts, score_text, zero_shot_emotion
from core.taxonomy import ACTION_UNITS, EMOTIONS
from core.training.checkpoint import load_model
from core.training.loop import au_texts
from core.training.text_align import TextTable, evaluation_prompts

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"
PROMPT_FILES = [SCRIPTS / f"{name}.json" for name in ("blind_prompts", "blind2_prompts", "blind3_prompts", "dev_prompts")]
WRITTEN = [SCRIPTS / "written_descriptions.json", SCRIPTS / "written_descriptions_2.json"]


def test_evaluation_prompts_never_reach_training():
    """The training texts (scripts/train_text.py draws them through TextTable) hold no evaluation
    prompt, default, blind or choice, anywhere in them, the hand-written descriptions included;
    the AU descriptions the regions were first aligned to are no prompts either."""
    prompts = [p.lower().rstrip(".") for p in evaluation_prompts(*PROMPT_FILES)]
    assert len(prompts) >= 400
    table = TextTable(prompts)
    written = [load_prompts(path, kind) for path in WRITTEN for kind in ("emotions", "aus")]
    kept = [table.written(texts) for kinds in written for texts in kinds.values()]
    assert sum(map(len, kept)) > 4000 and table.dropped > 0  # some written ones held a prompt: left out
    for emotion in (None, *EMOTIONS):
        for aus in (None, {}, {6: 1.0, 12: 1.0}, {1: 1.0, 2: 1.0, 5: 1.0, 26: 1.0}, {4: 1.0, 7: 1.0, 23: 1.0}):
            table.paraphrases(aus, emotion, 40, seed=len(table.ids))
    for au in ACTION_UNITS:
        table.paraphrases({au.number: 1.0}, None, 10, seed=au.number)
        table.au_paraphrases(au.number, 40, seed=au.number)
    assert len(table.texts) > 2000
    texts = [t.lower() for t in table.texts] + [t.lower() for t in au_texts(load_model(default_model_dir()))]
    for p in prompts:
        assert not any(p in t for t in texts), p


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


def test_pretraining_descriptions_hold_no_evaluation_prompt():
    """Pre-training (and DFN's replay) write their descriptions through the same filter: the
    plain generator does write prompts (e.g. "a furious person" for seed 2 of an angry face)."""
    from core.data.prepare import AU_NUMBERS, Prepared
    from core.describe import describe
    from core.training.loop import description_table

    label_sets = [None, {}] + [{au.number: 1.0} for au in ACTION_UNITS if au.number in AU_NUMBERS]
    rows = [(e, aus) for e in range(len(EMOTIONS)) for aus in label_sets for _ in range(8)]
    n = len(rows)
    aus = np.full((n, len(AU_NUMBERS)), np.nan, np.float32)
    for i, (_, labels) in enumerate(rows):
        if labels is not None:
            aus[i] = 0
            for number in labels:
                aus[i, AU_NUMBERS.index(number)] = 1
    data = Prepared(np.zeros((n, 1, 1), np.uint8), np.zeros((n, 1, 2), np.float32), np.ones(n, bool),
                    np.zeros((n, 1), np.float32), np.array([e for e, _ in rows]), aus, np.array([""] * n),
                    np.array([""] * n, dtype=object))
    texts, index = description_table(data, paraphrases=8)
    assert len(texts) > 300 and index.max() == len(texts) - 1
    prompts = [p.lower() for p in evaluation_prompts()]
    assert any(p in describe(None, e, seed=s).text.lower() for e in EMOTIONS for s in range(8) for p in prompts)
    for t in texts:
        assert not any(p in t.lower() for p in prompts), t
