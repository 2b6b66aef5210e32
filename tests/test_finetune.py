"""DFN fine-tuning on a user's dataset: versions, held-out figures, cancel and resume, replay, CLI."""
import json

import pytest
import torch

from core.cli import default_model_dir, main
from core.dataset import DatasetStore
from core.dataset.versions import active_model, run_finetune, set_active, split, versions
from core.errors import InputError
from core.training.checkpoint import load_model
from core.training.dfn import DfnSettings
from core.training.replay import encoder_digest, load_replay

from .test_dataset import accept_all, clip_faces  # noqa: F401 (fixture)


@pytest.fixture
def corrected(tmp_path, clip_faces):  # noqa: F811
    """The smiling astronaut relabelled "surprise" by an annotator, in every frame."""
    store = DatasetStore(tmp_path / "ds")
    accept_all(store, clip_faces, emotion="surprise")
    store.close()
    return tmp_path / "ds"


def test_the_shipped_replay_bank_fits_the_shipped_encoder():
    model = load_model(default_model_dir())
    bank = load_replay(model, default_model_dir())
    assert bank is not None and len(bank) >= 500
    assert bank.features["regions"].shape[1:] == (len(model.cfg.regions), model.cfg.embed_dim)
    assert set(bank.emotions.tolist()) == {model.cfg.emotions.index(e) for e in model.cfg.trained_emotions}
    other = load_model(default_model_dir())
    torch.nn.init.zeros_(other.encoder.stem[0].weight)
    assert encoder_digest(other) != encoder_digest(model) and load_replay(other, default_model_dir()) is None


def test_finetuning_learns_the_corrections_and_keeps_versions(corrected):
    version = run_finetune(corrected, default_model_dir(), DfnSettings(steps=80))
    record = version.record
    assert version.name == "v001" and record["status"] == "done" and version.usable
    assert record["data"]["train"] + record["data"]["heldout"] == 12 and record["data"]["heldout"] >= 1
    assert record["data"]["replay"]["samples"] >= 500 and record["data"]["replay"]["probe"] >= 100
    # replay keeps the base task: accuracy on base faces never rehearsed moves little
    before_base, after_base = record["before"]["base_emotion_accuracy"], record["after"]["base_emotion_accuracy"]
    assert 0.4 < before_base and after_base > before_base - 0.1
    assert record["before"]["emotion_accuracy"] <= 0.5 < record["after"]["emotion_accuracy"]  # she now "looks surprised"
    assert record["improved"] and record["settings"]["steps"] == 80
    base, tuned = load_model(default_model_dir()), load_model(version.path)
    assert encoder_digest(base) == encoder_digest(tuned)  # DFN: the encoder is untouched
    assert tuned.cfg.version.endswith("-v001")
    # the held-out faces were never trained on, and stay held out in the next version
    assert not set(record["data"]["heldout_ids"]) & set(record["data"]["train_ids"])
    second = run_finetune(corrected, default_model_dir(), DfnSettings(steps=20))
    assert second.name == "v002" and second.record["data"]["heldout_ids"] == record["data"]["heldout_ids"]
    assert active_model(corrected) is None
    set_active(corrected, "v001")
    assert active_model(corrected) == version.path
    set_active(corrected, None)
    assert active_model(corrected) is None
    with pytest.raises(InputError, match="no finished model version 'v009'"):
        set_active(corrected, "v009")


def test_a_cancelled_run_resumes_to_the_end(corrected):
    steps = []
    cancelled = run_finetune(corrected, default_model_dir(), DfnSettings(steps=60, save_every=20),
                             progress=lambda stage, done, total, fig: steps.append(done) if stage == "train" else None,
                             stop=lambda: bool(steps) and steps[-1] >= 20)
    assert cancelled.record["status"] == "cancelled" and cancelled.record["training"]["steps"] == 20
    assert not cancelled.usable
    resumed = run_finetune(corrected, default_model_dir(), DfnSettings(steps=999), resume=True)
    assert resumed.name == cancelled.name and resumed.record["status"] == "done"
    assert resumed.record["settings"]["steps"] == 60  # the run's own settings, not the new ones
    assert [r["step"] for r in resumed.record["losses"]] == [20, 40, 60]
    with pytest.raises(InputError, match="no unfinished fine-tuning run"):
        run_finetune(corrected, default_model_dir(), DfnSettings(steps=10), resume=True)


def test_split_holds_out_a_stable_fifth():
    ids = [f"{i:032x}" for i in range(200)]
    train, test = split(ids)
    assert 20 <= len(test) <= 60 and set(train) | set(test) == set(ids) and not set(train) & set(test)
    assert set(test) <= set(split(ids + [f"{i:032x}" for i in range(200, 260)])[1])  # growing keeps them out
    for n in range(2, 12):
        train, test = split(ids[:n])
        assert train and 1 <= len(test) <= max(1, round(0.2 * n) * 1.5)


def test_cli_finetune_dataset_and_versions(corrected, capsys, tmp_path):
    assert main(["--verbose", "finetune", "--dataset", str(corrected), "--steps", "40", "--json-progress"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert events[0]["stage"] == "load" and events[-1]["stage"] == "done"
    assert any(e["stage"] == "train" and e["done"] == 40 for e in events)
    assert events[-1]["after"]["n"] >= 1
    assert main(["--verbose", "finetune", "--dataset", str(corrected), "--steps", "5"]) == 0
    said = capsys.readouterr().out
    assert "held-out samples than the model it started from" in said and f"mf2 dataset use {corrected} v002" in said
    assert main(["--verbose", "dataset", "use", str(corrected), "v001"]) == 0
    assert main(["--verbose", "dataset", "stats", str(corrected)]) == 0
    out = capsys.readouterr().out
    assert "12 samples" in out and "model v001: done (in use)" in out
    assert main(["--verbose", "dataset", "use", str(corrected), "base"]) == 0 and active_model(corrected) is None
    empty = tmp_path / "empty"
    DatasetStore(empty).close()
    assert main(["--verbose", "finetune", "--dataset", str(empty)]) == 2
    assert "accept at least 2 faces" in capsys.readouterr().err
    assert [v.name for v in versions(corrected)] == ["v001", "v002"]


def test_a_run_whose_process_is_gone_is_stopped_not_running(tmp_path):
    """The studio closed mid-run, or the run was killed: its record still says "running", but no
    process holds the dataset, so it is listed as stopped (and `--resume` finishes it)."""
    from core.dataset.versions import _only_run

    DatasetStore(tmp_path / "ds").close()
    (tmp_path / "ds" / "models" / "v001").mkdir(parents=True)
    (tmp_path / "ds" / "models" / "v001" / "run.json").write_text('{"status": "running"}')
    assert [v.status for v in versions(tmp_path / "ds")] == ["stopped"]
    with _only_run(tmp_path / "ds"):
        assert [v.status for v in versions(tmp_path / "ds")] == ["running"]
    assert main(["--verbose", "dataset", "stats", str(tmp_path / "ds")]) == 0


def test_a_version_is_only_swapped_in_when_no_reported_figure_drops():
    from core.training.dfn import improved

    base = {"emotion_accuracy": 0.8, "au_mean_f1": 0.9, "caption_r1": 0.2}
    assert improved(base, {**base, "emotion_accuracy": 1.0})
    assert improved(base, {**base, "caption_r1": 0.5, "au_mean_f1": 0.89})  # within tolerance
    assert not improved(base, {**base, "caption_r1": 0.5, "au_mean_f1": 0.83})  # AU F1 worse
    assert not improved(base, dict(base))  # nothing better
    # on 2 held-out faces a fall of AU F1 is one AU entry: it cannot veto; on 10 it does
    few, many = {**base, "n": 2}, {**base, "n": 10}
    assert improved(few, {**few, "emotion_accuracy": 1.0, "au_mean_f1": 0.67})
    assert not improved(many, {**many, "emotion_accuracy": 1.0, "au_mean_f1": 0.67})
