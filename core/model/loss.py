"""Training losses: CLIP-style face-description alignment, AU-region alignment, supervised heads."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def contrastive_loss(image_emb: torch.Tensor, text_emb: torch.Tensor, same: torch.Tensor,
                     logit_scale: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE between (B, E) unit embeddings. ``same`` (B, B) bool marks pairs whose
    labels are identical: in a batch of FER faces many share a description, and those pairs are
    positives too, not negatives."""
    logits = logit_scale.exp().clamp(max=100) * image_emb @ text_emb.T
    targets = same.float() / same.float().sum(1, keepdim=True)
    return 0.5 * (torch.sum(-targets * F.log_softmax(logits, 1), 1).mean()
                  + torch.sum(-targets.T * F.log_softmax(logits.T, 1), 1).mean())


def region_alignment_loss(region_emb: torch.Tensor, au_text_emb: torch.Tensor, labels: torch.Tensor,
                          logit_scale: torch.Tensor) -> torch.Tensor:
    """Each AU's region embedding (B, A, E) should match that AU's description (A, E) exactly when
    the AU is active (sigmoid matching, as SigLIP); unlabelled entries (NaN) are ignored."""
    logits = logit_scale.exp().clamp(max=100) * (F.normalize(region_emb, dim=-1) * au_text_emb[None]).sum(-1) - 5.0
    return masked_bce(logits, labels)


def masked_bce(logits: torch.Tensor, labels: torch.Tensor, pos_weight: torch.Tensor | None = None,
               sample_weight: torch.Tensor | None = None) -> torch.Tensor:
    """Binary cross-entropy over labelled entries only (labels NaN = unknown); 0 if none.
    ``sample_weight`` (B,) weighs each sample's entries."""
    mask = ~torch.isnan(labels)
    if not mask.any():
        return logits.sum() * 0.0
    target = torch.nan_to_num(labels).clamp(0, 1)
    loss = F.binary_cross_entropy_with_logits(logits, target, reduction="none", pos_weight=pos_weight)
    weights = mask.float() if sample_weight is None else mask.float() * sample_weight[:, None]
    return (loss * weights).sum() / weights.sum()


def emotion_loss(logits: torch.Tensor, labels: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy over samples with an emotion label (-1 = none); 0 if none."""
    if not (labels >= 0).any():
        return logits.sum() * 0.0
    return F.cross_entropy(logits, labels, weight=weight, ignore_index=-1, label_smoothing=0.1)
