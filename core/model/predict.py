"""Batched inference: aligned crops in, emotion probabilities and AU activations out (numpy)."""
from __future__ import annotations

import numpy as np
import torch

from .model import MF2
from .transform import to_input


@torch.no_grad()
def predict(model: MF2, images: np.ndarray, centers: np.ndarray, batch_size: int = 256,
            mirror: bool = False, geometry: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """``images`` (N, S, S) uint8 aligned grey crops, ``centers`` (N, P, 2). Returns ``emotion``
    (N, n_emotions) probabilities, ``au`` (N, n_AU) occurrence probabilities and ``global``
    (N, E) unit face embeddings. With ``mirror`` each face is also read mirrored and the two
    readings averaged (``regions``, the (N, R, E) region embeddings, are of the face as seen): about one point more FER accuracy for twice the compute, so evaluations
    can show it, while the per-frame pipeline reads each face once to stay within its budget.
    ``geometry`` (N, geometry_dim): each face's geometry minus its person's rest (None: at rest)."""
    model.eval()
    device = next(model.parameters()).device
    out: dict[str, list] = {"emotion": [], "au": [], "global": [], "regions": []}
    for start in range(0, len(images), batch_size):
        x = to_input(images[start:start + batch_size], device)
        c = torch.as_tensor(centers[start:start + batch_size], device=device)
        g = None if geometry is None else torch.as_tensor(np.nan_to_num(geometry[start:start + batch_size]),
                                                          dtype=torch.float32, device=device)
        n = len(x)
        if mirror:
            x = torch.cat([x, x.flip(-1)])
            c = torch.cat([c, torch.stack([1 - c[..., 0], c[..., 1]], -1)])
            g = None if g is None else torch.cat([g, g])
        o = model(x, c, g)
        views = 2 if mirror else 1
        out["emotion"].append(torch.softmax(o["emotion_logits"].float(), -1).reshape(views, n, -1).mean(0).cpu())
        out["au"].append(torch.sigmoid(o["au_logits"].float()).reshape(views, n, -1).mean(0).cpu())
        g = torch.nn.functional.normalize(o["global"].float(), dim=-1).reshape(views, n, -1).mean(0)
        out["global"].append(torch.nn.functional.normalize(g, dim=-1).cpu())
        out["regions"].append(o["regions"].float()[:n].cpu())  # the face as seen, for zero-shot AU reading
    return {k: torch.cat(v).numpy() if v else np.zeros((0,)) for k, v in out.items()}
