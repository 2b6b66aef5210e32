"""Writers for analysis results (per-frame CSV in OpenFace 2.x layout)."""
from .openface import OpenFaceWriter, openface_columns

__all__ = ["OpenFaceWriter", "openface_columns"]
