"""Landmarks kept out of memory: what is read back is what was put, whichever part holds it."""
from __future__ import annotations

import zipfile

import numpy as np
import pytest

from core.landmark_store import BLOCK, IN_MEMORY, LandmarkStore


def _landmarks(rows: int, points: int = 478, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-50, 2000, (rows, points, 2)).astype(np.float32)


def test_old_blocks_leave_memory_and_read_back_exactly():
    values = _landmarks(5 * BLOCK + 17)
    store = LandmarkStore()
    for row, points in enumerate(values):
        store.put(row, points)
    in_memory = [p for p in store._parts if isinstance(p, np.ndarray)]
    assert len(in_memory) == IN_MEMORY and len(store._parts) == 6  # four blocks went to the scratch file
    rng = np.random.default_rng(1)
    for rows in (np.arange(len(values)), rng.integers(0, len(values), 3000), np.array([len(values) - 1, 0, 5000]),
                 np.array([], np.int64)):
        assert np.array_equal(store.gather(rows), values[rows])
    for row in (0, BLOCK - 1, BLOCK, 3 * BLOCK + 5, len(values) - 1):
        assert np.array_equal(store.one(row), values[row])
    store.put(len(values) - 3, values[0])  # a frame taken back and added again: its rows are still in memory
    assert np.array_equal(store.one(len(values) - 3), values[0])
    store.close()


def test_a_saved_analysis_is_read_from_its_file(tmp_path):
    values = _landmarks(1000, 478, seed=2)
    path = tmp_path / "a.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        with z.open("other.npy", "w") as out:
            np.lib.format.write_array(out, np.arange(10))
        stored = zipfile.ZipInfo("landmarks.npy")
        with z.open(stored, "w", force_zip64=True) as out:
            np.lib.format.write_array(out, values)
    store = LandmarkStore.saved(path, "landmarks.npy", 1000)
    assert not [p for p in store._parts if isinstance(p, np.ndarray)]  # nothing read into memory
    assert np.array_equal(store.gather(np.array([999, 3, 500])), values[[999, 3, 500]])
    assert np.array_equal(store.one(7), values[7])
    store.close()
    with pytest.raises(ValueError, match="expected"):
        LandmarkStore.saved(path, "landmarks.npy", 999)
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as z:
        with z.open("packed.npy", "w") as out:
            np.lib.format.write_array(out, values)
    with pytest.raises(ValueError, match="compressed"):
        LandmarkStore.saved(path, "packed.npy", 1000)
