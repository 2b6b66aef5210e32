"""Inputs a careless or hostile user gives `mf2 analyze`: images too large to decode, huge photos
with small faces, phone video stored sideways, FIFOs, empty names and odd folder entries."""
from __future__ import annotations

import os
import struct
import zlib

import cv2
import numpy as np
import pytest

from core.analyze import AnalyzeOptions, analyze_input
from core.errors import InputError
from core.video import MAX_PIXELS, read_image

from .conftest import moving_face_frames, set_display_rotation, write_clip
from .test_cli import mf2, read_rows


def png_header(path, width: int, height: int):
    """A PNG that says it is ``width`` x ``height`` (its pixels are never there to decode)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("size", [(30000, 30000), (40000, 30000)], ids=["mediapipe-crash", "over-2^30"])
def test_images_over_the_limit_are_refused_before_decoding(tmp_path, size):
    huge = png_header(tmp_path / "huge.png", *size)
    with pytest.raises(InputError) as error:
        read_image(huge)
    assert str(error.value) == (f"{huge}: {size[0]}x{size[1]} pixels is over the limit of "
                                f"{MAX_PIXELS / 1e6:.0f} megapixels (scale it down first)")


def test_bad_inputs_are_one_line_each_and_the_others_are_analysed(tmp_path, face_clip, face_crop):
    huge = png_header(tmp_path / "huge.png", 30000, 30000)
    fifo = tmp_path / "stream.mp4"
    os.mkfifo(fifo)
    photos = tmp_path / "photos"
    (photos / "more").mkdir(parents=True)
    cv2.imwrite(str(photos / "a.png"), cv2.cvtColor(face_crop, cv2.COLOR_RGB2BGR))
    os.mkfifo(photos / "b.png")
    (photos / "c.png").symlink_to(tmp_path / "gone.png")
    out = tmp_path / "out"
    run = mf2("analyze", huge, fifo, "", photos, face_clip, "-o", out, "--workers", "2", timeout=240)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    lines = sorted(run.stderr.strip().splitlines())
    assert lines == sorted([
        "mf2: 5 inputs: 2 written, 3 failed",
        "mf2: '': an empty input name",
        f"mf2: {photos / 'more'}: a subfolder (not searched: pass it as an input of its own) (skipped)",
        f"mf2: {photos / 'c.png'}: a broken symbolic link (skipped)",
        f"mf2: {photos / 'b.png'}: not a regular file (skipped)",
        f"mf2: {huge}: 30000x30000 pixels is over the limit of {MAX_PIXELS / 1e6:.0f} megapixels (scale it down first)",
        f"mf2: {fifo}: not a regular file (a FIFO)",
    ]), lines
    assert sorted(p.name for p in out.iterdir()) == [".mf2-inputs.json", "face.csv", "photos.csv", "photos.images.csv"]
    assert {r["success"] for r in read_rows(out / "photos.csv")[1]} == {"1"}
    # which photo each frame number is: one CSV for the folder, traceable to its files
    assert (out / "photos.images.csv").read_text() == "frame,image\n1,a.png\n"


def test_a_small_face_in_a_huge_photo_is_found(tmp_path, face_crop):
    photo = np.full((6000, 8000, 3), 120, np.uint8)
    face = cv2.resize(face_crop, (400, 400))
    photo[4100:4500, 5600:6000] = face  # 5% of the photo's width: too small for one detector pass
    path = tmp_path / "group.jpg"
    cv2.imwrite(str(path), cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
    result = analyze_input(str(path), tmp_path / "group.csv", AnalyzeOptions())
    assert result.ok and result.face_frames == 1
    assert result.notes == [f"{path}: frames of 8000x6000 pixels were scaled down to 2048x1536 for face detection"]
    row = read_rows(tmp_path / "group.csv")[1][0]
    assert 5600 < float(row["x_30"]) < 6000 and 4100 < float(row["y_30"]) < 4500  # the nose, in photo pixels


def test_phone_video_stored_sideways_is_analysed_upright(tmp_path, face_crop):
    upright = moving_face_frames(face_crop, n=6)
    stored = [np.ascontiguousarray(np.rot90(f)) for f in upright]  # the sensor's landscape pixels
    clip = set_display_rotation(write_clip(tmp_path / "phone.mp4", stored), 90)
    result = analyze_input(str(clip), tmp_path / "phone.csv", AnalyzeOptions())
    assert result.ok and result.face_frames == 6
    rows = read_rows(tmp_path / "phone.csv")[1]
    assert all(abs(float(r["pose_Rz"])) < 0.3 for r in rows)  # head upright, not at +-1.57 rad
    assert all(float(r["x_33"]) < 480 and float(r["y_8"]) < 360 for r in rows)  # in the shown 480x360 frame


def test_dataset_import_refuses_an_image_over_the_limit(tmp_path, face_crop):
    from core.dataset import DatasetStore
    from core.dataset.mfa import import_jsonl

    export = tmp_path / "export"
    (export / "images").mkdir(parents=True)
    png_header(export / "images" / "huge.png", 40000, 30000)
    cv2.imwrite(str(export / "images" / "face.png"), cv2.cvtColor(face_crop, cv2.COLOR_RGB2BGR))
    (export / "mfa.jsonl").write_text('{"image": "images/huge.png"}\n{"image": "images/face.png"}\n')
    with DatasetStore(tmp_path / "ds") as store:
        added, _, errors = import_jsonl(store, export / "mfa.jsonl")
        assert added == 1 and store.stats()["samples"] == 1
    assert len(errors) == 1 and errors[0].startswith(f"{export / 'mfa.jsonl'}:1: ")
    assert "40000x30000 pixels is over the limit" in errors[0]
