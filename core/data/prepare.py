"""Turns samples into model-ready arrays (aligned crops, region centres, labels), cached on disk.

Meshing 30 000 training crops takes minutes, so the result is kept in a cache file keyed by the
samples' sources, the crop size and this module's format version; later runs load it in a second.
Work is split over worker processes.
"""
from __future__ import annotations

import hashlib
import multiprocessing as mp
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..cache import cache_dir
from ..errors import InputError
from ..faces.geometry import N_FEATURES, face_geometry
from ..taxonomy import ACTION_UNITS, EMOTIONS
from ..video import read_image
from .sources import Sample

FORMAT_VERSION = 2  # 2: face geometry
AU_NUMBERS = tuple(au.number for au in ACTION_UNITS)


@dataclass
class Prepared:
    images: np.ndarray      # (N, S, S) uint8 grey, aligned
    centers: np.ndarray     # (N, P, 2) float32 patch centres, 0..1
    aligned: np.ndarray     # (N,) bool: landmarks were found (else canonical centres)
    geometry: np.ndarray    # (N, N_FEATURES) float32 face geometry, NaN where no landmarks
    emotions: np.ndarray    # (N,) int64 index into EMOTIONS, -1 unknown
    aus: np.ndarray         # (N, len(AU_NUMBERS)) float32, NaN where not labelled
    subjects: np.ndarray    # (N,) str, "" unknown
    texts: np.ndarray       # (N,) str: the sample's own description, "" to write one from its labels

    def __len__(self) -> int:
        return len(self.images)

    def au_labels(self, numbers) -> np.ndarray:
        """(N, len(numbers)) the AU labels in the order of ``numbers`` (a model's ``aus``), NaN for
        an AU these samples have no column for."""
        missing = np.full(len(self.aus), np.nan, np.float32)
        return np.stack([self.aus[:, AU_NUMBERS.index(n)] if n in AU_NUMBERS else missing for n in numbers], 1) \
            if len(numbers) else np.zeros((len(self.aus), 0), np.float32)

    def aus_with_positives(self) -> list[int]:
        """AU numbers labelled present in at least one sample: the only ones a head can learn or be scored on."""
        return [n for n, col in zip(AU_NUMBERS, self.aus.T) if np.nansum(col > 0) > 0]

    def subset(self, index) -> "Prepared":
        fields = ("images", "centers", "aligned", "geometry", "emotions", "aus", "subjects", "texts")
        return Prepared(*(getattr(self, f)[index] for f in fields))


def labels_of(samples: list[Sample]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    emotions = np.array([EMOTIONS.index(s.emotion) if s.emotion else -1 for s in samples], dtype=np.int64)
    aus = np.full((len(samples), len(AU_NUMBERS)), np.nan, dtype=np.float32)
    for i, s in enumerate(samples):
        for n, v in (s.aus or {}).items():
            if n in AU_NUMBERS:
                aus[i, AU_NUMBERS.index(n)] = v
    subjects = np.array([s.subject or "" for s in samples])
    texts = np.array([s.text or "" for s in samples], dtype=object)
    return emotions, aus, subjects, texts


def _crop_chunk(args) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    samples, size = args
    from ..faces import FaceTracker
    from ..model.transform import crop_input, face_input

    images, centers, aligned, geometry, errors = [], [], [], [], []
    with FaceTracker(static=True, min_confidence=0.3, hands=False) as tracker:
        for s in samples:
            try:
                pixels = s.pixels if s.pixels is not None else read_image(Path(s.source))
            except InputError as e:
                errors.append(str(e))
                pixels = np.zeros((size, size), np.uint8)
            if s.landmarks is not None:  # aligned by its own mesh, as the studio aligned it
                crop, c = face_input(pixels, s.landmarks, size)
                landmarks = s.landmarks
            else:
                crop, c, landmarks = crop_input(pixels, tracker, size)
            images.append(crop)
            centers.append(c)
            aligned.append(landmarks is not None)
            geometry.append(face_geometry(landmarks) if landmarks is not None else np.full(N_FEATURES, np.nan, np.float32))
    return np.stack(images), np.stack(centers), np.array(aligned), np.stack(geometry), errors


def prepare(samples: list[Sample], size: int, workers: int | None = None, use_cache: bool = True) -> Prepared:
    """Aligned crops and labels for ``samples``. An unreadable image raises InputError naming it."""
    key = hashlib.sha256(f"{FORMAT_VERSION}|{size}|".encode() + "\n".join(s.source for s in samples).encode()).hexdigest()[:20]
    path = cache_dir() / f"prepared-{key}.npz"
    emotions, aus, subjects, texts = labels_of(samples)
    if use_cache and path.is_file():
        with np.load(path) as z:
            return Prepared(z["images"], z["centers"], z["aligned"], z["geometry"], emotions, aus, subjects, texts)
    workers = max(1, min(workers or os.cpu_count() or 1, len(samples) // 64 or 1))
    step = -(-len(samples) // (workers * 8))
    chunks = [(samples[i:i + step], size) for i in range(0, len(samples), step)]
    if workers == 1:
        parts = [_crop_chunk(c) for c in chunks]
    else:
        with mp.get_context("spawn").Pool(workers) as pool:
            parts = pool.map(_crop_chunk, chunks)
    errors = [e for p in parts for e in p[4]]
    if errors:
        raise InputError(errors[0] + (f" (and {len(errors) - 1} more unreadable images)" if len(errors) > 1 else ""))
    images, centers, aligned, geometry = (np.concatenate([p[i] for p in parts]) for i in range(4))
    if use_cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, images=images, centers=centers, aligned=aligned, geometry=geometry)
        os.replace(tmp, path)
    return Prepared(images, centers, aligned, geometry, emotions, aus, subjects, texts)
