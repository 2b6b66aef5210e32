"""Training a few parameters of an otherwise frozen model on cached features: the one loop the
AU side (`au_local`) and the emotion heads (`emotion_heads`) share."""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch


def fit_parts(model, params: list[torch.nn.Parameter], n: int, loss_of: Callable[[torch.Tensor, np.random.Generator],
              torch.Tensor], epochs: int, batch_size: int, lr: float, weight_decay: float, seed: int) -> list[float]:
    """Train ``params`` only (everything else frozen, BatchNorm statistics included) over ``n``
    samples in shuffled batches, AdamW with a one-cycle schedule; ``loss_of(batch indices, rng)``
    gives a batch's loss. Returns the mean loss of each epoch."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    for p in model.parameters():
        p.requires_grad_(False)
    for p in params:
        p.requires_grad_(True)
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    steps = max(1, -(-n // batch_size))
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, lr, total_steps=steps * epochs, pct_start=0.15)
    model.train()
    model.encoder.eval()
    history = []
    try:
        for _ in range(epochs):
            order = rng.permutation(n)
            total = 0.0
            for s in range(steps):
                loss = loss_of(torch.as_tensor(order[s * batch_size:(s + 1) * batch_size]), rng)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                total += float(loss.detach())
            history.append(total / steps)
    finally:
        model.eval()
        for p in model.parameters():
            p.requires_grad_(True)
    return history
