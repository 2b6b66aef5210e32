"""A video's analysis as data: per analysed frame, its faces with landmarks, pose and model scores.

This is the studio's data model (it never imports Qt): workers fill it frame by frame, the
overlays read one frame from it, the timelines read one face's series, the CSV export writes it
in `mf2 analyze`'s exact format, and it saves to a single ``.npz`` (plain arrays, no pickle) so
the per-video cache can reload it without executing anything.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import InputError
from .export import OpenFaceWriter, model_values
from .faces import Face, FaceTracker
from .faces.pose import HeadPose
from .outputs import durable_file
from .taxonomy import AU_BY_NUMBER
from .video import Frame

FORMAT = "mf2-analysis-3"  # 2: appearance AU logits and the baseline mode; 3: face quality, covered regions


@dataclass
class FaceResult:
    track_id: int
    box: np.ndarray          # x0, y0, x1, y1 in pixels
    confidence: float
    landmarks: np.ndarray    # (478, 2) float32 pixels: what overlays and the CSV need
    pose: HeadPose
    au: dict[int, float]     # AU number -> occurrence probability (empty without a model)
    emotion: dict[str, float]
    raw: np.ndarray | None = None  # what the pixels said (FaceScorer.read_faces), to read the face again with another baseline
    quality: float = float("nan")  # 0..1, core.faces.quality (NaN without a model)

    def face(self) -> Face:
        """As the tracker's `Face` (depth dropped), for the CSV writer."""
        points = np.zeros((len(self.landmarks), 3), np.float32)
        points[:, :2] = self.landmarks
        return Face(self.track_id, self.box, self.confidence, points, self.pose)

    def top_emotion(self) -> tuple[str, float] | None:
        """The likeliest emotion; None without a model or when the face cannot be read."""
        readable = {e: p for e, p in self.emotion.items() if p == p}
        return max(readable.items(), key=lambda kv: kv[1]) if readable else None


@dataclass
class FrameResult:
    index: int
    timestamp: float
    faces: list[FaceResult]

    def face(self, track_id: int) -> FaceResult | None:
        return next((f for f in self.faces if f.track_id == track_id), None)


def analyze_frame(frame: Frame, tracker: FaceTracker, scorer=None) -> FrameResult:
    """Faces of one frame, scored by the model when there is one (``scorer``: a FaceScorer)."""
    return score_faces(frame, tracker.process(frame.rgb), scorer)


def score_faces(frame: Frame, faces: list, scorer=None) -> FrameResult:
    """The frame's result from the faces the tracker found in it, scored by ``scorer`` if any."""
    scores = scorer.score(frame.rgb, faces, frame.timestamp) if scorer else [None] * len(faces)
    return FrameResult(frame.index, frame.timestamp, [
        FaceResult(f.track_id, f.box.astype(np.float32), float(f.confidence), f.landmarks[:, :2].astype(np.float32),
                   f.pose, s.au if s else {}, s.emotion if s else {}, s.raw if s else None,
                   s.quality if s else float("nan"))
        for f, s in zip(faces, scores)])


def csv_writer(path: Path, aus: tuple[int, ...], emotions: tuple[str, ...], baseline: str | None = None
               ) -> OpenFaceWriter:
    """The per-frame CSV, with a column pair per AU, a column per emotion and the ``baseline``
    mode the readings are relative to (none of these without a model)."""
    return OpenFaceWriter(path, tuple(AU_BY_NUMBER[n].column for n in aus), emotions, baseline if aus else None)


def write_result(writer: OpenFaceWriter, result: FrameResult, aus: tuple[int, ...], emotions: tuple[str, ...]) -> None:
    """One frame's rows: the one path by which `mf2 analyze`, the bench and the studio write CSVs."""
    extra = [model_values(f.au, f.emotion, aus, emotions, f.quality) for f in result.faces]
    writer.write(result.index, result.timestamp, [f.face() for f in result.faces], extra)


class Analysis:
    """Every analysed frame of one source, in frame order, plus what produced them."""

    def __init__(self, aus: tuple[int, ...] = (), emotions: tuple[str, ...] = (), model_version: str | None = None,
                 frame_count: int | None = None, source: str = "", baseline: str = "none"):
        self.aus = tuple(aus)
        self.baseline = baseline         # how readings were made relative to each person (core.baseline)
        self.emotions = tuple(emotions)
        self.model_version = model_version
        self.frame_count = frame_count   # frames in the source, when known
        self.source = source
        self.complete = False            # every frame analysed (set by whoever ran it)
        self._frames: dict[int, FrameResult] = {}
        self._series: dict[int, tuple[int, tuple]] = {}  # track -> (frames seen, arrays)

    @classmethod
    def for_scorer(cls, scorer, frame_count: int | None = None, source: str = "") -> "Analysis":
        if scorer is None:
            return cls(frame_count=frame_count, source=source)
        return cls(scorer.aus, scorer.emotions, scorer.version, frame_count, source, str(scorer.baseline))

    def add(self, result: FrameResult) -> None:
        self._frames[result.index] = result

    def __len__(self) -> int:
        return len(self._frames)

    def invalidate(self) -> None:
        """Forget cached series after the faces' readings were changed in place."""
        self._series.clear()

    def at(self, index: int) -> FrameResult | None:
        return self._frames.get(index)

    def frames(self) -> list[FrameResult]:
        return [self._frames[i] for i in sorted(self._frames)]

    def track_ids(self) -> list[int]:
        """Faces seen, the one present in most frames first (the usual subject of a session video)."""
        counts: dict[int, int] = {}
        for result in self._frames.values():
            for face in result.faces:
                counts[face.track_id] = counts.get(face.track_id, 0) + 1
        return sorted(counts, key=lambda t: (-counts[t], t))

    def series(self, track_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(times (F,), AU probabilities (F, A), emotion probabilities (F, E)) over the analysed
        frames, NaN where that face is absent, so timelines show gaps rather than invented values."""
        cached = self._series.get(track_id)
        if cached and cached[0] == len(self._frames):
            return cached[1]
        frames = self.frames()
        times = np.array([r.timestamp for r in frames], np.float64)
        au = np.full((len(frames), len(self.aus)), np.nan, np.float32)
        emotion = np.full((len(frames), len(self.emotions)), np.nan, np.float32)
        for i, result in enumerate(frames):
            face = result.face(track_id)
            if face is not None and face.au:
                au[i] = [face.au[n] for n in self.aus]
                emotion[i] = [face.emotion[e] for e in self.emotions]
        out = (times, au, emotion)
        self._series[track_id] = (len(self._frames), out)
        return out

    def segments(self, track_id: int, min_frames: int = 5) -> list[int]:
        """Frame indices where a face's expression changes: the face appears, or its top emotion
        changes and holds for ``min_frames`` frames (flicker shorter than that is not a segment).
        What an annotator steps through to check each change once."""
        frames = self.frames()
        labels = []
        for result in frames:
            face = result.face(track_id)
            top = face.top_emotion() if face else None
            labels.append(top[0] if top else ("face" if face else None))
        starts, current = [], object()
        for i, label in enumerate(labels):
            if label != current and label is not None and labels[i:i + min_frames] == [label] * min_frames:
                starts.append(frames[i].index)
                current = label
            elif label is None:
                current = None
        return starts

    def write_csv(self, path: Path) -> None:
        """The per-frame CSV, byte for byte what `mf2 analyze` writes for the same frames."""
        writer = csv_writer(path, self.aus, self.emotions, self.baseline)
        try:
            for result in self.frames():
                write_result(writer, result, self.aus, self.emotions)
        except BaseException:
            writer.discard()
            raise
        writer.close()

    # --- persistence: plain arrays + JSON, loaded with allow_pickle=False ---------------------

    def save(self, path: Path) -> None:
        """Write to ``path`` atomically (a temporary file renamed into place)."""
        frames = self.frames()
        faces = [f for r in frames for f in r.faces]
        n_points = len(faces[0].landmarks) if faces else 478
        meta = {"format": FORMAT, "aus": list(self.aus), "emotions": list(self.emotions),
                "model_version": self.model_version, "frame_count": self.frame_count, "source": self.source,
                "complete": self.complete, "baseline": self.baseline}
        arrays = {
            "meta": np.array(json.dumps(meta)),
            "frame_index": np.array([r.index for r in frames], np.int64),
            "frame_time": np.array([r.timestamp for r in frames], np.float64),
            "faces_per_frame": np.array([len(r.faces) for r in frames], np.int64),
            "track": np.array([f.track_id for f in faces], np.int64),
            "box": np.array([f.box for f in faces], np.float32).reshape(-1, 4),
            "confidence": np.array([f.confidence for f in faces], np.float64),
            "pose": np.array([(f.pose.pitch, f.pose.yaw, f.pose.roll) for f in faces], np.float64).reshape(-1, 3),
            "landmarks": np.array([f.landmarks for f in faces], np.float32).reshape(-1, n_points, 2),
            "au": np.array([[f.au[n] for n in self.aus] for f in faces], np.float32).reshape(-1, len(self.aus))
            if self.model_version else np.zeros((len(faces), 0), np.float32),
            "emotion": np.array([[f.emotion[e] for e in self.emotions] for f in faces], np.float32)
            .reshape(-1, len(self.emotions)) if self.model_version else np.zeros((len(faces), 0), np.float32),
            "quality": np.array([f.quality for f in faces], np.float32),
            "raw": np.array([f.raw for f in faces], np.float64).reshape(len(faces), -1)
            if faces and all(f.raw is not None for f in faces) else np.zeros((len(faces), 0), np.float64),
        }
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with durable_file(path) as f:  # whole or not at all, never through a planted link
            np.savez_compressed(f, **arrays)

    @classmethod
    def load(cls, path: Path) -> "Analysis":
        """InputError for a file that is not a complete analysis of ours."""
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
            meta = json.loads(str(arrays["meta"]))
            if meta.get("format") != FORMAT:
                raise ValueError("unknown format")
        except (OSError, ValueError, KeyError, EOFError) as e:
            raise InputError(f"{path}: not a readable MF² analysis ({e})") from None
        out = cls(tuple(meta["aus"]), tuple(meta["emotions"]), meta["model_version"], meta["frame_count"],
                  meta["source"], meta["baseline"])
        out.complete = bool(meta["complete"])
        row = 0
        for index, t, n in zip(arrays["frame_index"], arrays["frame_time"], arrays["faces_per_frame"]):
            faces = []
            for r in range(row, row + int(n)):
                au = dict(zip(out.aus, map(float, arrays["au"][r])))
                emotion = dict(zip(out.emotions, map(float, arrays["emotion"][r])))
                raw = arrays["raw"][r] if arrays["raw"].shape[1] else None
                faces.append(FaceResult(int(arrays["track"][r]), arrays["box"][r], float(arrays["confidence"][r]),
                                        arrays["landmarks"][r], HeadPose(*map(float, arrays["pose"][r])), au, emotion,
                                        raw, float(arrays["quality"][r])))
            row += int(n)
            out.add(FrameResult(int(index), float(t), faces))
        return out


def run_analysis(source, analysis: Analysis, tracker: FaceTracker, scorer=None,
                 on_frame: Callable[[FrameResult], None] | None = None,
                 cancelled: Callable[[], bool] = lambda: False) -> str | None:
    """Analyse every frame of ``source`` into ``analysis``. Returns None when it ran to the end
    (``analysis.complete`` is then set), else a one-line reason: cancelled, or the damage that
    stopped decoding (the frames before it are kept)."""
    from contextlib import closing

    from .pipeline import analysed_frames  # it builds on this module

    if scorer is not None:
        scorer.reset()
    try:
        with closing(analysed_frames(source, tracker, scorer)) as results:
            for result in results:
                if cancelled():
                    return f"{source.name}: analysis cancelled after {len(analysis)} frames"
                analysis.add(result)
                if on_frame:
                    on_frame(result)
    except InputError as e:
        return str(e)
    analysis.complete = True
    return None
