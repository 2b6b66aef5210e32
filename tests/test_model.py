"""The MF² network: region traceability, augmentation geometry, checkpoints, DFN freezing, resume."""
import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from core.data.prepare import Prepared
from core.errors import InputError
from core.faces.geometry import N_FEATURES
from core.model.config import ModelConfig
from core.model.model import MF2
from core.model.transform import CANONICAL_CENTERS, PATCH_REGION
from core.taxonomy import ACTION_UNITS
from core.training.augment import augment
from core.training.checkpoint import load_model, save_model
from core.training.loop import TrainSettings, train


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return MF2(ModelConfig()).eval()


def batch(n=2):
    torch.manual_seed(1)
    return torch.randn(n, 1, 48, 48), torch.as_tensor(CANONICAL_CENTERS).expand(n, -1, -1).clone()


def test_each_au_reads_only_its_own_region(model):
    x, c = batch()
    with torch.no_grad():
        before = model(x, c)["au_logits"]
        moved = c.clone()
        lips = model.cfg.regions.index("lips")
        moved[:, PATCH_REGION == lips] += 0.1  # look somewhere else for the lips only
        after = model(x, moved)["au_logits"]
    changed = {au.number for au, d in zip(ACTION_UNITS, (after - before).abs().amax(0)) if d > 1e-6}
    assert changed == {au.number for au in ACTION_UNITS if au.region == "lips"}


def test_augmentation_moves_centres_with_the_pixels():
    image = torch.zeros(16, 1, 48, 48)
    image[:, 0, 14, 30] = 10.0  # one bright dot at (x=30, y=14)
    centers = torch.tensor([[(30.5 / 48, 14.5 / 48)]]).expand(16, 1, 2).clone()
    out, moved = augment(image, centers, torch.Generator().manual_seed(3))
    checked = 0
    for img, c in zip(out[:, 0], moved[:, 0]):
        if img.max() < 3:  # the dot was erased by the random box
            continue
        y, x = divmod(int(img.argmax()), 48)
        assert abs(x + 0.5 - float(c[0]) * 48) < 1.6 and abs(y + 0.5 - float(c[1]) * 48) < 1.6
        checked += 1
    assert checked >= 8


def test_checkpoint_round_trip_and_foreign_files(model, tmp_path):
    save_model(model, tmp_path / "m", {"note": "test"})
    again = load_model(tmp_path / "m")
    x, c = batch()
    with torch.no_grad():
        assert torch.allclose(model(x, c)["emotion_logits"], again(x, c)["emotion_logits"])
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    ModelConfig().save(foreign / "config.json")
    save_file({"fc.weight": torch.zeros(3, 3)}, str(foreign / "model.safetensors"))
    with pytest.raises(InputError, match="do not fit the MF² architecture"):
        load_model(foreign)
    torch.save({"x": 1}, foreign / "model.safetensors")  # a pickle dressed as safetensors
    with pytest.raises(InputError, match="unreadable model"):
        load_model(foreign)
    with pytest.raises(InputError, match="not an MF² model folder"):
        load_model(tmp_path / "nowhere")


def tiny_data(n=64):
    rng = np.random.default_rng(0)
    emotions = rng.integers(0, 3, n)
    images = (rng.random((n, 48, 48)) * 60).astype(np.uint8)
    for i, e in enumerate(emotions):  # a learnable signal: a bright band whose height tells the class
        images[i, 8 + 12 * e: 16 + 12 * e] += 150
    aus = np.full((n, len(ACTION_UNITS)), np.nan, np.float32)
    aus[:, 0] = emotions == 1
    return Prepared(images, np.repeat(CANONICAL_CENTERS[None], n, 0), np.ones(n, bool),
                    np.full((n, N_FEATURES), np.nan, np.float32), emotions, aus,
                    np.array(["s"] * n), np.array([""] * n, dtype=object))


def test_dfn_finetune_trains_only_the_chosen_heads(tmp_path):
    model = MF2(ModelConfig())
    frozen_before = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("au_")}
    au_before = [p.detach().clone() for p in model.head_parameters(("au",))]
    train(model, tiny_data(), tmp_path / "ft", TrainSettings(phase="finetune", epochs=2, batch_size=16, tasks=("au",)))
    for k, v in model.state_dict().items():
        if k in frozen_before:  # encoder weights, BatchNorm statistics, emotion head: untouched
            assert torch.equal(v, frozen_before[k]), k
    assert any(not torch.equal(a, b) for a, b in zip(au_before, model.head_parameters(("au",))))
    assert model.cfg.trained_aus == (1,) and model.cfg.trained_emotions == ()  # only AU1 had labels
    assert load_model(tmp_path / "ft").cfg.trained_aus == (1,)


def test_the_shipped_model_finetunes_on_au_labels(tmp_path):
    """The shipped model has fewer AU heads than the taxonomy has AUs (AU43 is read from the
    eyelids): labels are matched to its heads by number (`mf2 finetune --au-csv` crashed)."""
    from core.cli import default_model_dir

    model = load_model(default_model_dir())
    assert len(model.cfg.aus) < len(ACTION_UNITS)
    before = [p.detach().clone() for p in model.head_parameters(("au",))]
    train(model, tiny_data(), tmp_path / "ft", TrainSettings(phase="finetune", epochs=1, batch_size=16, tasks=("au",)))
    assert any(not torch.equal(a, b) for a, b in zip(before, model.head_parameters(("au",))))
    assert 1 in load_model(tmp_path / "ft").cfg.trained_aus


def test_pretraining_learns_and_resumes(tmp_path, monkeypatch):
    import io
    import sys

    torch.manual_seed(0)
    model = MF2(ModelConfig())
    settings = TrainSettings(epochs=4, batch_size=16, lr=3e-3)
    shown = io.StringIO()
    monkeypatch.setattr(sys, "stderr", shown)  # as core.quiet moves it, after the loop was imported
    first = train(model, tiny_data(), tmp_path / "run", settings, stop_after=2)
    assert len(first) == 2
    assert [line.split()[0] for line in shown.getvalue().splitlines()] == ["epoch=1", "epoch=2"]
    resumed = load_model(tmp_path / "run")
    history = train(resumed, tiny_data(), tmp_path / "run", settings, resume=True)
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    assert history[-1]["emotion"] < history[0]["emotion"]
    assert resumed.cfg.trained_emotions == ("neutral", "happy", "sad")
    with pytest.raises(InputError, match="cannot resume with other settings"):
        train(resumed, tiny_data(), tmp_path / "run", TrainSettings(epochs=9, batch_size=16), resume=True)


def test_au_side_and_emotion_heads_train_only_their_parts():
    """The AU task trains the local branch, AU heads and geometry weights; the emotion task its
    heads; the backbone and the other task stay exactly as they were."""
    from core.training.au_local import AuData, AuSettings, train_au
    from core.training.emotion_heads import EmotionData, train_emotion

    cfg = ModelConfig(geometry_dim=N_FEATURES, geometry_scale=(0.05,) * N_FEATURES)
    model = MF2(cfg)
    rng = np.random.default_rng(0)
    n = 48
    labels = np.full((n, len(cfg.aus)), np.nan)
    geometry = rng.normal(0, 0.05, (n, N_FEATURES))
    labels[:, cfg.aus.index(1)] = geometry[:, 0] > 0  # AU1 follows the inner brow height
    data = AuData(torch.randn(n, 2, cfg.widths[2], 12, 12), np.repeat(CANONICAL_CENTERS[None], n, 0), geometry,
                  labels, np.array([f"ck:{i % 6}" for i in range(n)]))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    history = train_au(model, data, AuSettings(epochs=30, batch_size=16))
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith(("encoder.local_proj", "au_")) for k in changed)
    assert history[-1] < history[0]
    masked = (model.au_geometry * model.au_geometry_mask)[cfg.aus.index(1)].detach()
    assert masked[0] > 0 and float(masked.abs().sum()) == pytest.approx(float(masked[:5].abs().sum()))  # FACS mask

    before = {k: v.clone() for k, v in model.state_dict().items()}
    targets = np.eye(len(cfg.emotions))[rng.integers(0, 3, n)]
    emotions = EmotionData(torch.randn(n, 2, cfg.embed_dim), torch.randn(n, 2, cfg.embed_dim), geometry, targets,
                           np.ones_like(targets, dtype=bool))
    train_emotion(model, emotions, epochs=3, batch_size=16)
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("emotion_") for k in changed)


def test_faces_at_rest_train_the_au_heads_alone():
    """Faces at rest wait for the second stage: without it they are not trained on at all; in it
    only the AU heads and geometry weights move (the local branch, which the emotion and
    visibility heads read, stays bit for bit), and the heads learn to read rest as no AU."""
    from core.training.au_local import REST, AuData, AuSettings, predict_au, train_au

    cfg = ModelConfig(geometry_dim=N_FEATURES, geometry_scale=(0.05,) * N_FEATURES)
    rng = np.random.default_rng(1)
    n, r = 48, 32
    maps = torch.randn(n + r, 2, cfg.widths[2], 12, 12)
    labels = np.full((n + r, len(cfg.aus)), np.nan)
    j = cfg.aus.index(17)
    labels[:n, j] = rng.random(n) < 0.7  # CK+-like: the AU on most photos, never a face at rest
    labels[n:] = 0.0
    maps[n:] = maps[:r] * 0.2 + 0.5  # faces at rest: a look of their own
    groups = np.array([f"ck:{i % 6}" for i in range(n)] + [f"{REST}fer:{i}" for i in range(r)])
    data = AuData(maps, np.repeat(CANONICAL_CENTERS[None], n + r, 0), np.zeros((n + r, N_FEATURES)), labels, groups)
    photos = data.subset(np.arange(n))

    def trained(d, settings):
        torch.manual_seed(0)
        model = MF2(cfg)
        train_au(model, d, settings)
        return model

    plain = trained(photos, AuSettings(epochs=5, batch_size=16))
    ignored = trained(data, AuSettings(epochs=5, batch_size=16))
    assert all(torch.equal(a, b) for a, b in zip(plain.state_dict().values(), ignored.state_dict().values()))

    rest = data.subset(np.arange(n, n + r))
    before_state = {k: v.clone() for k, v in plain.state_dict().items()}
    before = predict_au(plain, rest)[:, j].mean()
    train_au(plain, data, AuSettings(epochs=0, rest_epochs=20, batch_size=16))
    changed = {k for k, v in plain.state_dict().items() if not torch.equal(before_state[k], v)}
    assert changed and all(k.startswith("au_") for k in changed)
    assert predict_au(plain, rest)[:, j].mean() < before - 0.2


def test_frozen_features_keep_no_autograd_graph(model):
    """Features of the frozen backbone are read without a graph: kept, every batch's activations
    stayed in memory (23 GB over FER2013's training set, the emotion script killed)."""
    from core.training.emotion_heads import frozen_features

    x, centers = batch(3)
    images = (x[:, 0].numpy() * 40 + 128).clip(0, 255).astype(np.uint8)
    faces, local = frozen_features(model, images, centers.numpy(), batch=2)
    assert faces.shape == (3, 2, model.cfg.embed_dim) and local.shape == (3, 2, model.cfg.embed_dim)
    assert faces.grad_fn is None and local.grad_fn is None
