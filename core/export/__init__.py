"""Writers for analysis results (per-frame CSV in OpenFace 2.x layout)."""
from .openface import AU_THRESHOLD, OpenFaceWriter, model_values, openface_columns

__all__ = ["AU_THRESHOLD", "OpenFaceWriter", "model_values", "openface_columns"]
