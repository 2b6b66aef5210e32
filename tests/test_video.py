"""Sources: true timestamps (also variable frame rate), seeking, and clear errors for bad input."""
import numpy as np
import pytest

from core.errors import InputError
from core.video import Camera, ImageSequence, VideoFile, open_source

from .conftest import SHARED_DATA, needs_shared, write_clip


def test_clip_frame_count_fps_and_timestamps(face_clip):
    with open_source(face_clip) as source:
        assert isinstance(source, VideoFile)
        assert source.frame_count == 12 and source.fps == pytest.approx(25)
        frames = list(source)
    assert [f.index for f in frames] == list(range(12))
    assert [f.timestamp for f in frames] == pytest.approx([i / 25 for i in range(12)], abs=1e-3)
    assert frames[0].rgb.shape == (360, 480, 3) and frames[0].rgb.dtype == np.uint8


def test_variable_frame_rate_is_kept(tmp_path, face_crop):
    times = [0.0, 0.04, 0.08, 0.30, 0.34, 1.00, 1.02]
    frames = [np.full((64, 64, 3), 40 * i, np.uint8) for i in range(len(times))]
    path = write_clip(tmp_path / "vfr.mp4", frames, times)
    with open_source(path) as source:
        assert source.frame_times() == pytest.approx(times, abs=1e-3)
        assert [f.timestamp for f in source] == pytest.approx(times, abs=1e-3)


def test_seek_lands_on_the_exact_frame(face_clip):
    with open_source(face_clip) as source:
        everything = list(source)
        for target in (7, 3, 11):
            frame = next(source.frames(start=target / 25))
            assert frame.index == target
            assert frame.timestamp == pytest.approx(target / 25, abs=1e-3)
            assert np.array_equal(frame.rgb, everything[target].rgb)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match=r"missing\.mp4: no such file"):
        open_source(tmp_path / "missing.mp4")


def test_text_file_named_mp4(tmp_path, face_clip):
    fake = tmp_path / "notes.mp4"
    fake.write_text("this is not a video\n")
    with pytest.raises(InputError, match=r"notes\.mp4: not a readable video"):
        open_source(fake)
    fake = fake.rename(tmp_path / "notes.txt")  # named as what it is: not taken for a damaged video
    with pytest.raises(InputError, match=r"notes\.txt: not a video or image file \("):
        open_source(fake)
    cut = tmp_path / "cut.mp4"  # a recording stopped before its index (written last) was: told apart from junk
    data = face_clip.read_bytes()
    assert data.rfind(b"moov") > len(data) // 2
    cut.write_bytes(data[:len(data) // 2])
    with pytest.raises(InputError, match=r"cut\.mp4: truncated or unfinished recording: an MP4/MOV file without its "
                                         r"index \(no 'moov' box"):
        open_source(cut)
    empty = tmp_path / "empty.mp4"  # a copy that never started
    empty.write_bytes(b"")
    with pytest.raises(InputError, match=r"empty\.mp4: empty file \(0 bytes\)"):
        open_source(empty)


def test_damaged_video_reports_the_frame_it_broke_after(tmp_path, face_clip):
    import av

    with av.open(str(face_clip)) as container:
        packets = [(p.pos, p.size) for p in container.demux(container.streams.video[0]) if p.size]
    assert len(packets) == 12
    data = bytearray(face_clip.read_bytes())
    for pos, size in packets[6:]:  # the data of frames 6-11 wiped; the index (frame times) intact
        data[pos:pos + size] = bytes(size)
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    with open_source(damaged) as source:
        assert source.frame_count == 12
        for start, first in ((0.0, 0), (3 / 25, 3)):  # from the start, and from a seek
            seen = []
            with pytest.raises(InputError) as e:
                for frame in source.frames(start):
                    seen.append(frame.index)
            assert seen == list(range(first, 6))  # every frame before the damage, none after it
            assert str(e.value).startswith(f"{damaged}: corrupt or truncated video after frame 6 (")


def test_a_video_cut_short_behind_an_index_at_its_front_is_reported_after_its_frames(tmp_path):
    """mp4 "faststart": the index lists every frame, so a cut file opens and reads as a shorter video
    unless the listed frames are compared with those that are there."""
    import av

    whole, cut = tmp_path / "whole.mp4", tmp_path / "cut.mp4"
    rng = np.random.default_rng(0)
    with av.open(str(whole), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        for _ in range(30):  # noise: every frame about as large as the next
            frame = av.VideoFrame.from_ndarray(rng.integers(0, 255, (120, 160, 3), np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    data = whole.read_bytes()
    assert data.find(b"moov") < data.find(b"mdat")
    cut.write_bytes(data[:len(data) * 6 // 10])
    with open_source(whole) as source:
        assert source.listed == 0 and len(list(source)) == 30
    with open_source(cut) as source:
        held = source.frame_count
        assert 10 < held < 25 and source.listed == 30
        seen = []
        with pytest.raises(InputError) as e:
            for frame in source:
                seen.append(frame.index)
    assert seen == list(range(held))  # every frame that is there, then the error
    assert str(e.value) == f"{cut}: truncated video: its index lists 30 frames, the file holds {held}"


def test_a_matroska_file_cut_short_says_so(tmp_path):
    """Matroska states its length in its header; a copy cut in half holds half the frames, quietly
    to the demuxer: the file's stated length against where its frames end tells."""
    import av

    whole, cut = tmp_path / "whole.mkv", tmp_path / "cut.mkv"
    rng = np.random.default_rng(0)
    with av.open(str(whole), "w") as out:
        stream = out.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        for _ in range(250):  # 10 s of noise
            for packet in stream.encode(av.VideoFrame.from_ndarray(rng.integers(0, 255, (120, 160, 3), np.uint8),
                                                                   format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    cut.write_bytes(whole.read_bytes()[:whole.stat().st_size // 2])
    with open_source(whole) as source:
        assert source.damage() is None and len(list(source)) == 250
    with open_source(cut) as source:
        message = source.damage()
        assert message.startswith(f"{cut}: truncated video: the file states 10.0 s, its frames end at ")
        with pytest.raises(InputError, match="the file states 10.0 s"):
            for _ in source:
                pass


class DroppingDecoder:
    """A container whose decoder gives nothing for one frame (as FFmpeg does for some damage)."""

    def __init__(self, container, pts: int):
        self.container, self.pts = container, pts

    def seek(self, *args, **kwargs):
        return self.container.seek(*args, **kwargs)

    def decode(self, stream):
        return (frame for frame in self.container.decode(stream) if frame.pts != self.pts)

    def close(self):
        self.container.close()


def test_a_frame_the_decoder_drops_leaves_a_gap_in_the_numbers(face_clip):
    with open_source(face_clip) as source:
        times = source.frame_times()
        source._container = DroppingDecoder(source._container, round(times[4] / float(source._stream.time_base))
                                            + source._start)
        frames = list(source)
    assert [f.index for f in frames] == [0, 1, 2, 3] + list(range(5, 12))
    assert [f.timestamp for f in frames] == pytest.approx([t for i, t in enumerate(times) if i != 4])


def test_image_folder_skips_junk_with_a_message(tmp_path, astronaut):
    import cv2

    cv2.imwrite(str(tmp_path / "a.png"), astronaut[:, :, ::-1])
    (tmp_path / "b.jpg").write_bytes(b"garbage")
    cv2.imwrite(str(tmp_path / "c.png"), astronaut[::2, ::2, ::-1])
    with open_source(tmp_path) as source:
        assert isinstance(source, ImageSequence) and source.static
        frames = list(source)
    assert [f.index for f in frames] == [0, 2]
    assert len(source.skipped) == 1 and "b.jpg: not a readable image" in source.skipped[0]


def test_grey_and_alpha_images_become_rgb(tmp_path, astronaut):
    import cv2

    grey, rgba = tmp_path / "grey.png", tmp_path / "rgba.png"
    cv2.imwrite(str(grey), astronaut[:, :, 0])
    cv2.imwrite(str(rgba), np.dstack([astronaut[:, :, ::-1], np.full(astronaut.shape[:2], 128, np.uint8)]))
    for path in (grey, rgba):
        (frame,) = list(open_source(path))
        assert frame.rgb.shape == (512, 512, 3)


def test_absent_camera():
    with pytest.raises(InputError, match="camera 57: no camera found"):
        Camera(57)


@needs_shared
@pytest.mark.parametrize("name", ["face_noface.mov", "noface_face.mov"])
def test_hevc_mov_decodes_with_timestamps(name):
    with open_source(SHARED_DATA / "videos" / name) as source:
        times = [f.timestamp for f in source]
    assert len(times) == source.frame_count == 169
    assert np.all(np.diff(times) > 0)
