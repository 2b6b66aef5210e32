"""Text search in a video: a free description ("brows raised and mouth open", "a forced smile")
scored against every face, and the moments that match it best.

This is what the language alignment is for: each face's embedding is kept with the analysis
(`Analysis.face_embeddings`), the description is embedded through the model's text side, and
their cosine similarity is the match (`core.model.zero_shot.score_text`). Similarities are
smoothed over a short window per person, so a moment is a short stretch that fits, not one
noisy frame, and the best moments are kept apart by a minimum gap.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import InputError

SMOOTH_S = 0.3   # seconds of the moving average per person
MIN_GAP_S = 2.0  # best moments of one person at least this far apart


@dataclass(frozen=True)
class Moment:
    time: float       # seconds
    frame: int        # frame index (0-based)
    person: int       # person id (-1 - track for a face with no person)
    score: float      # smoothed cosine similarity, higher fits better


def smoothed(times: np.ndarray, people: np.ndarray, scores: np.ndarray, window: float = SMOOTH_S) -> np.ndarray:
    """Each face's score averaged with the same person's faces within ``window`` seconds around it."""
    out = np.full(len(scores), np.nan)
    for p in np.unique(people):
        idx = np.flatnonzero((people == p) & np.isfinite(scores))
        if not len(idx):
            continue
        t, s = times[idx], scores[idx]
        csum = np.r_[0.0, np.cumsum(s)]
        lo = np.searchsorted(t, t - window / 2, "left")
        hi = np.searchsorted(t, t + window / 2, "right")
        out[idx] = (csum[hi] - csum[lo]) / (hi - lo)
    return out


def best_moments(frames: np.ndarray, times: np.ndarray, people: np.ndarray, scores: np.ndarray, top: int = 5,
                 min_gap: float = MIN_GAP_S, only: set[int] | None = None) -> list[Moment]:
    """The ``top`` best-scoring moments (smoothed), best first; moments of one person are at least
    ``min_gap`` seconds apart. ``only``: these people alone."""
    return pick_moments(frames, times, people, smoothed(times, people, scores), top, min_gap, only)


def pick_moments(frames: np.ndarray, times: np.ndarray, people: np.ndarray, smooth: np.ndarray, top: int = 5,
                 min_gap: float = MIN_GAP_S, only: set[int] | None = None) -> list[Moment]:
    """`best_moments` from scores already `smoothed`."""
    s = smooth.copy()
    if only is not None:
        s[~np.isin(people, list(only))] = np.nan
    order = np.argsort(-np.nan_to_num(s, nan=-np.inf), kind="stable")
    chosen: list[Moment] = []
    for i in order:
        if len(chosen) == top or not np.isfinite(s[i]):
            break
        if any(m.person == people[i] and abs(m.time - times[i]) < min_gap for m in chosen):
            continue
        chosen.append(Moment(float(times[i]), int(frames[i]), int(people[i]), float(s[i])))
    return chosen


def text_scores(model, encoder, embeddings: np.ndarray, text: str) -> np.ndarray:
    """(N,) cosine similarity of each face embedding to ``text`` (NaN where a face has none)."""
    from .model.zero_shot import score_text

    known = np.isfinite(embeddings).all(1)
    out = np.full(len(embeddings), np.nan)
    if known.any():
        out[known] = score_text(model, encoder, embeddings[known], [text])[:, 0]
    return out


def embeddings_path(csv: Path) -> Path:
    """Where `mf2 analyze --embeddings` keeps a CSV's face embeddings: beside it."""
    return Path(csv).with_suffix(".embeddings.npz")


def write_embeddings(path: Path, faces: list[tuple], csv_bytes: int) -> None:
    """(frame index, time, face id, person, float16 embedding) of each face, as plain arrays, durably,
    with the size of the CSV they belong to (OSError on failure)."""
    from .outputs import write_durably

    buffer = io.BytesIO()
    width = len(faces[0][4]) if faces else 0
    np.savez(buffer, frame=np.array([f[0] for f in faces], np.int64), time=np.array([f[1] for f in faces]),
             face_id=np.array([f[2] for f in faces], np.int64), person=np.array([f[3] for f in faces], np.int64),
             embedding=np.array([f[4] for f in faces], np.float16).reshape(len(faces), width),
             csv_bytes=np.array(csv_bytes, np.int64))
    write_durably(path, buffer.getvalue())


def read_embeddings(csv: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A CSV's faces as `Analysis.face_embeddings` gives them, from the file beside it; InputError
    with one line when there is none or it cannot be read."""
    path = embeddings_path(csv)
    if not path.is_file():
        raise InputError(f"{csv}: no face embeddings beside it ({path.name}); analyse with --embeddings, "
                         "or search the video")
    try:
        with np.load(path, allow_pickle=False) as z:
            frame, time, face_id, person, emb, size = (z[k] for k in ("frame", "time", "face_id", "person", "embedding",
                                                                      "csv_bytes"))
        if not (len(frame) == len(time) == len(face_id) == len(person) == len(emb)) or emb.ndim != 2:
            raise ValueError("arrays of different lengths")
        same_csv = int(size) == Path(csv).stat().st_size
    except (OSError, ValueError, KeyError, EOFError) as e:
        raise InputError(f"{path}: not readable face embeddings ({e})") from None
    if not same_csv:
        raise InputError(f"{path}: written with an earlier {Path(csv).name}; analyse again with --embeddings")
    return frame, time, np.where(person >= 0, person, -1 - face_id), emb.astype(np.float32)


def video_analysis(video, model_dir, device: str = "cpu", max_faces: int = 8, progress=None):
    """The video's analysis with face embeddings, from the analysis cache the studio shares (keyed
    by the video's content, the model and the tracker settings), or made now and cached."""
    from .analysis import Analysis, run_analysis
    from .cache import AnalysisCache, content_digest, model_digest
    from .faces import FaceTracker
    from .faces.tracker import DETECT_EVERY
    from .model.scorer import FaceScorer
    from .video import open_source

    cache = AnalysisCache()
    path = cache.path(content_digest(Path(video)), model_digest(model_dir), max_faces, DETECT_EVERY)
    analysis = cache.load(path)
    if analysis is not None:
        return analysis
    scorer = FaceScorer(model_dir, device)
    with open_source(str(video)) as source, FaceTracker(max_faces=max_faces, static=source.static) as tracker:
        analysis = Analysis.for_scorer(scorer, source.frame_count, str(video))
        on_frame = (lambda _: progress(len(analysis), source.frame_count)) if progress else None
        stopped = run_analysis(source, analysis, tracker, scorer, on_frame)
    if stopped is None:
        cache.save(path, analysis)
    return analysis
