"""The AU task trained for real: MF²'s local branch, the AU heads and their geometry weights.

The backbone (stem to stage 4, pre-trained on FER2013, which has no AU labels) stays frozen, so
its stage-3 maps are computed once per face (and once mirrored, the augmentation). What the AU
task trains, on AU-labelled faces only and again inside every cross-validation fold:

- the local projection that turns the 3x3 stage-3 samples around each region into the region's
  embedding (before this it had never received a gradient);
- the AU side network and per-AU heads reading those embeddings;
- per-AU weights on the face geometry relative to the person's rest (`core.baseline`);
- AU-region <-> AU-description alignment: each AU's region embedding matches that AU's
  description (through the frozen text projection) exactly when the AU is labelled present.

Faces at rest (groups starting ``rest:``: strongly voted neutral photos, video frames judged at
rest by eye) show no AU at all, a negative for every head, which CK+'s peak frames never give:
without them the heads that only CK+ labels (AU5, 7, 15, 17, 24...) read resting faces as
active. With ``rest_epochs`` they are added in a second stage that trains the heads and geometry
weights alone, the local branch kept as the first stage left it (so what reads the region
embeddings, the emotion and visibility heads and the text alignment, stays valid).

Per-AU decision thresholds are chosen on out-of-fold predictions of the training data only.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..baseline import QUANTILES
from ..data.prepare import prepare
from ..data.sources import Sample, load_emotion_folder
from ..data.splits import group_folds
from ..evaluate import au_scores, f1_score
from ..faces.geometry import N_FEATURES
from ..model.config import ModelConfig
from ..model.loss import masked_bce, region_alignment_loss
from ..model.model import MF2
from ..model.transform import to_input
from ..taxonomy import EMOTIONS
from .emotion_heads import ferplus_votes
from .frozen import fit_parts


@dataclass
class AuData:
    maps: torch.Tensor       # (N, 2, C, H, W) frozen stage-3 maps of the face and its mirror image
    centers: np.ndarray      # (N, P, 2) patch centres, 0..1
    geometry: np.ndarray     # (N, N_FEATURES) geometry minus the person's rest, 0 where unknown
    labels: np.ndarray       # (N, n_AU) in the model's ``aus`` order, NaN unlabelled
    groups: np.ndarray       # (N,) person (CK+ subject, video): folds never split one

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index) -> "AuData":
        index = np.asarray(index)
        return AuData(self.maps[torch.as_tensor(index)], self.centers[index], self.geometry[index],
                      self.labels[index], self.groups[index])

    @staticmethod
    def join(parts: list["AuData"]) -> "AuData":
        return AuData(torch.cat([p.maps for p in parts]), *(np.concatenate([getattr(p, f) for p in parts])
                                                             for f in ("centers", "geometry", "labels", "groups")))


@dataclass
class AuSettings:
    epochs: int = 60
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-2
    align_weight: float = 0.5
    use_geometry: bool = True
    video_weight: float = 1.0     # loss weight of video frames (groups not from CK+) against CK+ photos
    seed: int = 0
    rest_epochs: int = 0          # then the heads alone again with the faces at rest added (0: not)
    rest_weight: float = 1.0      # loss weight of a face at rest in that stage
    rest_thresholds: bool = True  # faces at rest trained on also choose the thresholds (False: labelled faces only)


REST = "rest:"  # group prefix of faces at rest: every AU absent


def at_rest(groups: np.ndarray) -> np.ndarray:
    return np.char.startswith(groups.astype(str), REST)


@torch.no_grad()
def backbone_maps(model: MF2, images: np.ndarray, batch: int = 256) -> torch.Tensor:
    """(N, 2, C, H, W) stage-3 maps of aligned grey crops and of their mirror images."""
    model.eval()
    out = []
    for start in range(0, len(images), batch):
        x = to_input(images[start:start + batch], "cpu")
        out.append(torch.stack([model.encoder.trunk(x)[0], model.encoder.trunk(x.flip(-1))[0]], 1))
    return torch.cat(out)


def person_rest(geometry: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """(N, N_FEATURES) each face's person's rest geometry: the baseline quantiles of that person's
    faces (as `core.baseline` estimates it in video), NaN rows ignored."""
    rest = np.zeros_like(geometry)
    for g in np.unique(groups):
        rows = groups == g
        ok = geometry[rows][np.all(np.isfinite(geometry[rows]), 1)]
        if len(ok):
            rest[rows] = [np.quantile(ok[:, j], QUANTILES[j]) for j in range(N_FEATURES)]
    return rest


def untrained_au_side(base_dir, scale: np.ndarray, seed: int = 0) -> MF2:
    """``base_dir``'s model with geometry inputs (``scale``: each feature's unit) and its AU side
    (local projection, AU side network, heads, geometry weights) back at initial values, so that
    a cross-validation fold never starts from weights that saw its held-out people."""
    from pathlib import Path

    from safetensors.torch import load_file

    base_dir = Path(base_dir)
    cfg = ModelConfig.load(base_dir / "config.json")
    cfg.geometry_dim, cfg.geometry_scale = len(scale), tuple(round(float(s), 5) for s in scale)
    torch.manual_seed(seed)
    model = MF2(cfg)
    fresh = {k: v for k, v in model.state_dict().items() if k.startswith(("encoder.local_proj", "au_"))}
    state = {k: v for k, v in load_file(str(base_dir / "model.safetensors")).items() if k in model.state_dict()}
    model.load_state_dict({**model.state_dict(), **state, **fresh})
    return model.eval()


def rest_au_data(model: MF2, samples: list[Sample], name: str) -> AuData:
    """Photos of faces at rest (FER+ images most voters called neutral): every AU absent, each
    face its own rest (geometry 0), one group each. Faces the mesh did not find are left out."""
    data = prepare(samples, model.cfg.input_size)
    keep = np.flatnonzero(data.aligned)
    return AuData(backbone_maps(model, data.images[keep]), data.centers[keep],
                  np.zeros((len(keep), model.cfg.geometry_dim), np.float32), np.zeros((len(keep), len(model.cfg.aus))),
                  np.array([f"{REST}{name}:{i}" for i in keep]))


def ferplus_rest_faces(model: MF2, folder, votes_csv, count: int | None = None) -> AuData:
    """The first ``count`` FER+ photos of ``folder`` at least 9 of 10 voters called neutral, as
    faces at rest."""
    samples = load_emotion_folder(folder)
    votes = ferplus_votes([s.source for s in samples], votes_csv)
    neutral = [s for s, v in zip(samples, votes) if np.isfinite(v[0]) and v[EMOTIONS.index("neutral")] >= 9]
    return rest_au_data(model, neutral[:count], "fer")


def ckplus_au_data(model: MF2, samples: list[Sample]) -> AuData:
    """AU-labelled photos (CK+: several per subject) with geometry relative to each subject's rest."""
    data = prepare(samples, model.cfg.input_size)
    labels = data.au_labels(model.cfg.aus)
    geometry = data.geometry - person_rest(data.geometry, data.subjects)
    return AuData(backbone_maps(model, data.images), data.centers, np.nan_to_num(geometry), labels,
                  np.array(["ck:" + s for s in data.subjects]))


def au_parameters(model: MF2, local: bool = True) -> list[torch.nn.Parameter]:
    return (list(model.encoder.local_proj.parameters()) if local else []) + model.head_parameters(("au",))


def train_au(model: MF2, data: AuData, settings: AuSettings, au_text: torch.Tensor | None = None) -> list[float]:
    """Train the AU side of ``model`` in place; ``au_text`` (n_AU, text_dim) sentence embeddings of
    each AU's description for the region alignment (None: no alignment). With ``rest_epochs``, the
    faces at rest in ``data`` wait for the second stage (heads alone, every face; without it they
    are not trained on); ``epochs=0`` runs that stage alone on a model whose AU side is trained.
    Returns epoch losses."""
    rest = at_rest(data.groups)
    first = _train_stage(model, data.subset(np.flatnonzero(~rest)), settings, au_text, local=True) if settings.epochs else []
    if not settings.rest_epochs or not rest.any():
        return first
    heads = AuSettings(**{**settings.__dict__, "epochs": settings.rest_epochs})
    return first + _train_stage(model, data, heads, None, local=False)


def _train_stage(model: MF2, data: AuData, settings: AuSettings, au_text, local: bool) -> list[float]:
    params = au_parameters(model, local)
    if not settings.use_geometry and model.cfg.geometry_dim:
        with torch.no_grad():
            model.au_geometry.zero_()
        params = [p for p in params if p is not model.au_geometry]
    labels = torch.as_tensor(data.labels, dtype=torch.float32)
    labelled = ~torch.isnan(labels)
    positive = torch.nan_to_num(labels).clamp(0, 1).sum(0)
    pos_weight = ((labelled.sum(0) - positive) / positive.clamp(min=1)).clamp(1, 10)
    centers = torch.as_tensor(data.centers)
    geometry = torch.as_tensor(np.nan_to_num(data.geometry), dtype=torch.float32)
    groups = data.groups.astype(str)
    weight = torch.as_tensor(np.where(np.char.startswith(groups, "ck:"), 1.0,
                                      np.where(at_rest(groups), settings.rest_weight, settings.video_weight)),
                             dtype=torch.float32)
    text = model.embed_text(au_text).detach() if au_text is not None else None

    def loss_of(idx: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        mirror = torch.as_tensor(rng.random(len(idx)) < 0.5)
        c = centers[idx].clone()
        c[mirror, :, 0] = 1 - c[mirror, :, 0]
        with torch.set_grad_enabled(local):
            regions = model.encoder.local(data.maps[idx, mirror.long()], c + 0.01 * torch.randn_like(c))
        loss = masked_bce(model.au_logits(regions, geometry[idx] if settings.use_geometry else None), labels[idx],
                          pos_weight, weight[idx])
        if text is not None:
            loss = loss + settings.align_weight * region_alignment_loss(
                regions[:, model.au_region], text, labels[idx], model.logit_scale.detach())
        return loss

    return fit_parts(model, params, len(data), loss_of, settings.epochs, settings.batch_size, settings.lr,
                     settings.weight_decay, settings.seed)


@torch.no_grad()
def predict_au(model: MF2, data: AuData, use_geometry: bool = True, zero_regions: bool = False) -> np.ndarray:
    """(N, n_AU) probabilities, the face and its mirror image averaged. ``zero_regions``: the
    ablation in which the region embeddings carry nothing."""
    model.eval()
    c = torch.as_tensor(data.centers)
    mirrored = c.clone()
    mirrored[..., 0] = 1 - mirrored[..., 0]
    geometry = torch.as_tensor(np.nan_to_num(data.geometry), dtype=torch.float32) if use_geometry else None
    probs = []
    for view, centers in ((0, c), (1, mirrored)):
        regions = model.encoder.local(data.maps[:, view], centers)
        if zero_regions:
            regions = torch.zeros_like(regions)
        probs.append(torch.sigmoid(model.au_logits(regions, geometry)))
    return ((probs[0] + probs[1]) / 2).numpy()


def best_thresholds(truth: np.ndarray, prob: np.ndarray, min_positives: int = 5) -> np.ndarray:
    """Per AU the probability threshold with the best F1 on these labels (0.5 with too few positives)."""
    grid = np.round(np.arange(0.1, 0.91, 0.05), 2)
    out = np.full(truth.shape[1], 0.5)
    for j in range(truth.shape[1]):
        mask = ~np.isnan(truth[:, j])
        y = truth[mask, j] > 0.5
        if y.sum() < min_positives:
            continue
        scores = [f1_score(y, prob[mask, j] >= t) for t in grid]
        out[j] = grid[int(np.argmax(scores))]
    return out


def out_of_fold(make_model, data: AuData, settings: AuSettings, au_text, folds: int, seed: int,
                **predict_options) -> np.ndarray:
    """Predictions for every face from a model trained on the other folds' people."""
    probs = np.full(data.labels.shape, np.nan, np.float32)
    for k, test in enumerate(group_folds(data.groups, folds, seed)):
        train_idx = np.setdiff1d(np.arange(len(data)), test)
        model = make_model()
        train_au(model, data.subset(train_idx), AuSettings(**{**settings.__dict__, "seed": settings.seed + k}), au_text)
        probs[test] = predict_au(model, data.subset(test), settings.use_geometry, **predict_options)
    return probs


def fit_thresholds(make_model, data: AuData, settings: AuSettings, au_text, folds: int = 2, seed: int = 0) -> np.ndarray:
    """Thresholds from out-of-fold predictions within ``data`` (people-disjoint); faces at rest
    count only where they are trained on (``rest_epochs``) and ``rest_thresholds``."""
    if not (settings.rest_epochs and settings.rest_thresholds):
        data = data.subset(np.flatnonzero(~at_rest(data.groups)))
    return best_thresholds(data.labels, out_of_fold(make_model, data, settings, au_text, folds, seed))


def cross_validate(make_model, data: AuData, settings: AuSettings, au_text, folds: int = 5, **predict_options) -> dict:
    """People-disjoint k-fold: each fold's AU side is trained on the other folds and its thresholds
    are chosen on out-of-fold predictions inside those (an inner 2-fold split). Figures over all
    held-out predictions but faces at rest, at 0.5 and at the fold's thresholds; with faces at
    rest in ``data``, also the share of the held-out ones each AU is read on (``rest_read``)."""
    probs = np.full(data.labels.shape, np.nan, np.float32)
    decided = np.zeros(data.labels.shape, bool)
    for k, test in enumerate(group_folds(data.groups, folds, 0)):
        train = data.subset(np.setdiff1d(np.arange(len(data)), test))
        thresholds = fit_thresholds(make_model, train, settings, au_text, folds=2, seed=k)
        model = make_model()
        train_au(model, train, AuSettings(**{**settings.__dict__, "seed": settings.seed + k}), au_text)
        probs[test] = predict_au(model, data.subset(test), settings.use_geometry, **predict_options)
        decided[test] = probs[test] >= thresholds[None]
    aus = list(make_model().cfg.aus)
    photos = ~at_rest(data.groups)
    occurring = [j for j in range(len(aus)) if np.nansum(data.labels[photos, j] > 0.5) > 0]
    numbers = [aus[j] for j in occurring]
    out = {"at_0.5": au_scores(data.labels[photos][:, occurring], probs[photos][:, occurring], numbers),
           "thresholded": au_scores(data.labels[photos][:, occurring], decided[photos][:, occurring].astype(float),
                                    numbers), "folds": folds}
    if not photos.all():  # held-out faces at rest: how often each AU is read on them
        out["rest_read"] = {str(a): round(float(r), 4) for a, r in zip(aus, decided[~photos].mean(0))}
        out["rest_faces"] = int((~photos).sum())
    return out


def gate_rise(data: AuData, au_index: int, feature: int) -> float:
    """The rise of a geometry feature over the person's rest that best separates an AU's labelled
    presence on ``data`` (F1), read alone: where a FACS gate for that AU opens."""
    mask = ~np.isnan(data.labels[:, au_index])
    y = data.labels[mask, au_index] > 0.5
    x = data.geometry[mask, feature]
    grid = np.round(np.arange(0.0, 0.3, 0.005), 3)
    return float(grid[int(np.argmax([f1_score(y, x > t) for t in grid]))])
