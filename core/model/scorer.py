"""Per-face AU and emotion scores for tracked faces in a frame: the model as the pipeline uses it.

Readings are relative to the person (`core.baseline`): the AU heads read the face's geometry minus
that person's neutral geometry (one baseline for all of a person's tracks, `baseline_key`: someone
who turns away and comes back keeps their calibration), and eye closure (AU45, AU43) is the eyelid aperture against the
person's own open eyes. Each AU probability is shifted by the model's per-AU threshold so that
0.5 is the decision point everywhere a yes/no is shown (``AUxx_c``, overlays, captions, editor).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..baseline import N_VALUES, BaselineMode, TrackBaseline, baseline_key, track_baselines
from ..faces import Face
from ..faces.geometry import N_FEATURES, NAMES, eye_openings, face_geometries
from ..faces.quality import READABLE, face_quality
from ..faces.regions import EYES
from ..taxonomy import AU_BY_NUMBER
from .transform import PATCH_REGION, face_input

# Population neutral geometry (core.faces.geometry order) and eye openings (right, left): the
# median of the rest estimates of the three DEV clips' people (scripts/video_au_check.py). Used
# with ``--baseline none`` and to steady a track's estimate in its first second.
POPULATION_REST = np.array([
    0.318, 0.245, 0.378, 0.44, 0.266, 0.289, -0.046, -0.5, -0.624, -0.949, 0.025, 0.783,
    0.001, 1.622, 0.262, 0.228, 0.47, 0.301, 0.275])
EYE_CLOSED = 0.45      # eye closure (1 - aperture / the person's open aperture) read as closed
EYE_CLOSED_SOFTNESS = 0.06
HELD_CLOSED_S = 0.5    # closed this long: AU43 (eyes closed), not just a blink
GEOMETRIC_AUS = (43, 45)
GATE_SOFTNESS = 0.01   # eye-distances over which a FACS gate opens
GEOMETRY_WEIGHTS = ("au_geometry", "au_geometry_mask", "emotion_geometry")  # what scoring needs of the weights
BLOCK = 4096           # faces read again together (`recalibrate`): bounds the memory it takes
HAND_COVERED = -10.0   # the visible logit of a region a hand covers (core.faces.hands): covered under 0
BATCH = 8              # faces per model call in file analysis (measured: 8.5 ms a face alone, 4.8 in eights)


@dataclass
class FaceScores:
    au: dict[int, float]        # AU number -> probability; 0.5 and above: present; NaN: cannot be read
    emotion: dict[str, float]   # emotion -> probability (NaN: the face cannot be read)
    raw: np.ndarray             # what the pixels said (`FaceScorer.read_faces`): re-read with another baseline
    quality: float              # 0..1 (core.faces.quality); under READABLE no AU or emotion is reported
    embedding: np.ndarray | None = None  # (embed_dim,) float16 unit face embedding: what free text is scored against
    calibrating: bool = False   # read against the population's face: the person's own is still being estimated


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.clip(x, -30, 30)))


@dataclass
class FaceInputs:
    """The model's input for some faces (`FaceScorer.prepare`), without the frame they came from."""
    crops: np.ndarray    # (F, S, S) uint8 aligned grey crops
    centers: np.ndarray  # (F, N_PATCHES, 2) patch centres in 0..1
    checks: np.ndarray   # (F,) the weakest of each face's size, sharpness and pose checks
    hands: np.ndarray    # (F, n_regions + 2) bool: regions, then eyes (`EYES`), a hand covers (`Face.covered`)


class FaceScorer:
    batch = BATCH  # faces per model call in file analysis (`read`)

    def __init__(self, model_dir: Path, device: str = "cpu", baseline: str | BaselineMode = "auto", reader=None,
                 reads: bool = True):
        """``reader``: something with `read` that reads the faces instead of this process's
        model (`core.model_server.ModelClient`: one model on a GPU for many workers).
        ``reads=False``: this process only scores what others read (`score_read`, where chunks are
        joined). With a reader, or without reading, neither the model nor torch is loaded here:
        about 185 MB less of the process."""
        self.device = device
        if reader is None and reads:
            import torch

            from ..training.checkpoint import load_model
            from .model import for_inference

            # One thread: beside MediaPipe's own threads, more made each frame slower (measured:
            # 18.5 against 21.0 ms a frame on 2 cores), as idle torch threads spin for CPU time.
            torch.set_num_threads(1)
            self.model = for_inference(load_model(model_dir, device))
            cfg = self.model.cfg
            weights = {k: v.detach().cpu().numpy() for k, v in self.model.state_dict().items() if k in GEOMETRY_WEIGHTS}
        else:
            self.model = None
            cfg, weights = scoring_weights(model_dir)
        self.cfg = cfg
        self.baseline = baseline if isinstance(baseline, BaselineMode) else BaselineMode.parse(baseline)
        self.model_aus = tuple(cfg.trained_aus)  # untrained heads are never reported
        self.aus = tuple(sorted(set(self.model_aus) | set(GEOMETRIC_AUS)))
        self.emotions = cfg.trained_emotions
        self._au_index = [cfg.aus.index(n) for n in self.model_aus]
        self._emotion_index = [cfg.emotions.index(e) for e in self.emotions]
        thresholds = np.array(cfg.au_thresholds or [0.5] * len(cfg.aus), np.float64)[self._au_index]
        self._shift = np.log(thresholds / (1 - thresholds))
        self._geometry = None  # (model AUs + emotions, N_FEATURES) logit change per unit of geometry
        if cfg.geometry_dim:
            au_w = weights["au_geometry"] * weights["au_geometry_mask"]
            w = np.concatenate([au_w[self._au_index], weights["emotion_geometry"][self._emotion_index]])
            self._geometry = w.astype(np.float64) / np.asarray(cfg.geometry_scale, np.float64)[None]
        # FACS gates: e.g. no inner brow raiser (AU1) unless the inner brows are higher than at rest
        self._gates = [(self.model_aus.index(int(au)), NAMES.index(feature), float(rise))
                       for au, feature, rise in cfg.au_gates if int(au) in self.model_aus]
        self.version = cfg.version
        self._regions = cfg.regions
        # the raw reading (`read`): AU logits, emotion logits, each region's visible logit (models
        # with a visibility head), whether a hand hides each eye (`EYES`), the quality checks
        start = len(self.model_aus) + len(self.emotions)
        self._visible = slice(start, start + (len(cfg.regions) if cfg.region_visibility else 0))
        self._hidden_eyes = slice(self._visible.stop, self._visible.stop + len(EYES))
        self._checks = self._hidden_eyes.stop
        self.raw_size = self._checks + 1
        self.read_size = self.raw_size + cfg.embed_dim  # `read` also gives the face embedding, after the raw reading
        eyelids = [cfg.regions.index("upper_eyelids"), cfg.regions.index("lower_eyelids")]
        au_regions = {a: [cfg.regions.index(AU_BY_NUMBER[a].region)] for a in self.model_aus}
        au_regions.update({a: eyelids for a in GEOMETRIC_AUS})
        self._model_columns = [self.aus.index(a) for a in self.model_aus]  # where each reading goes in `aus`
        self._blink_column, self._closed_column = self.aus.index(45), self.aus.index(43)
        self._au_cover = np.zeros((len(self.aus), len(cfg.regions)))  # (AU, region) 1: the AU is read from it
        for i, a in enumerate(self.aus):
            self._au_cover[i, au_regions[a]] = 1
        if reader is not None:
            self.read = reader.read
        self.reset()

    def reset(self) -> None:
        """Forget every person's baseline: call at the start of each video (ids restart)."""
        self._running: dict[int, TrackBaseline] = {}
        self._fixed: dict[int, np.ndarray] = {}
        self._closed_since: dict[int, float] = {}

    def set_baselines(self, fixed: dict[int, np.ndarray]) -> None:
        """Use these rest values (``core.baseline.N_VALUES``) for these people (`baseline_key`) from now on."""
        self._fixed.update(fixed)

    def score(self, rgb: np.ndarray, faces: list[Face], timestamp: float = 0.0, batch: int | None = BATCH
              ) -> list[FaceScores]:
        """One frame's faces, read and scored (``batch``: see `read`)."""
        return self.score_read(faces, self.read(self.prepare(rgb, faces), batch), timestamp)

    def score_read(self, faces: list[Face], raw: np.ndarray, timestamp: float) -> list[FaceScores]:
        """Scores of one frame's faces from what the model read of them (``read``), against each
        person's baseline. Call in frame order: the baselines and eye closures follow the frames."""
        out = []
        for face, read in zip(faces, raw):
            r = read[:self.raw_size]
            values = face_values(face.landmarks)
            key = baseline_key(face.person, face.track_id)
            baseline, known = self._baseline(key, timestamp, values)
            au, emotion = self.readings(r, values, baseline, key, timestamp, known)
            out.append(FaceScores(au, emotion, r, self.quality(r), read[self.raw_size:].astype(np.float16),
                                  calibrating=self._calibrating(known)))
        return out

    def prepare(self, rgb: np.ndarray, faces: list[Face]) -> FaceInputs:
        """What the model reads of a frame's faces: their aligned crops, patch centres and
        quality checks (numpy work, done beside the face tracker so the frame need not wait)."""
        size = self.cfg.input_size
        if not faces:
            return FaceInputs(np.zeros((0, size, size), np.uint8), np.zeros((0, len(PATCH_REGION), 2), np.float32),
                              np.zeros(0), np.zeros((0, len(self._regions) + len(EYES)), bool))
        crops, centers = zip(*(face_input(rgb, f.landmarks, size) for f in faces))
        checks = [min(face_quality(f.landmarks, f.pose, crop).values()) for f, crop in zip(faces, crops)]
        hands = [[r in f.covered for r in (*self._regions, *EYES)] for f in faces]
        return FaceInputs(np.stack(crops), np.stack(centers), np.array(checks, np.float64), np.array(hands, bool))

    def read(self, inputs: FaceInputs | list[FaceInputs], batch: int | None = BATCH) -> np.ndarray:
        """(F, ``read_size``) what the pixels say of each face, read at its neutral geometry: the AU
        logits (``model_aus``), the emotion logits, each region's visible logit (models with a
        visibility head; a region a hand covers reads `HAND_COVERED`, whatever the head says), 1
        for each eye a hand hides (`EYES`, else 0) and the weakest of the size, sharpness and pose
        checks (core.faces.quality): the raw reading, ``raw_size`` values; then the unit face
        embedding (free-text search).

        The faces (of one frame or of several) go through the model ``batch`` at a time, the last
        call padded to ``batch``: a face's reading then never depends on which faces shared its
        call, so any grouping of frames gives the same figures (the model's float sums differ
        between batch sizes, by ~1e-6 in a logit). None: all faces in one call of their own size
        (live, where one face padded to 8 would cost 5 times as much)."""
        import torch

        from .transform import to_input

        if self.model is None:
            raise RuntimeError("this FaceScorer only scores what others read (reads=False)")
        parts = inputs if isinstance(inputs, list) else [inputs]
        crops = np.concatenate([p.crops for p in parts])
        centers = np.concatenate([p.centers for p in parts])
        checks = np.concatenate([p.checks for p in parts])
        hands = np.concatenate([p.hands for p in parts])
        n = len(crops)
        if n == 0:
            return np.zeros((0, self.read_size))
        step = batch or n
        outputs = []
        for start in range(0, n, step):
            x, c = crops[start:start + step], centers[start:start + step]
            if len(x) < step:  # padded with copies of the last face, dropped below
                x = np.concatenate([x, np.repeat(x[-1:], step - len(x), 0)])
                c = np.concatenate([c, np.repeat(c[-1:], step - len(c), 0)])
            with torch.inference_mode():
                o = self.model(to_input(x, self.device).contiguous(memory_format=torch.channels_last),
                               torch.as_tensor(c, device=self.device))
            got = [o["au_logits"].float().cpu().numpy()[:, self._au_index],
                   o["emotion_logits"].float().cpu().numpy()[:, self._emotion_index]]
            if "visible_logits" in o:
                got.append(o["visible_logits"].float().cpu().numpy())
            got.append(np.full((len(x), len(EYES) + 1), np.nan, np.float32))  # the eyes' and checks' places, filled below
            got.append(torch.nn.functional.normalize(o["global"].float(), dim=-1).cpu().numpy())
            outputs.append(np.concatenate(got, 1)[:min(step, n - start)])
        out = np.concatenate(outputs).astype(np.float64)
        out[:, self._checks] = checks
        out[:, self._hidden_eyes] = hands[:, -len(EYES):]
        visible = out[:, self._visible]
        if visible.shape[1]:  # models without the visibility head have no place for it
            visible[hands[:, :-len(EYES)]] = np.minimum(visible[hands[:, :-len(EYES)]], HAND_COVERED)
        return out

    def read_faces(self, rgb: np.ndarray, faces: list[Face], batch: int | None = BATCH) -> np.ndarray:
        """`read` of one frame's faces."""
        return self.read(self.prepare(rgb, faces), batch)

    def _covered(self, raw: np.ndarray) -> np.ndarray:
        """(n_regions,) bool: regions something covers (none for a model without the head)."""
        return self._covered_rows(raw[None])[0]

    def _covered_rows(self, raw: np.ndarray) -> np.ndarray:
        """(F, n_regions) bool: `_covered` of each row."""
        if self._visible.start == self._visible.stop:
            return np.zeros((len(raw), len(self._regions)), bool)
        return raw[:, self._visible] < 0

    def quality(self, raw: np.ndarray) -> float:
        """0..1: the weakest of the size, sharpness and pose checks and the share of regions not covered."""
        return float(self._qualities(raw[None])[0])

    def _qualities(self, raw: np.ndarray) -> np.ndarray:
        """(F,) float32 `quality` of each row."""
        return np.minimum(raw[:, self._checks], 1 - self._covered_rows(raw).mean(1)).astype(np.float32)

    def rest(self, key: int) -> tuple[np.ndarray, bool]:
        """(the rest values ``key`` (`baseline_key`) is read against now, whether they are the person's own)."""
        if key in self._fixed:
            return self._fixed[key], True
        running = self._running.get(key)
        return (POPULATION_REST, False) if running is None else (running.estimate(), running.known)

    def reread(self, key: int, faces: list[tuple[float, Face, FaceScores]]) -> None:
        """Read all of ``key``'s faces so far again, in time order, against its rest now
        (`core.model.settle`): their ``au`` and ``emotion`` are replaced."""
        rest, known = self.rest(key)
        self._closed_since.pop(key, None)  # rebuilt from these faces, which are all of the person's so far
        for t, face, scores in faces:
            scores.au, scores.emotion = self.readings(scores.raw, face_values(face.landmarks), rest, key, t, known)
            scores.calibrating = self._calibrating(known)

    def _calibrating(self, known: bool) -> bool:
        """Whether a face read against a rest that is not yet the person's own is still being
        calibrated (with no personal baseline asked for, the population's face is the rest)."""
        return not known and self.baseline.kind != "none"

    def _baseline(self, key: int, t: float, values: np.ndarray) -> tuple[np.ndarray, bool]:
        """(the rest values of ``key`` (`baseline_key`), whether they are the person's own)."""
        if key in self._fixed:
            return self._fixed[key], True
        if self.baseline.kind == "none":
            return POPULATION_REST, False
        running = self._running.setdefault(key, TrackBaseline(POPULATION_REST))
        running.add(t, values)
        return running.estimate(), running.known

    def readings(self, raw: np.ndarray, values: np.ndarray, baseline: np.ndarray, key: int, t: float,
                 known: bool = True) -> tuple[dict[int, float], dict[str, float]]:
        """(AU, emotion) probabilities of one face (`read_rows` of one row)."""
        au, emotion = self.read_rows(raw[None], values[None], baseline[None], np.array([known]), key, np.array([t]))
        return dict(zip(self.aus, au[0].tolist())), dict(zip(self.emotions, emotion[0].tolist()))

    def read_rows(self, raw: np.ndarray, values: np.ndarray, baselines: np.ndarray, known: np.ndarray, key: int,
                  times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """((F, len(aus)), (F, len(emotions))) float32 AU and emotion probabilities of F faces of one
        person (``key``), in time order, from their appearance logits (``raw``), geometry and eye
        openings (``values``) and the person's baseline at each (``baselines``); tracks how long the
        eyes have been closed. The FACS gates apply only against a ``known`` baseline (the person's
        own): a still photo or a face seen for less than 2 s has no rest to measure a rise from.
        Every row is computed alone (its sums never span rows), so a face reads the same read
        alone, streaming, or with the rest of its person (`recalibrate`)."""
        n, m = len(self.model_aus), len(self.emotions)
        f = len(raw)
        logits = raw[:, :n + m].astype(np.float64)
        if self._geometry is not None:
            finite = np.isfinite(values[:, :N_VALUES]).all(1)
            delta = values[:, :N_FEATURES] - baselines[:, :N_FEATURES]
            logits[finite] += (delta[finite, None, :] * self._geometry[None]).sum(-1)
        emotion = np.exp(logits[:, n:] - logits[:, n:].max(1, keepdims=True))
        emotion /= emotion.sum(1, keepdims=True)
        p = _sigmoid(logits[:, :n] - self._shift)
        for j, feature, rise in self._gates:
            gate = _sigmoid((values[:, feature] - baselines[:, feature] - rise) / GATE_SOFTNESS)
            p[:, j] = np.where(known, np.fmin(p[:, j], gate), p[:, j])
        rest = np.maximum(baselines[:, N_FEATURES:N_VALUES], 1e-3)  # eye closure against the person's own,
        # of the eyes no hand hides (a hidden eye's lids are the mesh's guess)
        hidden = raw[:, self._hidden_eyes] > 0
        closure = np.where(hidden, 0, np.clip(1 - values[:, N_FEATURES:N_VALUES] / rest, 0, 1)).max(1)
        blink = _sigmoid((closure - EYE_CLOSED) / EYE_CLOSED_SOFTNESS)
        readable = self._qualities(raw) >= READABLE  # else nothing is read
        eyes_seen = ~hidden.all(1)
        held = self._held_closed(closure >= EYE_CLOSED, times, readable & eyes_seen, key)
        au = np.empty((f, len(self.aus)))
        au[:, self._model_columns] = p
        au[:, self._blink_column] = np.where(eyes_seen, blink, np.nan)
        au[:, self._closed_column] = np.where(held, blink, np.minimum(blink, 0.49))
        au[~eyes_seen, self._closed_column] = np.nan
        # an AU whose skin is covered is not read (the eyelid AUs: either eyelid covered)
        au[self._covered_rows(raw).astype(np.float64) @ self._au_cover.T > 0] = np.nan
        au[~readable], emotion[~readable] = np.nan, np.nan
        # float32 values: what an analysis file stores, so a reloaded analysis reads the same
        return au.astype(np.float32), emotion.astype(np.float32)

    def _held_closed(self, closed: np.ndarray, times: np.ndarray, readable: np.ndarray, key: int) -> np.ndarray:
        """Per row, whether the eyes have been closed HELD_CLOSED_S or more (AU43), counting closed
        runs over the readable rows and from where ``key``'s last call left them."""
        out = np.zeros(len(closed), bool)
        rows = np.flatnonzero(readable)
        if not len(rows):
            return out
        c, t = closed[rows], np.asarray(times, np.float64)[rows]
        begins = c & np.concatenate([[True], ~c[:-1]])
        since = t[np.maximum.accumulate(np.where(begins, np.arange(len(c)), 0))]
        first_open = int(np.argmin(c)) if not c.all() else len(c)
        if key in self._closed_since and c[0]:  # closed since before these rows
            since[:first_open] = self._closed_since[key]
        if c[-1]:
            self._closed_since[key] = float(since[-1])
        else:
            self._closed_since.pop(key, None)
        out[rows] = c & (t - since >= HELD_CLOSED_S)
        return out

    def recalibrate(self, analysis, mode: BaselineMode, keys=None) -> dict[int, np.ndarray]:
        """Read every face of ``analysis`` (of the people ``keys`` only: `baseline_key`) again with
        another baseline, from its stored appearance logits and landmarks (no pixels needed): e.g. a
        neutral segment marked after the analysis ran, or people merged or split. Returns the fixed
        rest values of the people the segment covers."""
        fixed = {}
        everyone = np.unique(analysis.face_people()).tolist()  # a person's faces, or a track's without one
        for key in everyone if keys is None else sorted(set(keys) & set(everyone)):
            rows = analysis.key_rows(key, with_raw=True)
            if not len(rows):
                continue
            times = analysis.row_times(rows)
            blocks = range(0, len(rows), BLOCK)  # landmarks and readings a block of faces at a time
            values = np.concatenate([faces_values(analysis.landmarks(rows[b:b + BLOCK])) for b in blocks])
            raw = analysis.raw(rows)
            baselines, known = track_baselines(times, values, mode, POPULATION_REST)
            if mode.covers(times).any():
                fixed[key] = baselines[0]
            self._closed_since.pop(key, None)
            au = np.full((len(rows), len(analysis.aus)), np.nan, np.float32)
            emotion = np.full((len(rows), len(analysis.emotions)), np.nan, np.float32)
            to_au = [i for i, n in enumerate(analysis.aus) if n in self.aus]
            from_au = [self.aus.index(analysis.aus[i]) for i in to_au]
            to_emotion = [i for i, e in enumerate(analysis.emotions) if e in self.emotions]
            from_emotion = [self.emotions.index(analysis.emotions[i]) for i in to_emotion]
            for b in blocks:
                part = slice(b, b + BLOCK)
                a, e = self.read_rows(raw[part], values[part], baselines[part], known[part], key, times[part])
                au[part, to_au], emotion[part, to_emotion] = a[:, from_au], e[:, from_emotion]
            analysis.set_readings(rows, au, emotion)
        analysis.baseline = str(mode)
        analysis.invalidate()
        return fixed


def scoring_weights(model_dir: Path) -> tuple:
    """(config, the geometry weights as numpy arrays) of a model folder, read without torch."""
    from safetensors import SafetensorError, safe_open

    from ..errors import InputError
    from .config import ModelConfig
    from .shipped import model_files

    model_dir, weights, config = model_files(model_dir)
    cfg = ModelConfig.load(config)
    try:
        with safe_open(str(weights), framework="np") as f:
            return cfg, {k: f.get_tensor(k) for k in GEOMETRY_WEIGHTS if k in f.keys()}
    except (SafetensorError, OSError, ValueError, TypeError) as e:
        raise InputError(f"{model_dir}: unreadable model ({e})") from None


def face_values(landmarks: np.ndarray) -> np.ndarray:
    """What a person's baseline is kept of: the face geometry, then the two eye openings."""
    return faces_values(np.asarray(landmarks)[None])[0]


def faces_values(landmarks: np.ndarray) -> np.ndarray:
    """(F, N_VALUES) `face_values` of F faces' (F, 478, 2+) meshes at once."""
    return np.concatenate([face_geometries(landmarks), eye_openings(landmarks)], 1).astype(np.float64)
