"""Guards around models and training: malformed configs and NaN weights are refused in one line,
a diverging run is recorded as failed and never used, a torn resume state is one line, and only
one fine-tuning run at a time writes into a dataset."""
import json
import shutil
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file, save_file

from core.cli import default_model_dir, main
from core.dataset import DatasetStore
from core.dataset.versions import active_model, run_finetune, set_active, versions
from core.errors import InputError
from core.faces.geometry import N_FEATURES, NAMES
from core.faces.regions import REGIONS
from core.model.config import ModelConfig
from core.model.model import MF2
from core.model.transform import CANONICAL_CENTERS
from core.taxonomy import AU_BY_NUMBER, EMOTIONS
from core.training import dfn, loop
from core.training.checkpoint import load_model, non_finite
from core.training.dfn import DfnSettings, UserData, finetune, improved
from core.training.loop import TrainingFailed, TrainSettings, train

from .test_dataset import accept_all, clip_faces  # noqa: F401 (fixture)
from .test_model import tiny_data

SHIPPED = json.loads((default_model_dir() / "config.json").read_text())


def one_line_error(excinfo, *parts) -> str:
    message = str(excinfo.value)
    assert "\n" not in message and all(p in message for p in map(str, parts)), message
    return message


# --- model loading ------------------------------------------------------------------------------

BAD_CONFIGS = {  # name: (what config.json holds, the field the message names)
    "a list": ([1, 2], "must be a JSON object"),
    "widths empty": ({"widths": []}, '"widths"'),
    "input_size text": ({"input_size": "48"}, '"input_size" must be a positive integer (got "48")'),
    "input_size negative": ({"input_size": -48}, '"input_size" must be a positive integer (got -48)'),
    "input_size bool": ({"input_size": True}, '"input_size"'),
    "embed_dim huge": ({"embed_dim": 10 ** 9}, '"embed_dim" must be at most'),
    "text_dim": ({"text_dim": 12}, '"text_dim" must be 384'),
    "trained_aus unknown": ({"trained_aus": [999]}, '"trained_aus"'),
    "aus unknown": ({"aus": [1, 3]}, '"aus"'),
    "aus repeated": ({"aus": [1, 1]}, '"aus"'),
    "emotions unknown": ({"emotions": ["neutral", "joyful"]}, '"emotions"'),
    "trained_emotions": ({"trained_emotions": ["joy"]}, '"trained_emotions"'),
    "au_thresholds length": ({"au_thresholds": [0.5]}, '"au_thresholds"'),
    "au_thresholds NaN": ({"au_thresholds": [float("nan")] * len(SHIPPED["aus"])}, '"au_thresholds"'),
    "au_thresholds 1": ({"au_thresholds": [1.0] * len(SHIPPED["aus"])}, '"au_thresholds"'),
    "geometry_dim": ({"geometry_dim": 5}, '"geometry_dim" must be 0 or'),
    "geometry_scale length": ({"geometry_scale": [0.1]}, '"geometry_scale"'),
    "geometry_scale Inf": ({"geometry_scale": [float("inf")] * N_FEATURES}, '"geometry_scale"'),
    "regions": ({"regions": ["nose"]}, '"regions"'),
    "au_regions": ({"au_regions": ["elbow"] * len(SHIPPED["aus"])}, '"au_regions"'),
    "au_gates feature": ({"au_gates": [[1, "elbow", 0.1]]}, '"au_gates"'),
    "au_gates AU": ({"au_gates": [[99, NAMES[0], 0.1]]}, '"au_gates"'),
    "version": ({"version": 3}, '"version"'),
}


@pytest.mark.parametrize("case", BAD_CONFIGS)
def test_a_malformed_config_is_one_line_naming_the_field(tmp_path, case):
    content, field = BAD_CONFIGS[case]
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**SHIPPED, **content} if isinstance(content, dict) else content))
    with pytest.raises(InputError) as e:
        ModelConfig.load(path)
    assert one_line_error(e, path, field).startswith(f"{path}: ")


@pytest.mark.parametrize("raw", [b'{"input_size": ', b"\xff\xfe{}", b""])
def test_a_config_that_is_no_json_is_one_line(tmp_path, raw):
    (tmp_path / "config.json").write_bytes(raw)
    with pytest.raises(InputError) as e:
        ModelConfig.load(tmp_path / "config.json")
    one_line_error(e, tmp_path / "config.json", "not valid JSON")


def test_a_bad_model_folder_is_one_line_from_the_cli(tmp_path, capsys):
    shutil.copytree(default_model_dir(), tmp_path / "m")
    (tmp_path / "m" / "config.json").write_text(json.dumps({**SHIPPED, "input_size": -48}))
    assert main(["--verbose", "evaluate", "emotion", str(tmp_path), "--model", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert err == f'mf2: {tmp_path / "m" / "config.json"}: "input_size" must be a positive integer (got -48)\n'


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused(tmp_path, value):
    shutil.copytree(default_model_dir(), tmp_path / "m")
    weights = tmp_path / "m" / "model.safetensors"
    state = load_file(str(weights))
    state["au_occurrence_bias"][3] = value
    save_file(state, str(weights))
    with pytest.raises(InputError) as e:
        load_model(tmp_path / "m")
    assert one_line_error(e) == f"{weights}: non-finite values in au_occurrence_bias"


def test_the_shipped_model_loads_and_the_weight_check_is_cheap():
    model = load_model(default_model_dir())
    assert model.cfg.version.startswith("mf2-default") and len(model.cfg.au_gates) == 3
    state = load_file(str(default_model_dir() / "model.safetensors"))
    seconds = []
    for _ in range(3):
        t0 = time.perf_counter()
        assert non_finite(state.items()) is None
        seconds.append(time.perf_counter() - t0)
    assert non_finite({"huge": torch.full((4,), 3e38), "fine": torch.ones(2)}.items()) is None  # the sum overflows
    assert min(seconds) < 0.02  # about 1 ms alone; loose for a busy machine


# --- the config loader under random input ---------------------------------------------------------

SMALL = {**SHIPPED, "widths": [4, 4, 8, 8], "embed_dim": 8, "local_dim": 4, "side_dim": 4, "input_size": 16}
JSON = st.recursive(st.none() | st.booleans() | st.integers(-60, 60) | st.floats() | st.text(max_size=6),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
                    max_leaves=8)
NEAR = {  # per field: values close to valid ones, so the fuzz also reaches the checks after the first
    "input_size": st.integers(-2, 40), "embed_dim": st.integers(-2, 12), "local_dim": st.integers(-2, 12),
    "side_dim": st.integers(-2, 12), "text_dim": st.sampled_from([384, 383, 0]),
    "widths": st.lists(st.integers(-1, 8), max_size=5),
    "emotions": st.lists(st.sampled_from(EMOTIONS + ("joy",)), min_size=0, max_size=9),
    "aus": st.lists(st.sampled_from(sorted(AU_BY_NUMBER) + [3, 99]), max_size=26),
    "regions": st.sampled_from([list(REGIONS), list(REGIONS)[::-1], list(REGIONS)[:-1]]),
    "au_regions": st.lists(st.sampled_from(list(REGIONS) + ["elbow"]), max_size=26),
    "trained_emotions": st.lists(st.sampled_from(EMOTIONS + ("joy",)), max_size=4),
    "trained_aus": st.lists(st.sampled_from(sorted(AU_BY_NUMBER) + [999]), max_size=4),
    "geometry_dim": st.sampled_from([0, N_FEATURES, 5, -1]),
    "geometry_scale": st.lists(st.floats(-1, 2) | st.just(float("nan")), max_size=N_FEATURES + 1),
    "geometry_rest": st.lists(st.floats(), max_size=N_FEATURES + 3),
    "au_thresholds": st.lists(st.floats(), max_size=26),
    "au_gates": st.lists(st.tuples(st.sampled_from([1, 2, 99]), st.sampled_from(NAMES[:2] + ("elbow",)),
                                   st.floats()).map(list), max_size=3),
    "version": st.text(max_size=5) | st.integers(),
}
AU_SETS = st.lists(st.sampled_from(sorted(AU_BY_NUMBER)), min_size=1, max_size=6, unique=True).map(
    lambda aus: {"aus": aus, "au_regions": [AU_BY_NUMBER[n].region for n in aus], "trained_aus": aus[:2],
                 "au_thresholds": [], "au_gates": []})  # another consistent AU set
CONFIGS = st.tuples(st.just({}) | AU_SETS, st.lists(st.sampled_from(sorted(NEAR)), max_size=3, unique=True).flatmap(
    lambda keys: st.fixed_dictionaries({k: NEAR[k] | JSON for k in keys}))).map(
    lambda parts: {**SMALL, **parts[0], **parts[1]})  # a few fields changed


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(CONFIGS, CONFIGS, CONFIGS, JSON))
def test_the_config_loader_accepts_only_what_the_model_can_run(tmp_path, content):
    """Any JSON: a config the network builds and runs on, or one line of InputError; nothing else."""
    path = tmp_path / "config.json"
    path.write_text(json.dumps(content))
    try:
        cfg = ModelConfig.load(path)
    except InputError as e:
        assert str(e).startswith(f"{path}: ") and "\n" not in str(e)
        return
    model = MF2(cfg).eval()
    geometry = torch.zeros(1, cfg.geometry_dim) if cfg.geometry_dim else None
    with torch.no_grad():
        out = model(torch.zeros(1, 1, cfg.input_size, cfg.input_size), torch.as_tensor(CANONICAL_CENTERS)[None], geometry)
    assert out["au_logits"].shape == (1, len(cfg.aus)) and out["emotion_logits"].shape == (1, len(cfg.emotions))


# --- training that diverges ---------------------------------------------------------------------

def test_training_into_a_model_folder_stops_on_a_non_finite_loss(tmp_path):
    data = tiny_data(32)
    data.centers[5] = np.nan  # one degenerate face: its features, and so the loss, are NaN
    with pytest.raises(TrainingFailed, match=r"^non-finite loss at step 1$"):
        train(MF2(ModelConfig()), data, tmp_path / "out", TrainSettings(phase="finetune", epochs=1, batch_size=32))
    assert not (tmp_path / "out" / "model.safetensors").exists()  # no NaN model written


def test_a_step_with_non_finite_gradients_or_weights_stops_the_run():
    def step(loss_of, weights, number):
        params = [torch.nn.Parameter(torch.tensor(w)) for w in weights]
        optimizer = torch.optim.AdamW(params, lr=0.1)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
        loss = loss_of(params[0])
        loop.optimize(loss, params, optimizer, schedule, {"x": loss}, {}, number)

    step(lambda p: p ** 2, [1.0], 1)  # a sound step passes
    with pytest.raises(TrainingFailed, match="^non-finite gradients at step 7$"):
        step(torch.sqrt, [0.0], 7)  # loss 0, gradient Inf
    with pytest.raises(TrainingFailed, match="^non-finite weights at step 2$"):
        step(lambda p: p ** 2, [1.0, float("inf")], 2)  # a weight the loss does not reach


def test_a_diverging_run_into_a_model_folder_is_one_line_from_the_cli(tmp_path, face_crop, capsys, monkeypatch):
    (tmp_path / "data" / "happy").mkdir(parents=True)
    for i in range(2):
        cv2.imwrite(str(tmp_path / "data" / "happy" / f"{i}.png"), cv2.cvtColor(face_crop, cv2.COLOR_RGB2GRAY))
    monkeypatch.setattr(loop, "emotion_loss", lambda *a: torch.tensor(float("nan")))
    out = tmp_path / "out"
    assert main(["--verbose", "finetune", "--emotion-folder", str(tmp_path / "data"), "-o", str(out)]) == 1
    assert capsys.readouterr().err.splitlines()[-1] == f"mf2: {out}: training failed (non-finite loss at step 1)"
    assert not (out / "model.safetensors").exists()


def test_figures_that_are_not_finite_or_forget_the_base_are_never_better():
    before = {"emotion_accuracy": 0.5, "au_mean_f1": 0.6, "base_emotion_accuracy": 0.664}
    assert improved(before, {**before, "emotion_accuracy": 0.9, "base_emotion_accuracy": 0.63})
    assert not improved(before, {**before, "emotion_accuracy": 0.9, "base_emotion_accuracy": 0.143})
    assert not improved(before, {**before, "emotion_accuracy": 0.9, "au_mean_f1": float("nan")})
    assert not improved({**before, "caption_r1": float("nan")}, {**before, "caption_r1": 0.5})


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, clip_faces):  # noqa: F811
    folder = tmp_path_factory.mktemp("guards") / "ds"
    store = DatasetStore(folder)
    accept_all(store, clip_faces, emotion="surprise")
    store.close()
    return folder


@pytest.fixture
def ds(dataset, tmp_path):
    """A fresh copy of the dataset for one test."""
    return shutil.copytree(dataset, tmp_path / "ds")


def test_a_diverging_dataset_run_is_failed_never_improved_never_used(ds, capsys, monkeypatch):
    real, calls = dfn.emotion_loss, []

    def nan_from_step_3(*args, **kwargs):  # two calls a step: the user's faces, the replay faces
        calls.append(1)
        loss = real(*args, **kwargs)
        return loss * float("nan") if len(calls) > 4 else loss

    monkeypatch.setattr(dfn, "emotion_loss", nan_from_step_3)
    assert main(["--verbose", "finetune", "--dataset", str(ds), "--steps", "40", "--json-progress"]) == 1
    version = ds / "models" / "v001"
    assert capsys.readouterr().err == f"mf2: {version}: training failed (non-finite loss at step 3)\n"
    (v,) = versions(ds)
    assert v.status == "failed" and v.record["failure"] == "non-finite loss at step 3"
    assert "improved" not in v.record and "after" not in v.record and not v.usable
    with pytest.raises(InputError, match="no finished model version 'v001'"):
        set_active(ds, "v001")
    (ds / "models" / "active.json").write_text(json.dumps({"version": "v001"}))  # as if chosen by hand
    assert active_model(ds) is None
    with pytest.raises(InputError, match="no unfinished fine-tuning run"):  # nothing to resume either
        run_finetune(ds, default_model_dir(), DfnSettings(steps=10), resume=True)


# --- resume ---------------------------------------------------------------------------------------

def test_a_torn_or_foreign_training_state_is_one_line(tmp_path):
    out, settings = tmp_path / "run", TrainSettings(phase="finetune", epochs=2, batch_size=16, tasks=("au",))
    train(MF2(ModelConfig()), tiny_data(), out, settings, stop_after=1)
    state = out / "train_state.pt"
    state.write_bytes(state.read_bytes()[:1000])  # torn mid-write
    with pytest.raises(InputError) as e:
        train(load_model(out), tiny_data(), out, settings, resume=True)
    one_line_error(e, state, "unreadable training state", "run without --resume")
    torch.save({"x": 1}, state)
    with pytest.raises(InputError) as e:
        train(load_model(out), tiny_data(), out, settings, resume=True)
    one_line_error(e, state, "not a training state (no 'optimizer')", "run without --resume")
    # the same for a dataset version's state
    model, n = MF2(ModelConfig()), 4
    data = UserData(np.zeros((n, 48, 48), np.uint8), np.repeat(CANONICAL_CENTERS[None], n, 0).astype(np.float32),
                    np.zeros(n, np.int64), np.full((n, len(model.cfg.aus)), np.nan, np.float32), [""] * n)
    (tmp_path / "v003").mkdir()
    (tmp_path / "v003" / "train_state.pt").write_bytes(b"PK\x03\x04 garbage")
    with pytest.raises(InputError) as e:
        finetune(model, data, None, tmp_path / "v003", DfnSettings(steps=40, views=1), resume=True)
    one_line_error(e, tmp_path / "v003" / "train_state.pt", f"delete {tmp_path / 'v003'} or run without --resume")


GARBAGE_RECORDS = {
    "not JSON": (b"{\"status\": \"runn", "not valid JSON"),
    "a list": (b"[1, 2]", "not a JSON object"),
    "no base": (json.dumps({"status": "running"}).encode(), "not a fine-tuning record"),
    "steps text": (None, "settings 'steps' must be int"),
    "unknown setting": (None, "not a fine-tuning record"),
}


@pytest.mark.parametrize("case", GARBAGE_RECORDS)
def test_a_garbage_run_record_on_resume_is_one_line(ds, case, capsys):
    raw, reason = GARBAGE_RECORDS[case]
    if raw is None:  # an edited record of a real run
        good = {"status": "cancelled", "base": {"path": str(default_model_dir())}, "settings": {"steps": 40},
                "data": {"train_ids": ["a"], "heldout_ids": ["b"]}}
        good["settings"] = {"steps": "40"} if case == "steps text" else {"steps": 40, "temperature": 3}
        raw = json.dumps(good).encode()
    (ds / "models" / "v001").mkdir(parents=True)
    (ds / "models" / "v001" / "run.json").write_bytes(raw)
    assert main(["--verbose", "finetune", "--dataset", str(ds), "--resume", "--json-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"mf2: {ds / 'models' / 'v001' / 'run.json'}: ")
    assert reason in err and f"delete {ds / 'models' / 'v001'} or run without --resume" in err


# --- one run at a time ----------------------------------------------------------------------------

def test_a_second_run_on_a_dataset_is_refused_at_once(ds):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom core.dataset.versions import _only_run\n"
         f"with _only_run({str(ds)!r}):\n    print('held', flush=True)\n    time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        t0 = time.perf_counter()
        for resume in (False, True):
            with pytest.raises(InputError) as e:
                run_finetune(ds, default_model_dir(), DfnSettings(steps=10), resume=resume)
            assert one_line_error(e) == f"{ds}: another fine-tuning run is using it (pid {holder.pid})"
        assert time.perf_counter() - t0 < 5 and versions(ds) == []
    finally:
        holder.kill()
        holder.wait()
    with pytest.raises(InputError, match="no unfinished fine-tuning run"):  # free again once it ended
        run_finetune(ds, default_model_dir(), DfnSettings(steps=10), resume=True)
    from core.dataset.versions import _only_run

    with _only_run(ds):  # and the run that raised let go of it
        pass
