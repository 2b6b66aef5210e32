"""MF²: a face encoder seen at two levels and aligned with language, plus DFN heads.

- Global branch: a small residual CNN over the aligned grey crop -> one face embedding.
- Local branch: features sampled (``grid_sample``) at each AU region's landmarks-derived centre on
  the stage-3 feature map -> one embedding per region. Each AU is scored from its own region's
  embedding only, so every AU activation traces back to a patch of skin the studio can paint.
- Language alignment: learned projections into a space shared with the frozen MiniLM sentence
  embeddings, with a learned temperature (CLIP-style).
- DFN heads: the backbone is frozen after pre-training; a small side network per task re-reads
  the frozen features and feeds light heads (emotion, AU occurrence). There is no AU intensity
  head: the training data (CK+) labels occurrence only, and an untrained head would be a lie.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..faces.geometry import facs_mask
from .config import ModelConfig
from .transform import PATCH_REGION


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.skip = nn.Sequential() if stride == 1 and cin == cout else nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.skip(x))


class FaceEncoder(nn.Module):
    """Global + local face features. Outputs a dict: ``global`` (B, E), ``regions`` (B, R, E)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        w = cfg.widths
        self.stem = nn.Sequential(nn.Conv2d(1, w[0], 3, 1, 1, bias=False), nn.BatchNorm2d(w[0]), nn.ReLU())
        self.stage1 = nn.Sequential(ResBlock(w[0], w[0], 1), ResBlock(w[0], w[0], 1))
        self.stage2 = nn.Sequential(ResBlock(w[0], w[1], 2), ResBlock(w[1], w[1], 1))   # 1/2
        self.stage3 = nn.Sequential(ResBlock(w[1], w[2], 2), ResBlock(w[2], w[2], 1))   # 1/4: local branch
        self.stage4 = nn.Sequential(ResBlock(w[2], w[3], 2), ResBlock(w[3], w[3], 1))   # 1/8: global branch
        self.global_proj = nn.Sequential(nn.Dropout(0.3), nn.Linear(w[3], cfg.embed_dim))
        self.local_proj = nn.Sequential(nn.Linear(w[2] * 9, cfg.local_dim), nn.ReLU(), nn.Linear(cfg.local_dim, cfg.embed_dim))
        self.register_buffer("patch_region", torch.as_tensor(PATCH_REGION, dtype=torch.long), persistent=False)
        self.n_regions = len(cfg.regions)
        offsets = torch.stack(torch.meshgrid(torch.linspace(-1, 1, 3), torch.linspace(-1, 1, 3), indexing="xy"), -1)
        self.register_buffer("offsets", offsets.reshape(9, 2) * 0.08, persistent=False)  # 3x3 samples, ±8% of the crop

    def forward(self, image: torch.Tensor, centers: torch.Tensor) -> dict[str, torch.Tensor]:
        """``image`` (B, 1, S, S) normalised grey; ``centers`` (B, P, 2) patch centres in 0..1."""
        local_map, g = self.trunk(image)
        return {"global": self.global_proj(g), "regions": self.local(local_map, centers)}

    def trunk(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The convolutional backbone: (stage-3 map for the local branch, pooled stage-4 features)."""
        local_map = self.stage3(self.stage2(self.stage1(self.stem(image))))
        return local_map, self.stage4(local_map).mean(dim=(2, 3))

    def local(self, local_map: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
        """Local branch: one embedding per region (B, R, E) from 3x3 samples around each patch centre."""
        grid = (centers[:, :, None, :] * 2 - 1) + self.offsets[None, None]  # (B, P, 9, 2) in -1..1
        b, p = centers.shape[:2]
        sampled = F.grid_sample(local_map, grid.reshape(b, p * 9, 1, 2), align_corners=False)  # (B, C, P*9, 1)
        patches = sampled.reshape(b, -1, p, 9).permute(0, 2, 1, 3).reshape(b, p, -1)
        patch_emb = self.local_proj(patches)  # (B, P, E)
        regions = torch.zeros(b, self.n_regions, patch_emb.shape[-1], dtype=patch_emb.dtype, device=patch_emb.device)
        regions.index_add_(1, self.patch_region, patch_emb)
        counts = torch.bincount(self.patch_region, minlength=self.n_regions).clamp(min=1).to(patch_emb.dtype)
        return regions / counts[None, :, None]


class SideNetwork(nn.Module):
    """DFN side network: a residual MLP over frozen features, the only part trained per task."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x):
        return x + self.net(x)


class MF2(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        e = cfg.embed_dim
        self.encoder = FaceEncoder(cfg)
        self.text_proj = nn.Linear(cfg.text_dim, e, bias=False)
        if cfg.text_hidden:  # more room to tell what varied wordings mean; starts as the linear projection alone
            self.text_adapter = nn.Sequential(nn.Linear(cfg.text_dim, cfg.text_hidden), nn.GELU(),
                                              nn.Linear(cfg.text_hidden, e))
            nn.init.zeros_(self.text_adapter[2].weight)
            nn.init.zeros_(self.text_adapter[2].bias)
        self.logit_scale = nn.Parameter(torch.tensor(2.659))  # log(1/0.07), as CLIP starts
        # DFN: side networks + heads (emotion from the face, each AU from its region)
        self.emotion_side = SideNetwork(e, cfg.side_dim)
        self.emotion_head = nn.Linear(e, len(cfg.emotions))
        self.au_side = SideNetwork(e, cfg.side_dim)
        self.au_occurrence = nn.Parameter(torch.zeros(len(cfg.aus), e))
        self.au_occurrence_bias = nn.Parameter(torch.zeros(len(cfg.aus)))
        nn.init.normal_(self.au_occurrence, std=0.02)
        if cfg.geometry_dim:  # AUs and emotions also read the face's geometry relative to the person's neutral face
            self.au_geometry = nn.Parameter(torch.zeros(len(cfg.aus), cfg.geometry_dim))
            self.register_buffer("au_geometry_mask", torch.as_tensor(facs_mask(cfg.aus)))  # saved with the weights
            self.emotion_geometry = nn.Parameter(torch.zeros(len(cfg.emotions), cfg.geometry_dim))
            self.emotion_local = nn.Linear(e, len(cfg.emotions), bias=False)  # the emotion also reads the regions
            nn.init.zeros_(self.emotion_local.weight)
            self.register_buffer("geometry_scale", torch.as_tensor(cfg.geometry_scale or [1.0] * cfg.geometry_dim,
                                                                   dtype=torch.float32), persistent=False)
        self.register_buffer("au_region", torch.as_tensor([cfg.regions.index(r) for r in cfg.au_regions]),
                             persistent=False)
        if cfg.region_visibility:  # whether each region shows skin that can be read, or is covered (glasses, a hand, hair)
            self.visibility = nn.Parameter(torch.zeros(len(cfg.regions), e))
            self.visibility_bias = nn.Parameter(torch.zeros(len(cfg.regions)))

    def head_parameters(self, tasks: tuple[str, ...] = ("emotion", "au")):
        """The DFN part: side networks and heads of the given tasks."""
        prefixes = tuple(f"{t}_" for t in tasks)
        return [p for n, p in self.named_parameters() if n.startswith(prefixes)]

    def forward(self, image: torch.Tensor, centers: torch.Tensor, geometry: torch.Tensor | None = None
                ) -> dict[str, torch.Tensor]:
        return self.heads(self.encoder(image, centers), geometry)

    def heads(self, feats: dict[str, torch.Tensor], geometry: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """The DFN part on the encoder's features: fine-tuning on cached features calls this alone.
        ``geometry`` (B, geometry_dim): the face's geometry minus the person's neutral geometry;
        None reads every face as at its neutral geometry."""
        out = {**feats, "emotion_logits": self.emotion_logits(feats["global"], feats["regions"], geometry),
               "au_logits": self.au_logits(feats["regions"], geometry)}
        if self.cfg.region_visibility:
            out["visible_logits"] = self.visible_logits(feats["regions"])
        return out

    def visible_logits(self, regions: torch.Tensor) -> torch.Tensor:
        """(B, n_regions): > 0 where the region's skin can be read, < 0 where something covers it.
        Read from the frozen region embeddings (trained by core.training.occlusion)."""
        return (regions * self.visibility).sum(-1) + self.visibility_bias

    def emotion_logits(self, face: torch.Tensor, regions: torch.Tensor, geometry: torch.Tensor | None = None
                       ) -> torch.Tensor:
        """(B, n_emotions): from the whole face, and in v2 models also the mean region embedding
        and the geometry."""
        logits = self.emotion_head(self.emotion_side(face))
        if self.cfg.geometry_dim:
            logits = logits + self.emotion_local(regions.mean(1))
            if geometry is not None:
                logits = logits + (geometry / self.geometry_scale) @ self.emotion_geometry.T
        return logits

    def au_logits(self, regions: torch.Tensor, geometry: torch.Tensor | None = None) -> torch.Tensor:
        """(B, n_AU) occurrence logits: each AU from its own region's embedding, plus the geometry."""
        r = self.au_side(regions)[:, self.au_region]  # (B, n_AU, E)
        au = (r * self.au_occurrence).sum(-1) + self.au_occurrence_bias
        if geometry is not None and self.cfg.geometry_dim:
            au = au + self.geometry_logits(geometry)
        return au

    def geometry_logits(self, geometry: torch.Tensor) -> torch.Tensor:
        """The geometry's share of each AU logit: linear, so a change of the person's baseline
        shifts the logits without reading the face again."""
        return (geometry / self.geometry_scale) @ (self.au_geometry * self.au_geometry_mask).T

    def embed_text(self, text_embeddings: torch.Tensor) -> torch.Tensor:
        """Sentence embeddings (N, text_dim) as unit vectors of the shared face-text space."""
        projected = self.text_proj(text_embeddings)
        if self.cfg.text_hidden:
            projected = projected + self.text_adapter(text_embeddings)
        return F.normalize(projected, dim=-1)


def for_inference(model: MF2) -> MF2:
    """``model`` made faster to read faces with, in place: each batch norm folded into the
    convolution before it and the encoder in channels-last layout (measured on 2 cores: 8.5 ->
    6.4 ms a face alone, 5.9 -> 4.8 ms in batches of 8). Readings move by float rounding
    (~1e-6 in a logit); the model can no longer be trained."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    model.eval()
    encoder = model.encoder
    for block in encoder.modules():
        if isinstance(block, ResBlock):
            block.conv1, block.bn1 = fuse_conv_bn_eval(block.conv1, block.bn1), nn.Identity()
            block.conv2, block.bn2 = fuse_conv_bn_eval(block.conv2, block.bn2), nn.Identity()
            if len(block.skip):
                block.skip = nn.Sequential(fuse_conv_bn_eval(block.skip[0], block.skip[1]))
    encoder.stem = nn.Sequential(fuse_conv_bn_eval(encoder.stem[0], encoder.stem[1]), encoder.stem[2])
    encoder.to(memory_format=torch.channels_last)
    return model
