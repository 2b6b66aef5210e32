"""Batch augmentation on the CPU or GPU, moving the AU patch centres with the pixels."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def augment(images: torch.Tensor, centers: torch.Tensor, generator: torch.Generator | None = None,
            rotate: float = 12.0, scale: float = 0.1, shift: float = 0.06) -> tuple[torch.Tensor, torch.Tensor]:
    """Random mirror, rotation, scale, shift, contrast/brightness and one erased box per image.

    ``images`` (B, 1, S, S) float, ``centers`` (B, P, 2) in 0..1. Mirroring keeps every patch in
    its region (bilateral patches swap sides, and regions average both sides).
    """
    b, device = images.shape[0], images.device

    def rand(*shape):
        return torch.rand(*shape, generator=generator, device="cpu").to(device)

    flip = torch.where(rand(b) < 0.5, -1.0, 1.0)
    angle = (rand(b) * 2 - 1) * math.radians(rotate)
    zoom = 1 + (rand(b) * 2 - 1) * scale
    tx, ty = ((rand(b) * 2 - 1) * shift * 2 for _ in range(2))
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    # theta maps output coords (-1..1) to input coords
    theta = torch.stack([torch.stack([cos * flip, -sin, tx], 1), torch.stack([sin * flip, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    out = F.grid_sample(images, grid, padding_mode="border", align_corners=False)
    # centres: input -> output is the inverse of theta
    full = torch.cat([theta, torch.tensor([0.0, 0.0, 1.0], device=device).expand(b, 1, 3)], 1)
    inv = torch.linalg.inv(full)[:, :2]
    c = centers * 2 - 1
    c = torch.einsum("bij,bpj->bpi", inv[:, :, :2], c) + inv[:, None, :, 2]
    new_centers = ((c + 1) / 2).clamp(0, 1)
    contrast = 1 + (rand(b, 1, 1, 1) * 2 - 1) * 0.3
    bright = (rand(b, 1, 1, 1) * 2 - 1) * 0.3
    out = out * contrast + bright
    s = images.shape[-1]
    size = (rand(b) * 0.35 * s).long()
    x0 = (rand(b) * s).long()
    y0 = (rand(b) * s).long()
    ys = torch.arange(s, device=device)[None, :, None]
    xs = torch.arange(s, device=device)[None, None, :]
    box = (ys >= y0[:, None, None]) & (ys < (y0 + size)[:, None, None]) & \
          (xs >= x0[:, None, None]) & (xs < (x0 + size)[:, None, None]) & (rand(b)[:, None, None] < 0.5)
    out = out.masked_fill(box[:, None], 0.0)
    return out, new_centers
