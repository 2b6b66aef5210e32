"""The frozen sentence encoder loads offline from its wheel and separates meanings."""
import torch

from core.describe import describe
from core.model.text import EMBED_DIM, TextEncoder


def test_offline_embeddings_rank_paraphrases_first(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    encoder = TextEncoder()
    happy = [describe({6: 1.0, 12: 1.0}, "happy", seed=s).text for s in range(2)]
    angry = describe({4: 1.0, 7: 1.0, 23: 1.0}, "angry", seed=0).text
    v = encoder.encode(happy + [angry])
    assert v.shape == (3, EMBED_DIM)
    assert torch.allclose(v.norm(dim=1), torch.ones(3), atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.1
