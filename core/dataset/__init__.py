"""The user's MFA-style dataset: samples, their store, the caption editor's model, JSONL exchange
and the model versions fine-tuned on it."""
from .annotate import CaptionSession, Draft, Target
from .sample import Captions, DatasetSample, captions_for, crop_face, parse_au_marks
from .store import DatasetStore, Filter

__all__ = ["CaptionSession", "Captions", "DatasetSample", "DatasetStore", "Draft", "Filter", "Target",
           "captions_for", "crop_face", "parse_au_marks"]
