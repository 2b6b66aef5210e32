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


def test_a_saved_analysis_is_read_from_its_file(tmp_path):
    values = _landmarks(1000, 478, seed=2)
    path = tmp_path / "a.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        with z.open("other.npy", "w") as out:
            np.lib.format.write_array(out, np.arange(10))
        stored = zipfile.ZipInfo("landmarks.npy")
        with z.open(stored, "w", force_zip64=True) as out:
            np.lib.format.write_array(out, values)
    store = LandmarkStore.saved(open(path, "rb"), "landmarks.npy", 1000)
    assert not [p for p in store._parts if isinstance(p, np.ndarray)]  # nothing read into memory
    assert np.array_equal(store.gather(np.array([999, 3, 500])), values[[999, 3, 500]])
    assert np.array_equal(store.one(7), values[7])
    with pytest.raises(ValueError, match="expected"):
        LandmarkStore.saved(open(path, "rb"), "landmarks.npy", 999)
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as z:
        with z.open("packed.npy", "w") as out:
            np.lib.format.write_array(out, values)
    with pytest.raises(ValueError, match="compressed"):
        LandmarkStore.saved(open(path, "rb"), "packed.npy", 1000)


def test_a_frame_taken_back_across_a_block_boundary_is_put_again_where_it_belongs():
    values = _landmarks(BLOCK + 3, 5, seed=3)
    store = LandmarkStore()
    for row in range(BLOCK - 2):
        store.put(row, values[row])
    for row in range(BLOCK - 2, BLOCK + 1):  # a frame of three faces, the last of which fails
        store.put(row, values[-1])
    store.truncate(BLOCK - 2)  # as Analysis.add does when a face does not fit
    for row in range(BLOCK - 2, BLOCK + 3):
        store.put(row, values[row])
    assert np.array_equal(store.gather(np.arange(BLOCK + 3)), values)


def test_faces_added_after_a_loaded_analysis_start_a_block_of_their_own(tmp_path):
    values = _landmarks(10, 5, seed=4)
    path = tmp_path / "a.npz"
    with zipfile.ZipFile(path, "w") as z, z.open("landmarks.npy", "w") as out:
        np.lib.format.write_array(out, values[:7])
    store = LandmarkStore.saved(open(path, "rb"), "landmarks.npy", 7)
    for row in range(7, 10):
        store.put(row, values[row])
    assert np.array_equal(store.gather(np.arange(10)), values)
    big = _landmarks(3000, 5, seed=5)
    with zipfile.ZipFile(path, "w") as z, z.open("landmarks.npy", "w") as out:
        np.lib.format.write_array(out, big)
    store = LandmarkStore.saved(open(path, "rb"), "landmarks.npy", 3000)
    every = np.arange(0, 3000, 3)  # close rows over the whole file: read in spans of bounded size
    assert np.array_equal(store.gather(every), big[every])
