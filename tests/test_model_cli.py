"""The model through the command line: AU/emotion columns in `analyze`, `evaluate`, bad --model."""
import csv
import json

import cv2
import numpy as np
import pytest
import torch

from core.evaluate import au_scores, f1_score
from core.model.config import ModelConfig
from core.model.model import MF2
from core.training.checkpoint import save_model

from .test_cli import mf2


@pytest.fixture(scope="module")
def partly_trained(tmp_path_factory):
    """A model whose config says only AU6, AU12 and three emotions have trained heads."""
    torch.manual_seed(0)
    cfg = ModelConfig(trained_aus=(6, 12), trained_emotions=("neutral", "happy", "sad"))
    folder = tmp_path_factory.mktemp("model")
    save_model(MF2(cfg), folder)
    return folder


def test_analyze_adds_only_trained_au_and_emotion_columns(tmp_path, face_clip, partly_trained):
    run = mf2("analyze", face_clip, "-o", tmp_path, "--model", partly_trained)
    assert run.returncode == 0, run.stderr
    with open(tmp_path / "face.csv", newline="") as f:
        rows = list(csv.DictReader(f, skipinitialspace=True))
    header = list(rows[0])
    assert header[-14:] == ["AU06_r", "AU12_r", "AU43_r", "AU45_r", "AU06_c", "AU12_c", "AU43_c", "AU45_c",
                            "emotion_neutral", "emotion_happy", "emotion_sad", "quality", "baseline", "model"]
    for r in rows:
        assert 0.9 < float(r["quality"]) <= 1  # her face: large, sharp, frontal (no visibility head here)
        assert 0 <= float(r["AU06_r"]) <= 5 and r["AU12_c"] in ("0", "1")
        assert float(r["AU12_c"]) == float(float(r["AU12_r"]) >= 2.5)
        assert sum(float(r[f"emotion_{e}"]) for e in ("neutral", "happy", "sad")) == pytest.approx(1, abs=2e-3)


def test_bad_model_is_one_line(tmp_path, face_clip):
    run = mf2("analyze", face_clip, "-o", tmp_path, "--model", tmp_path / "nomodel")
    assert run.returncode == 2
    assert run.stderr.strip().endswith("not an MF² model folder (needs model.safetensors and config.json)")


def test_evaluate_emotion_reports_in_the_folders_label_space(tmp_path, face_crop, monkeypatch):
    monkeypatch.setenv("MF2_CACHE", str(tmp_path / "cache"))
    # a model that says "sad" for every face (its emotion head ignores the face; its untrained fear
    # output is higher still, and must not be predicted): the figures are then known in advance
    cfg = ModelConfig(trained_aus=(6, 12), trained_emotions=("neutral", "happy", "sad"))
    model = MF2(cfg)
    with torch.no_grad():
        model.emotion_head.weight.zero_()
        model.emotion_head.bias.zero_()
        model.emotion_head.bias[cfg.emotions.index("sad")] = 10.0
        model.emotion_head.bias[cfg.emotions.index("fear")] = 20.0
    save_model(model, tmp_path / "always_sad")
    grey = cv2.cvtColor(face_crop, cv2.COLOR_RGB2GRAY)
    for emotion, flip, count in (("happy", False, 1), ("sadness", True, 3), ("fear", False, 2)):
        (tmp_path / "data" / emotion).mkdir(parents=True)
        for i in range(count):
            cv2.imwrite(str(tmp_path / "data" / emotion / f"{i}.png"), grey[:, ::-1] if flip else grey)
    run = mf2("evaluate", "emotion", tmp_path / "data", "--model", tmp_path / "always_sad", "--json", tmp_path / "e.json")
    assert run.returncode == 0, run.stderr
    result = json.loads((tmp_path / "e.json").read_text())
    assert result["n"] == 4 and result["labels"] == ["happy", "sad"] and result["left_out"] == 2  # no fear head
    assert result["confusion"] == [[0, 1], [0, 3]]  # rows: the label; columns: the prediction
    assert result["accuracy"] == 0.75
    assert result["per_class_f1"] == {"happy": 0.0, "sad": pytest.approx(6 / 7, abs=1e-4)}  # 2·3 / (3 + 4)
    assert result["macro_f1"] == pytest.approx(3 / 7)
    assert run.stdout.splitlines() == ["n=4 accuracy=0.7500 macro_f1=0.4286",
                                       "         happy     sad   <- predicted",
                                       "happy        0       1",
                                       "  sad        0       3"]


def test_f1_and_au_scores_ignore_unlabelled():
    assert f1_score(np.array([1, 1, 0, 0], bool), np.array([1, 0, 1, 0], bool)) == pytest.approx(0.5)
    truth = np.array([[1, np.nan], [0, 1], [1, 0]], dtype=np.float32)
    prob = np.array([[0.9, 0.9], [0.2, 0.8], [0.7, 0.1]], dtype=np.float32)
    result = au_scores(truth, prob, [6, 12])
    assert result["per_au_f1"] == {"AU6": 1.0, "AU12": 1.0} and result["mean_f1"] == 1.0 and result["n"] == 3


def test_zero_shot_scores_every_emotion_of_the_folder(tmp_path, face_crop, partly_trained, monkeypatch):
    monkeypatch.setenv("MF2_CACHE", str(tmp_path / "cache"))
    for emotion in ("fear", "happy"):
        (tmp_path / "data" / emotion).mkdir(parents=True)
        cv2.imwrite(str(tmp_path / "data" / emotion / "0.png"), face_crop)
    run = mf2("evaluate", "emotion", tmp_path / "data", "--model", partly_trained, "--zero-shot", "--json", tmp_path / "z.json")
    assert run.returncode == 0, run.stderr
    result = json.loads((tmp_path / "z.json").read_text())
    assert result["labels"] == ["happy", "fear"] and result["n"] == 2 and result["left_out"] == 0
