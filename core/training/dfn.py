"""DFN fine-tuning on a user's dataset: the encoder stays frozen, so its features are computed once
(a few augmented views of each face) and only the side networks, heads and text projection train,
on the user's samples mixed with the replay bank. A run over a few dozen faces takes seconds on a
CPU, which is what lets the studio improve the model while people work.

Against forgetting, each step pairs the user's faces with as many replay faces: their emotion
labels are rehearsed, and their AU readings are held to the base model's (the replay data carries
no AU labels; distillation keeps every AU head close to where it started outside the user's data).
"""
from __future__ import annotations

import functools
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..evaluate import au_scores
from ..model.loss import contrastive_loss, emotion_loss, masked_bce
from ..model.model import MF2
from ..model.transform import face_input
from .checkpoint import load_train_state, restore_optimizer, save_model, save_train_state
from .loop import optimize
from .replay import ReplayBank, encode
from .text_align import TextTable, evaluation_prompts

STATE_FILE = "train_state.pt"


@dataclass
class DfnSettings:
    steps: int = 400
    batch_size: int = 32       # user faces per step (as many replay faces beside them)
    lr: float = 2e-3
    weight_decay: float = 1e-4
    views: int = 8             # augmented views of each user face, encoded once
    replay_weight: float = 1.0
    text: bool = True          # also align the text projection with the user's captions
    seed: int = 0
    device: str = "cpu"
    save_every: int = 100      # steps between checkpoints (what resume continues from)


@dataclass
class UserData:
    """The user's samples in the model's terms."""
    images: np.ndarray         # (N, S, S) aligned grey crops
    centers: np.ndarray        # (N, P, 2)
    emotions: np.ndarray       # (N,) index into cfg.emotions, -1 unlabelled
    aus: np.ndarray            # (N, len(cfg.aus)) 0..1, NaN unlabelled
    texts: list[str]           # multilevel caption, "" none

    def __len__(self) -> int:
        return len(self.emotions)

    def subset(self, index) -> "UserData":
        index = np.asarray(index, dtype=np.int64)
        return UserData(self.images[index], self.centers[index], self.emotions[index], self.aus[index],
                        [self.texts[i] for i in index])


def user_data(model: MF2, samples) -> UserData:
    """From `DatasetSample`s with crops: aligned with their stored landmarks, as the studio aligns."""
    cfg = model.cfg
    crops, centers = zip(*(face_input(s.crop, s.landmarks, cfg.input_size) for s in samples)) if samples else ((), ())
    size = cfg.input_size
    emotions = np.array([cfg.emotions.index(s.emotion) if s.emotion in cfg.emotions else -1 for s in samples], np.int64)
    aus = np.full((len(samples), len(cfg.aus)), np.nan, np.float32)
    for i, s in enumerate(samples):
        for n, v in s.aus.items():
            if n in cfg.aus:
                aus[i, cfg.aus.index(n)] = min(1.0, v)  # occurrence: any intensity counts as present
    return UserData(np.stack(crops) if crops else np.zeros((0, size, size), np.uint8),
                    np.stack(centers) if centers else np.zeros((0, 0, 2), np.float32),
                    emotions, aus, [s.captions.text for s in samples])


@functools.lru_cache(maxsize=1)
def _text_encoder(device: str):
    from ..model.text import TextEncoder

    return TextEncoder(device)


def _text_table(texts: list[str], device: str) -> tuple[torch.Tensor, dict[str, int]]:
    """Sentence embeddings of the distinct ``texts`` and each text's row."""
    unique = sorted(set(t for t in texts if t))
    with torch.no_grad():
        emb = _text_encoder(device).encode(unique).to(device) if unique else torch.zeros(0)
    return emb, {t: i for i, t in enumerate(unique)}


def mark_trained(model: MF2, data: UserData) -> None:
    """Heads the user's labels taught (an emotion or AU the base never had) start being reported."""
    cfg = model.cfg
    seen_e = {cfg.emotions[e] for e in np.unique(data.emotions) if e >= 0}
    cfg.trained_emotions = tuple(e for e in cfg.emotions if e in seen_e or e in cfg.trained_emotions)
    seen_a = {n for n, col in zip(cfg.aus, data.aus.T) if np.nansum(col > 0.5) > 0}
    cfg.trained_aus = tuple(n for n in cfg.aus if n in seen_a or n in cfg.trained_aus)


def finetune(model: MF2, data: UserData, replay: ReplayBank | None, out: Path, settings: DfnSettings,
             resume: bool = False, progress: Callable[[int, int, dict], None] | None = None,
             stop: Callable[[], bool] = lambda: False, teacher: MF2 | None = None) -> dict:
    """Train ``model``'s DFN part in place on ``data`` (+ ``replay``), saving it to ``out`` every
    `save_every` steps and at the end. The replay faces' AU readings are held to ``teacher``'s (the
    base model; by default ``model`` as it starts, which on a resume is already part-trained).
    Returns {"steps", "finished", "losses", "seconds"}; TrainingFailed if the run diverges (the
    checkpoints in ``out`` stay as the last finite step left them)."""
    device = settings.device
    torch.manual_seed(settings.seed)
    model.to(device).eval()
    generator = torch.Generator().manual_seed(settings.seed)
    views = [encode(model, data.images, data.centers)]
    views += [encode(model, data.images, data.centers, augment_with=generator) for _ in range(settings.views)]
    user_g = torch.stack([v["global"] for v in views]).to(device)     # (V, N, E)
    user_r = torch.stack([v["regions"] for v in views]).to(device)    # (V, N, R, E)
    user_e = torch.as_tensor(data.emotions, device=device)
    user_a = torch.as_tensor(data.aus, device=device)
    tasks = ("emotion", "au", "text") if settings.text and any(data.texts) else ("emotion", "au")
    if replay is not None and len(replay):
        rep_g, rep_r = replay.features["global"].to(device), replay.features["regions"].to(device)
        rep_e = replay.emotions.to(device)
        reader = (teacher if teacher is not None else model).to(device)
        with torch.no_grad():  # the base model's AU readings of the replay faces: distillation targets
            base_au = torch.sigmoid(reader.heads({"global": rep_g, "regions": rep_r})["au_logits"])
        trained = torch.tensor([n in model.cfg.trained_aus for n in model.cfg.aus], device=device)
        base_au = torch.where(trained[None], base_au, torch.full_like(base_au, float("nan")))
    if "text" in tasks:
        table = TextTable(evaluation_prompts())  # generated texts never hold an evaluation prompt
        ids = [table.paraphrases(None, model.cfg.emotions[int(e)], 1, seed=i % 4, whole=True)[0]
               for i, e in enumerate(replay.emotions)] if replay is not None else []
        texts = table.texts
        replay_texts = [texts[i] for i in ids]
        text_emb, text_index = _text_table(data.texts + replay_texts, device)
        user_t = torch.as_tensor([text_index.get(t, -1) for t in data.texts], device=device)
        rep_t = torch.as_tensor([text_index[t] for t in replay_texts], dtype=torch.long, device=device)
    mark_trained(model, data)

    for p in model.parameters():
        p.requires_grad_(False)
    params = model.head_parameters(tasks)
    for p in params:
        p.requires_grad_(True)
    optimizer = torch.optim.AdamW(params, lr=settings.lr, weight_decay=settings.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, settings.lr, total_steps=settings.steps,
                                                   pct_start=max(0.1, 2 / settings.steps))  # warm-up: 2 steps at least
    start, losses_seen = 0, []
    state_path = Path(out) / STATE_FILE
    if resume and state_path.is_file():
        way_out = f"delete {out} or run without --resume"
        state = load_train_state(state_path, device, ("optimizer", "schedule", "step", "losses"), way_out)
        start, losses_seen = restore_optimizer(state, optimizer, schedule, state_path, way_out, "step", "losses")
        generator.manual_seed(settings.seed + start)

    def save(step: int) -> None:
        save_model(model, out, {"dfn_settings": asdict(settings)})
        save_train_state({"optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(), "step": step,
                          "losses": losses_seen, "settings": asdict(settings)}, state_path)

    def pick(n: int, size: int) -> torch.Tensor:
        return torch.randint(n, (size,), generator=generator).to(device)

    t0, sums, count, step = time.perf_counter(), {}, 0, start
    n, b = len(data), settings.batch_size
    while step < settings.steps and not stop():
        i, v = pick(n, b), pick(len(views), b)
        out_u = model.heads({"global": user_g[v, i], "regions": user_r[v, i]})
        losses = {"emotion": emotion_loss(out_u["emotion_logits"], user_e[i]),
                  "au": masked_bce(out_u["au_logits"], user_a[i])}
        g_all, t_all = F.normalize(user_g[v, i], dim=-1), user_t[i] if "text" in tasks else None
        if replay is not None and len(replay):
            j = pick(len(replay), b)
            out_r = model.heads({"global": rep_g[j], "regions": rep_r[j]})
            w = settings.replay_weight
            losses["replay_emotion"] = w * emotion_loss(out_r["emotion_logits"], rep_e[j])
            losses["replay_au"] = w * masked_bce(out_r["au_logits"], base_au[j])
            if "text" in tasks:
                g_all = torch.cat([g_all, F.normalize(rep_g[j], dim=-1)])
                t_all = torch.cat([t_all, rep_t[j]])
        if "text" in tasks:
            keep = t_all >= 0
            if keep.sum() > 1:
                same = t_all[keep][:, None] == t_all[keep][None, :]
                losses["text"] = contrastive_loss(g_all[keep], model.embed_text(text_emb[t_all[keep]]), same,
                                                  model.logit_scale)
        optimize(sum(losses.values()), params, optimizer, schedule, losses, sums, step + 1)
        step += 1
        count += 1
        if step % 20 == 0 or step == settings.steps:
            record = {"step": step, **{k: round(val / count, 4) for k, val in sums.items()}}
            losses_seen.append(record)
            sums, count = {}, 0
            if progress:
                progress(step, settings.steps, record)
        if step % settings.save_every == 0 and step < settings.steps:
            save(step)
    save(step)
    if step >= settings.steps:
        state_path.unlink(missing_ok=True)
    return {"steps": step, "finished": step >= settings.steps, "losses": losses_seen,
            "seconds": round(time.perf_counter() - t0, 2)}


def _reported_emotion(model: MF2, logits: torch.Tensor) -> np.ndarray:
    """Index (into cfg.emotions) of the top emotion among those the studio reports."""
    reported = [model.cfg.emotions.index(e) for e in model.cfg.trained_emotions]
    return np.array(reported)[logits.cpu().numpy()[:, reported].argmax(1)]


@torch.no_grad()
def evaluate(model: MF2, data: UserData) -> dict:
    """What the studio would report on these faces, against their labels: emotion accuracy over
    the labelled ones (only emotions the model reports can be predicted), AU accuracy and mean F1
    over labelled AU entries (an AU the model does not report counts as absent), and how often a
    face's own caption is the closest of all the captions (R@1), when there are captions."""
    model.eval()
    cfg = model.cfg
    if len(data) == 0:
        return {"n": 0}
    device = next(model.parameters()).device
    feats = {k: v.to(device) for k, v in encode(model, data.images, data.centers).items()}
    out = model.heads(feats)
    result: dict = {"n": len(data)}
    labelled = data.emotions >= 0
    if labelled.any():
        pred = _reported_emotion(model, out["emotion_logits"])
        result["emotion_accuracy"] = round(float(np.mean(pred[labelled] == data.emotions[labelled])), 4)
        result["emotion_n"] = int(labelled.sum())
    prob = torch.sigmoid(out["au_logits"]).cpu().numpy()
    prob[:, [j for j, n in enumerate(cfg.aus) if n not in cfg.trained_aus]] = 0.0
    mask = ~np.isnan(data.aus)
    if mask.any():
        result["au_accuracy"] = round(float(np.mean((prob[mask] >= 0.5) == (data.aus[mask] > 0.5))), 4)
        result["au_mean_f1"] = round(au_scores(data.aus, prob, list(cfg.aus))["mean_f1"], 4)
        result["au_entries"] = int(mask.sum())
    captions = [t for t in data.texts if t]
    if len(set(captions)) > 1:
        unique = sorted(set(captions))
        emb, index = _text_table(unique, str(device))
        txt = model.embed_text(emb)
        has = [i for i, t in enumerate(data.texts) if t]
        img = F.normalize(feats["global"][has], dim=-1)
        best = (img @ txt.T).argmax(1).cpu().numpy()
        truth = np.array([index[data.texts[i]] for i in has])
        result["caption_r1"] = round(float(np.mean(best == truth)), 4)
        result["caption_chance"] = round(1 / len(unique), 4)
    return result


@torch.no_grad()
def evaluate_replay(model: MF2, bank: ReplayBank) -> dict:
    """Emotion accuracy on replay faces never rehearsed: what fine-tuning cost on the base data."""
    model.eval()
    device = next(model.parameters()).device
    pred = _reported_emotion(model, model.heads({k: v.to(device) for k, v in bank.features.items()})["emotion_logits"])
    return {"base_emotion_accuracy": round(float(np.mean(pred == bank.emotions.numpy())), 4), "base_n": len(bank)}


def improved(before: dict, after: dict, tolerance: float = 0.02, forgetting: float = 0.1,
             min_faces: int = 5) -> bool:
    """Whether the new model is the better one to put in front of the user: every figure compared
    is finite, no figure the studio reports (emotion accuracy, AU F1) drops by more than
    ``tolerance``, the accuracy on base faces never rehearsed drops by no more than ``forgetting``
    (what replay is tested to keep; the README's real check paid 0.034), and some figure (the two
    reported ones or caption R@1) rises. A reported figure measured on fewer than ``min_faces``
    held-out faces (``n``) cannot veto: on 2 faces one AU entry moves AU F1 by 0.2."""
    compared = [k for k in ("emotion_accuracy", "au_mean_f1", "caption_r1", "base_emotion_accuracy")
                if k in before and k in after]
    if not all(isinstance(d[k], (int, float)) and np.isfinite(d[k]) for d in (before, after) for k in compared):
        return False
    reported = [k for k in ("emotion_accuracy", "au_mean_f1") if k in compared]
    rises = [k for k in (*reported, "caption_r1") if k in compared and after[k] > before[k]]
    measured = before.get("n", min_faces) >= min_faces
    limits = {k: tolerance for k in reported if measured} | {k: forgetting for k in compared
                                                             if k == "base_emotion_accuracy"}
    return bool(rises) and all(after[k] >= before[k] - drop for k, drop in limits.items())