"""One video on several workers: split into chunks, joined into what one pass writes (frames,
timestamps, rows, track ids, each person's baseline), and still one line per failure."""
from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from core.chunks import Chunk, ChunkFeed, ChunkResult, pieces_for, plan_chunks
from core.cli import default_model_dir
from core.faces import Face, FaceTracker
from core.faces.pose import HeadPose
from core.model.scorer import FaceScorer
from core.pipeline import analysed_frames, read_frames
from core.video import open_source

from .conftest import SHARED_DATA, moving_face_frames, needs_shared, write_clip
from .test_cli import mf2, read_rows
from .test_job_control import finish, group, start, wait_for


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory, face_crop) -> Path:
    """20 s of a face gliding across the frame."""
    return write_clip(tmp_path_factory.mktemp("chunks") / "first.mp4", moving_face_frames(face_crop, n=500, size=(320, 240)))


def test_chunks_tile_the_video_and_start_at_keyframes():
    times = [i / 25 for i in range(1000)]  # 40 s at 25 fps, a keyframe every 70 frames
    chunks = plan_chunks(times, list(range(0, 1000, 70)), 4)
    assert [c.start for c in chunks] == [0, 280, 490, 770]  # the keyframes nearest 250, 500, 750
    assert [c.end for c in chunks] == [280, 490, 770, None]
    assert [c.start - c.first for c in chunks] == [0, 25, 25, 25]  # a second of lead, none for the first
    assert len(plan_chunks(times, [0], 4)) == 4 and plan_chunks(times, [0], 4)[1].start == 250  # no keyframe near
    assert pieces_for(30, 2, 120) == 1      # short: one pass
    assert pieces_for(600, 2, 120) == 5     # no chunk over 2 minutes
    assert pieces_for(100, 8, 120) == 3     # none under a quarter of the chunk length
    assert pieces_for(600, 2, 0) == 1       # chunking off


def face(track: int, x: float) -> Face:
    return Face(track, np.array([x, 10, x + 50, 60], np.float32), 0.9, np.zeros((478, 3), np.float32), HeadPose(0, 0, 0))


def test_tracks_keep_their_ids_across_a_boundary():
    """Two faces cross from chunk 0 into chunk 1, where the tracker numbered them the other way
    round; a third face appears in chunk 1 only."""
    first = ChunkResult([(i, i / 25, [face(0, 0), face(1, 200)], None) for i in range(0, 50)])
    second = ChunkResult([(i, i / 25, [face(0, 200), face(1, 0)] + ([face(2, 400)] if i >= 60 else []), None)
                          for i in range(40, 100)])
    feed = ChunkFeed([Chunk(0, 0, 0, 50), Chunk(1, 40, 50, None)], 100)
    feed.put(1, second)  # out of order, as workers finish
    feed.put(0, first)
    frames = list(feed.frames())
    assert [r.index for r in frames] == list(range(100))
    assert {(f.track_id, float(f.box[0])) for r in frames for f in r.faces} == {(0, 0), (1, 200), (2, 400)}
    assert all([f.track_id for f in r.faces] == sorted(f.track_id for f in r.faces) for r in frames)


def test_frames_handed_in_piece_by_piece_join_as_whole_chunks_do():
    """Workers hand frames over as they read them: pieces cut inside the lead and right at a
    chunk's start, the later chunk complete before the earlier one, a last piece with no frames;
    the join reads the same as from whole chunks, and holds nothing afterwards."""
    from core.chunks import WorkerLost

    first = [(i, i / 25, [face(0, 0), face(1, 200)], None) for i in range(0, 50)]
    second = [(i, i / 25, [face(0, 200), face(1, 0)] + ([face(2, 400)] if i >= 60 else []), None) for i in range(40, 100)]
    chunks = [Chunk(0, 0, 0, 50), Chunk(1, 40, 50, None)]
    whole = ChunkFeed(chunks, 100)
    whole.put(0, ChunkResult(first))
    whole.put(1, ChunkResult(second))
    expected = [(r.index, [(f.track_id, float(f.box[0])) for f in r.faces]) for r in whole.frames()]

    pieces = ChunkFeed(chunks, 100)
    pieces.add(1, second[:5])    # inside the lead (frames 40-44)
    pieces.add(1, second[5:10])  # the lead's end, right before the chunk's start at 50
    pieces.put(1, ChunkResult(second[10:]))
    joined = []
    reader = threading.Thread(target=lambda: joined.extend(pieces.frames()))
    reader.start()
    for part in (first[:7], first[7:30]):
        pieces.add(0, part)
        time.sleep(0.05)
    pieces.put(0, ChunkResult(first[30:]))
    reader.join(10)
    assert [(r.index, [(f.track_id, float(f.box[0])) for f in r.faces]) for r in joined] == expected
    assert pieces.held() == 0

    lost = ChunkFeed(chunks, 100)
    lost.add(0, first[:20])
    lost.fail(WorkerLost("the worker analysing it crashed"))
    with pytest.raises(WorkerLost):
        list(lost.frames())


def test_a_worker_hands_its_frames_over_as_it_reads_them(face_clip, monkeypatch):
    """With ``deliver``, a chunk's frames leave the worker PART at a time, in order; with what is
    left in the result, they are the frames of the chunk read whole."""
    import core.chunks
    from core.analyze import AnalyzeOptions

    monkeypatch.setattr(core.chunks, "PART", 5)
    chunk = Chunk(0, 0, 0, None)
    whole = core.chunks.analyze_chunk(str(face_clip), chunk, AnalyzeOptions())
    delivered: list[list] = []
    rest = core.chunks.analyze_chunk(str(face_clip), chunk, AnalyzeOptions(), deliver=lambda f: delivered.append(list(f)))
    assert [len(p) for p in delivered] == [5, 5] and len(rest.frames) == len(whole.frames) - 10 > 0
    streamed = [f for p in delivered for f in p] + rest.frames
    assert [(i, [(f.track_id, f.landmarks.tobytes()) for f in faces]) for i, _, faces, _ in streamed] == \
           [(i, [(f.track_id, f.landmarks.tobytes()) for f in faces]) for i, _, faces, _ in whole.frames]


def test_joined_chunks_read_each_person_as_one_pass_does(face_clip):
    """The baseline runs on across chunks: the same frames cut into two chunks (the second
    numbering the face differently) score exactly as one pass scores them."""
    scorer = FaceScorer(default_model_dir())
    with open_source(face_clip) as source, FaceTracker() as tracker:
        read = list(read_frames(source, tracker, scorer))
    scorer.reset()
    with open_source(face_clip) as source, FaceTracker() as tracker:
        one_pass = list(analysed_frames(source, tracker, scorer))
    renumbered = [(i, t, [Face(7, f.box, f.confidence, f.landmarks, f.pose) for f in faces], raw)
                  for i, t, faces, raw in read[4:]]
    feed = ChunkFeed([Chunk(0, 0, 0, 6), Chunk(1, 4, 6, None)], len(read))
    feed.put(0, ChunkResult(read[:6]))
    feed.put(1, ChunkResult(renumbered))
    scorer.reset()
    joined = list(feed.frames(scorer))
    assert [(r.index, [(f.track_id, f.au, f.emotion) for f in r.faces]) for r in joined] == \
           [(r.index, [(f.track_id, f.au, f.emotion) for f in r.faces]) for r in one_pass]


@needs_shared
def test_a_chunked_video_writes_what_one_pass_writes(tmp_path):
    """A real clip (472 frames, one face) in five chunks on two workers, against one worker."""
    video = SHARED_DATA / "videos" / "WolfgangLanger_Pexels.mp4"
    one = mf2("analyze", video, "-o", tmp_path / "one", "--workers", "1")
    chunked = mf2("analyze", video, "-o", tmp_path / "chunked", "--workers", "2", "--chunk", "5")
    assert one.returncode == 0 and chunked.returncode == 0, chunked.stderr
    assert chunked.stdout.replace("/chunked/", "/one/") == one.stdout
    header, a = read_rows(tmp_path / "one" / "WolfgangLanger_Pexels.csv")
    header_b, b = read_rows(tmp_path / "chunked" / "WolfgangLanger_Pexels.csv")
    assert header == header_b and len(a) == len(b) == 472
    for key in ("frame", "timestamp", "face_id", "person", "success"):
        assert [r[key] for r in a] == [r[key] for r in b]
    assert a[:144] == b[:144]  # the first chunk (to the keyframe at 144) is the same pass
    xy = [h for h in header if h.startswith(("x_", "y_"))]
    moved = np.array([[abs(float(r[h]) - float(s[h])) for h in xy] for r, s in zip(a, b)])
    assert np.median(moved) < 1.5 and np.percentile(moved.max(1), 95) < 6  # mesh jitter, on a face 300 px tall
    present = [h for h in header if h.endswith("_c")]
    agree = np.mean([r[h] == s[h] for r, s in zip(a, b) for h in present])
    assert agree > 0.95


def workers_of(pid: int) -> list[int]:
    return [p for p in group(pid) if p != pid and b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()]


def test_a_crashed_chunk_worker_costs_its_video_alone(tmp_path, long_clip):
    out = tmp_path / "out"
    proc = start("analyze", long_clip, "-o", out, "--workers", "2", "--chunk", "4")
    wait_for(lambda: any(p.stat().st_size > 4000 for p in out.glob(".*.part")))  # the first chunk joined
    for pid in workers_of(proc.pid):  # the busy ones, and any that just finished its chunk and is ending
        try:
            os.kill(pid, signal.SIGSEGV)
        except ProcessLookupError:
            pass
    rc, stdout, stderr = finish(proc, timeout=150)
    assert rc == 2  # nothing written
    lines = stderr.strip().splitlines()
    assert any(line.startswith(f"mf2: {long_clip}: the worker analysing it crashed (SIGSEGV inside a native library) "
                                "(in its chunk from frame") and line.endswith("; nothing written") for line in lines), lines
    assert "Traceback" not in stderr and list(out.iterdir()) == []


def test_sigterm_stops_a_chunked_video(tmp_path, long_clip):
    out = tmp_path / "out"
    proc = start("analyze", long_clip, "-o", out, "--workers", "2", "--chunk", "4")
    wait_for(lambda: len(workers_of(proc.pid)) == 2)
    time.sleep(3)
    os.kill(proc.pid, signal.SIGTERM)
    rc, _, stderr = finish(proc)
    assert rc == 128 + signal.SIGTERM
    assert f"{long_clip}: stopped by SIGTERM" in stderr and "nothing written" in stderr and "Traceback" not in stderr
    wait_for(lambda: not group(proc.pid), timeout=10)
    assert list(out.iterdir()) == []


def test_workers_replaced_after_their_share_of_chunks_write_the_same_csv(tmp_path, face_crop, monkeypatch):
    """A worker ends after CHUNKS_PER_PROCESS chunks (MediaPipe leaves memory behind every chunk;
    1 by default, 3 here) and a fresh one takes the next: a chunk's result does not depend on the
    worker's history."""
    from core import batch
    from core.analyze import AnalyzeOptions

    clip = write_clip(tmp_path / "ten.mp4", moving_face_frames(face_crop, n=250, size=(320, 240)))  # 4 chunks
    options = AnalyzeOptions(chunk_s=3)
    spawned, retired = [], []
    spawn, retire = batch._Pool._spawn, batch._Pool._retire
    monkeypatch.setattr(batch._Pool, "_spawn", lambda pool: spawned.append(1) or spawn(pool))
    monkeypatch.setattr(batch._Pool, "_retire", lambda pool, w: retired.append(w.process) or retire(pool, w))
    csv, default = {}, 3
    for share in (default, 1):
        monkeypatch.setattr(batch, "CHUNKS_PER_PROCESS", share)
        spawned.clear()
        [result] = batch.run_jobs([str(clip)], [tmp_path / f"{share}.csv"], options, workers=2)
        assert result.error is None and result.frames == 250
        csv[share] = ((tmp_path / f"{share}.csv").read_bytes(), len(spawned))
    assert csv[1][1] == 4 and csv[default][1] == 2  # a fresh worker for each chunk after two
    assert len(retired) == 2 and all(p.exitcode == 0 for p in retired)  # they ended by themselves, not killed
    assert csv[1][0] == csv[default][0]


def test_the_joining_process_scores_without_the_model_or_torch(face_clip):
    """Where chunks are joined, faces are only scored (`FaceScorer(reads=False)`): the readings
    are those of a scorer holding the model, and torch is never imported (about 185 MB)."""
    import subprocess
    import sys

    full = FaceScorer(default_model_dir())
    with open_source(face_clip) as source, FaceTracker() as tracker:
        frames = list(read_frames(source, tracker, full))
    joining = FaceScorer(default_model_dir(), reads=False)
    assert joining.model is None
    with pytest.raises(RuntimeError, match="only scores"):
        joining.read([])
    for index, timestamp, faces, raw in frames:
        a, b = full.score_read(faces, raw, timestamp), joining.score_read(faces, raw, timestamp)
        assert [(x.au, x.emotion) for x in a] == [(y.au, y.emotion) for y in b]
    probe = ("import sys; from core.model.scorer import FaceScorer; from core.cli import default_model_dir; "
             "FaceScorer(default_model_dir(), reads=False); print('torch' in sys.modules)")
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert run.stdout.strip() == "False", run.stderr
