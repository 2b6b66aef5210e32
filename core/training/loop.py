"""The training loop shared by pre-training (whole model) and DFN fine-tuning (heads only).

Pre-training optimises the face encoder against four signals at once: emotion labels, AU labels
(masked where a sample has none), the CLIP-style match between each face and its multilevel
description, and the match between each AU region and its AU's description. DFN fine-tuning
freezes the encoder and the text projection and trains only the side networks and heads.
"""
from __future__ import annotations

import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..data.prepare import AU_NUMBERS, Prepared
from ..errors import InputError
from ..model.loss import contrastive_loss, emotion_loss, masked_bce, region_alignment_loss
from ..model.model import MF2
from ..model.text import TextEncoder
from ..model.transform import to_input
from ..taxonomy import AU_BY_NUMBER, EMOTIONS
from .augment import augment
from .checkpoint import load_train_state, non_finite, restore_optimizer, save_model, save_train_state
from .text_align import TextTable, evaluation_prompts

@dataclass
class TrainSettings:
    phase: str = "pretrain"       # or "finetune" (DFN: encoder frozen)
    epochs: int = 20
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 5e-4
    seed: int = 0
    device: str = "cpu"
    align_weight: float = 0.5     # weight of the two language-alignment losses
    tasks: tuple[str, ...] = ("emotion", "au")  # heads trained (fine-tuning trains only these)


def description_table(data: Prepared, paraphrases: int = 4) -> tuple[list[str], np.ndarray]:
    """(unique texts, per-sample index into them): each sample's own description (MFA data), or
    one written from its labels in one of ``paraphrases`` wordings."""
    table = TextTable(evaluation_prompts())  # generated texts never hold an evaluation prompt
    index = np.zeros(len(data), dtype=np.int64)
    for i in range(len(data)):
        if data.texts[i]:
            index[i] = table.add(data.texts[i])
            continue
        labelled = ~np.isnan(data.aus[i])
        aus = {n: float(v) for n, v, k in zip(AU_NUMBERS, data.aus[i], labelled) if k and v > 0} \
            if labelled.any() else None  # intensities on FACS's 0..5 scale too: describe's words clamp them
        emotion = EMOTIONS[data.emotions[i]] if data.emotions[i] >= 0 else None
        index[i] = table.paraphrases(aus, emotion, 1, seed=i % paraphrases, whole=True)[0]
    return table.texts, index


def au_texts(model: MF2) -> list[str]:
    return [f"{AU_BY_NUMBER[n].code} {AU_BY_NUMBER[n].name}: {AU_BY_NUMBER[n].description}" for n in model.cfg.aus]


def label_keys(data: Prepared) -> np.ndarray:
    """One integer per distinct (emotion, AU set), to find pairs that share a description."""
    keys = [f"{e}|" + ",".join(f"{v:.0f}" for v in row) for e, row in zip(data.emotions, data.aus)]
    _, inverse = np.unique(keys, return_inverse=True)
    return inverse


def mark_trained(model: MF2, data: Prepared, tasks: tuple[str, ...]) -> None:
    """Record in the config which emotions and AUs now have trained heads (saved with the weights)."""
    cfg = model.cfg
    if "emotion" in tasks:
        seen = {EMOTIONS[e] for e in np.unique(data.emotions) if e >= 0}
        cfg.trained_emotions = tuple(e for e in cfg.emotions if e in seen or e in cfg.trained_emotions)
    if "au" in tasks:
        seen = set(data.aus_with_positives())  # a head needs positive examples to learn anything
        cfg.trained_aus = tuple(n for n in cfg.aus if n in seen or n in cfg.trained_aus)


class TrainingFailed(Exception):
    """The loss, the gradients or the weights stopped being finite: the run is worthless, so it
    stops before writing such a model. The message says what and at which step."""


def optimize(loss: torch.Tensor, params: list, optimizer, schedule, losses: dict, sums: dict, step: int) -> None:
    """One step (gradients clipped at 5), adding each loss term into ``sums`` for the epoch's log.
    TrainingFailed instead of a step with a non-finite loss or gradient, or after a step that made
    a weight non-finite."""
    if not torch.isfinite(loss.detach()):
        raise TrainingFailed(f"non-finite loss at step {step}")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if not torch.isfinite(torch.nn.utils.clip_grad_norm_(params, 5.0)):
        raise TrainingFailed(f"non-finite gradients at step {step}")
    optimizer.step()
    schedule.step()
    if non_finite(enumerate(params)) is not None:
        raise TrainingFailed(f"non-finite weights at step {step}")
    for k, v in losses.items():
        sums[k] = sums.get(k, 0.0) + float(v.detach())


def train(model: MF2, data: Prepared, out: Path, settings: TrainSettings, resume: bool = False,
          stop_after: int | None = None, log=None) -> list[dict]:
    """Train in place; after every epoch the model folder ``out`` holds the current weights and the
    state to resume from (with the same settings). ``stop_after`` ends this call after that many
    epochs, as an interruption would. Returns one dict of figures per epoch. TrainingFailed if the
    run diverges (``out`` keeps the last finite epoch, if any). ``log``: where each epoch's line
    goes (default: ``sys.stderr`` as it is now, which core.quiet may have moved after import)."""
    log = log or sys.stderr
    device = settings.device
    torch.manual_seed(settings.seed)
    random.seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    model.to(device)
    frozen = settings.phase == "finetune"
    heads = set(map(id, model.head_parameters()))
    chosen = set(map(id, model.head_parameters(settings.tasks)))
    for p in model.parameters():  # the chosen heads always train; the rest only in pre-training
        p.requires_grad_(id(p) in chosen or (not frozen and id(p) not in heads))
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=settings.lr, weight_decay=settings.weight_decay)
    steps_per_epoch = max(1, len(data) // settings.batch_size)
    total = steps_per_epoch * settings.epochs
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, settings.lr, total_steps=total, pct_start=0.15)
    start_epoch, history = 0, []
    state_path = Path(out) / "train_state.pt"
    if resume and state_path.is_file():
        way_out = "run without --resume to start over"
        state = load_train_state(state_path, device, ("optimizer", "schedule", "epoch", "history", "settings"), way_out)
        try:
            before = {k: v for k, v in dict(state["settings"]).items() if k != "device"}
        except (TypeError, ValueError) as e:
            raise InputError(f"{state_path}: not a training state ({e}); {way_out}") from None
        now = {k: v for k, v in asdict(settings).items() if k != "device"}
        if before != now:
            changed = ", ".join(f"{k} {before.get(k)} -> {v}" for k, v in now.items() if before.get(k) != v)
            raise InputError(f"{out}: cannot resume with other settings ({changed})")
        start_epoch, history = restore_optimizer(state, optimizer, schedule, state_path, way_out, "epoch", "history")
        print(f"resuming at epoch {start_epoch + 1}", file=log)

    if not frozen:  # the language-alignment losses need the sentence embeddings; DFN does not
        with torch.no_grad():
            encoder = TextEncoder(device)
            texts, text_index = description_table(data)
            text_emb = encoder.encode(texts).to(device)
            au_text_emb = encoder.encode(au_texts(model)).to(device)
            del encoder
        text_index = torch.as_tensor(text_index, device=device)
        keys = torch.as_tensor(label_keys(data), device=device)
    mark_trained(model, data, settings.tasks)  # saved in the config with every epoch's weights
    images = torch.as_tensor(data.images)
    centers = torch.as_tensor(data.centers)
    emotions = torch.as_tensor(data.emotions)
    aus = torch.as_tensor(data.au_labels(model.cfg.aus))  # the data's columns in the heads' order
    counts = np.bincount(data.emotions[data.emotions >= 0], minlength=len(EMOTIONS)).astype(np.float64)
    class_weight = torch.as_tensor(np.where(counts > 0, (counts.sum() / np.maximum(counts, 1)) ** 0.5, 0.0),
                                   dtype=torch.float32, device=device)
    class_weight = class_weight / class_weight[counts > 0].mean()
    labelled = ~torch.isnan(aus)
    positive = torch.nan_to_num(aus).clamp(0, 1).sum(0)
    pos_weight = ((labelled.sum(0) - positive) / positive.clamp(min=1)).clamp(1, 10).to(device)
    generator = torch.Generator().manual_seed(settings.seed)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device == "cuda" else torch.autocast("cpu", enabled=False)

    last = settings.epochs if stop_after is None else min(settings.epochs, start_epoch + stop_after)
    for epoch in range(start_epoch, last):
        model.train()
        if frozen:
            model.encoder.eval()  # frozen BatchNorm statistics too
        order = torch.as_tensor(rng.permutation(len(data)))
        t0, sums, n = time.perf_counter(), {}, 0
        for step in range(steps_per_epoch):
            idx = order[step * settings.batch_size:(step + 1) * settings.batch_size]
            x, c = augment(to_input(images[idx], device), centers[idx].to(device), generator)
            e, a = emotions[idx].to(device), aus[idx].to(device)
            with autocast:
                outputs = model(x, c)
                losses = {}
                if "emotion" in settings.tasks:
                    losses["emotion"] = emotion_loss(outputs["emotion_logits"].float(), e, class_weight)
                if "au" in settings.tasks:
                    losses["au"] = masked_bce(outputs["au_logits"].float(), a, pos_weight)
                if not frozen:
                    img = torch.nn.functional.normalize(outputs["global"].float(), dim=-1)
                    txt = model.embed_text(text_emb[text_index[idx]])
                    same = keys[idx][:, None] == keys[idx][None, :]
                    losses["align_global"] = settings.align_weight * contrastive_loss(img, txt, same, model.logit_scale)
                    region = outputs["regions"][:, model.au_region].float()
                    losses["align_regions"] = settings.align_weight * region_alignment_loss(
                        region, model.embed_text(au_text_emb), a, model.logit_scale)
                loss = sum(losses.values())
            optimize(loss, params, optimizer, schedule, losses, sums, epoch * steps_per_epoch + step + 1)
            n += 1
            if log.isatty():
                rate = (step + 1) * settings.batch_size / (time.perf_counter() - t0)
                eta = (steps_per_epoch - step - 1) * settings.batch_size / rate
                print(f"\repoch {epoch + 1}/{settings.epochs} {100 * (step + 1) / steps_per_epoch:5.1f}% "
                      f"loss {float(loss):.3f} {rate:.0f} img/s ETA {eta:.0f}s   ", end="", file=log, flush=True)
        seconds = time.perf_counter() - t0
        record = {"epoch": epoch + 1, "seconds": round(seconds, 1), **{k: round(v / n, 4) for k, v in sums.items()}}
        history.append(record)
        print(("\r" if log.isatty() else "") + " ".join(f"{k}={v}" for k, v in record.items()), file=log, flush=True)
        save_model(model, out, {"settings": asdict(settings), "history": history})
        save_train_state({"optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(), "epoch": epoch + 1,
                          "history": history, "settings": asdict(settings)}, state_path)
    return history
